# SPDX-License-Identifier: Apache-2.0
"""A SPDY/3.1 client for the tests, written from the SPDY Protocol Draft 3.1
(Python stdlib only): the framing layer, zlib header compression with the
draft's dictionary, flow control, and the upgrade from HTTP/1.1 that
Kubernetes' streaming uses (`Upgrade: SPDY/3.1`).

Frames (all big-endian):

    control: |1| version(15)=3 | type(16) | flags(8) | length(24) | data
    data:    |0| stream id(31)            | flags(8) | length(24) | data

SYN_STREAM(1) stream id, associated id, priority(3 bits) + slot, header block;
SYN_REPLY(2) stream id, header block; RST_STREAM(3) stream id, status;
SETTINGS(4) count, (flags(8) id(24) value(32))...; PING(6) id;
GOAWAY(7) last good id, status; HEADERS(8) stream id, header block;
WINDOW_UPDATE(9) stream id, delta.  A header block is count(32) then
(len(32) name len(32) value)..., compressed by one zlib stream per direction
(flushed with Z_SYNC_FLUSH after each block).

One reader thread per connection files each frame with its stream.  As the
test reads a stream it sends WINDOW_UPDATE for what it consumed (unless
`window_updates=False`, which behaves like Go's moby/spdystream that kubectl
uses: it never sends one, so a server must not wait for them).
`pause_reading()` stops reading the socket for a while (a slow client).
"""

import queue
import socket
import struct
import threading
import time
import zlib

import httpupgrade

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN, FLAG_UNIDIRECTIONAL = 0x01, 0x02
SETTINGS_INITIAL_WINDOW_SIZE = 7
RST_PROTOCOL_ERROR, RST_REFUSED_STREAM, RST_CANCEL = 1, 3, 5
DEFAULT_WINDOW = 64 * 1024
MAX_DATA = 16 * 1024  # what we put in one DATA frame

# The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1):
# length-prefixed words, then a run of common strings.
_WORDS = ("options head post put delete trace accept accept-charset accept-encoding accept-language "
          "accept-ranges age allow authorization cache-control connection content-base content-encoding "
          "content-language content-length content-location content-md5 content-range content-type date etag "
          "expect expires from host if-match if-modified-since if-none-match if-range if-unmodified-since "
          "last-modified location max-forwards pragma proxy-authenticate proxy-authorization range referer "
          "retry-after server te trailer transfer-encoding upgrade user-agent vary via warning www-authenticate "
          "method get status").split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
                                          "keep-alive", "origin"]
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
         "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
         "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
         "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
         "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()
assert len(DICTIONARY) == 1423 and zlib.adler32(DICTIONARY) == 0xE3C6A7C2


class ProtocolError(Exception):
    pass


def encode_headers(headers):
    """A header block (uncompressed): names lowercased, several values of one name joined by NUL."""
    merged = {}
    for k, v in (headers.items() if isinstance(headers, dict) else headers):
        merged.setdefault(k.lower(), []).append(str(v))
    out = [struct.pack(">I", len(merged))]
    for k, vs in merged.items():
        kb, vb = k.encode(), b"\0".join(v.encode() for v in vs)
        out += [struct.pack(">I", len(kb)), kb, struct.pack(">I", len(vb)), vb]
    return b"".join(out)


def decode_headers(block):
    """{name: [values]} from an uncompressed header block."""
    (n,), pos, out = struct.unpack_from(">I", block), 4, {}
    for _ in range(n):
        (kl,) = struct.unpack_from(">I", block, pos)
        k = block[pos + 4:pos + 4 + kl].decode()
        pos += 4 + kl
        (vl,) = struct.unpack_from(">I", block, pos)
        v = block[pos + 4:pos + 4 + vl].decode()
        pos += 4 + vl
        out.setdefault(k, []).extend(v.split("\0"))
    if pos != len(block):
        raise ProtocolError(f"header block: {len(block) - pos} bytes left over")
    return out


class Stream:
    def __init__(self, conn, sid, headers):
        self.conn, self.id, self.headers = conn, sid, headers
        self.reply = None           # the SYN_REPLY's headers
        self.extra_headers = {}     # from HEADERS frames
        self.chunks = queue.Queue()  # bytes; b"" marks the remote FIN
        self.pending = b""
        self.remote_closed = False  # FIN or RST seen by the reader
        self.eof = False            # the reader of this object has seen the end
        self.reset_status = None    # RST_STREAM's status
        self.local_closed = False
        self.send_window = conn.initial_send_window
        self.received = 0

    def write(self, data, fin=False):
        view = memoryview(bytes(data))
        while True:
            piece, view = view[:MAX_DATA], view[MAX_DATA:]
            last = fin and not len(view)
            if self.conn.respect_window:
                self.conn.wait_window(self, len(piece))
            self.conn.send_data(self.id, bytes(piece), FLAG_FIN if last else 0)
            self.send_window -= len(piece)
            if not len(view):
                break
        if fin:
            self.local_closed = True

    def close(self):
        """Half-close: a DATA frame with FIN and no data."""
        if not self.local_closed:
            self.write(b"", fin=True)

    def reset(self, status=RST_CANCEL):
        self.conn.send_control(RST_STREAM, 0, struct.pack(">II", self.id, status))
        self.local_closed = True

    def read(self, timeout=30):
        """Some bytes; b"" at the end of the stream (FIN or reset)."""
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        if self.eof:
            return b""
        try:
            data = self.chunks.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"stream {self.id} {self.headers}: nothing for {timeout}s") from None
        if data == b"":
            self.eof = True
        else:
            self.conn.consumed(self, len(data))
        return data

    def read_all(self, timeout=60):
        out = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            data = self.read(timeout=max(0.1, deadline - time.monotonic()))
            if not data:
                return bytes(out)
            out += data


