# SPDX-License-Identifier: Apache-2.0
"""Half-done operations at a crash: cleatd is killed (SIGKILL) in the middle
of a CreateContainer (while the runtime's `create` runs) and of a
RunPodSandbox (while the network plugin sets up), then started again.  The
half-made container and pod have files, mounts, pinned namespaces and a
snapshot but no record: start-up removes all of it, and the finished pod
is untouched.  Its own cleatd; once with pods on the host's user namespace and
once with pods that have their own (idmapped rootfs, a pinned user namespace)."""

import os
import shutil
import signal
import stat
import tempfile
import threading

import grpc
import pytest

import pod_fixture
from conftest import Cleatd
from pod_fixture import SHIM, mounts_under, wait_for

SLOW_RUNC = """#!/bin/sh
# runc whose `create` takes 3 s, so that a test can kill cleatd meanwhile
for a in "$@"; do [ "$a" = create ] && sleep 3; done
exec /usr/bin/runc "$@"
"""


def shims_under(base):
    """Live cleat-shim processes whose bundle is under base."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"cleat-shim") and any(a.startswith(base.encode()) for a in args):
            found.append(int(pid))
    return found


def call_ignoring_errors(fn):
    def run():
        try:
            fn()
        except grpc.RpcError:
            pass  # the daemon died under it: that is the point
    t = threading.Thread(target=run)
    t.start()
    return t


@pytest.fixture(params=["host-users", "userns"])
def userns(request, tmp_path):
    """(base dir, the pods' userns option): pods on the host's user namespace under pytest's tmp dir, or
    pods with their own (hostUsers: false; their rootfs is idmapped under <state>/userns) under a dir others
    may traverse, as /run is."""
    if request.param == "host-users":
        yield str(tmp_path), None
        return
    base = tempfile.mkdtemp(prefix="cleat-recovery-userns-")
    os.chmod(base, 0o755)
    yield base, [(0, 100000, 65536)]
    if not mounts_under(base):
        shutil.rmtree(base, ignore_errors=True)


def test_half_made_objects_are_removed_at_restart(userns, cri, test_layout):
    base, ranges = userns
    wrapper = os.path.join(base, "slow-runc")
    with open(wrapper, "w") as f:
        f.write(SLOW_RUNC)
    os.chmod(wrapper, stat.S_IRWXU)
    os.makedirs(os.path.join(base, "cleat.d"))
    with open(os.path.join(base, "cleat.d", "10-slow.yaml"), "w") as f:
        f.write("runtime:\n  handlers:\n    slow:\n      plugin: runtime-runc\n"
                f"      options: {{binary: {wrapper}, shim: {SHIM}}}\n"
                "network:\n  plugin: test-good-network\n  name: testnet\n")
    env = pod_fixture.make_env(Cleatd, base, cri, test_layout)  # test-good-network is in PLUGIN_DIR
    try:
        pods_dir = os.path.join(env.d.state_dir, "pods")
        ctrs_dir = os.path.join(env.d.state_dir, "containers")
        rootfs_dir = os.path.join(env.d.state_dir, "userns" if ranges else "containers")
        snaps_dir = os.path.join(env.d.root_dir, "plugins", "snapshotter", "overlayfs", "snapshots")
        snapshots_before = sorted(os.listdir(snaps_dir))
        good = env.run_pod(handler="slow", userns=ranges)
        good_mounts = mounts_under(base)

        creating = call_ignoring_errors(lambda: env.create(good, command=["sleep", "3600"]))
        wait_for(lambda: len(os.listdir(ctrs_dir)) == 1 and any(p.startswith(rootfs_dir) for p in mounts_under(base)),
                 10, "the container's rootfs to be mounted")
        running = call_ignoring_errors(lambda: env.run_pod(name="slow-net", userns=ranges))
        wait_for(lambda: len(os.listdir(pods_dir)) == 2, 10, "the second pod's dir")
        wait_for(lambda: len(mounts_under(base)) > len(good_mounts) + 1, 10, "the second pod's pins")
        half_pod = [p for p in os.listdir(pods_dir) if p != good][0]
        # Kill in the middle of the network set-up (the test plugin notes its start, then takes 5 s): the
        # pins come before it, and a pod killed before its set-up began has no network to tear down.
        net_state = os.path.join(env.d.state_dir, "plugins", "network", "testnet")
        wait_for(lambda: os.path.exists(os.path.join(net_state, "setup-" + half_pod)), 10,
                 "the second pod's network set-up to begin")
        env.d.proc.send_signal(signal.SIGKILL)
        env.d.proc.wait()
        env.d.log.close()
        creating.join()
        running.join()
        assert len(os.listdir(ctrs_dir)) == 1 and half_pod in os.listdir(pods_dir)

        env.d.start()
        env.connect()
        # the half-made pod's network was being set up: it is torn down, not leaked
        assert os.path.exists(os.path.join(net_state, "teardown-" + half_pod))
        assert [p.id for p in env.list_pods()] == [good]
        assert env.pod_status(good).status.state == env.pb2.SANDBOX_READY
        assert list(env.list_containers()) == []
        assert os.listdir(ctrs_dir) == []
        assert os.listdir(pods_dir) == [good]
        assert mounts_under(base) == good_mounts  # the rootfs (idmapped or not), the pins (a user namespace's too)
        assert sorted(os.listdir(snaps_dir)) == snapshots_before
        if ranges:  # nothing of the half-made container is left where its idmapped rootfs was
            assert [e for e in os.listdir(rootfs_dir) if not e.startswith(".")] == []
        # the shim of the interrupted create finds its bundle gone once runc gets to it, and ends
        wait_for(lambda: shims_under(ctrs_dir) == [], 15, "the interrupted create's shim to end")
        # the good pod still works
        cid = env.run(good, command=["sleep", "3600"])
        assert env.sh(cid, "echo alive").strip() == "alive"
        if ranges:
            assert env.sh(cid, "cat /proc/self/uid_map").split() == ["0", "100000", "65536"]
    finally:
        pod_fixture_teardown(env)


def pod_fixture_teardown(env):
    try:
        env.remove_all()
    finally:
        rc = env.d.stop() if env.d.proc and env.d.proc.poll() is None else 0
        env.remove_cgroups()
    assert rc == 0, env.d.read_log()
