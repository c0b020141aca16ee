# SPDX-License-Identifier: Apache-2.0
"""Pinned images (images.pinned) end to end: images built here, pushed to a
real docker-registry with skopeo and pulled by cleatd; ListImages and
ImageStatus say `pinned` for exactly the images the configured references
name now; an explicit RemoveImage still removes one; a malformed pin is a
configuration error at start and in --check-config."""

import os

import grpc
import pytest

import registry_fixture as rf
from conftest import run_cleatd
from test_images import BASE, daemon_config, entry, image_manifest, pull, status, write_index


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Three images (a, b, c) pushed to one registry, and the layout they came from."""
    base = tmp_path_factory.mktemp("pinned")
    layout = str(base / "layout")
    descs = {name: image_manifest(layout, [BASE, [entry(f"etc/{name}", f"image {name}\n".encode())]])
             for name in ("a", "b", "c")}
    write_index(layout, [(name, d) for name, d in descs.items()])
    reg = rf.Registry(str(base / "registry"), str(base / "storage")).start()
    try:
        for name in descs:
            reg.push(layout, name, "test/pin")
        yield {"registry": reg, "layout": layout, "descs": descs}
    finally:
        reg.stop()


def pinned_config(reg, pins):
    return daemon_config(reg.hostport) + "images:\n  pinned: [" + ", ".join(f'"{p}"' for p in pins) + "]\n"


def listed(d, pb2):
    return {i.id: i.pinned for i in d.images.ListImages(pb2.ListImagesRequest()).images}


def test_pinned_images_are_reported(cleatd_factory, registry, cri):
    pb2, pb2_grpc = cri
    reg = registry["registry"].hostport
    descs = registry["descs"]
    # By tag (short form, normalised as PullImage does), by ID, one not on the node, one local-transport reference.
    pins = [f"{reg}/test/pin:a", descs["b"]["config"], f"{reg}/test/pin:missing", f"oci:{registry['layout']}:c"]
    d = cleatd_factory(pinned_config(registry["registry"], pins)).start()
    d.images = pb2_grpc.ImageServiceStub(d.channel())
    a, b, c = (pull(d, pb2, f"{reg}/test/pin:{n}") for n in ("a", "b", "c"))
    # c came from the registry, not from oci:<layout>:c, so that pin names nothing yet.
    assert listed(d, pb2) == {a: True, b: True, c: False}
    assert status(d, pb2, f"{reg}/test/pin:a").image.pinned
    assert status(d, pb2, b).image.pinned
    assert not status(d, pb2, c).image.pinned
    # The same image through the pinned local reference: now c is pinned too.
    assert pull(d, pb2, f"oci:{registry['layout']}:c") == c
    assert status(d, pb2, c).image.pinned
    # kubelet never removes a pinned image; an operator who asks gets it removed (as containerd does).
    d.images.RemoveImage(pb2.RemoveImageRequest(image=pb2.ImageSpec(image=a)))
    assert a not in listed(d, pb2)
    assert "pinned in images.pinned, removed on request" in d.read_log()
    # Pulled again, it is pinned again.
    assert pull(d, pb2, f"{reg}/test/pin:a") == a
    assert listed(d, pb2)[a]


def test_pin_follows_its_tag(cleatd_factory, registry, cri, tmp_path):
    """The pin is a reference: when its tag moves to another image, the pin moves with it."""
    pb2, pb2_grpc = cri
    reg = registry["registry"].hostport
    d = cleatd_factory(pinned_config(registry["registry"], [f"{reg}/test/pin:moving"])).start()
    d.images = pb2_grpc.ImageServiceStub(d.channel())
    registry["registry"].push(registry["layout"], "a", "test/pin", dest_tag="moving")
    a = pull(d, pb2, f"{reg}/test/pin:moving")
    assert listed(d, pb2) == {a: True}
    registry["registry"].push(registry["layout"], "b", "test/pin", dest_tag="moving")
    b = pull(d, pb2, f"{reg}/test/pin:moving")
    assert listed(d, pb2) == {a: False, b: True}


@pytest.mark.parametrize("pin, why", [
    ("UPPER/case:x", "UPPER/case:x"),
    ("sha256:1234", "is not an image ID"),
])
def test_malformed_pin_is_a_config_error(cleatd_factory, registry, tmp_path, pin, why):
    cfg = cleatd_factory(pinned_config(registry["registry"], [pin]))
    r = run_cleatd(["--config", cfg.config_path, "--dropin-dir", cfg.dropin_dir, "--check-config"])
    assert r.returncode != 0
    assert "images.pinned" in r.stderr and why in r.stderr, r.stderr
    with pytest.raises(AssertionError) as e:
        cfg.start()
    assert "images.pinned" in str(e.value)


def test_pins_must_be_a_list(tmp_path):
    path = tmp_path / "cleat.yaml"
    path.write_text("images: {pinned: busybox}\n")
    r = run_cleatd(["--config", str(path), "--dropin-dir", str(tmp_path / "none"), "--check-config"])
    assert r.returncode != 0
    assert f"{path}:1:18: 'pinned' must be a list of image references" in r.stderr
