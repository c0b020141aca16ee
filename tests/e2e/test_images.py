# SPDX-License-Identifier: Apache-2.0
"""The ImageService end to end: a real docker-registry on 127.0.0.1, images
built here (busybox-static, several layers, a whiteout, an opaque dir, a
multi-arch index), pushed with skopeo, pulled by cleatd through image-docker,
unpacked by storage-overlay; oci: and oci-archive: imports; removal and GC."""

import glob
import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tarfile
import threading

import grpc
import pytest

import oci_schema
import registry_fixture as rf
from conftest import SHIPPED_PLUGIN_DIRS

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def entry(name, data=None, kind="file", mode=0o644, link=None):
    return {"name": name, "data": data, "kind": kind, "mode": mode, "link": link}


def layer_tar(entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.mtime, info.mode = 0, e["mode"]
            if e["kind"] == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e["kind"] == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e["link"]
                tar.addfile(info)
            else:
                info.size = len(e["data"])
                tar.addfile(info, io.BytesIO(e["data"]))
    return raw.getvalue()


def write_blob(layout, data):
    d = os.path.join(layout, "blobs", "sha256")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha256(data).hexdigest()), "wb") as f:
        f.write(data)
    return {"digest": digest(data), "size": len(data)}


def image_manifest(layout, layers, arch=HOST_ARCH, variant=None, cmd=("/bin/sh",)):
    """Write layers, config and manifest blobs; return the manifest descriptor."""
    tars = [layer_tar(l) for l in layers]
    blobs = [gzip.compress(t, mtime=0) for t in tars]
    config = {"architecture": arch, "os": "linux", "config": {"Cmd": list(cmd), "User": "1000:1000"},
              "rootfs": {"type": "layers", "diff_ids": [digest(t) for t in tars]}}
    if variant:
        config["variant"] = variant
    cfg = json.dumps(config, sort_keys=True).encode()
    manifest = {"schemaVersion": 2, "mediaType": rf.MT_OCI_MANIFEST,
                "config": dict(mediaType=rf.MT_OCI_CONFIG, **write_blob(layout, cfg)),
                "layers": [dict(mediaType=rf.MT_OCI_LAYER_GZIP, **write_blob(layout, b)) for b in blobs]}
    m = json.dumps(manifest, sort_keys=True).encode()
    desc = dict(mediaType=rf.MT_OCI_MANIFEST, **write_blob(layout, m))
    desc["config"] = digest(cfg)
    desc["layers"] = [digest(b) for b in blobs]
    return desc


def write_index(layout, tagged):
    """tagged: list of (tag, descriptor[, platform])."""
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    manifests = []
    for tag, desc, *plat in tagged:
        d = {"mediaType": desc["mediaType"], "digest": desc["digest"], "size": desc["size"],
             "annotations": {"org.opencontainers.image.ref.name": tag}}
        if plat:
            d["platform"] = plat[0]
        manifests.append(d)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": manifests}, f)


BUSYBOX = open(rf.BUSYBOX, "rb").read()
BASE = [entry("bin", kind="dir", mode=0o755), entry("bin/busybox", BUSYBOX, mode=0o755),
        entry("bin/sh", kind="symlink", link="busybox", mode=0o777),
        entry("etc", kind="dir", mode=0o755), entry("etc/gone", b"deleted by layer 2\n"),
        entry("data", kind="dir", mode=0o755), entry("data/old", b"hidden by the opaque dir\n")]
