# SPDX-License-Identifier: Apache-2.0
"""Unpacking into snapshots whose mounts are not directories, end to end.

The test snapshotter test-loop-ext4 (tests/plugins/test_loop_ext4.c) keeps
each snapshot as an ext4 image on a loop device and answers with mounts of
the shape storage-devmapper gives ({type: ext4, source: /dev/loopN}), so
cleatd must take the containerd way: mount the active snapshot, apply the
layer onto it (whiteouts delete, opaque directories empty), unmount, commit
(core/image/layer_target.h).  An image built here, with whiteouts and opaque
directories across layers, pulled from an OCI archive (`oci-archive:`)
with `snapshotter:` set to it by a config drop-in, must read back in a
container exactly as through storage-overlay;
hostile layers stay contained; the rest of the core (ImageFsInfo, a
read-only rootfs, writable-layer stats, removal and garbage collection, a
cleatd killed and started again) works with it.

With CLEAT_E2E_DEVMAPPER set (ctest's devmapper.e2e sets it, in a guest
whose kernel has device-mapper: tests/guest/), the same tests also run on
storage-devmapper, over a thin pool the plugin makes from two loop devices."""

import glob
import json
import os
import shutil
import signal
import subprocess
import tarfile

import grpc
import pytest

import pod_fixture
import thin_pool
from conftest import PLUGIN_DIR, SHIPPED_PLUGIN_DIRS, _pod_env, _pod_env_teardown, pods_removed_after
from pod_fixture import mounts_under, tar_info, wait_for

LOOP_EXT4 = "snapshotter: {name: loopext4, plugin: test-loop-ext4}\n"
DEVMAPPER = bool(os.environ.get("CLEAT_E2E_DEVMAPPER"))
SNAPSHOTTERS = ("overlayfs", "loopext4") + (("devmapper",) if DEVMAPPER else ())
BLOCK = ("loopext4", "devmapper")  # the snapshotters whose mounts are block devices
POOL = f"cleat-e2e-{os.getpid()}"  # storage-devmapper's, made by thin_pool

D, F, L, S = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE


def ti(name, kind=F, mode=None, uid=0, gid=0, link=None, mtime=0, dev=(0, 0)):
    mode = mode if mode is not None else 0o755 if kind == D else 0o644
    info = tar_info(name, kind, mode, uid, gid, devmajor=dev[0], devminor=dev[1])
    info.mtime = mtime
    if link:
        info.linkname = link
    return info


# Three layers under /t: the second deletes and hides what the first made (whiteouts of a file, a tree and a
# symlink; opaque directories with the marker before and after the layer's own entries, one with a lower
# directory merged below it; types that replace each other), the third deletes what the second made and brings
# back names the second deleted.
LAYERS = [
    [(ti("t/", D, 0o755), None),
     (ti("t/etc/", D, 0o755), None), (ti("t/etc/motd", mtime=11), b"motd\n"),
     (ti("t/etc/keep", mode=0o600, uid=7, gid=8, mtime=12), b"keep\n"), (ti("t/etc/hostname"), b"lower\n"),
     (ti("t/lib/", D), None), (ti("t/lib/old"), b"old\n"), (ti("t/lib/sub/", D, 0o750), None),
     (ti("t/lib/sub/deep"), b"deep\n"),
     (ti("t/late/", D), None), (ti("t/late/a"), b"a\n"), (ti("t/late/c"), b"lower c\n"),
     (ti("t/gone/", D), None), (ti("t/gone/inner/", D, 0o700), None), (ti("t/gone/inner/f"), b"f\n"),
     (ti("t/link", S, 0o777, link="etc"), None),
     (ti("t/d2f/", D), None), (ti("t/d2f/x"), b"x\n"), (ti("t/f2d"), b"file\n"),
     (ti("t/hl-a", mode=0o640, uid=3, gid=4, mtime=13), b"hard\n"), (ti("t/hl-b", L, link="t/hl-a"), None),
     (ti("t/bin/", D), None), (ti("t/bin/tool", mode=0o4755, uid=1000, gid=1000, mtime=14), b"#!tool\n"),
     (ti("t/dev/", D), None), (ti("t/dev/mynull", tarfile.CHRTYPE, 0o666, dev=(1, 3)), None),
     (ti("t/fifo", tarfile.FIFOTYPE, 0o600), None)],
    [(ti("t/etc/", D, 0o755, mtime=200), None), (ti("t/etc/.wh.motd"), b""),
     (ti("t/etc/hostname", mtime=201), b"upper\n"),
     (ti("t/lib/", D, 0o755), None), (ti("t/lib/.wh..wh..opq"), b""), (ti("t/lib/new"), b"new\n"),
     (ti("t/lib/sub/", D, 0o755), None), (ti("t/lib/sub/added"), b"added\n"),
     (ti("t/late/c", mtime=21), b"upper c\n"), (ti("t/late/.wh..wh..opq"), b""),
     (ti("t/.wh.gone"), b""), (ti("t/.wh.link"), b""),
     (ti("t/d2f", mtime=22), b"now a file\n"), (ti("t/f2d/", D, 0o711), None), (ti("t/f2d/inside"), b"in\n"),
     (ti("t/bin/new", S, 0o777, link="tool"), None)],
    [(ti("t/etc/.wh.hostname"), b""), (ti("t/etc/motd", mtime=31), b"back\n"),
     (ti("t/gone/", D, 0o755), None), (ti("t/gone/fresh"), b"fresh\n")],
]

