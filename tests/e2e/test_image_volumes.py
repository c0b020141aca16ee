# SPDX-License-Identifier: Apache-2.0
"""Image volumes (CRI Mount.image with image_sub_path) end to end: an image
built here, pushed with skopeo to a real docker-registry, pulled by cleatd,
and mounted read-only into containers run by real runc: its files are
there, writes fail with EROFS, a sub path (also through the image's own
symlinks) mounts part of it, escapes are refused, a missing image is
NOT_FOUND with nothing made, an image in use may be removed while its layers
stay until the container goes, and a crash in the middle of a create leaves
nothing after the restart.  Once with pods on the node's user namespace and
once with pods that have their own (the view is idmapped)."""

import json
import os
import signal
import shutil
import stat
import subprocess
import threading

import grpc
import pytest

import pod_fixture
import registry_fixture as rf
from conftest import module_pod_env, pods_removed_after
from pod_fixture import SHIM, mounts_under, wait_for
from test_images import entry, image_manifest, write_index

ALSO_USERNS = True

LAYER1 = [entry("data", kind="dir", mode=0o755), entry("data/hello", b"hello from the volume image\n"),
          entry("data/sub", kind="dir", mode=0o755), entry("data/sub/inner", b"inner file\n"),
          entry("etc", kind="dir", mode=0o755), entry("etc/marker", b"the image's own etc\n")]
LAYER2 = [entry("data/second", b"from layer 2\n"),
          entry("escape", kind="symlink", link="../../../../../etc"),  # resolved inside: the image's /etc
          entry("abs", kind="symlink", link="/data/sub")]

SLOW_RUNC = """#!/bin/sh
# runc whose `create` takes 3 s, so that a test can kill cleatd meanwhile
for a in "$@"; do [ "$a" = create ] && sleep 3; done
exec /usr/bin/runc "$@"
"""


