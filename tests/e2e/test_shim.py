# SPDX-License-Identifier: Apache-2.0
"""cleat-shim against real runc: CRI log format, exit file, TTY, reopen,
attach protocol, detaching, and its memory footprint."""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import pytest

from pod_fixture import fd_table, wait_exec

BUILD_DIR = os.environ.get("CLEAT_BUILD_DIR", "")
SHIM = os.environ.get("CLEAT_SHIM") or os.path.join(BUILD_DIR, "shim", "cleat-shim")
RUNC = "/usr/bin/runc"
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"
LINE = re.compile(rf"^({TS}) (stdout|stderr) ([PF]) (.*)$", re.S)

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(RUNC), reason="needs root and runc")


def wait_for(pred, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


class Ctr:
    def __init__(self, tmp, args, tty=False, stdin=False, long_path=False):
        self.dir = tmp
        self.id = "shimtest-" + os.path.basename(tmp)
        self.bundle = os.path.join(tmp, "b" * 120 if long_path else "", "bundle")
        self.root = os.path.join(tmp, "runc-root")
        self.log = os.path.join(tmp, "ctr.log")
        rootfs = os.path.join(self.bundle, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"))
        for d in ("proc", "dev", "sys", "tmp"):
            os.makedirs(os.path.join(rootfs, d))
        shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
        for tool in ("sh", "echo", "sleep", "cat", "head", "tr", "printf", "stty", "true"):
            os.symlink("busybox", os.path.join(rootfs, "bin", tool))
        subprocess.run([RUNC, "spec"], cwd=self.bundle, check=True)
        with open(os.path.join(self.bundle, "config.json")) as f:
            spec = json.load(f)
        spec["process"]["args"] = args
        spec["process"]["terminal"] = tty
        spec["root"]["readonly"] = False
        spec["process"].pop("oomScoreAdj", None)
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(spec, f)
        self.tty, self.stdin = tty, stdin
        self.shim_pid = self.init_pid = None

    def create(self, extra=()):
        cmd = [SHIM, "--id", self.id, "--bundle", self.bundle, "--runtime", RUNC,
               "--runtime-root", self.root, "--log-path", self.log, *extra]
        if self.tty:
            cmd.append("--tty")
        if self.stdin:
            cmd.append("--stdin")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        self.shim_pid, self.init_pid = map(int, r.stdout.split())
        return r

    def start(self):
        subprocess.run([RUNC, "--root", self.root, "start", self.id], check=True)

    def exit_json(self, timeout=15):
        path = os.path.join(self.bundle, "exit.json")
        wait_for(lambda: os.path.exists(path), timeout)
        with open(path) as f:
            return json.load(f)

    def wait_shim_gone(self):
        wait_for(lambda: not pid_alive(self.shim_pid))

    def records(self, path=None):
        with open(path or self.log, "rb") as f:
            data = f.read().decode()
        out = []
        for line in data.split("\n")[:-1]:
            m = LINE.match(line)
            assert m, line
            out.append((m.group(2), m.group(3), m.group(4)))
        assert data.endswith("\n")
        return out

    def attach_cmd(self, text):
        s = socket.socket(socket.AF_UNIX)
        s.connect(os.path.join(self.bundle, "attach.sock"))
        s.sendall(text.encode())
        reply = s.recv(4096).decode()
        s.close()
        return reply

    def cleanup(self):
        subprocess.run([RUNC, "--root", self.root, "delete", "-f", self.id], capture_output=True)
        if self.shim_pid and pid_alive(self.shim_pid):
            os.kill(self.shim_pid, signal.SIGKILL)


@pytest.fixture
def make():
    made = []

    def _make(args, **kw):
        c = Ctr(tempfile.mkdtemp(prefix="shim-"), args, **kw)
        made.append(c)
        return c
    yield _make
    for c in made:
        c.cleanup()
        shutil.rmtree(c.dir, ignore_errors=True)


def test_log_format_and_exit_status(make):
    c = make(["sh", "-c", "echo hello; echo err >&2; exit 3"])
    c.create()
    assert pid_alive(c.shim_pid)
    assert int(open(os.path.join(c.bundle, "shim.pid")).read()) == c.shim_pid
    c.start()
    ex = c.exit_json()
    assert ex["exit_status"] == 3 and ex["pid"] == c.init_pid
    assert abs(ex["exited_at_ns"] / 1e9 - time.time()) < 60
    c.wait_shim_gone()
    recs = c.records()
    assert ("stdout", "F", "hello") in recs and ("stderr", "F", "err") in recs
    assert not os.path.exists(os.path.join(c.bundle, "attach.sock"))


def test_long_line_is_split_into_partials(make):
    c = make(["sh", "-c", "head -c 40960 /dev/zero | tr '\\0' x"])
    c.create()
    c.start()
    assert c.exit_json()["exit_status"] == 0
    c.wait_shim_gone()
    recs = c.records()
    assert [(s, t, len(m)) for s, t, m in recs] == [
        ("stdout", "P", 16384), ("stdout", "P", 16384), ("stdout", "P", 8192)]


def test_exact_max_line_is_full(make):
    c = make(["sh", "-c", "head -c 16384 /dev/zero | tr '\\0' y; echo; echo z"])
    c.create()
    c.start()
    c.exit_json()
    c.wait_shim_gone()
    assert [(s, t, len(m)) for s, t, m in c.records()] == [("stdout", "F", 16384), ("stdout", "F", 1)]


def test_sigkill_is_137(make):
    c = make(["sleep", "3600"])
    c.create()
    c.start()
    subprocess.run([RUNC, "--root", c.root, "kill", c.id, "KILL"], check=True)
    assert c.exit_json()["exit_status"] == 137


def test_create_failure_reports_error(make):
    c = make(["/nonexistent"])
    os.remove(os.path.join(c.bundle, "config.json"))
    r = subprocess.run([SHIM, "--id", c.id, "--bundle", c.bundle, "--runtime", RUNC,
                        "--runtime-root", c.root], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "config.json" in r.stderr, r.stderr


def test_sync_fd(make):
    c = make(["true"])
    rd, wr = os.pipe()
    cmd = [SHIM, "--id", c.id, "--bundle", c.bundle, "--runtime", RUNC, "--runtime-root", c.root,
           "--sync-fd", str(wr)]
    p = subprocess.Popen(cmd, pass_fds=(wr,), stdout=subprocess.DEVNULL)
    os.close(wr)
    msg = os.read(rd, 4096).decode()
    os.close(rd)
    p.wait(30)
    assert msg.startswith("ok "), msg
    c.shim_pid, c.init_pid = map(int, msg.split()[1:])
    c.start()
    assert c.exit_json()["exit_status"] == 0


def test_inherited_fds_are_closed(make):
    """Started by hand (or by an older cleatd) with fds it was not meant to have, below and above the
    sync fd: the shim keeps none of them, for its whole life; the sync fd still works."""
    c = make(["sleep", "3600"])
    marker = os.path.join(c.dir, "leaked")
    open(marker, "w").close()
    low = os.open(marker, os.O_RDONLY)
    rd, wr = os.pipe()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    leaked = {marker, f"socket:[{os.fstat(sock.fileno()).st_ino}]"}
    cmd = [SHIM, "--id", c.id, "--bundle", c.bundle, "--runtime", RUNC, "--runtime-root", c.root,
           "--sync-fd", str(wr)]
    try:
        p = subprocess.Popen(cmd, pass_fds=(low, wr, sock.fileno()), stdout=subprocess.DEVNULL)
    finally:
        os.close(low)
        os.close(wr)
        sock.close()
    msg = os.read(rd, 4096).decode()
    os.close(rd)
    p.wait(30)
    assert msg.startswith("ok "), msg
    c.shim_pid, c.init_pid = map(int, msg.split()[1:])
    held = fd_table(c.shim_pid)
    assert not leaked & set(held.values()), held
    c.start()
    assert not leaked & set(fd_table(c.shim_pid).values())
    wait_exec(c.init_pid, "sleep")
    assert sorted(fd_table(c.init_pid)) == [0, 1, 2]


def test_closed_stdin(make):
    """Started with fd 0 closed: no fd of the shim's lands on 0 (it is /dev/null), and the container runs."""
    c = make(["sh", "-c", "echo hello; sleep 3600"])
    cmd = [SHIM, "--id", c.id, "--bundle", c.bundle, "--runtime", RUNC, "--runtime-root", c.root,
           "--log-path", c.log]
    r = subprocess.run(["/bin/sh", "-c", 'exec <&-; exec "$@"', "sh"] + cmd, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    c.shim_pid, c.init_pid = map(int, r.stdout.split())
    assert fd_table(c.shim_pid)[0] == "/dev/null"
    c.start()
    wait_for(lambda: os.path.getsize(c.log) > 0)
    assert ("stdout", "F", "hello") in c.records()


def test_tty(make):
    c = make(["sh", "-c", "echo tty-hello; stty size; exit 5"], tty=True)
    c.create()
    assert c.attach_cmd("resize 100 40\n") == "ok\n"
    c.start()
    assert c.exit_json()["exit_status"] == 5
    c.wait_shim_gone()
    msgs = [m.rstrip("\r") for s, t, m in c.records()]
    assert "tty-hello" in msgs and "40 100" in msgs, msgs


def test_reopen(make):
    c = make(["sh", "-c", "echo one; sleep 1; echo two; sleep 1; echo three; sleep 1; echo four"])
    c.create()
    c.start()
    wait_for(lambda: os.path.exists(c.log) and "one" in open(c.log).read())
    os.rename(c.log, c.log + ".1")
    assert c.attach_cmd("reopen\n") == "ok\n"
    wait_for(lambda: os.path.exists(c.log) and "two" in open(c.log).read())
    os.rename(c.log, c.log + ".2")
    os.kill(c.shim_pid, signal.SIGUSR1)
    c.exit_json()
    c.wait_shim_gone()
    assert [m for _, _, m in c.records(c.log + ".1")] == ["one"]
    assert [m for _, _, m in c.records(c.log + ".2")] == ["two"]
    assert [m for _, _, m in c.records()] == ["three", "four"]


def read_frames(s, until_exit=True):
    buf, frames = b"", []
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
        while len(buf) >= 5:
            sid, n = struct.unpack(">BI", buf[:5])
            if len(buf) < 5 + n:
                break
            frames.append((sid, buf[5:5 + n]))
            buf = buf[5 + n:]
        if until_exit and frames and frames[-1][0] == 3:
            break
    return frames


def test_attach_stdin_and_output(make):
    c = make(["sh", "-c", "read x; echo got-$x; echo e >&2; cat; exit 7"], stdin=True)
    c.create()
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.join(c.bundle, "attach.sock"))
    s.sendall(b"attach stdin\n")
    assert s.recv(3) == b"ok\n"
    c.start()
    s.sendall(b"abc\nmore\n")
    time.sleep(0.3)
    assert c.attach_cmd("close-stdin\n") == "ok\n"
    frames = read_frames(s)
    s.close()
    out = b"".join(d for sid, d in frames if sid == 1)
    err = b"".join(d for sid, d in frames if sid == 2)
    assert out == b"got-abc\nmore\n" and err == b"e\n"
    assert frames[-1] == (3, b"7")
    assert c.exit_json()["exit_status"] == 7


def test_bad_command(make):
    c = make(["sleep", "3600"])
    c.create()
    assert c.attach_cmd("bogus\n").startswith("error")
    assert c.attach_cmd("resize 1 2\n").startswith("error")  # not a tty
    assert c.attach_cmd("attach stdin\n").startswith("error")  # no --stdin
    assert c.attach_cmd("release\n").startswith("error")  # not a --relay


def test_survives_parent_exit(make):
    c = make(["sleep", "3600"])
    # a parent that launches the shim and exits at once
    launcher = subprocess.run(
        ["/usr/bin/python3", "-c",
         "import subprocess,sys; r=subprocess.run(sys.argv[1:],capture_output=True,text=True); "
         "print(r.stdout.strip()); sys.exit(r.returncode)",
         SHIM, "--id", c.id, "--bundle", c.bundle, "--runtime", RUNC, "--runtime-root", c.root,
         "--log-path", c.log], capture_output=True, text=True, timeout=30)
    assert launcher.returncode == 0, launcher.stderr
    c.shim_pid, c.init_pid = map(int, launcher.stdout.split())
    assert pid_alive(c.shim_pid)
    with open(f"/proc/{c.shim_pid}/status") as f:
        ppid = int(re.search(r"PPid:\s+(\d+)", f.read()).group(1))
    assert ppid != os.getpid()
    c.start()
    with open(f"/proc/{c.init_pid}/status") as f:  # the init is the shim's child (subreaper)
        assert int(re.search(r"PPid:\s+(\d+)", f.read()).group(1)) == c.shim_pid
    # sleep as pid 1 of its namespace ignores SIGTERM: KILL it
    subprocess.run([RUNC, "--root", c.root, "kill", c.id, "KILL"], check=True)
    assert c.exit_json()["exit_status"] == 128 + 9


def test_memory(make, capsys):
    c = make(["sleep", "3600"])
    c.create()
    c.start()
    with open(f"/proc/{c.shim_pid}/smaps_rollup") as f:
        roll = dict(re.findall(r"^(\w+):\s+(\d+) kB", f.read(), re.M))
    with open(f"/proc/{c.shim_pid}/status") as f:
        status = dict(re.findall(r"^(\w+):\s+(\d+) kB", f.read(), re.M))
    with capsys.disabled():
        print(f"\ncleat-shim memory: Rss {roll['Rss']} kB, Pss {roll['Pss']} kB, "
              f"Pss_Anon {roll.get('Pss_Anon', '?')} kB, RssAnon {status.get('RssAnon')} kB")
    if os.environ.get("ASAN_OPTIONS") is None and "asan" not in SHIM:
        assert int(roll["Pss"]) < 1024  # static: ~680 kB RSS alone, shared text; dynamic: ~1 MiB RSS, ~190 kB PSS


def test_tty_stdin(make):
    c = make(["sh", "-c", "read x; echo got-$x; exit 4"], tty=True, stdin=True)
    c.create()
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.join(c.bundle, "attach.sock"))
    s.sendall(b"attach stdin\n")
    assert s.recv(3) == b"ok\n"
    c.start()
    s.sendall(b"xyz\r")
    frames = read_frames(s)
    s.close()
    assert b"got-xyz" in b"".join(d for sid, d in frames if sid == 1)
    assert frames[-1] == (3, b"4")
    assert c.exit_json()["exit_status"] == 4


def test_slow_attach_client_is_dropped_not_the_log(make):
    total = 4 * 1024 * 1024
    c = make(["sh", "-c", f"head -c {total} /dev/zero | tr '\\0' a"])
    c.create()
    s = socket.socket(socket.AF_UNIX)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(os.path.join(c.bundle, "attach.sock"))
    s.sendall(b"attach\n")
    assert s.recv(3) == b"ok\n"
    c.start()  # and never read: the shim must drop us, not stall
    assert c.exit_json(30)["exit_status"] == 0
    c.wait_shim_gone()
    s.close()
    recs = c.records()
    assert sum(len(m) for _, _, m in recs) == total
    assert all(t == "P" for _, t, _ in recs) and all(len(m) == 16384 for _, _, m in recs)


def test_long_bundle_path(make):
    """attach.sock and the console socket with a bundle path longer than sun_path."""
    c = make(["sh", "-c", "echo long; exit 2"], tty=True, long_path=True)
    assert len(os.path.join(c.bundle, "attach.sock")) > 108
    c.create()
    s = socket.socket(socket.AF_UNIX)
    dfd = os.open(c.bundle, os.O_PATH)
    s.connect(f"/proc/self/fd/{dfd}/attach.sock")
    os.close(dfd)
    s.sendall(b"resize 80 24\n")
    assert s.recv(10) == b"ok\n"
    s.close()
    c.start()
    assert c.exit_json()["exit_status"] == 2
    c.wait_shim_gone()
    assert [m.rstrip("\r") for _, _, m in c.records()] == ["long"]
    assert not [d for d in os.listdir("/tmp") if d.startswith("cleat-shim-")]


@pytest.mark.parametrize("spec_tty,flag", [(False, ["--tty"]), (True, [])])
def test_tty_mismatch_is_an_error_and_leaves_nothing(make, spec_tty, flag):
    c = make(["sh", "-c", "exit 0"], tty=spec_tty)
    r = subprocess.run([SHIM, "--id", c.id, "--bundle", c.bundle, "--runtime", RUNC,
                        "--runtime-root", c.root, *flag], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and r.stderr.startswith("cleat-shim: "), r.stderr
    lst = subprocess.run([RUNC, "--root", c.root, "list", "-q"], capture_output=True, text=True)
    assert c.id not in lst.stdout
    assert not os.path.exists(os.path.join(c.bundle, "attach.sock"))
    assert not os.path.exists(os.path.join(c.bundle, "console.sock"))