# What /t must hold: path -> (kind, perm, uid, gid, content or link target).
EXPECTED = {
    ".": ("d", 0o755, 0, 0, None),
    "./etc": ("d", 0o755, 0, 0, None), "./etc/keep": ("f", 0o600, 7, 8, "keep\n"),
    "./etc/motd": ("f", 0o644, 0, 0, "back\n"),
    "./lib": ("d", 0o755, 0, 0, None), "./lib/new": ("f", 0o644, 0, 0, "new\n"),
    "./lib/sub": ("d", 0o755, 0, 0, None), "./lib/sub/added": ("f", 0o644, 0, 0, "added\n"),
    "./late": ("d", 0o755, 0, 0, None), "./late/c": ("f", 0o644, 0, 0, "upper c\n"),
    "./gone": ("d", 0o755, 0, 0, None), "./gone/fresh": ("f", 0o644, 0, 0, "fresh\n"),
    "./d2f": ("f", 0o644, 0, 0, "now a file\n"),
    "./f2d": ("d", 0o711, 0, 0, None), "./f2d/inside": ("f", 0o644, 0, 0, "in\n"),
    "./hl-a": ("f", 0o640, 3, 4, "hard\n"), "./hl-b": ("f", 0o640, 3, 4, "hard\n"),
    "./bin": ("d", 0o755, 0, 0, None), "./bin/tool": ("f", 0o4755, 1000, 1000, "#!tool\n"),
    "./bin/new": ("l", 0o777, 0, 0, "tool"),
    "./dev": ("d", 0o755, 0, 0, None), "./dev/mynull": ("c", 0o666, 0, 0, None),
    "./fifo": ("p", 0o600, 0, 0, None),
}

# One line per entry of /t: path, raw mode (hex), inode, nlink, owner, mtime, then content or link target.
LISTING = r"""cd /t && find . | sort | while read -r p; do
  set -- $(stat -c '%f %i %h %u %g %Y' "$p")
  if [ -L "$p" ]; then x="-> $(readlink "$p")"
  elif [ -f "$p" ]; then x="$(cat "$p" | od -An -c | tr -s ' ' | tr -d '\n')"
  else x=""; fi
  echo "$p|$1|$2|$3|$4:$5|$6|$x"
done"""


def kind_of(mode):
    return {0o040000: "d", 0o100000: "f", 0o120000: "l", 0o020000: "c", 0o010000: "p"}.get(mode & 0o170000, "?")


def parse_listing(text):
    """{path: dict} with hardlinks named by the first path of their inode, and no inode numbers (they differ)."""
    entries, first_of_inode = {}, {}
    for line in text.splitlines():
        path, mode, ino, nlink, owner, mtime, rest = line.split("|", 6)
        mode = int(mode, 16)
        kind = kind_of(mode)
        e = {"kind": kind, "perm": mode & 0o7777, "owner": owner, "content": rest}
        if kind != "d":  # merged directories' times and links count differ by design (see test_unpack.c)
            e.update(mtime=int(mtime), nlink=int(nlink), same_as=first_of_inode.setdefault(ino, path))
        entries[path] = e
    return entries


