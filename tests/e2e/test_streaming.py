# SPDX-License-Identifier: Apache-2.0
"""Exec, Attach and PortForward through cleatd's streaming server, with the
test clients of stream_clients.py (SPDY/3.1 and WebSocket written from their
specs), against real runc.  The RPCs answer a URL with a single-use token;
the clients connect to it as kubectl (client-go) and crictl do.

Each protocol variant runs where it makes sense: SPDY v4 (as kubectl without
WINDOW_UPDATE, like moby/spdystream, and with it) and v5, WebSocket v4, v5
and v4.base64 (fragmented messages too)."""

import hashlib
import os
import re
import time
import uuid

import grpc
import pytest

import httpupgrade
import stream_clients as sc
from pod_fixture import pid_alive, wait_for

# Run once with runtime-runc and once with runtime-kata (shimv2) as the default handler (conftest.py), and once
# with every pod in a user namespace of its own (runc+userns).
ALSO_SHIMV2 = True
ALSO_USERNS = True

MiB = 1024 * 1024

# (transport, subprotocol, extra client options)
EXEC_VARIANTS = {
    "spdy-v4": ("spdy", sc.V4, {"window_updates": False}),
    "spdy-v4-wu": ("spdy", sc.V4, {"window_updates": True}),
    "spdy-v5": ("spdy", sc.V5, {}),
    "ws-v4": ("ws", sc.V4, {}),
    "ws-v5": ("ws", sc.V5, {}),
    "ws-v4-base64": ("ws", sc.V4_BASE64, {}),
    "ws-v5-fragmented": ("ws", sc.V5, {"fragments": 3}),
}
STDIN_VARIANTS = ["spdy-v4", "spdy-v5", "ws-v5", "ws-v5-fragmented"]  # ws v4 cannot close stdin


def variant(name):
    return EXEC_VARIANTS[name]


@pytest.fixture(scope="module")
def streaming(pod_env):
    """Skip the module while the server is not there (Exec answers UNIMPLEMENTED)."""
    pod = pod_env.run_pod()
    cid = pod_env.run(pod, command=["sleep", "3600"])
    try:
        pod_env.rt.Exec(pod_env.pb2.ExecRequest(container_id=cid, cmd=["true"], stdout=True), timeout=30)
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNIMPLEMENTED:
            pytest.skip(f"the streaming server is not there yet: Exec answers UNIMPLEMENTED ({e.details()})")
        raise
    finally:
        pod_env.stop_pod(pod)
        pod_env.remove_pod(pod)
    return True


@pytest.fixture
def ctr(env, streaming):
    """A running `sleep` container with /tmp."""
    pod = env.run_pod()
    return env.run(pod, command=["sleep", "3600"])


def exec_url(env, cid, cmd, stdin=False, stdout=True, stderr=True, tty=False):
    url = env.rt.Exec(env.pb2.ExecRequest(container_id=cid, cmd=cmd, stdin=stdin, stdout=stdout,
                                          stderr=stderr and not tty, tty=tty), timeout=30).url
    assert re.match(r"^https?://[^/]+/exec/[^/?]+$", url), url
    return url


def attach_url(env, cid, stdin=False, tty=False, stdout=True, stderr=True):
    url = env.rt.Attach(env.pb2.AttachRequest(container_id=cid, stdin=stdin, tty=tty, stdout=stdout,
                                              stderr=stderr and not tty), timeout=30).url
    assert re.match(r"^https?://[^/]+/attach/[^/?]+$", url), url
    return url


def portforward_url(env, pod, ports):
    url = env.rt.PortForward(env.pb2.PortForwardRequest(pod_sandbox_id=pod, port=ports), timeout=30).url
    assert re.match(r"^https?://[^/]+/portforward/[^/?]+$", url), url
    return url


def run_exec(env, cid, name, cmd, stdin=None, tty=False, resize=None, timeout=60):
    transport, proto, kw = variant(name)
    url = exec_url(env, cid, cmd, stdin=stdin is not None, tty=tty)
    return sc.run(transport, url, protocol=proto, stdin=stdin, tty=tty, resize=resize, timeout=timeout, **kw)