class Connection:
    def __init__(self, sock, leftover=b"", window_updates=True, respect_window=False, initial_window=None):
        self.sock = sock
        self.rbuf = bytearray(leftover)
        self.send_lock = threading.Lock()
        self.state = threading.Condition()
        self.comp = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARY)
        self.decomp = zlib.decompressobj(zdict=DICTIONARY)
        self.next_id = 1
        self.streams = {}
        self.window_updates = window_updates
        self.respect_window = respect_window
        self.initial_send_window = DEFAULT_WINDOW
        self.recv_window = initial_window or DEFAULT_WINDOW
        self.goaway = None
        self.pongs = {}
        self.next_ping = 1
        self.closed = False
        self.error = None
        self.frames_seen = {}
        self.resume_at = 0.0
        self.sock.settimeout(None)
        if initial_window:
            # one entry: flags(8) id(24), value(32)
            self.send_control(SETTINGS, 0, struct.pack(">III", 1, SETTINGS_INITIAL_WINDOW_SIZE, initial_window))
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()

    # -- sending

    def _send(self, frame):
        with self.send_lock:
            self.sock.sendall(frame)

    def send_control(self, ftype, flags, data):
        self._send(struct.pack(">HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(data)) + data)

    def send_data(self, sid, data, flags=0):
        self._send(struct.pack(">II", sid & 0x7FFFFFFF, (flags << 24) | len(data)) + data)

    def compress(self, headers):
        # One compression context for the connection: blocks must go out in the order they were compressed.
        return self.comp.compress(encode_headers(headers)) + self.comp.flush(zlib.Z_SYNC_FLUSH)

    def create_stream(self, headers, fin=False, priority=0):
        with self.send_lock:
            sid = self.next_id
            self.next_id += 2
            st = Stream(self, sid, dict(headers))
            self.streams[sid] = st
            block = self.compress(headers)
            body = struct.pack(">IIBB", sid, 0, (priority & 7) << 5, 0) + block
            self.sock.sendall(struct.pack(">HHI", 0x8000 | VERSION, SYN_STREAM,
                                          ((FLAG_FIN if fin else 0) << 24) | len(body)) + body)
        st.local_closed = fin
        return st

    def consumed(self, st, n):
        st.received += n
        if self.window_updates and not self.closed:
            try:
                self.send_control(WINDOW_UPDATE, 0, struct.pack(">II", st.id, n))
            except OSError:
                pass

    def wait_window(self, st, n, timeout=60):
        with self.state:
            if not self.state.wait_for(lambda: st.send_window >= n or self.closed, timeout):
                raise TimeoutError(f"stream {st.id}: no send window for {timeout}s")

    def ping(self, timeout=10):
        """Round-trip time of a PING (client ids are odd)."""
        with self.state:
            pid = self.next_ping
            self.next_ping += 2
        start = time.monotonic()
        self.send_control(PING, 0, struct.pack(">I", pid))
        with self.state:
            if not self.state.wait_for(lambda: pid in self.pongs or self.closed, timeout):
                raise TimeoutError("no PING reply")
        if pid not in self.pongs:
            raise ConnectionError("closed before the PING reply")
        return time.monotonic() - start

    def pause_reading(self, seconds):
        """Stop reading the socket for `seconds` (the server's writes back up into TCP)."""
        self.resume_at = time.monotonic() + seconds

    def close(self):
        """GOAWAY, then close the socket."""
        if self.closed:
            return
        try:
            self.send_control(GOAWAY, 0, struct.pack(">II", 0, 0))
        except OSError:
            pass
        self.abort()

    def abort(self, reset=False):
        """Close the socket without a word (a client that goes away); with `reset`, send an RST at once."""
        self.closed = True
        if reset:
            # The RST goes out when the last user of the socket lets go: wake the reader first.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.shutdown(socket.SHUT_RD)
            self.reader.join(5)
        else:
            try:
                self.sock.shutdown(2)
            except OSError:
                pass
        self.sock.close()

    # -- receiving

    def _recv_exact(self, n):
        while len(self.rbuf) < n:
            wait = self.resume_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
                continue
            chunk = self.sock.recv(256 * 1024)
            if not chunk:
                raise EOFError
            self.rbuf += chunk
        data = bytes(self.rbuf[:n])
        del self.rbuf[:n]
        return data

    def _read_loop(self):
        try:
            while True:
                head = self._recv_exact(8)
                word, fl = struct.unpack(">II", head)
                flags, length = fl >> 24, fl & 0xFFFFFF
                data = self._recv_exact(length)
                if word & 0x80000000:
                    version, ftype = (word >> 16) & 0x7FFF, word & 0xFFFF
                    if version != VERSION:
                        raise ProtocolError(f"control frame of version {version}")
                    self.frames_seen[ftype] = self.frames_seen.get(ftype, 0) + 1
                    self._control(ftype, flags, data)
                else:
                    self.frames_seen["data"] = self.frames_seen.get("data", 0) + 1
                    self._data(word & 0x7FFFFFFF, flags, data)
        except (EOFError, OSError):
            pass
        except Exception as e:  # noqa: BLE001 - kept for the test to see
            self.error = e
        finally:
            self.closed = True
            for st in list(self.streams.values()):
                if not st.remote_closed:
                    st.remote_closed = True
                    st.chunks.put(b"")
            with self.state:
                self.state.notify_all()

    def _data(self, sid, flags, data):
        st = self.streams.get(sid)
        if st is None:
            raise ProtocolError(f"DATA for unknown stream {sid}")
        if st.remote_closed:
            raise ProtocolError(f"DATA on stream {sid} after its FIN")
        if data:
            st.chunks.put(data)
        if flags & FLAG_FIN:
            st.remote_closed = True
            st.chunks.put(b"")

    def _control(self, ftype, flags, data):
        if ftype == SYN_REPLY:
            (sid,) = struct.unpack_from(">I", data)
            st = self.streams[sid & 0x7FFFFFFF]
            st.reply = decode_headers(self.decomp.decompress(data[4:]))
            if flags & FLAG_FIN:
                st.remote_closed = True
                st.chunks.put(b"")
        elif ftype == HEADERS:
            (sid,) = struct.unpack_from(">I", data)
            st = self.streams[sid & 0x7FFFFFFF]
            st.extra_headers.update(decode_headers(self.decomp.decompress(data[4:])))
        elif ftype == SYN_STREAM:
            (sid,) = struct.unpack_from(">I", data)
            self.decomp.decompress(data[10:])  # keep the decompression context in step
            self.send_control(RST_STREAM, 0, struct.pack(">II", sid & 0x7FFFFFFF, RST_REFUSED_STREAM))
        elif ftype == RST_STREAM:
            sid, status = struct.unpack(">II", data)
            st = self.streams.get(sid & 0x7FFFFFFF)
            if st and not st.remote_closed:
                st.reset_status = status
                st.remote_closed = True
                st.chunks.put(b"")
        elif ftype == SETTINGS:
            (n,) = struct.unpack_from(">I", data)
            for i in range(n):
                fid, value = struct.unpack_from(">II", data, 4 + 8 * i)
                if fid & 0xFFFFFF == SETTINGS_INITIAL_WINDOW_SIZE:
                    self.initial_send_window = value
        elif ftype == PING:
            (pid,) = struct.unpack(">I", data)
            if pid % 2 == 0:
                self.send_control(PING, 0, data)  # the server's: echo it
            else:
                with self.state:
                    self.pongs[pid] = time.monotonic()
                    self.state.notify_all()
        elif ftype == GOAWAY:
            self.goaway = struct.unpack(">II", data[:8])
        elif ftype == WINDOW_UPDATE:
            sid, delta = struct.unpack(">II", data)
            st = self.streams.get(sid & 0x7FFFFFFF)
            if st:
                with self.state:
                    st.send_window += delta & 0x7FFFFFFF
                    self.state.notify_all()
        # anything else is ignored, as the draft says


def connect(url, protocols, method="POST", timeout=30, **kw):
    """Upgrade to SPDY/3.1 offering the given X-Stream-Protocol-Version values; returns (Connection, protocol)."""
    headers = [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1")]
    headers += [("X-Stream-Protocol-Version", p) for p in protocols]
    sock, resp, rest = httpupgrade.upgrade(url, method, headers, timeout)
    if resp.get("upgrade", "").lower() != "spdy/3.1":
        sock.close()
        raise ProtocolError(f"101 without Upgrade: SPDY/3.1: {resp.headers}")
    chosen = resp.get("x-stream-protocol-version", "")
    if protocols and chosen not in protocols:
        sock.close()
        raise ProtocolError(f"server chose {chosen!r}, not one of {protocols}")
    return Connection(sock, rest, **kw), chosen
