# SPDX-License-Identifier: Apache-2.0
"""Misbehaving clients of cleatd's HTTP endpoints (the streaming server, the
metrics endpoint), for test_floods.py and bench/stream_flood.py: idle
connections by the hundred (held, or held and re-opened as fast as the
server drops them), a client that trickles its request a byte at a time,
and port-forward clients that send frames without ever reading the
replies, while cleatd's memory is sampled."""

import os
import resource
import select
import socket
import struct
import threading
import time
import urllib.parse

import httpupgrade
import ws_client
from pod_fixture import read_proc_status

SPDY_PING, SPDY_VERSION = 6, 3


def raise_nofile(want):
    """Raise this process's RLIMIT_NOFILE soft limit to at least `want` (within the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def host_port(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port


def closed_by_peer(sock):
    """True if the server has closed (EOF or reset) this idle socket, without waiting."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


class IdleFlood:
    """Up to `n` TCP connections to (host, port) that never send a byte: those the server's backlog takes
    within `connect_wait` s (a server that stops accepting gets fewer).  With sustain=True a thread
    re-opens each one the server closes, keeping n open (an attacker that does not give up)."""

    def __init__(self, host, port, n, sustain=False, connect_wait=3.0):
        raise_nofile(n + 256)
        self.addr = (host, port)
        self.socks = self._open_many(n, connect_wait)
        self.opened_at = time.monotonic()
        self.reopened = 0
        self.stopping = False
        self.thread = None
        if sustain:
            self.thread = threading.Thread(target=self._sustain, daemon=True)
            self.thread.start()

    def _socket(self):
        return socket.socket(socket.AF_INET6 if ":" in self.addr[0] else socket.AF_INET, socket.SOCK_STREAM)

    def _open_many(self, n, wait):
        """Connect n sockets at once (non-blocking): the ones not connected after `wait` s are given up."""
        pending = []
        for _ in range(n):
            s = self._socket()
            s.setblocking(False)
            s.connect_ex(self.addr)
            pending.append(s)
        poller, by_fd = select.poll(), {s.fileno(): s for s in pending}
        for fd in by_fd:
            poller.register(fd, select.POLLOUT)
        done, deadline = [], time.monotonic() + wait
        while by_fd and time.monotonic() < deadline:
            for fd, _ in poller.poll(100):
                s = by_fd.pop(fd)
                poller.unregister(fd)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    s.setblocking(True)
                    done.append(s)
                else:
                    s.close()
        for s in by_fd.values():
            s.close()
        return done

    def _sustain(self):
        while not self.stopping:
            for i, s in enumerate(self.socks):
                if self.stopping:
                    return
                if closed_by_peer(s):
                    s.close()
                    try:
                        self.socks[i] = socket.create_connection(self.addr, timeout=1)
                        self.reopened += 1
                    except OSError:
                        self.socks[i] = self._socket()  # closed_by_peer sees it as closed: tried again
            time.sleep(0.01)

    def count_closed(self):
        return sum(closed_by_peer(s) for s in self.socks)

    def close(self):
        self.stopping = True
        if self.thread:
            self.thread.join(10)
        for s in self.socks:
            s.close()


def trickle(host, port, data, interval, limit):
    """Send `data` a byte every `interval` s until the server closes; seconds until it did (None: never,
    within `limit` s)."""
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=limit) as s:
        for b in data:
            try:
                s.sendall(bytes([b]))
            except OSError:
                return time.monotonic() - start
            time.sleep(interval)
            if closed_by_peer(s):
                return time.monotonic() - start
            if time.monotonic() - start > limit:
                return None
    return None


def rss_anon_kib(pid):
    return int(read_proc_status(pid)["RssAnon"].split()[0])


class RssSampler:
    """The largest RssAnon of pid seen every 50 ms while it runs, as growth over the start (KiB)."""

    def __init__(self, pid):
        self.pid, self.start, self.peak = pid, rss_anon_kib(pid), 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            self.peak = max(self.peak, rss_anon_kib(self.pid) - self.start)
            time.sleep(0.05)

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.peak = max(self.peak, rss_anon_kib(self.pid) - self.start)
        return self.peak


def spdy_portforward_socket(url):
    """A port-forward session upgraded to SPDY, as a bare socket nobody reads."""
    sock, _, _ = httpupgrade.upgrade(url, "POST", [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"),
                                                   ("X-Stream-Protocol-Version", "portforward.k8s.io")])
    return sock


def spdy_flood_chunk():
    """About 1 MiB of client frames that each make the server queue a reply: PINGs (odd ids, the client's)
    and 1-byte DATA frames (each answered by two WINDOW_UPDATEs)."""
    out = bytearray()
    for i in range(40000):
        out += struct.pack(">HHII", 0x8000 | SPDY_VERSION, SPDY_PING, 4, 2 * i + 1)
        out += struct.pack(">II", 1, 1) + b"x"
    return bytes(out)


def ws_portforward_socket(url, port):
    """A WebSocket port-forward session for `port`, as a bare socket nobody reads."""
    ws = ws_client.connect(f"{url}?port={port}", ["v4.channel.k8s.io"])
    return ws.sock


def ws_flood_chunk():
    """About 1 MiB of masked PINGs with the largest payload allowed (125 bytes), each answered by a PONG."""
    one = ws_client.WebSocket.frame_bytes(ws_client.PING, os.urandom(125))
    return one * ((1 << 20) // len(one))


def flood_without_reading(sock, chunk, total, stall=3.0):
    """Send `chunk` until `total` bytes went out, or until the server stopped taking them for `stall` s
    (it stopped reading: backpressure).  Returns the bytes sent."""
    sock.settimeout(stall)
    sent = 0
    view = memoryview(chunk)
    while sent < total:
        try:
            n = sock.send(view[sent % len(chunk):])
        except (socket.timeout, BlockingIOError):
            break
        sent += n
    return sent
