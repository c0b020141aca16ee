# SPDX-License-Identifier: Apache-2.0
"""A WebSocket client for the tests, written from RFC 6455 (Python stdlib
only): the opening handshake with the Sec-WebSocket-Accept check, masked
client frames, 7/16/64-bit payload lengths, fragmented messages both ways,
ping/pong and the closing handshake.

Frame: FIN(1) RSV(3) opcode(4) | MASK(1) len(7) [len16 | len64] [mask key(4)] payload.
Opcodes: 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong.
"""

import base64
import hashlib
import os
import socket
import struct
import threading
import time

import httpupgrade

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10


class ProtocolError(Exception):
    pass


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def mask(data, key):
    """XOR with the repeated 4-byte key (as one big integer: fast enough for megabytes)."""
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


class WebSocket:
    def __init__(self, sock, leftover, protocol):
        self.sock = sock
        self.rbuf = bytearray(leftover)
        self.protocol = protocol
        self.send_lock = threading.Lock()
        self.close_code = None  # the server's close frame: (code, reason)
        self.closed = False
        self.pongs = []
        self.resume_at = 0.0
        self.sock.settimeout(None)

    # -- sending

    @staticmethod
    def frame_bytes(opcode, payload=b"", fin=True):
        payload = bytes(payload)
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        key = os.urandom(4)
        return head + key + mask(payload, key)

    def send_frame(self, opcode, payload=b"", fin=True):
        frame = self.frame_bytes(opcode, payload, fin)
        with self.send_lock:
            self.sock.sendall(frame)

    def send(self, payload, opcode=BINARY, fragments=1):
        """One message, cut into `fragments` frames (first with the opcode, then continuations)."""
        step = max(1, -(-len(payload) // max(1, fragments)))
        parts = [payload[i:i + step] for i in range(0, len(payload), step)] or [b""]
        frames = [self.frame_bytes(opcode if i == 0 else CONT, part, fin=i == len(parts) - 1)
                  for i, part in enumerate(parts)]
        with self.send_lock:  # the fragments of one message must not interleave with another message
            for f in frames:
                self.sock.sendall(f)

    def ping(self, payload=b"p"):
        self.send_frame(PING, payload)

    def close(self, code=1000, reason=""):
        """Send a close frame (the server answers with one and closes)."""
        if not self.closed:
            try:
                self.send_frame(CLOSE, struct.pack(">H", code) + reason.encode())
            except OSError:
                pass

    def abort(self, reset=False, reader=None):
        """Close the socket without a word (a client that goes away); with `reset`, send an RST at once
        (after `reader`, a thread blocked reading the socket, has let go of it)."""
        self.closed = True
        if reset:
            # The RST goes out when the last user of the socket lets go: wake the reader first.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.shutdown(socket.SHUT_RD)
            if reader is not None:
                reader.join(5)
        else:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sock.close()

    def pause_reading(self, seconds):
        self.resume_at = time.monotonic() + seconds

    # -- receiving

    def _recv_exact(self, n, deadline):
        while len(self.rbuf) < n:
            wait = self.resume_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
                continue
            left = deadline - time.monotonic() if deadline else None
            if left is not None and left <= 0:
                raise TimeoutError("websocket: nothing in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(256 * 1024)
            except socket.timeout:
                raise TimeoutError("websocket: nothing in time") from None
            if not chunk:
                raise EOFError("websocket: connection closed")
            self.rbuf += chunk
        data = bytes(self.rbuf[:n])
        del self.rbuf[:n]
        return data

    def _frame(self, deadline):
        b0, b1 = self._recv_exact(2, deadline)
        if b0 & 0x70:
            raise ProtocolError(f"RSV bits set: {b0:#x}")
        if b1 & 0x80:
            raise ProtocolError("the server masked a frame")
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", self._recv_exact(2, deadline))
        elif n == 127:
            (n,) = struct.unpack(">Q", self._recv_exact(8, deadline))
        return bool(b0 & 0x80), b0 & 0x0F, self._recv_exact(n, deadline)

    def recv(self, timeout=30):
        """The next data message as (opcode, payload), or (CLOSE, b"") once the connection is closed.
        Pings are answered, pongs recorded, fragments joined."""
        deadline = time.monotonic() + timeout if timeout else None
        opcode, parts = None, []
        while True:
            try:
                fin, op, payload = self._frame(deadline)
            except EOFError:
                self.closed = True
                return CLOSE, b""
            if op == PING:
                self.send_frame(PONG, payload)
                continue
            if op == PONG:
                self.pongs.append(payload)
                continue
            if op == CLOSE:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.close_code = (code, payload[2:].decode(errors="replace"))
                if not self.closed:
                    self.close(code if code not in (1005, 1006) else 1000)
                self.closed = True
                return CLOSE, b""
            if op == CONT:
                if opcode is None:
                    raise ProtocolError("continuation without a message")
            elif op in (TEXT, BINARY):
                if opcode is not None:
                    raise ProtocolError("new message inside a fragmented one")
                opcode = op
            else:
                raise ProtocolError(f"unknown opcode {op}")
            parts.append(payload)
            if fin:
                return opcode, b"".join(parts)


def connect(url, protocols, timeout=30, extra_headers=()):
    """The opening handshake offering `protocols`; returns the WebSocket (its .protocol is the chosen one)."""
    key = base64.b64encode(os.urandom(16)).decode()
    headers = [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
               ("Sec-WebSocket-Key", key)]
    if protocols:
        headers.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
    sock, resp, rest = httpupgrade.upgrade(url.replace("ws://", "http://").replace("wss://", "https://"), "GET",
                                           headers + list(extra_headers), timeout)
    if resp.get("upgrade", "").lower() != "websocket" or "upgrade" not in resp.get("connection", "").lower():
        sock.close()
        raise ProtocolError(f"101 without Upgrade: websocket / Connection: Upgrade: {resp.headers}")
    if resp.get("sec-websocket-accept") != accept_for(key):
        sock.close()
        raise ProtocolError(f"bad Sec-WebSocket-Accept {resp.get('sec-websocket-accept')!r}")
    chosen = resp.get("sec-websocket-protocol", "")
    if protocols and chosen not in protocols:
        sock.close()
        raise ProtocolError(f"server chose {chosen!r}, not one of {protocols}")
    return WebSocket(sock, rest, chosen)
