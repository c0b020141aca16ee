# SPDX-License-Identifier: Apache-2.0
"""cleatd reads an image's /etc/passwd and /etc/group as root, to resolve the
container's user.  An image may ship a device node or a FIFO there: cleatd
must refuse it without opening it (opening a character device runs its
driver's open and release on the host).  What cleatd opens is watched with
strace attached to it during CreateContainer: the file is reached with O_PATH
only, and never reopened."""

import os
import re
import shutil
import signal
import subprocess
import tarfile
import time

import grpc
import pytest

import pod_fixture
from pod_fixture import tar_info

# /etc/passwd of the image, as what it should never be opened as.
SPECIALS = {
    "chardev": (tar_info("etc/passwd", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3), "a character device"),
    "fifo": (tar_info("etc/passwd", tarfile.FIFOTYPE, 0o666), "a FIFO"),
}


@pytest.fixture(scope="module")
def special_images(pod_env, tmp_path_factory):
    """{kind: image id} of images whose /etc/passwd is one of SPECIALS, pulled into the module's cleatd."""
    ids = {}
    for kind, (info, _) in SPECIALS.items():
        layout = str(tmp_path_factory.mktemp(kind) / "layout")
        pod_fixture.build_layered_layout(layout, kind, [(info, None)])
        got, _ = pod_fixture.pull_test_images(pod_env.d, pod_env.pb2, pod_env.pb2_grpc, layout, tags=[kind])
        ids[kind] = got[kind]
    return ids


class Strace:
    """strace attached to every thread of a running process, logging its open calls."""

    def __init__(self, pid, out):
        self.out = out
        self.proc = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=open,openat,openat2", "-e", "signal=none",
                                      "-o", out, "-p", str(pid)], stderr=subprocess.PIPE)
        # Attached once the tracer shows in each thread's status.
        tasks = os.listdir(f"/proc/{pid}/task")
        pod_fixture.wait_for(lambda: all(self._traced(pid, t) for t in tasks), 20, "strace to attach")

    @staticmethod
    def _traced(pid, tid):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                return re.search(r"^TracerPid:\s+([1-9]\d*)$", f.read(), re.M) is not None
        except FileNotFoundError:
            return True  # the thread is gone

    def stop(self):
        self.proc.send_signal(signal.SIGINT)  # detaches; the traced process goes on
        self.proc.wait(timeout=30)
        with open(self.out) as f:
            return f.read().splitlines()


def opens_of(lines, name):
    """[(tid, flags, returned fd)] of the open calls naming `name`; then the /proc/self/fd reopens."""
    calls, reopens = [], []
    for line in lines:
        m = re.match(r"^(\d+)\s+open(?:at2?)?\((.*)\)\s+=\s+(-?\d+)", line)
        if not m:
            continue
        tid, args, fd = m.group(1), m.group(2), int(m.group(3))
        if f'"{name}"' in args:
            calls.append((tid, args, fd))
        reopens.extend((tid, int(n)) for n in re.findall(r'"/proc/self/fd/(\d+)"', args))
    return calls, reopens


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed (scripts/deps.sh --test)")
@pytest.mark.parametrize("kind", sorted(SPECIALS))
def test_special_etc_passwd_is_refused_unopened(env, special_images, kind, tmp_path):
    pod = env.run_pod()
    trace = Strace(env.d.proc.pid, str(tmp_path / "strace.out"))
    try:
        with pytest.raises(grpc.RpcError) as e:
            env.create(pod, image=special_images[kind], command=["sleep", "3600"], run_as_username="app")
    finally:
        lines = trace.stop()
    calls, reopens = opens_of(lines, "etc/passwd")
    assert calls, "\n".join(lines[-50:])
    for tid, args, fd in calls:
        assert "O_PATH" in args, f"cleatd opened the image's /etc/passwd for real: {args}"
        assert (tid, fd) not in reopens, f"cleatd reopened the image's /etc/passwd through /proc/self/fd/{fd}"
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"image /etc/passwd is {SPECIALS[kind][1]}, not a regular file: refused without opening it" in \
        e.value.details(), e.value.details()
    # Nothing half-made is left of the refused container, and the pod goes on.
    assert env.list_containers(pod_sandbox_id=pod) == []
    assert env.pod_status(pod).status.state == env.pb2.SANDBOX_READY


def test_regular_etc_passwd_still_names_the_user(env):
    """The control: the same path through fsutil for an ordinary image resolves the user."""
    pod = env.run_pod()
    cid = env.run(pod, command=["sleep", "3600"], run_as_username="app")
    ids = dict(kv.split("=") for kv in env.testbin(cid, "ids").split())
    assert (ids["uid"], ids["gid"]) == ("1000", "1000")
    assert "2000" in ids["groups"].split(",")  # app is a member of extra in the image's /etc/group