@pytest.fixture(scope="module")
def volreg(tmp_path_factory):
    """A registry serving test/vol:t (two layers) and test/vol:other (one)."""
    base = tmp_path_factory.mktemp("volreg")
    layout = str(base / "layout")
    desc = image_manifest(layout, [LAYER1, LAYER2])
    other = image_manifest(layout, [[entry("only-here", b"other image\n")]])
    write_index(layout, [("t", desc), ("other", other)])
    reg = rf.Registry(str(base / "registry"), str(base / "storage")).start()
    try:
        reg.push(layout, "t", "test/vol")
        reg.push(layout, "other", "test/vol")
        yield {"registry": reg, "ref": f"{reg.hostport}/test/vol:t", "other": f"{reg.hostport}/test/vol:other",
               "id": desc["config"], "base": str(base)}
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def vol_env(tmp_path_factory, cri, test_layout, default_handler, volreg):
    wrapper = os.path.join(volreg["base"], "slow-runc")
    with open(wrapper, "w") as f:
        f.write(SLOW_RUNC)
    os.chmod(wrapper, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    dropins = {"20-volumes.yaml": f"""transports:
  registry:
    options:
      registries:
        "{volreg['registry'].hostport}": {{insecure: true}}
runtime:
  handlers:
    slow:
      plugin: runtime-runc
      options: {{binary: {wrapper}, shim: {SHIM}}}
"""}
    with module_pod_env(tmp_path_factory, cri, test_layout, default_handler, name="imgvol", dropins=dropins) as env:
        env.img.PullImage(env.pb2.PullImageRequest(image=env.pb2.ImageSpec(image=volreg["ref"])), timeout=120)
        yield env


@pytest.fixture
def venv(vol_env):
    """The module's env; the pods a test made are removed after it."""
    with pods_removed_after(vol_env):
        yield vol_env


def image_mount(pb2, path, image, sub_path="", readonly=True):
    return pb2.Mount(container_path=path, image=pb2.ImageSpec(image=image), image_sub_path=sub_path,
                     readonly=readonly)


def snapshots(env):
    return sorted(os.listdir(os.path.join(env.d.root_dir, "plugins", "snapshotter", "overlayfs", "snapshots")))


def image_ids(env):
    return {i.id for i in env.img.ListImages(env.pb2.ListImagesRequest(), timeout=60).images}


def test_volume_files_are_visible_and_read_only(venv, volreg):
    env, pb2 = venv, venv.pb2
    pod = env.run_pod()
    mounts = [image_mount(pb2, "/vol", volreg["ref"]),
              image_mount(pb2, "/sub", volreg["ref"], "data/sub"),
              image_mount(pb2, "/file", volreg["ref"], "data/hello"),
              image_mount(pb2, "/esc", volreg["ref"], "escape"),  # ../../../../../etc: the image's own /etc
              image_mount(pb2, "/abs", volreg["ref"], "abs/")]  # /data/sub, inside the image
    cid = env.run(pod, command=["sleep", "3600"], mounts=mounts)
    assert env.sh(cid, "cat /vol/data/hello /vol/data/second") == "hello from the volume image\nfrom layer 2\n"
    assert env.sh(cid, "cat /sub/inner") == "inner file\n"
    assert env.sh(cid, "cat /file") == "hello from the volume image\n"
    assert env.sh(cid, "ls /esc") == "marker\n"
    assert env.sh(cid, "cat /abs/inner") == "inner file\n"
    # Owned by root as seen from the container: in a pod with its own user namespace, the view is idmapped.
    assert env.sh(cid, "stat -c %u:%g /vol/data/hello /sub/inner") == "0:0\n0:0\n"
    for target in ("/vol/data/new", "/sub/new", "/vol/data/hello", "/file"):
        r = env.exec(cid, ["sh", "-c", f"echo x > {target}"])
        assert r.exit_code != 0 and b"Read-only file system" in r.stderr, (target, r)
    r = env.exec(cid, ["mkdir", "/vol/newdir"])
    assert r.exit_code != 0 and b"Read-only file system" in r.stderr
    # ContainerStatus reports each mount with its image.
    st = env.status(cid).status
    assert [(m.container_path, m.image.image, m.image_sub_path) for m in st.mounts] == \
        [(m.container_path, volreg["ref"], m.image_sub_path) for m in mounts]
    # The container's own rootfs stays writable.
    assert env.sh(cid, "echo ok > /tmp/w && cat /tmp/w") == "ok\n"


@pytest.mark.parametrize("sub_path, why", [
    ("../etc", 'may not contain ".."'),
    ("data/../../etc", 'may not contain ".."'),
    ("/etc", "must be relative"),
    ("data/missing", "cannot be reached"),
    ("data/hello/below", "cannot be reached"),
])
def test_bad_sub_path_is_refused_with_nothing_left(venv, volreg, sub_path, why):
    env, pb2 = venv, venv.pb2
    pod = env.run_pod()
    before, mounts = snapshots(env), mounts_under(env.d.state_dir)
    with pytest.raises(grpc.RpcError) as e:
        env.create(pod, command=["sleep", "3600"], mounts=[image_mount(pb2, "/vol", volreg["ref"], sub_path)])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert why in e.value.details() and "/vol" in e.value.details(), e.value.details()
    assert env.list_containers(pod_sandbox_id=pod) == []
    assert snapshots(env) == before
    assert mounts_under(env.d.state_dir) == mounts
    assert os.listdir(os.path.join(env.d.state_dir, "containers")) == []


def test_missing_image_is_not_found_with_nothing_left(venv, volreg):
    env, pb2 = venv, venv.pb2
    pod = env.run_pod()
    before, mounts = snapshots(env), mounts_under(env.d.state_dir)
    missing = f"{volreg['registry'].hostport}/test/vol:never-pulled"
    with pytest.raises(grpc.RpcError) as e:
        env.create(pod, command=["sleep", "3600"],
                   mounts=[image_mount(pb2, "/ok", volreg["ref"]), image_mount(pb2, "/vol", missing)])
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert missing in e.value.details() and "/vol" in e.value.details()
    assert env.list_containers(pod_sandbox_id=pod) == []
    assert snapshots(env) == before
    assert mounts_under(env.d.state_dir) == mounts
    assert os.listdir(os.path.join(env.d.state_dir, "containers")) == []


def test_mount_with_host_path_and_image_is_refused(venv, volreg, tmp_path):
    env, pb2 = venv, venv.pb2
    pod = env.run_pod()
    m = image_mount(pb2, "/vol", volreg["ref"])
    m.host_path = str(tmp_path)
    with pytest.raises(grpc.RpcError) as e:
        env.create(pod, command=["sleep", "3600"], mounts=[m])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "not both" in e.value.details()


def test_image_in_use_is_removed_but_its_layers_stay_until_unused(venv, volreg):
    """RemoveImage of an image a container mounts succeeds (as in containerd) and the image leaves ListImages,
    but its layers stay for the container; once the container is removed, they go."""
    env, pb2 = venv, venv.pb2
    other = volreg["other"]
    other_id = env.img.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=other)), timeout=120).image_ref
    without_other = None
    pod = env.run_pod()
    cid = env.run(pod, command=["sleep", "3600"], mounts=[image_mount(pb2, "/o", other)])
    with_view = snapshots(env)
    env.img.RemoveImage(pb2.RemoveImageRequest(image=pb2.ImageSpec(image=other)), timeout=60)
    assert other_id not in image_ids(env)
    assert env.sh(cid, "cat /o/only-here") == "other image\n"
    assert snapshots(env) == with_view  # the layer and the view stay
    env.stop(cid)
    env.remove(cid)
    without_other = snapshots(env)
    assert len(without_other) == len(with_view) - 3  # its writable layer, the view, the removed image's layer
    # Pulled again, it is unpacked again and works as a volume again.
    env.img.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=other)), timeout=120)
    cid = env.run(pod, command=["sleep", "3600"], mounts=[image_mount(pb2, "/o", other)])
    assert env.sh(cid, "cat /o/only-here") == "other image\n"
    env.stop(cid)
    env.remove(cid)
    env.img.RemoveImage(pb2.RemoveImageRequest(image=pb2.ImageSpec(image=other)), timeout=60)
    assert snapshots(env) == without_other