def od_text(content):
    """What the listing's `od -An -c | tr ...` makes of `content`."""
    return subprocess.run("od -An -c | tr -s ' ' | tr -d '\\n'", shell=True, input=content.encode(),
                          capture_output=True, check=True).stdout.decode()


@pytest.fixture(scope="module")
def stack_archive(tmp_path_factory, test_layout):
    """The stack image as an OCI archive (a tar of the layout): pulled as `oci-archive:ARCHIVE:stack`."""
    base = tmp_path_factory.mktemp("stack")
    layout, archive = str(base / "layout"), str(base / "stack.tar")
    pod_fixture.build_stacked_layout(layout, "stack", LAYERS, {"Cmd": ["sleep", "3600"]})
    with tarfile.open(archive, "w") as tar:
        for name in os.listdir(layout):
            tar.add(os.path.join(layout, name), arcname=name)
    return archive


def loop_devices_of(root):
    """The loop devices bound to a file below root: {/dev/loopN: backing file}."""
    found = {}
    for f in glob.glob("/sys/block/loop*/loop/backing_file"):
        with open(f) as fh:
            backing = fh.read().strip()
        if backing.startswith(os.path.realpath(root) + "/"):
            found["/dev/" + f.split("/")[3]] = backing
    return found


def dm_devices(pool):
    """The live device-mapper devices of a thin pool's snapshots: [/dev/mapper/NAME]."""
    found = []
    for f in glob.glob("/sys/block/dm-*/dm/name"):
        with open(f) as fh:
            name = fh.read().strip()
        if name.startswith(pool + "-"):
            found.append("/dev/mapper/" + name)
    return sorted(found)


def block_devices(st):
    """The block devices a block snapshotter has bound or made live now."""
    if st.name == "devmapper":
        return dm_devices(POOL)
    return sorted(loop_devices_of(st.sn_root))


class Stack:
    """One cleatd (snapshotter `name`) with the test images and the stack image pulled."""

    def __init__(self, env, name, archive):
        self.env, self.name = env, name
        self.ref = f"oci-archive:{archive}:stack"
        self.image = env.img.PullImage(env.pb2.PullImageRequest(image=env.pb2.ImageSpec(image=self.ref)),
                                       timeout=120).image_ref
        self.sn_root = os.path.join(env.d.root_dir, "plugins", "snapshotter", name)

    def listing(self, **kw):
        env = self.env
        pod = env.run_pod()
        cid = env.run(pod, image=self.image, command=["sleep", "3600"], **kw)
        return cid, parse_listing(env.sh(cid, LISTING))


@pytest.fixture(scope="module", params=SNAPSHOTTERS)
def stack(request, tmp_path_factory, cri, test_layout, stack_archive):
    if not os.path.exists("/dev/loop-control") and request.param in BLOCK:
        pytest.skip("no /dev/loop-control: the kernel has no loop devices")
    base = tmp_path_factory.mktemp(request.param)
    snapshotter = {"loopext4": lambda: LOOP_EXT4,
                   "devmapper": lambda: thin_pool.snapshotter_yaml(str(base), POOL)}.get(request.param)
    dropins = {"50-snapshotter.yaml": snapshotter()} if snapshotter else {}
    env = _pod_env(base, cri, test_layout, dropins=dropins)
    try:
        yield Stack(env, request.param, stack_archive)
    finally:
        _pod_env_teardown(env)


@pytest.fixture
def st(stack):
    """The module's Stack; the pods (and so the containers and their writable layers) a test made go after it."""
    with pods_removed_after(stack.env):
        yield stack


@pytest.fixture(scope="module")
def listings():
    """Each snapshotter's listing of /t, as the stack tests saw it."""
    return {}


