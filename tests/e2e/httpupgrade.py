# SPDX-License-Identifier: Apache-2.0
"""An HTTP/1.1 request that asks to switch protocols (RFC 9110 §7.8), for the
SPDY and WebSocket test clients: Python stdlib only."""

import socket
import ssl
import urllib.parse


class UpgradeRefused(Exception):
    """The server answered something other than 101; `status` and `body` say what."""

    def __init__(self, status, reason, headers, body):
        super().__init__(f"HTTP {status} {reason}: {body[:200]!r}")
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


class Response:
    def __init__(self, status, reason, headers):
        self.status, self.reason = status, reason
        self.headers = headers  # [(lowercased name, value)]

    def get(self, name, default=None):
        vals = self.all(name)
        return vals[0] if vals else default

    def all(self, name):
        return [v for k, v in self.headers if k == name.lower()]


def connect(url, timeout=30):
    """A TCP (or TLS, for https/wss; the certificate is not checked) socket to the URL's host."""
    u = urllib.parse.urlsplit(url)
    secure = u.scheme in ("https", "wss")
    port = u.port or (443 if secure else 80)
    sock = socket.create_connection((u.hostname, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if secure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
    return sock


def request_target(url):
    u = urllib.parse.urlsplit(url)
    return (u.path or "/") + (f"?{u.query}" if u.query else "")


def read_head(sock, limit=65536):
    """Read up to the blank line; returns (Response, bytes already read past it)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"connection closed during the response head: {buf!r}")
        buf += chunk
        if len(buf) > limit:
            raise ValueError("response head too long")
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    version, status, *reason = lines[0].split(" ", 2)
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x response: {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return Response(int(status), reason[0] if reason else "", headers), rest


def read_body(sock, resp, rest, timeout=5):
    """The body of a non-101 answer (Content-Length, else until EOF or timeout)."""
    sock.settimeout(timeout)
    n = resp.get("content-length")
    try:
        while n is None or len(rest) < int(n):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    except (socket.timeout, OSError):
        pass
    return rest


def upgrade(url, method, headers, timeout=30):
    """Send the request; returns (socket, Response, leftover bytes) on 101, raises UpgradeRefused otherwise."""
    sock = connect(url, timeout)
    u = urllib.parse.urlsplit(url)
    lines = [f"{method} {request_target(url)} HTTP/1.1", f"Host: {u.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    resp, rest = read_head(sock)
    if resp.status != 101:
        body = read_body(sock, resp, rest)
        sock.close()
        raise UpgradeRefused(resp.status, resp.reason, resp.headers, body)
    return sock, resp, rest


def plain_request(url, method="GET", headers=(), timeout=10):
    """An ordinary request: (status, Response, body)."""
    sock = connect(url, timeout)
    u = urllib.parse.urlsplit(url)
    lines = [f"{method} {request_target(url)} HTTP/1.1", f"Host: {u.netloc}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    resp, rest = read_head(sock)
    body = read_body(sock, resp, rest, timeout)
    sock.close()
    return resp.status, resp, body