def test_volume_survives_a_restart_and_goes_with_the_container(venv, volreg):
    env, pb2 = venv, venv.pb2
    pod = env.run_pod()
    before = snapshots(env)
    cid = env.run(pod, command=["sleep", "3600"], mounts=[image_mount(pb2, "/vol", volreg["ref"], "data")])
    vol_dir = os.path.join(env.container_dir(cid), "volumes", "0")
    assert vol_dir in mounts_under(env.container_dir(cid))
    env.d.proc.send_signal(signal.SIGKILL)
    env.d.proc.wait()
    env.d.log.close()
    env.d.start()
    env.connect()
    assert env.sh(cid, "cat /vol/hello") == "hello from the volume image\n"
    assert env.status(cid).status.mounts[0].image.image == volreg["ref"]
    env.stop(cid)
    env.remove(cid)
    assert mounts_under(env.container_dir(cid)) == []
    assert not os.path.exists(env.container_dir(cid))
    assert snapshots(env) == before


@pytest.mark.parametrize("reboot", [False, True], ids=["restart", "reboot"])
def test_crash_mid_create_leaves_no_view_after_restart(venv, volreg, reboot):
    """cleatd is killed while runc creates a container with an image volume (its view is made and mounted):
    at the next start, the sweep unmounts and removes it.  With `reboot`, the state dir's part of it is lost
    as well (mounts and container dir, as /run after a reboot): the view is found by its key alone."""
    env, pb2 = venv, venv.pb2
    pod = env.run_pod(handler="slow")
    before, mounts = snapshots(env), mounts_under(env.d.state_dir)
    ctrs = os.path.join(env.d.state_dir, "containers")

    def create():
        try:
            env.create(pod, command=["sleep", "3600"], mounts=[image_mount(pb2, "/vol", volreg["ref"])])
        except grpc.RpcError:
            pass  # cleatd died under it: that is the point
    t = threading.Thread(target=create)
    t.start()
    wait_for(lambda: any(p.endswith("/volumes/0") for p in mounts_under(ctrs)), 10, "the image volume's mount")
    assert len(snapshots(env)) == len(before) + 2  # the writable layer and the view
    env.d.proc.send_signal(signal.SIGKILL)
    env.d.proc.wait()
    env.d.log.close()
    t.join()
    if reboot:
        for c in os.listdir(ctrs):
            for m in sorted(mounts_under(os.path.join(ctrs, c)), key=len, reverse=True):
                subprocess.run(["umount", "-l", m], check=True)
            shutil.rmtree(os.path.join(ctrs, c))
    env.d.start()
    env.connect()
    assert env.list_containers(pod_sandbox_id=pod) == []
    assert os.listdir(ctrs) == []
    assert mounts_under(env.d.state_dir) == mounts
    assert snapshots(env) == before
    # The image is still there and still mounts.
    cid = env.run(pod, command=["sleep", "3600"], mounts=[image_mount(pb2, "/vol", volreg["ref"])])
    assert env.sh(cid, "cat /vol/data/hello") == "hello from the volume image\n"


def test_status_verbose_says_image_volumes_work(venv):
    info = env_status_info(venv)
    assert info["features"]["imageVolumes"] is True


def env_status_info(env):
    resp = env.rt.Status(env.pb2.StatusRequest(verbose=True), timeout=60)
    return {k: json.loads(v) for k, v in resp.info.items()}