def test_stack_reads_back_exactly(st, listings):
    """The final view in a container: deleted files gone, opaque directories with only the top layer's entries,
    modes, owners, symlinks, hardlinks, devices as the layers say."""
    cid, got = st.listing()
    assert sorted(got) == sorted(EXPECTED), sorted(set(got) ^ set(EXPECTED))
    for path, (kind, perm, uid, gid, content) in EXPECTED.items():
        e = got[path]
        assert (e["kind"], e["perm"], e["owner"]) == (kind, perm, f"{uid}:{gid}"), (path, e)
        if kind == "l":
            assert e["content"] == f"-> {content}", (path, e)
        elif kind == "f":
            assert e["content"] == od_text(content), (path, e)
    assert got["./hl-b"]["same_as"] == "./hl-a" and got["./hl-a"]["nlink"] == 2
    assert got["./etc/keep"]["mtime"] == 12 and got["./etc/motd"]["mtime"] == 31
    listings[st.name] = got
    st.env.stop(cid)


def test_both_snapshotters_give_the_same_tree(listings):
    """Every block snapshotter's listing (of those this run made) is overlayfs's."""
    others = sorted(set(listings) - {"overlayfs"})
    if "overlayfs" not in listings or not others:
        pytest.skip(f"needs overlayfs's listing and another, have {sorted(listings)}")
    for name in others:
        assert listings[name] == listings["overlayfs"], name


def test_layers_are_ext4_images_and_mounts_are_block_devices(st):
    if st.name not in BLOCK:
        pytest.skip("block snapshotters only")
    env = st.env
    metas = glob.glob(os.path.join(st.sn_root, "snapshots", "*", "meta"))
    keys = [open(m).read().split("\n")[0].split("\t")[1] for m in metas]
    info = env.img.ImageStatus(env.pb2.ImageStatusRequest(image=env.pb2.ImageSpec(image=st.image),
                                                          verbose=True)).info["info"]
    chain = json.loads(info)["chainIDs"]
    assert set(chain) <= set(keys)
    assert not [k for k in keys if k.startswith("extract-")]  # every unpack committed or removed
    # A running container's rootfs is its ext4 on a block device of its own (a loop device, or a thin device of
    # the pool); the layers' own devices are detached, or not live.
    pod = env.run_pod()
    cid = env.run(pod, image=st.image, command=["sleep", "3600"])
    rootfs = os.path.realpath(os.path.join(env.container_dir(cid), "rootfs"))
    point, fstype, source = next(m for m in pod_fixture.mountinfo() if m[0] == rootfs)
    prefix = "/dev/mapper/" if st.name == "devmapper" else "/dev/loop"
    assert fstype == "ext4" and source.startswith(prefix), (point, fstype, source)
    devices = block_devices(st)
    assert devices == [source], devices
    # The writable layer is the container's own: a write shows in its usage, not in the image.
    env.sh(cid, "head -c 3000000 /dev/urandom > /big && sync")
    wait_for(lambda: env.rt.ContainerStats(env.pb2.ContainerStatsRequest(container_id=cid)).stats
             .writable_layer.used_bytes.value >= 3000000, 20, "the writable layer's usage")
    env.stop(cid)
    env.remove(cid)
    assert block_devices(st) == []
    assert mounts_under(env.d.root_dir) == []


def test_readonly_rootfs(st):
    env = st.env
    pod = env.run_pod()
    cid = env.run(pod, image=st.image, command=["sleep", "3600"], readonly_rootfs=True)
    r = env.exec(cid, ["sh", "-c", "echo x > /t/new"])
    assert r.exit_code != 0 and b"Read-only file system" in r.stderr, r
    assert env.sh(cid, "cat /t/etc/motd") == "back\n"
    env.stop(cid)


def test_image_fs_info(st):
    env = st.env
    fs = env.img.ImageFsInfo(env.pb2.ImageFsInfoRequest()).image_filesystems
    assert fs and sum(f.used_bytes.value for f in fs) > 1 << 20  # busybox and the testbin, at least
    assert all(f.inodes_used.value > 0 for f in fs)


