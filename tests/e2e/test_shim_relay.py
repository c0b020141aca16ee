# SPDX-License-Identifier: Apache-2.0
"""cleat-shim --relay: the stdio FIFOs of a shim v2 runtime, written by real
writer processes, into the CRI log and attach clients; release, drained,
reopen, surviving its parent's kill -9."""

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

from pod_fixture import fd_table
from shimv2_client import Shim, ShimError, message
from test_shim import LINE, RUNC, SHIM, Ctr, pid_alive, read_frames, wait_for

SHIMV2 = "/usr/bin/containerd-shim-runc-v2"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the shim detaches like cleatd's)")


class Relay:
    def __init__(self, tmp):
        self.dir = tmp
        self.bundle = os.path.join(tmp, "bundle")
        os.makedirs(self.bundle, exist_ok=True)
        self.log = os.path.join(tmp, "ctr.log")
        self.pid = None

    def cmd(self, stdin=False, tty=False, extra=()):
        c = [SHIM, "--relay", "--id", "relay-" + os.path.basename(self.dir), "--bundle", self.bundle,
             "--log-path", self.log, *extra]
        return c + (["--stdin"] if stdin else []) + (["--tty"] if tty else [])

    def start(self, **kw):
        r = subprocess.run(self.cmd(**kw), capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        pid, zero = r.stdout.split()
        assert zero == "0"
        self.pid = int(pid)
        return self

    def path(self, name):
        return os.path.join(self.bundle, name)

    def command(self, text):
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.path("attach.sock"))
        s.sendall(text.encode())
        reply = s.recv(4096).decode()
        s.close()
        return reply

    def attach(self, what="attach"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.path("attach.sock"))
        s.sendall(what.encode() + b"\n")
        assert s.recv(3) == b"ok\n"
        return s

    def write(self, script, timeout=10):
        """A writer process with the FIFOs as its stdout and stderr, as a shim v2 runtime's container."""
        subprocess.run(["/bin/sh", "-c", f'exec >"$1/stdout" 2>"$1/stderr"; {script}', "sh", self.bundle],
                       check=True, timeout=timeout)

    def records(self, path=None):
        with open(path or self.log, "rb") as f:
            data = f.read().decode()
        assert data.endswith("\n") or not data
        out = []
        for line in data.split("\n")[:-1]:
            m = LINE.match(line)
            assert m, line
            out.append((m.group(2), m.group(3), m.group(4)))
        return out

    def wait_log(self, n):
        wait_for(lambda: os.path.exists(self.log) and len(self.records()) >= n)
        return self.records()

    def wait_drained(self):
        wait_for(lambda: os.path.exists(self.path("drained")))
        wait_for(lambda: not pid_alive(self.pid))
        with open(self.path("drained")) as f:
            return json.load(f)

    def cleanup(self):
        if self.pid and pid_alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)


@pytest.fixture
def relay():
    made = []

    def _make(tmp=None):
        r = Relay(tmp or tempfile.mkdtemp(prefix="relay-"))
        made.append(r)
        return r
    yield _make
    for r in made:
        r.cleanup()
        shutil.rmtree(r.dir, ignore_errors=True)


def test_fifos_log_and_release(relay):
    r = relay().start()
    assert int(open(r.path("shim.pid")).read()) == r.pid
    for name in ("stdout", "stderr"):
        st = os.lstat(r.path(name))
        assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, name
    assert not os.path.exists(r.path("stdin"))  # no --stdin
    assert stat.S_ISSOCK(os.lstat(r.path("attach.sock")).st_mode)

    r.write("echo hello; echo err >&2; printf 'no newline yet'")
    assert r.wait_log(2) == [("stdout", "F", "hello"), ("stderr", "F", "err")]
    # Every writer is gone, but nothing was released: not the end.  A writer
    # that opens the FIFOs again (a runtime reopening them) is still read.
    time.sleep(0.3)
    assert pid_alive(r.pid) and not os.path.exists(r.path("drained"))
    r.write("echo ' and now one'; echo again >&2")
    recs = r.wait_log(4)
    assert recs[2:] == [("stdout", "F", "no newline yet and now one"), ("stderr", "F", "again")], recs

    assert r.command("release\n") == "ok\n"
    drained = r.wait_drained()
    assert abs(drained["drained_at_ns"] / 1e9 - time.time()) < 60
    assert not os.path.exists(r.path("attach.sock"))
    assert not os.path.exists(r.path("drained.tmp"))
    assert len(r.records()) == 4


