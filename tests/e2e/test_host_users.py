# SPDX-License-Identifier: Apache-2.0
"""Unprivileged users of the node reach nothing cleat keeps for its pods and
containers (the CVE-2021-41091 / CVE-2021-41103 class): not a container's
rootfs (where a setuid-root binary or a device node the container made would
make them root), not a bundle, a pod's /dev/shm, its pinned namespaces, the
snapshots, the content store or the logs.  They try for real, as nobody
(setpriv), with cleatd's dirs under a base dir everyone may traverse, as /run
and /var/lib are (pytest's own tmp dirs are 0700 and would hide the bug).
Setuid binaries still work *inside* containers: runc reaches a rootfs as
root, before pivot_root.  A tree an older cleat left open is closed when
cleatd starts."""

import glob
import os
import stat
import subprocess

import pytest

import pod_fixture
from conftest import open_pod_env, pods_removed_after
from pod_fixture import wait_for

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
SUID_TAG = "suid"


def as_nobody(script):
    """Run a shell script as uid/gid 65534 with no groups; returns (exit code, stdout + stderr).
    Through sh: setpriv keeps root's capabilities until it execs, so a path it execs itself
    is looked up with CAP_DAC_OVERRIDE."""
    r = subprocess.run(NOBODY + ["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def nobody_opens(path, flags="r"):
    """Whether nobody can open `path` (r: read, w: create/append, x: run it with `ids`)."""
    if flags == "x":
        return as_nobody(f"exec '{path}' ids")
    return as_nobody(f"exec 3{'<' if flags == 'r' else '>>'}'{path}'")


@pytest.fixture(scope="module")
def suid_layout(tmp_path_factory):
    """An image whose /bin/suid-testbin is cleat-testbin, setuid root (04755)."""
    layout = str(tmp_path_factory.mktemp("suid") / "layout")
    with open(pod_fixture.TESTBIN, "rb") as f:
        data = f.read()
    pod_fixture.build_layered_layout(layout, SUID_TAG, [(pod_fixture.tar_info("bin/suid-testbin", mode=0o4755), data)])
    return layout


@pytest.fixture(scope="module")
def open_env(cri, test_layout, suid_layout):
    """A PodEnv under a base dir others may traverse (conftest.open_pod_env), with the suid image."""
    with open_pod_env(cri, test_layout, "cleat-host-users-") as env:
        ids, refs = pod_fixture.pull_test_images(env.d, env.pb2, env.pb2_grpc, suid_layout, tags=[SUID_TAG])
        env.image_ids.update(ids)
        yield env


@pytest.fixture
def env(open_env):
    with pods_removed_after(open_env):
        yield open_env


def plant(env):
    """A pod with its own IPC (so its own /dev/shm) and a root container that makes a setuid-root
    copy of cleat-testbin and a world-writable device node in its rootfs; returns (pod, container)."""
    pod = env.run_pod()
    cid = env.run(pod, command=["sh", "-c", "cp /bin/cleat-testbin /suid && chmod 4755 /suid && "
                                            "mknod /null c 1 3 && chmod 666 /null && echo planted && sleep 3600"])
    rootfs = os.path.join(env.container_dir(cid), "rootfs")
    wait_for(lambda: os.path.exists(os.path.join(rootfs, "null")), 20, "the container to plant its files")
    return pod, cid


def reachable(env, pod, cid):
    """What nobody manages to reach of a pod and its container: {what: output}."""
    rootfs = os.path.join(env.container_dir(cid), "rootfs")
    pod_dir = env.pod_dir(pod)
    targets = {
        "setuid binary in the rootfs": (os.path.join(rootfs, "suid"), "x"),
        "device node in the rootfs": (os.path.join(rootfs, "null"), "w"),
        "the rootfs's /etc/passwd": (os.path.join(rootfs, "etc", "passwd"), "r"),
        "the bundle's config.json": (os.path.join(env.container_dir(cid), "config.json"), "r"),
        "the pod's /dev/shm": (os.path.join(pod_dir, "shm", "from-the-host"), "w"),
        "the pod's pinned net namespace": (os.path.join(pod_dir, "ns", "net"), "r"),
        "the pod's hosts file": (os.path.join(pod_dir, "hosts"), "r"),
        "the container's log": (env.log_path(pod, cid), "r"),
    }
    for blob in glob.glob(os.path.join(env.d.root_dir, "content", "blobs", "sha256", "*"))[:1]:
        targets["a content blob"] = (blob, "r")
    for passwd in glob.glob(os.path.join(env.d.root_dir, "plugins", "snapshotter", "*", "snapshots", "*",
                                         "fs", "etc", "passwd"))[:1]:
        targets["a snapshot's /etc/passwd"] = (passwd, "r")
    out = {}
    for what, (path, flags) in targets.items():
        there = os.path.lexists(path) or (flags == "w" and os.path.isdir(os.path.dirname(path)))
        assert there, f"{what}: {path} is not there: the test would prove nothing"
        rc, text = nobody_opens(path, flags)
        if rc == 0:
            out[what] = f"{path}: {text.strip()}"
    assert "a content blob" in targets and "a snapshot's /etc/passwd" in targets, targets
    return out


def test_host_user_reaches_nothing_of_a_running_container(env):
    # The control: nobody can walk down to cleatd's own dirs, as on a real node.
    assert as_nobody(f"exec ls '{env.base}'")[0] == 0
    pod, cid = plant(env)
    # The container itself made them as root: they are what an attacker would use.
    st = os.stat(os.path.join(env.container_dir(cid), "rootfs", "suid"))
    assert st.st_uid == 0 and st.st_mode & stat.S_ISUID
    assert reachable(env, pod, cid) == {}
    assert not os.path.exists(os.path.join(env.pod_dir(pod), "shm", "from-the-host"))


def test_setuid_binary_inside_a_container_still_works(env):
    """A non-root container user runs a setuid-root binary of its image and is root there."""
    pod = env.run_pod()
    cid = env.run(pod, image=SUID_TAG, command=["sleep", "3600"], run_as_user=1000)
    ids = dict(kv.split("=") for kv in env.testbin(cid, "ids").split())
    assert (ids["uid"], ids["euid"]) == ("1000", "1000")
    r = env.exec(cid, ["/bin/suid-testbin", "ids"])
    assert r.exit_code == 0, r
    ids = dict(kv.split("=") for kv in r.stdout.decode().split())
    assert (ids["uid"], ids["euid"]) == ("1000", "0"), r.stdout


def test_start_up_closes_a_tree_an_older_cleat_left_open(env):
    pod, cid = plant(env)
    env.d.stop()
    # As cleat before this fix made them.
    state, root = env.d.state_dir, env.d.root_dir
    loose = [root, state, os.path.join(state, "pods"), os.path.join(state, "containers"),
             env.pod_dir(pod), os.path.join(env.pod_dir(pod), "ns"), env.container_dir(cid)]
    for d in loose:
        os.chmod(d, 0o711)
    # That is the hole: nobody runs the container's setuid binary as root.
    assert nobody_opens(os.path.join(env.container_dir(cid), "rootfs", "suid"), "x")[1].split()[2] == "euid=0"

    env.d.start()
    env.connect()
    # The known dirs only: what is below a closed one (the pod's ns/) is not walked.
    modes = {d: stat.S_IMODE(os.stat(d).st_mode) for d in loose if not d.endswith("/ns")}
    assert modes == {root: 0o700, state: 0o711, loose[2]: 0o700, loose[3]: 0o700, loose[4]: 0o700,
                     loose[6]: 0o700}, modes
    assert reachable(env, pod, cid) == {}
    log = env.d.read_log()
    assert f"root dir {root} was mode 0711: restricted to 0700" in log
    for sub in ("pods", "containers"):
        assert f"{state}/{sub}: 1 of its directories restricted to mode 0700" in log, log
    # What was running still runs, and the CRI socket is still there for its users.
    assert env.status(cid).status.state == env.pb2.CONTAINER_RUNNING
    assert "planted" in env.sh(cid, "echo planted")
    assert stat.S_IMODE(os.stat(env.d.socket).st_mode) == 0o660