# Each a layer (given the absolute path of a directory outside) that tries to write or delete outside.
HOSTILE = {
    "dotdot": lambda out: [(ti("../../../../../../../.." + out + "/dotdot"), b"x\n")],
    "symlink": lambda out: [(ti("esc", S, 0o777, link=out), None), (ti("esc/pwned"), b"x\n")],
    "hardlink": lambda out: [(ti("h", L, link="../../../../etc/passwd"), None)],
    "opaque-through-symlink": lambda out: [(ti("esc", S, 0o777, link=out), None), (ti("esc/.wh..wh..opq"), b"")],
    "whiteout-through-symlink": lambda out: [(ti("esc", S, 0o777, link=out), None), (ti("esc/.wh.keepme"), b"")],
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_layers_stay_inside(st, tmp_path, name):
    """The hardening of the overlay path holds when the layer is applied onto a mount: nothing outside is
    written or deleted, whatever the pull answers."""
    outside = str(tmp_path / "outside")
    os.makedirs(outside)
    with open(os.path.join(outside, "keepme"), "w") as f:
        f.write("keep\n")
    members = HOSTILE[name](outside)
    passwd = os.stat("/etc/passwd")
    layout = str(tmp_path / "evil")
    pod_fixture.build_layered_layout(layout, name, members)
    env = st.env
    try:
        env.img.PullImage(env.pb2.PullImageRequest(image=env.pb2.ImageSpec(image=f"oci:{layout}:{name}")),
                          timeout=120)
    except grpc.RpcError as e:
        assert e.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION), e
    assert os.listdir(outside) == ["keepme"]
    after = os.stat("/etc/passwd")
    assert (after.st_ino, after.st_nlink, after.st_mtime_ns) == (passwd.st_ino, passwd.st_nlink, passwd.st_mtime_ns)
    assert mounts_under(env.d.root_dir) == []


def test_remove_image_collects_its_snapshots(st):
    env = st.env
    env.remove_all()  # the containers of the earlier tests hold the image's top layer
    before = glob.glob(os.path.join(st.sn_root, "snapshots", "*"))
    env.img.RemoveImage(env.pb2.RemoveImageRequest(image=env.pb2.ImageSpec(image=st.image)))
    after = glob.glob(os.path.join(st.sn_root, "snapshots", "*"))
    assert len(after) == len(before) - 3  # the stack's own three layers; the test image's layer is shared
    if st.name in BLOCK:
        assert block_devices(st) == []
    # Pulled again: unpacked again, the same tree.
    st.image = env.img.PullImage(env.pb2.PullImageRequest(image=env.pb2.ImageSpec(image=st.ref)),
                                    timeout=120).image_ref
    cid, got = st.listing()
    assert sorted(got) == sorted(EXPECTED)
    env.stop(cid)


def test_kill_9_restart_and_startup_sweep(st):
    """cleatd killed while a container runs on the snapshotter, leftovers of a crash in its root: after the
    restart the container still runs from its ext4, the leftovers are gone, and removing it frees its device.
    (storage-devmapper's own leftovers, a thin device per step of each op, are made in its unit tests.)"""
    if st.name not in BLOCK:
        pytest.skip("block snapshotters only")
    env = st.env
    pod = env.run_pod()
    cid = env.run(pod, image=st.image, command=["sleep", "3600"])
    env.sh(cid, "echo before > /written")
    env.d.proc.send_signal(signal.SIGKILL)
    env.d.proc.wait()
    env.d.log.close()
    if st.name == "devmapper":
        live = block_devices(st)
        env.d.start()
        env.connect()
        assert block_devices(st) == live and len(live) == 1
        assert {c.id: c.state for c in env.list_containers(id=cid)} == {cid: env.pb2.CONTAINER_RUNNING}
        assert env.sh(cid, "cat /written /t/etc/motd") == "before\nback\n"
        env.stop(cid)
        env.remove(cid)
        assert block_devices(st) == []
        return
    # What a crash half way through a prepare and a remove leaves, with a device bound to the removed image.
    for leftover in ("tmp/900", "trash/901"):
        d = os.path.join(st.sn_root, leftover)
        os.makedirs(d)
        shutil.copy(os.path.join(st.sn_root, "base.img"), os.path.join(d, "image"))
    dev = subprocess.run(["losetup", "-f", "--show", os.path.join(st.sn_root, "trash/901/image")],
                         capture_output=True, text=True, check=True).stdout.strip()
    env.d.start()
    env.connect()
    assert os.listdir(os.path.join(st.sn_root, "tmp")) == []
    assert os.listdir(os.path.join(st.sn_root, "trash")) == []
    assert dev not in loop_devices_of(st.sn_root)
    assert {c.id: c.state for c in env.list_containers(id=cid)} == {cid: env.pb2.CONTAINER_RUNNING}
    assert env.sh(cid, "cat /written /t/etc/motd") == "before\nback\n"
    env.stop(cid)
    env.remove(cid)
    assert loop_devices_of(st.sn_root) == {}