def test_release_waits_for_the_writers(relay):
    """Released while a writer still holds the FIFOs: drained only after its EOF, with all of its output."""
    r = relay().start()
    gate = os.path.join(r.dir, "gate")
    os.mkfifo(gate)
    w = subprocess.Popen(["/bin/sh", "-c", 'exec >"$1/stdout" 2>"$1/stderr"; echo a; read x <"$2"; echo b; printf c >&2',
                          "sh", r.bundle, gate])
    r.wait_log(1)
    assert r.command("release\n") == "ok\n"
    assert r.command("release\n") == "ok\n"  # twice: the same
    time.sleep(0.3)
    assert pid_alive(r.pid) and not os.path.exists(r.path("drained"))
    with open(gate, "w") as g:
        g.write("go\n")
    assert w.wait(10) == 0
    r.wait_drained()
    assert r.records() == [("stdout", "F", "a"), ("stdout", "F", "b"), ("stderr", "P", "c")]


def test_release_without_any_writer(relay):
    """The runtime never opened the FIFOs (its create failed after all): release alone ends the relay."""
    r = relay().start()
    assert r.command("release\n") == "ok\n"
    r.wait_drained()
    assert r.records() == []


def test_attach_output_and_stdin(relay):
    r = relay().start(stdin=True)
    st = os.lstat(r.path("stdin"))
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    s = r.attach("attach stdin")
    w = subprocess.Popen(["/bin/sh", "-c",
                          'exec <"$1/stdin" >"$1/stdout" 2>"$1/stderr"; read x; echo got-$x; echo e >&2; cat',
                          "sh", r.bundle])
    s.sendall(b"abc\nmore\n")
    wait_for(lambda: ("stdout", "F", "more") in r.records() if os.path.exists(r.log) else False)
    assert r.command("release\n") == "ok\n"
    # close-stdin is the reader's EOF: cat ends
    assert r.command("close-stdin\n") == "ok\n"
    assert w.wait(10) == 0
    frames = read_frames(s, until_exit=False)  # the relay knows no exit status: the stream just ends
    s.close()
    assert b"".join(d for sid, d in frames if sid == 1) == b"got-abc\nmore\n"
    assert b"".join(d for sid, d in frames if sid == 2) == b"e\n"
    assert all(sid in (1, 2) for sid, _ in frames)
    r.wait_drained()
    recs = r.records()  # each stream in order; between the two, the order of the relay's reads
    assert [m for sid, _, m in recs if sid == "stdout"] == ["got-abc", "more"]
    assert [m for sid, _, m in recs if sid == "stderr"] == ["e"]


def test_stdin_once_before_the_reader_opened(relay):
    """The client's EOF (stdin-once) before the runtime opened stdin: the runtime's open for reading
    must not wait forever for a writer; it reads the input, then EOF once the relay is released."""
    r = relay().start(stdin=True)
    s = r.attach("attach stdin-once")
    s.sendall(b"once\n")
    s.shutdown(socket.SHUT_WR)
    wait_for(lambda: r.command("attach stdin\n").startswith("error"))  # stdin is closed for clients
    s.close()
    w = subprocess.Popen(["/bin/sh", "-c", 'exec <"$1/stdin" >"$1/stdout" 2>"$1/stderr"; cat', "sh", r.bundle])
    r.wait_log(1)
    assert r.command("release\n") == "ok\n"
    assert w.wait(10) == 0
    r.wait_drained()
    assert r.records() == [("stdout", "F", "once")]