LAYER2 = [entry("etc/.wh.gone", b""), entry("etc/hello", b"hello from layer 2\n")]
LAYER3 = [entry("data", kind="dir", mode=0o755), entry("data/.wh..wh..opq", b""),
          entry("data/new", b"only this survives\n")]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A registry with: multi (3 layers), shared (= multi's first layer + another), an index, busybox."""
    base = tmp_path_factory.mktemp("images")
    layout = str(base / "layout")
    multi = image_manifest(layout, [BASE, LAYER2, LAYER3])
    shared = image_manifest(layout, [BASE, [entry("etc/shared", b"another image\n")]])
    other_arch = "arm64" if HOST_ARCH != "arm64" else "amd64"
    foreign = image_manifest(layout, [[entry("wrong-arch", b"not for this host\n")]], arch=other_arch)
    index = {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": [
        {"mediaType": foreign["mediaType"], "digest": foreign["digest"], "size": foreign["size"],
         "platform": {"os": "linux", "architecture": other_arch}},
        {"mediaType": multi["mediaType"], "digest": multi["digest"], "size": multi["size"],
         "platform": {"os": "linux", "architecture": HOST_ARCH}}]}
    idx = dict(mediaType=MT_OCI_INDEX, **write_blob(layout, json.dumps(index, sort_keys=True).encode()))
    write_index(layout, [("multi", multi), ("shared", shared), ("index", idx)])
    oci_schema.check_image_layout(layout)
    reg = rf.Registry(str(base / "registry"), str(base / "storage")).start()
    try:
        for tag in ("multi", "shared"):
            reg.push(layout, tag, "test/img")
        subprocess.run(["skopeo", "copy", "--quiet", "--all", "--dest-tls-verify=false", f"oci:{layout}:index",
                        f"docker://{reg.hostport}/test/img:index"], check=True, timeout=120)
        yield {"registry": reg, "layout": layout, "multi": multi, "shared": shared, "index": idx,
               "storage": str(base / "storage"), "base": base}
    finally:
        reg.stop()


def plugin_dirs():
    return list(SHIPPED_PLUGIN_DIRS)


def daemon_config(reg_hostport, extra_registries=""):
    return f"""plugin_dirs: [{", ".join(plugin_dirs())}]
snapshotter: {{name: overlayfs, plugin: storage-overlay}}
transports:
  registry:
    plugin: image-docker
    schemes: [""]
    options:
      retries: 1
      connect_timeout_seconds: 2
      registries:
        "{reg_hostport}": {{insecure: true}}
{extra_registries}
  oci: {{plugin: image-oci, schemes: [oci, oci-archive]}}
"""


@pytest.fixture
def cleat(cleatd_factory, images, cri):
    d = cleatd_factory(daemon_config(images["registry"].hostport)).start()
    pb2, pb2_grpc = cri
    d.images = pb2_grpc.ImageServiceStub(d.channel())
    return d


def pull(d, pb2, ref, auth=None):
    return d.images.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=ref), auth=auth), timeout=120).image_ref


def status(d, pb2, ref, verbose=False):
    return d.images.ImageStatus(pb2.ImageStatusRequest(image=pb2.ImageSpec(image=ref), verbose=verbose))


def snapshot_fs_dirs(d):
    return glob.glob(os.path.join(d.root_dir, "plugins", "snapshotter", "overlayfs", "snapshots", "*", "fs"))


def content_blobs(d):
    return {"sha256:" + os.path.basename(p)
            for p in glob.glob(os.path.join(d.root_dir, "content", "blobs", "sha256", "*"))}


def test_pull_by_tag_records_the_image(cleat, images, cri):
    pb2, _ = cri
    reg = images["registry"].hostport
    ref = f"{reg}/test/img:multi"
    image_id = pull(cleat, pb2, ref)
    assert image_id == images["multi"]["config"]  # the image ID is the config digest
    img = status(cleat, pb2, ref).image
    assert img.id == image_id
    assert list(img.repo_tags) == [ref]
    assert list(img.repo_digests) == [f"{reg}/test/img@{images['multi']['digest']}"]
    assert img.uid.value == 1000
    assert img.size > len(BUSYBOX) // 2  # compressed layers + config
    # Found by ID, short ID and digest reference too.
    assert status(cleat, pb2, image_id).image.id == image_id
    assert status(cleat, pb2, image_id[7:19]).image.id == image_id
    assert status(cleat, pb2, f"{reg}/test/img@{images['multi']['digest']}").image.id == image_id
    listed = cleat.images.ListImages(pb2.ListImagesRequest()).images
    assert [i.id for i in listed] == [image_id]
    # Every blob is in the content store, verified by name.
    blobs = content_blobs(cleat)
    assert images["multi"]["digest"] in blobs and images["multi"]["config"] in blobs
    assert set(images["multi"]["layers"]) <= blobs
    for b in blobs:
        with open(os.path.join(cleat.root_dir, "content", "blobs", "sha256", b[7:]), "rb") as f:
            assert digest(f.read()) == b
    info = json.loads(status(cleat, pb2, ref, verbose=True).info["info"])
    assert info["manifestDigest"] == images["multi"]["digest"]
    assert len(info["chainIDs"]) == 3
    assert info["platform"].startswith(f"linux/{HOST_ARCH}")


def test_status_and_remove_of_missing_image_are_quiet(cleat, cri):
    pb2, _ = cri
    assert not status(cleat, pb2, "docker.io/library/nothing:here").HasField("image")
    cleat.images.RemoveImage(pb2.RemoveImageRequest(image=pb2.ImageSpec(image="nothing:here")))