def test_prepare_ahead_that_is_no_upper_dir_is_refused(cleatd_factory, cri, stack_archive, tmp_path):
    """test-loop-ext4-ahead breaks the SDK's rule for prepare_ahead: it answers with an ext4 mount, which a layer
    cannot go into apart from its parent's files.  The core refuses that (FAILED_PRECONDITION naming the op)
    rather than unpack into it, and leaves no snapshot and no loop device behind."""
    if not os.path.exists("/dev/loop-control"):
        pytest.skip("no /dev/loop-control: the kernel has no loop devices")
    pb2, pb2_grpc = cri
    dirs = ", ".join(SHIPPED_PLUGIN_DIRS + [PLUGIN_DIR])
    d = cleatd_factory(f"plugin_dirs: [{dirs}]\nsnapshotter: {{name: ahead, plugin: test-loop-ext4-ahead}}\n"
                       "transports: {oci: {plugin: image-oci, schemes: [oci, oci-archive]}}\n").start()
    img = pb2_grpc.ImageServiceStub(d.channel())
    with pytest.raises(grpc.RpcError) as e:
        img.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=f"oci-archive:{stack_archive}:stack")),
                      timeout=120)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value
    assert "answered prepare_ahead with a mounted ext4, not an overlay mount with upperdir=" in e.value.details()
    sn_root = os.path.join(d.root_dir, "plugins", "snapshotter", "ahead")
    assert glob.glob(os.path.join(sn_root, "snapshots", "*")) == []
    assert loop_devices_of(sn_root) == {}
    assert list(img.ListImages(pb2.ListImagesRequest()).images) == []


def test_switching_snapshotters_forgets_images_unpacked_elsewhere(st, test_layout):
    """An operator changes `snapshotter:` (and back): at each start the images unpacked into the other one are
    forgotten, with a warning, so that kubelet pulls them again (it would otherwise see them present, and
    containers of them could not be made); the pull unpacks them into the snapshotter now configured."""
    if st.name not in BLOCK:
        pytest.skip("block snapshotters only (the switch is to overlayfs and back)")
    env = st.env
    env.remove_all()
    dropin = os.path.join(env.d.dropin_dir, "50-snapshotter.yaml")
    with open(dropin) as f:
        text = f.read()
    for now in ("overlayfs", st.name):
        assert env.d.stop() == 0
        if now == "overlayfs":
            os.remove(dropin)
        else:
            with open(dropin, "w") as f:
                f.write(text)
        forgotten = env.d.read_log().count("forgot image sha256:")
        env.d.start()
        env.connect()
        assert list(env.img.ListImages(env.pb2.ListImagesRequest()).images) == []
        log = env.d.read_log()
        assert log.count("forgot image sha256:") - forgotten >= 3, log[-3000:]  # the stack and the test images
        assert f"its layers are in snapshotter '{st.name if now == 'overlayfs' else 'overlayfs'}'" in log
        env.image_ids, env.image_refs = pod_fixture.pull_test_images(env.d, env.pb2, env.pb2_grpc, test_layout)
        st.image = env.img.PullImage(env.pb2.PullImageRequest(image=env.pb2.ImageSpec(image=st.ref)),
                                     timeout=120).image_ref
        cid, got = st.listing()
        assert sorted(got) == sorted(EXPECTED)
        rootfs = os.path.realpath(os.path.join(env.container_dir(cid), "rootfs"))
        fstype = next(m[1] for m in pod_fixture.mountinfo() if m[0] == rootfs)
        assert fstype == ("overlay" if now == "overlayfs" else "ext4"), fstype
        env.remove_all()
