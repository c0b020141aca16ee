# SPDX-License-Identifier: Apache-2.0
"""A small ttrpc client for tests that drive a containerd shim v2 runtime
(containerd-shim-runc-v2) directly: the few task API calls they need, with
the protobuf messages encoded by hand (field numbers of containerd's task v2
API and of ttrpc's Request/Response)."""

import os
import socket
import struct
import subprocess

TASK = "containerd.task.v2.Task"
MSG_REQUEST, MSG_RESPONSE = 1, 2


def _varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, value):
    """One field: str/bytes are length-delimited, bool/int varints; None and empty are left out."""
    if value is None or value == "" or value == b"" or value is False:
        return b""
    if isinstance(value, (str, bytes)):
        data = value.encode() if isinstance(value, str) else value
        return _varint(num << 3 | 2) + _varint(len(data)) + data
    return _varint(num << 3) + _varint(int(value))


def message(*fields):
    return b"".join(field(n, v) for n, v in fields)


def decode(data):
    """{field number: [values]}: varints as int, length-delimited as bytes."""
    out, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _read_varint(data, i)
        elif wt == 2:
            n, i = _read_varint(data, i)
            v, i = data[i:i + n], i + n
        elif wt == 1:
            v, i = data[i:i + 8], i + 8
        elif wt == 5:
            v, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        out.setdefault(num, []).append(v)
    return out


def _read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


class ShimError(Exception):
    def __init__(self, code, text):
        super().__init__(f"code {code}: {text}")
        self.code = code


class Shim:
    """A started containerd-shim-runc-v2 and one ttrpc connection to it."""

    def __init__(self, binary, workdir, shim_id, namespace="cleat-test"):
        self.ns = namespace
        self.workdir = workdir
        env = dict(os.environ, TTRPC_ADDRESS=os.path.join(workdir, "events.sock"))
        # The shim writes its own log to the FIFO "log" in its working directory, and refuses to
        # run without it; it is read by log_text().
        os.mkfifo(os.path.join(workdir, "log"), 0o600)
        self.log_fd = os.open(os.path.join(workdir, "log"), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        r = subprocess.run([binary, "-namespace", namespace, "-address", os.path.join(workdir, "containerd.sock"),
                            "-publish-binary", "/bin/false", "-id", shim_id, "start"],
                           cwd=workdir, env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        self.address = r.stdout.strip()
        assert self.address.startswith("unix://"), self.address
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(self.address[len("unix://"):])
        self.stream = 1

    def pid(self):
        """The shim's own pid, from Connect (ConnectResponse.shim_pid)."""
        return self.call("Connect", message((1, "")))[1][0]

    def call(self, method, payload):
        meta = message((1, "containerd-namespace-ttrpc"), (2, self.ns))
        req = message((1, TASK), (2, method), (3, payload), (5, meta))
        self.sock.sendall(struct.pack(">IIBB", len(req), self.stream, MSG_REQUEST, 0) + req)
        sid = self.stream
        self.stream += 2
        length, rsid, mtype, _ = struct.unpack(">IIBB", self._recv(10))
        body = self._recv(length)
        assert rsid == sid and mtype == MSG_RESPONSE, (rsid, sid, mtype)
        resp = decode(body)
        if 1 in resp:
            st = decode(resp[1][0])
            code = st.get(1, [0])[0]
            if code:
                raise ShimError(code, st.get(2, [b""])[0].decode())
        return decode(resp.get(2, [b""])[0])

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            d = self.sock.recv(n - len(buf))
            if not d:
                raise ShimError(14, "the shim closed the connection")
            buf += d
        return buf

    def log_text(self):
        try:
            return os.read(self.log_fd, 1 << 20).decode(errors="replace")
        except BlockingIOError:
            return ""

    def close(self):
        self.sock.close()
        os.close(self.log_fd)