def test_reopen_after_rotation(relay):
    r = relay().start()
    fd = os.open(r.path("stdout"), os.O_WRONLY | os.O_NONBLOCK)  # ENXIO, not a hang, if nobody reads
    os.set_blocking(fd, True)
    with open(fd, "wb", buffering=0) as out:
        out.write(b"one\n")
        r.wait_log(1)
        os.rename(r.log, r.log + ".1")
        assert r.command("reopen\n") == "ok\n"
        out.write(b"two\n")
        r.wait_log(1)
        os.rename(r.log, r.log + ".2")
        os.kill(r.pid, signal.SIGUSR1)
        wait_for(lambda: os.path.exists(r.log))
        out.write(b"three\n")
        r.wait_log(1)
    assert r.command("release\n") == "ok\n"
    r.wait_drained()
    assert [m for _, _, m in r.records(r.log + ".1")] == ["one"]
    assert [m for _, _, m in r.records(r.log + ".2")] == ["two"]
    assert [m for _, _, m in r.records()] == ["three"]


def test_tty(relay):
    """A terminal has one output: no stderr FIFO; resize belongs to the shim v2 runtime."""
    r = relay().start(tty=True)
    assert not os.path.exists(r.path("stderr")) and not os.path.exists(r.path("stdin"))
    assert r.command("resize 80 24\n").startswith("error")
    subprocess.run(["/bin/sh", "-c", 'exec >"$1/stdout"; printf "tty\\r\\n"', "sh", r.bundle], check=True, timeout=10)
    assert r.command("release\n") == "ok\n"
    r.wait_drained()
    assert r.records() == [("stdout", "F", "tty\r")]


def test_long_bundle_path(relay):
    """A bundle path longer than sun_path: attach.sock is bound (and reached) through /proc/self/fd."""
    r = relay()
    r.bundle = os.path.join(r.dir, "b" * 120, "bundle")
    os.makedirs(r.bundle)
    r.start()
    assert len(r.path("attach.sock")) > 108
    dfd = os.open(r.bundle, os.O_PATH)
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(f"/proc/self/fd/{dfd}/attach.sock")
        s.sendall(b"attach\n")
        assert s.recv(3) == b"ok\n"
        r.write("echo long")
        c = socket.socket(socket.AF_UNIX)
        c.connect(f"/proc/self/fd/{dfd}/attach.sock")
        c.sendall(b"release\n")
        assert c.recv(10) == b"ok\n"
        c.close()
    finally:
        os.close(dfd)
    assert read_frames(s, until_exit=False) == [(1, b"long\n")]
    s.close()
    r.wait_drained()
    assert r.records() == [("stdout", "F", "long")]


def test_full_pipe_never_blocks_the_writer(relay):
    """4 MiB through the FIFO with an attach client that never reads: the client is dropped, the
    writer finishes, the log has every byte."""
    total = 4 * 1024 * 1024
    r = relay().start()
    s = socket.socket(socket.AF_UNIX)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(r.path("attach.sock"))
    s.sendall(b"attach\n")
    assert s.recv(3) == b"ok\n"
    r.write(f"head -c {total} /dev/zero | tr '\\0' a", timeout=60)
    assert r.command("release\n") == "ok\n"
    r.wait_drained()
    s.close()
    recs = r.records()
    assert sum(len(m) for _, _, m in recs) == total
    assert all(t == "P" and len(m) == 16384 for _, t, m in recs)


def test_survives_parent_kill9(relay):
    """Like cleatd killed with -9 right after the handshake: the relay goes on and still works."""
    r = relay()
    launcher = subprocess.Popen(
        ["/usr/bin/python3", "-c",
         "import subprocess,sys,time; p=subprocess.run(sys.argv[1:],capture_output=True,text=True); "
         "print(p.stdout.strip(), flush=True); time.sleep(3600)", *r.cmd()],
        stdout=subprocess.PIPE, text=True)
    r.pid = int(launcher.stdout.readline().split()[0])
    launcher.kill()
    launcher.wait()
    with open(f"/proc/{r.pid}/status") as f:
        assert int(re.search(r"PPid:\s+(\d+)", f.read()).group(1)) not in (launcher.pid, os.getpid())
    assert os.getsid(r.pid) not in (os.getsid(0), launcher.pid)
    r.write("echo after")
    assert r.wait_log(1) == [("stdout", "F", "after")]
    assert r.command("release\n") == "ok\n"
    r.wait_drained()