def host_pids_with(token):
    """Host pids whose command line contains `token` (a process inside a container, seen from outside)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if token.encode() in f.read():
                        pids.append(int(d))
            except OSError:
                pass
    return pids


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------
# exec

@pytest.mark.parametrize("name", list(EXEC_VARIANTS))
def test_exec_exit_codes(env, ctr, name):
    r = run_exec(env, ctr, name, ["echo", "hi"])
    assert (r.stdout, r.stderr, r.exit_code) == (b"hi\n", b"", 0), r
    assert r.protocol == variant(name)[1]
    r = run_exec(env, ctr, name, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 3), r
    assert b"NonZeroExitCode" in r.error
    r = run_exec(env, ctr, name, ["/no/such/program"])
    assert r.exit_code != 0, r


@pytest.mark.parametrize("name", STDIN_VARIANTS)
def test_exec_stdin_through_cat(env, ctr, name):
    data = b"".join(b"line %d\n" % i for i in range(2000))
    r = run_exec(env, ctr, name, ["cat"], stdin=data)
    assert r.exit_code == 0, r
    assert r.stdout == data


@pytest.mark.parametrize("name", ["spdy-v4", "spdy-v5", "ws-v5", "ws-v4-base64"])
def test_exec_tty_resize(env, ctr, name):
    transport, proto, kw = variant(name)
    url = exec_url(env, ctr, ["sh", "-c", "read x; stty size; echo got $x; exit 4"], stdin=True, tty=True)
    s = sc.open_session(transport, url, protocol=proto, stdin=True, tty=True, **kw)
    s.resize(77, 33)
    s.write_stdin(b"go\n")  # the process runs stty only after this line: the resize is there first
    r = s.wait(timeout=60)
    assert r.stderr == b""
    out = r.stdout.replace(b"\r", b"")
    assert b"33 77\n" in out and b"got go\n" in out, r
    assert r.exit_code == 4, r


# --------------------------------------------------------------------------
# attach

def test_attach_stdin_once_ends_input(env, streaming):
    """stdin_once: the attached client's end of input is the container's, so `cat` ends (critest's attach spec).
    Under a shim v2 the shim holds a stdin writer of its own until CloseIO: the plugin must give it up."""
    pod = env.run_pod()
    cid = env.run(pod, command=["sh", "-c", "cat; echo cat-ended"], stdin=True, stdin_once=True)
    s = sc.open_session("spdy", attach_url(env, cid, stdin=True), stdin=True)
    s.write_stdin(b"hello\n")
    s.read_until("stdout", b"hello\n", timeout=20)
    s.close_stdin()
    s.read_until("stdout", b"cat-ended\n", timeout=20)
    st = env.wait_exited(cid)
    assert st.exit_code == 0, st


@pytest.mark.parametrize("name", ["spdy-v4", "spdy-v5", "ws-v4", "ws-v5-fragmented"])
def test_attach_counter(env, streaming, name):
    transport, proto, kw = variant(name)
    pod = env.run_pod()
    cid = env.run(pod, command=["sh", "-c", "i=0; while true; do echo n$i; i=$((i+1)); sleep 0.05; done"])
    s = sc.open_session(transport, attach_url(env, cid), protocol=proto, **kw)
    seen = s.read_until("stdout", b"\n", timeout=20)
    while len(re.findall(rb"n(\d+)\n", seen)) < 4:
        seen += s.read("stdout", timeout=20)
    numbers = [int(n) for n in re.findall(rb"n(\d+)\n", seen)]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), seen
    s.finish()
    assert env.status(cid).status.state == env.pb2.CONTAINER_RUNNING  # detaching does not stop it


@pytest.mark.parametrize("name", ["spdy-v5", "ws-v4-base64"])
def test_attach_keeps_stdout_and_stderr_apart(env, streaming, name):
    """cleat-shim frames what it relays to attach clients by stream, so a non-TTY attach tells them apart."""
    transport, proto, kw = variant(name)
    pod = env.run_pod()
    cid = env.run(pod, command=["sh", "-c", "while true; do echo to-out; echo to-err >&2; sleep 0.05; done"])
    s = sc.open_session(transport, attach_url(env, cid), protocol=proto, **kw)
    assert b"to-err" not in s.read_until("stdout", b"to-out\n", timeout=20)
    assert b"to-out" not in s.read_until("stderr", b"to-err\n", timeout=20)
    s.finish()


@pytest.mark.parametrize("name", ["spdy-v4", "ws-v5"])
def test_attach_stdin(env, streaming, name):
    transport, proto, kw = variant(name)
    pod = env.run_pod()
    cid = env.run(pod, command=["cat"], stdin=True)
    s = sc.open_session(transport, attach_url(env, cid, stdin=True), protocol=proto, stdin=True, **kw)
    s.write_stdin(b"ping one\n")
    assert s.read_until("stdout", b"ping one\n", timeout=20).endswith(b"ping one\n")
    s.write_stdin(b"ping two\n")
    s.read_until("stdout", b"ping two\n", timeout=20)
    s.finish()


@pytest.mark.parametrize("name", ["spdy-v4", "ws-v5"])
def test_attach_tty_resize(env, streaming, name):
    transport, proto, kw = variant(name)
    pod = env.run_pod()
    cid = env.run(pod, command=["sh", "-c", "while true; do read x; stty size; done"], stdin=True, tty=True)
    s = sc.open_session(transport, attach_url(env, cid, stdin=True, tty=True), protocol=proto, stdin=True,
                        tty=True, **kw)
    s.resize(91, 17)
    time.sleep(0.3)
    s.write_stdin(b"\n")
    s.read_until("stdout", b"17 91", timeout=20)
    s.finish()


# --------------------------------------------------------------------------
# port forwarding

HTTPD_SCRIPT = ("mkdir -p /www && echo hello-from-the-pod > /www/index.html && "
                "exec httpd -f -p 127.0.0.1:8080 -h /www")
HTTP_GET = b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n"


@pytest.fixture
def httpd_pod(env, streaming):
    """A pod whose httpd listens on 127.0.0.1:8080 of the pod's netns only: reachable only from inside it."""
    pod = env.run_pod()
    cid = env.run(pod, command=["sh", "-c", HTTPD_SCRIPT])
    wait_for(lambda: env.exec(cid, ["wget", "-q", "-O", "-", "http://127.0.0.1:8080/index.html"]).exit_code == 0,
             20, "httpd in the pod")
    return pod


def test_portforward_spdy(env, httpd_pod):
    pf = sc.SpdyPortForward(portforward_url(env, httpd_pod, [8080]))
    assert pf.protocol == sc.PORTFORWARD
    for _ in range(3):  # several connections over one session, each with its own request id
        body, err = pf.request(8080, HTTP_GET)
        assert body.startswith(b"HTTP/1.") and b"hello-from-the-pod" in body, body
        assert err == b""
    data, err = pf.open(1)  # nothing listens there: the error stream says so
    data.close()
    assert data.read_all(20) == b""
    assert err.read_all(20) != b""
    pf.close()


@pytest.mark.parametrize("proto", ["v4.channel.k8s.io", "v4.base64.channel.k8s.io"])
def test_portforward_websocket(env, httpd_pod, proto):
    pf = sc.WsPortForward(portforward_url(env, httpd_pod, [8080]), [8080], protocol=proto)
    assert pf.port_prefix(0) == [8080, 8080]
    pf.send(0, HTTP_GET)
    body = pf.read_all(0, timeout=20)
    assert body.startswith(b"HTTP/1.") and b"hello-from-the-pod" in body, body
    pf.close()


# --------------------------------------------------------------------------
# volume, backpressure, tokens, disconnects

@pytest.fixture
def blob(env, ctr):
    """8 MiB of random bytes at /tmp/blob in the container; returns (cid, sha256 hex)."""
    out = env.sh(ctr, "head -c 8388608 /dev/urandom > /tmp/blob && sha256sum /tmp/blob")
    return ctr, out.split()[0]


@pytest.mark.parametrize("name", ["spdy-v4", "spdy-v4-wu", "ws-v4", "ws-v4-base64"])
def test_exec_8mib_intact(env, blob, name):
    cid, digest = blob
    r = run_exec(env, cid, name, ["cat", "/tmp/blob"], timeout=120)
    assert r.exit_code == 0, r.error
    assert len(r.stdout) == 8 * MiB
    assert hashlib.sha256(r.stdout).hexdigest() == digest


@pytest.mark.parametrize("name", ["spdy-v4", "ws-v4"])
def test_slow_reader_gets_everything_and_cleatd_does_not_buffer(env, blob, name):
    """The client stops reading for 3 s: the producer is slowed, not dropped, and cleatd does not hold the output."""
    cid, digest = blob
    transport, proto, kw = variant(name)
    url = exec_url(env, cid, ["sh", "-c", "cat /tmp/blob /tmp/blob /tmp/blob /tmp/blob"])
    s = sc.open_session(transport, url, protocol=proto, **kw)
    first = s.read("stdout", timeout=20)
    before = rss_kib(env.d.proc.pid)
    s.pause_reading(3)
    time.sleep(2.5)
    grown = rss_kib(env.d.proc.pid) - before
    r = s.wait(timeout=120)
    out = first + r.stdout
    assert r.exit_code == 0, r.error
    assert len(out) == 32 * MiB
    assert all(hashlib.sha256(out[i * 8 * MiB:(i + 1) * 8 * MiB]).hexdigest() == digest for i in range(4))
    assert grown < 16 * 1024, f"cleatd grew by {grown} KiB while the client did not read"


def test_token_single_use(env, ctr):
    url = exec_url(env, ctr, ["echo", "once"])
    assert sc.run("spdy", url).stdout == b"once\n"
    with pytest.raises(httpupgrade.UpgradeRefused) as e:
        sc.run("spdy", url)
    assert e.value.status == 404
    with pytest.raises(httpupgrade.UpgradeRefused) as e:
        sc.run("ws", url)
    assert e.value.status == 404
    # a token never issued, and one used by a websocket first
    base = url.rsplit("/", 1)[0]
    assert httpupgrade.plain_request(base + "/" + "x" * 8)[0] == 404
    url = exec_url(env, ctr, ["echo", "twice"])
    assert sc.run("ws", url).stdout == b"twice\n"
    with pytest.raises(httpupgrade.UpgradeRefused) as e:
        sc.run("ws", url)
    assert e.value.status == 404


@pytest.mark.parametrize("name", ["spdy-v4", "ws-v5"])
def test_client_disconnect_kills_the_process(env, ctr, name):
    transport, proto, kw = variant(name)
    token = f"cleat-e2e-{uuid.uuid4().hex}"
    url = exec_url(env, ctr, ["/bin/cleat-testbin", "hold", token])
    s = sc.open_session(transport, url, protocol=proto, **kw)
    s.read_until("stdout", b"ready\n", timeout=20)
    pids = host_pids_with(token)
    assert pids, "the exec'd process is not visible from the host"
    s.abort()
    wait_for(lambda: not any(pid_alive(p) for p in pids), 20, f"exec'd process {pids} gone after the disconnect")


def tcp_queues(local_port, remote_port):
    """(unsent or unacked bytes, unread bytes) of the local TCP socket local_port -> remote_port, from /proc."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if (int(cols[1].rsplit(":", 1)[1], 16), int(cols[2].rsplit(":", 1)[1], 16)) == (local_port,
                                                                                                 remote_port):
                    tx, rx = cols[4].split(":")
                    return int(tx, 16), int(rx, 16)
    raise AssertionError(f"no TCP socket {local_port} -> {remote_port}")


def hold_back_stdin(s):
    """
    Write stdin to a process that never reads it until cleatd stops reading
    the client (bytes wait unread in cleatd's socket), while everything sent
    has reached cleatd's kernel: a FIN sent now reaches cleatd at once.  A
    FIN behind bytes the receiver's window does not take yet stays in the
    client's kernel, and no server can see it without reading them.
    """
    sock = s.socket()
    mine, cleatd = sock.getsockname()[1], sock.getpeername()[1]
    sent = 0
    while sent < 8 << 20:
        s.write_stdin(b"x" * (32 << 10))
        sent += 32 << 10
        wait_for(lambda: tcp_queues(mine, cleatd)[0] == 0, 20, "the client's bytes to reach cleatd's socket")
        unread = [tcp_queues(cleatd, mine)[1]]
        for _ in range(3):
            time.sleep(0.1)
            unread.append(tcp_queues(cleatd, mine)[1])
        if min(unread) > 0 and len(set(unread)) == 1:
            return sent
    raise AssertionError(f"cleatd kept reading {sent} bytes of stdin that the process does not read")


@pytest.mark.parametrize("leave", ["fin", "rst"])
@pytest.mark.parametrize("name", ["spdy-v4", "ws-v5"])
def test_client_disconnect_with_stdin_held_back_kills_the_process(env, ctr, name, leave):
    """The process does not read its stdin, so cleatd stops reading the client: its leaving must still be seen."""
    transport, proto, kw = variant(name)
    token = f"cleat-e2e-{uuid.uuid4().hex}"
    url = exec_url(env, ctr, ["/bin/cleat-testbin", "hold", token], stdin=True)
    s = sc.open_session(transport, url, protocol=proto, stdin=True, **kw)
    s.read_until("stdout", b"ready\n", timeout=20)
    pids = host_pids_with(token)
    assert pids, "the exec'd process is not visible from the host"
    if leave == "fin":
        hold_back_stdin(s)
    else:  # an RST goes out however much is still unsent
        s.write_stdin(b"x" * (640 * 1024))
        time.sleep(0.5)
    s.abort(reset=leave == "rst")
    wait_for(lambda: not any(pid_alive(p) for p in pids), 20, f"exec'd process {pids} gone after the disconnect")


def test_exec_tty_input_sent_with_the_close_is_not_lost(env, ctr):
    """`printf 'exit 3\\n' | crictl exec -it`: stdin ends before the shell has read it, and it still runs it."""
    url = exec_url(env, ctr, ["sh"], stdin=True, tty=True)
    s = sc.open_session("spdy", url, stdin=True, tty=True)
    s.write_stdin(b"echo term=$TERM; exit 3\n")
    s.close_stdin()
    r = s.wait(timeout=30)
    assert r.exit_code == 3, r
    assert b"term=xterm" in r.stdout  # a terminal exec gets TERM, as with containerd


def test_exec_tty_stdin_close_ends_cat(env, ctr):
    """SPDY: the stdin stream's FIN becomes the terminal's end-of-file."""
    url = exec_url(env, ctr, ["cat"], stdin=True, tty=True)
    s = sc.open_session("spdy", url, stdin=True, tty=True)
    s.write_stdin(b"abc\n")
    s.read_until("stdout", b"abc\r\nabc\r\n", timeout=20)
    s.close_stdin()
    r = s.wait(timeout=30)
    assert r.exit_code == 0, r