def test_pull_through_index_picks_host_platform(cleat, images, cri):
    pb2, _ = cri
    reg = images["registry"].hostport
    image_id = pull(cleat, pb2, f"{reg}/test/img:index")
    assert image_id == images["multi"]["config"]
    img = status(cleat, pb2, image_id).image
    assert f"{reg}/test/img@{images['index']['digest']}" in img.repo_digests


def test_pull_by_digest(cleat, images, cri):
    pb2, _ = cri
    reg = images["registry"].hostport
    ref = f"{reg}/test/img@{images['shared']['digest']}"
    assert pull(cleat, pb2, ref) == images["shared"]["config"]
    img = status(cleat, pb2, ref).image
    assert list(img.repo_tags) == []
    assert list(img.repo_digests) == [ref]


def test_layers_are_unpacked_with_whiteouts_and_opaque_dirs(cleat, images, cri, tmp_path):
    pb2, _ = cri
    image_id = pull(cleat, pb2, f"{images['registry'].hostport}/test/img:multi")
    info = json.loads(status(cleat, pb2, image_id, verbose=True).info["info"])
    # Find each layer's directory through its snapshot's upper dir: the chain, base first.
    fs_by_content = {}
    for fs in snapshot_fs_dirs(cleat):
        names = set()
        for root, dirs, files in os.walk(fs):
            for n in dirs + files:
                names.add(os.path.relpath(os.path.join(root, n), fs))
        fs_by_content[fs] = names
    base = next(fs for fs, n in fs_by_content.items() if "bin/busybox" in n)
    second = next(fs for fs, n in fs_by_content.items() if "etc/hello" in n)
    third = next(fs for fs, n in fs_by_content.items() if "data/new" in n)
    with open(os.path.join(base, "bin", "busybox"), "rb") as f:
        assert f.read() == BUSYBOX
    assert os.readlink(os.path.join(base, "bin", "sh")) == "busybox"
    assert os.stat(os.path.join(base, "bin", "busybox")).st_mode & 0o777 == 0o755
    wh = os.lstat(os.path.join(second, "etc", "gone"))  # an overlay whiteout: a 0/0 char device
    assert (wh.st_mode & 0o170000) == 0o020000 and wh.st_rdev == 0
    assert os.getxattr(os.path.join(third, "data"), "trusted.overlay.opaque") == b"y"
    # And the kernel agrees: mount the chain and look.
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={third}:{second}:{base}", str(mnt)],
                   check=True)
    try:
        assert (mnt / "etc" / "hello").read_text() == "hello from layer 2\n"
        assert not (mnt / "etc" / "gone").exists()
        assert sorted(os.listdir(mnt / "data")) == ["new"]
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert len(info["chainIDs"]) == 3


def test_concurrent_pulls_share_one_download(cleat, images, cri):
    pb2, _ = cri
    ref = f"{images['registry'].hostport}/test/img:multi"
    results, errors = [], []

    def one():
        try:
            results.append(pull(cleat, pb2, ref))
        except grpc.RpcError as e:
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(results) == {images["multi"]["config"]}
    assert len(snapshot_fs_dirs(cleat)) == 3  # each layer unpacked once