def test_killed_before_release_leaves_only_the_bundle_files(relay):
    """The plugin kills a relay whose create failed: what it made is all in the bundle dir."""
    r = relay()
    before = set(os.listdir("/tmp"))
    r.start(stdin=True)
    assert not os.path.exists(r.path("drained"))
    os.kill(r.pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(r.pid))
    assert sorted(os.listdir(r.bundle)) == ["attach.sock", "shim.pid", "stderr", "stdin", "stdout"]
    assert sorted(os.listdir(r.dir)) == ["bundle", "ctr.log"]
    assert not {d for d in set(os.listdir("/tmp")) - before if d.startswith("cleat-shim-")}


def test_bad_invocations(relay):
    r = relay()
    p = subprocess.run(r.cmd(extra=["--runtime", "/usr/bin/runc"]), capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--relay" in p.stderr, p.stderr
    assert os.listdir(r.bundle) == []
    # a FIFO already there (another relay's?) is refused; what this one made is removed
    os.mkfifo(r.path("stderr"))
    p = subprocess.run(r.cmd(), capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and p.stderr.startswith("cleat-shim: ") and "stderr" in p.stderr, p.stderr
    assert os.listdir(r.bundle) == ["stderr"]
    os.unlink(r.path("stderr"))
    r.start()
    assert r.command("bogus\n").startswith("error")
    assert r.command("attach stdin\n").startswith("error")  # no --stdin


@pytest.mark.skipif(not os.path.exists(SHIMV2) or not os.path.exists(RUNC), reason="needs containerd-shim-runc-v2")
def test_with_containerd_shim_runc_v2(relay):
    """The real writer: a task of containerd's runc shim with the relay's FIFOs as its stdio."""
    tmp = tempfile.mkdtemp(prefix="relay-")
    c = Ctr(tmp, ["sh", "-c", "read x; echo got-$x; echo e >&2; cat; exit 3"])
    r = relay(tmp).start(stdin=True)
    sandbox = os.path.join(tmp, "sandbox")
    os.makedirs(sandbox)
    shutil.copy(os.path.join(c.bundle, "config.json"), sandbox)  # start reads it (grouping annotations)
    tid = "relay-" + os.path.basename(tmp)
    shim = Shim(SHIMV2, sandbox, tid)
    shim_pid = shim.pid()
    try:
        created = shim.call("Create", message((1, tid), (2, c.bundle), (5, r.path("stdin")),
                                              (6, r.path("stdout")), (7, r.path("stderr"))))
        assert created[1][0] > 0
        held = set(fd_table(shim_pid).values())  # Create returned: the shim has opened the FIFOs
        assert {r.path("stdin"), r.path("stdout"), r.path("stderr")} <= held, held
        assert r.command("release\n") == "ok\n"
        s = r.attach("attach stdin")
        shim.call("Start", message((1, tid)))
        s.sendall(b"abc\nmore\n")
        wait_for(lambda: ("stdout", "F", "more") in r.records())
        assert not os.path.exists(r.path("drained"))
        # The runc shim holds a writer of its own on the stdin FIFO until CloseIO: both are needed for
        # the reader's EOF (containerd's CRI, too, sends CloseIO when a stdin-once attach ends).
        assert r.command("close-stdin\n") == "ok\n"
        time.sleep(0.3)
        assert pid_alive(created[1][0])
        shim.call("CloseIO", message((1, tid), (3, True)))
        assert shim.call("Wait", message((1, tid)))[1][0] == 3
        r.wait_drained()
        frames = read_frames(s, until_exit=False)
        s.close()
        assert b"".join(d for sid, d in frames if sid == 1) == b"got-abc\nmore\n"
        assert b"".join(d for sid, d in frames if sid == 2) == b"e\n"
        recs = r.records()
        assert [m for sid, _, m in recs if sid == "stdout"] == ["got-abc", "more"]
        assert [m for sid, _, m in recs if sid == "stderr"] == ["e"]
        shim.call("Delete", message((1, tid)))
        try:
            shim.call("Shutdown", message((1, tid), (2, True)))
        except (ShimError, OSError):
            pass  # it may exit before it answers
    except Exception:
        print("containerd-shim-runc-v2's log:", shim.log_text())
        raise
    finally:
        shim.close()
        if pid_alive(shim_pid):
            os.kill(shim_pid, signal.SIGKILL)
        subprocess.run([RUNC, "--root", "/run/containerd/runc/" + shim.ns, "delete", "-f", tid], capture_output=True)