def test_concurrent_pulls_of_images_sharing_a_layer(cleatd_factory, images, cri, tmp_path):
    """multi and shared start with the same layer; pulled at once, again and again, the layer is unpacked once
    (the other pull waits for it, then uses it) and both images are whole."""
    pb2, pb2_grpc = cri
    reg = images["registry"].hostport
    for round_ in range(4):
        d = cleatd_factory(daemon_config(reg), base=tmp_path / f"d{round_}").start()
        d.images = pb2_grpc.ImageServiceStub(d.channel())
        results, errors = {}, []

        def one(tag):
            try:
                results[tag] = pull(d, pb2, f"{reg}/test/img:{tag}")
            except grpc.RpcError as e:
                errors.append(e)

        threads = [threading.Thread(target=one, args=(tag,)) for tag in ("multi", "shared")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert results == {"multi": images["multi"]["config"], "shared": images["shared"]["config"]}
        assert len(snapshot_fs_dirs(d)) == 4  # the base layer once
        for tag in ("multi", "shared"):
            assert len(json.loads(status(d, pb2, results[tag], verbose=True).info["info"])["chainIDs"]) == \
                len(images[tag]["layers"])
        d.stop()


def test_remove_keeps_layers_another_image_shares(cleat, images, cri):
    pb2, _ = cri
    reg = images["registry"].hostport
    multi = pull(cleat, pb2, f"{reg}/test/img:multi")
    shared = pull(cleat, pb2, f"{reg}/test/img:shared")
    assert len(snapshot_fs_dirs(cleat)) == 4  # the base layer once, for both
    cleat.images.RemoveImage(pb2.RemoveImageRequest(image=pb2.ImageSpec(image=multi)))
    assert not status(cleat, pb2, multi).HasField("image")
    assert len(snapshot_fs_dirs(cleat)) == 2  # shared's two layers stay
    blobs = content_blobs(cleat)
    assert images["multi"]["config"] not in blobs and images["multi"]["layers"][2] not in blobs
    assert images["shared"]["config"] in blobs and images["multi"]["layers"][0] in blobs
    assert status(cleat, pb2, shared).image.id == shared
    cleat.images.RemoveImage(pb2.RemoveImageRequest(image=pb2.ImageSpec(image=f"{reg}/test/img:shared")))
    assert snapshot_fs_dirs(cleat) == [] and content_blobs(cleat) == set()


def test_remove_by_tag_keeps_other_references(cleat, images, cri):
    pb2, _ = cri
    reg = images["registry"].hostport
    image_id = pull(cleat, pb2, f"{reg}/test/img:multi")
    pull(cleat, pb2, f"{reg}/test/img:index")  # same image, another tag and repo digest
    cleat.images.RemoveImage(pb2.RemoveImageRequest(image=pb2.ImageSpec(image=f"{reg}/test/img:multi")))
    img = status(cleat, pb2, image_id).image
    assert list(img.repo_tags) == [f"{reg}/test/img:index"]
    assert len(snapshot_fs_dirs(cleat)) == 3


@pytest.mark.parametrize("which", [0, 1, 2])
def test_corrupted_blob_leaves_nothing_behind(cleatd_factory, images, cri, tmp_path, which):
    """The registry serves wrong bytes for a layer: the pull fails and leaves no blob, ingest or snapshot.  The
    layers above a bad one were unpacked ahead of it, into snapshots whose parent is its own: they go first."""
    pb2, pb2_grpc = cri
    storage = tmp_path / "storage"
    shutil.copytree(images["storage"], storage)
    layer = images["multi"]["layers"][which][7:]
    data = storage / "docker" / "registry" / "v2" / "blobs" / "sha256" / layer[:2] / layer / "data"
    size = data.stat().st_size
    data.write_bytes(b"\0" * size)  # same size, wrong content
    reg = rf.Registry(str(tmp_path / "reg"), str(storage)).start()
    try:
        d = cleatd_factory(daemon_config(reg.hostport), base=tmp_path / "d").start()
        stub = pb2_grpc.ImageServiceStub(d.channel())
        with pytest.raises(grpc.RpcError) as e:
            stub.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=f"{reg.hostport}/test/img:multi")),
                           timeout=120)
        assert layer in e.value.details()
        assert len(stub.ListImages(pb2.ListImagesRequest()).images) == 0
        assert content_blobs(d) == set()
        assert os.listdir(os.path.join(d.root_dir, "content", "ingest")) == []
        assert snapshot_fs_dirs(d) == []
    finally:
        reg.stop()


def test_registry_down_is_unavailable(cleat, cri):
    pb2, _ = cri
    with pytest.raises(grpc.RpcError) as e:
        pull(cleat, pb2, f"127.0.0.1:{rf.free_port()}/test/img:multi")
    assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.FAILED_PRECONDITION)


def test_unknown_tag_is_not_found(cleat, images, cri):
    pb2, _ = cri
    with pytest.raises(grpc.RpcError) as e:
        pull(cleat, pb2, f"{images['registry'].hostport}/test/img:nope")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_oci_layout_and_archive_imports(cleat, images, cri, tmp_path):
    pb2, _ = cri
    layout = images["layout"]
    image_id = pull(cleat, pb2, f"oci:{layout}:multi")
    assert image_id == images["multi"]["config"]
    assert status(cleat, pb2, f"oci:{layout}:multi").image.id == image_id
    archive = tmp_path / "img.tar"
    with tarfile.open(archive, "w") as tar:
        for name in os.listdir(layout):
            tar.add(os.path.join(layout, name), arcname=name)
    shared_id = pull(cleat, pb2, f"oci-archive:{archive}:shared")
    assert shared_id == images["shared"]["config"]
    assert len(snapshot_fs_dirs(cleat)) == 4


def test_image_fs_info(cleat, images, cri):
    pb2, _ = cri
    pull(cleat, pb2, f"{images['registry'].hostport}/test/img:multi")
    resp = cleat.images.ImageFsInfo(pb2.ImageFsInfoRequest())
    assert resp.image_filesystems
    used = sum(f.used_bytes.value for f in resp.image_filesystems)
    assert used > len(BUSYBOX)  # the unpacked busybox alone is that big
    assert all(f.fs_id.mountpoint.startswith(cleat.root_dir) for f in resp.image_filesystems)
    assert all(f.inodes_used.value > 0 for f in resp.image_filesystems)


def test_malicious_layer_is_contained(cleat, cri, tmp_path):
    """A symlink to / and then a file written through it must not land outside the root dir."""
    pb2, _ = cri
    outside = tmp_path / "outside"
    outside.mkdir()
    layout = str(tmp_path / "evil")
    evil = image_manifest(layout, [[entry("escape", kind="symlink", link=str(outside), mode=0o777),
                                    entry("escape/pwned", b"gotcha\n"),
                                    entry("../../../../../../../../" + str(outside)[1:] + "/dotdot", b"x\n")]])
    write_index(layout, [("evil", evil)])
    try:
        pull(cleat, pb2, f"oci:{layout}:evil")
    except grpc.RpcError as e:
        assert e.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                            grpc.StatusCode.PERMISSION_DENIED), e
    assert os.listdir(outside) == []


def test_pull_with_basic_auth(cleatd_factory, images, cri, tmp_path):
    """htpasswd registry: AuthConfig credentials (username/password, or `auth`) work; wrong ones are refused."""
    import base64
    pb2, pb2_grpc = cri
    reg = rf.Registry(str(tmp_path / "reg"), images["storage"], htpasswd=("cleat", "s3cret")).start()
    try:
        d = cleatd_factory(daemon_config(reg.hostport), base=tmp_path / "d").start()
        stub = pb2_grpc.ImageServiceStub(d.channel())
        ref = f"{reg.hostport}/test/img:shared"

        def pull_with(auth):
            return stub.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=ref), auth=auth),
                                  timeout=120).image_ref

        with pytest.raises(grpc.RpcError) as e:
            pull_with(None)
        assert e.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
        with pytest.raises(grpc.RpcError) as e:
            pull_with(pb2.AuthConfig(username="cleat", password="wrong"))
        assert e.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
        assert len(stub.ListImages(pb2.ListImagesRequest()).images) == 0
        assert pull_with(pb2.AuthConfig(username="cleat", password="s3cret")) == images["shared"]["config"]
        stub.RemoveImage(pb2.RemoveImageRequest(image=pb2.ImageSpec(image=ref)))
        token = base64.b64encode(b"cleat:s3cret").decode()
        assert pull_with(pb2.AuthConfig(auth=token)) == images["shared"]["config"]
    finally:
        reg.stop()


def test_concurrent_pulls_with_different_credentials_are_not_shared(cleatd_factory, images, cri, tmp_path):
    """A pull is shared only by callers with the same credentials: an anonymous, refused pull running at the
    same time must not hand its refusal to a caller who brought the right password."""
    pb2, pb2_grpc = cri
    reg = rf.Registry(str(tmp_path / "reg"), images["storage"], htpasswd=("cleat", "s3cret")).start()
    try:
        d = cleatd_factory(daemon_config(reg.hostport), base=tmp_path / "d").start()
        stub = pb2_grpc.ImageServiceStub(d.channel())
        ref = f"{reg.hostport}/test/img:multi"
        good = pb2.AuthConfig(username="cleat", password="s3cret")
        outcomes = {"anonymous": [], "authenticated": []}
        barrier = threading.Barrier(16)

        def one(kind, auth):
            barrier.wait()
            try:
                stub.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=ref), auth=auth), timeout=120)
                outcomes[kind].append("ok")
            except grpc.RpcError as e:
                outcomes[kind].append(e.code())

        threads = [threading.Thread(target=one, args=("authenticated", good) if i % 2 else ("anonymous", None))
                   for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes["authenticated"] == ["ok"] * 8, outcomes
        assert "ok" not in outcomes["anonymous"], outcomes
    finally:
        reg.stop()
