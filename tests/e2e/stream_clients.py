# SPDX-License-Identifier: Apache-2.0
"""Kubernetes' streaming protocols over the test clients (spdy_client.py,
ws_client.py), as kubectl / client-go and crictl speak them:

remotecommand (exec, attach), subprotocols v4.channel.k8s.io and
v5.channel.k8s.io:
- SPDY: one stream per channel, created by the client in the order error,
  stdin (if wanted), stdout, stderr (if wanted and no tty), resize (if tty),
  each with the header `streamType`; the client waits for each SYN_REPLY.
  stdin ends with a FIN (the same in v4 and v5); a resize is the JSON
  {"Width":W,"Height":H} on the resize stream.  The server writes the exit as
  a metav1.Status JSON on the error stream and ends every stream with FIN.
- WebSocket: one message per write, its first byte the channel (0 stdin,
  1 stdout, 2 stderr, 3 error, 4 resize); in the base64 variants a text
  message, the channel as an ASCII digit and the data base64-encoded.  v5
  adds the close signal: channel 255 with the closed channel's number (the
  client's way to end stdin).  The server sends an empty message on the
  lowest writable channel when it is ready, and closes the connection when
  done.
- The exit code: Status "Success" is 0; "Failure" with reason
  NonZeroExitCode carries it in details.causes[reason=ExitCode].message.

portforward:
- SPDY (portforward.k8s.io): per connection an `error` stream (the client
  half-closes it at once) and a `data` stream, headers `streamType`, `port`
  and `requestID` (the same for both).
- WebSocket (v4.channel.k8s.io / v4.base64.channel.k8s.io, ports in
  `?port=N` query parameters): channel 2*i is port i's data and 2*i+1 its
  error; the first message on each is the port, 2 bytes little-endian.
"""

import base64
import json
import queue
import threading
import time

import spdy_client
import ws_client

V4, V5 = "v4.channel.k8s.io", "v5.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
PORTFORWARD = "portforward.k8s.io"
CH_STDIN, CH_STDOUT, CH_STDERR, CH_ERROR, CH_RESIZE, CH_CLOSE = 0, 1, 2, 3, 4, 255
CHANNEL_NAMES = {"stdin": CH_STDIN, "stdout": CH_STDOUT, "stderr": CH_STDERR, "error": CH_ERROR,
                 "resize": CH_RESIZE}


def exit_code_of(status):
    """The exit code from the error stream's bytes: 0 for an empty stream or Success; None if not an exit."""
    if not status:
        return 0
    st = json.loads(status)
    if st.get("status") == "Success":
        return 0
    if st.get("reason") == "NonZeroExitCode":
        for cause in st.get("details", {}).get("causes", []):
            if cause.get("reason") == "ExitCode":
                return int(cause["message"])
    return None


class Result:
    def __init__(self, stdout, stderr, error, protocol):
        self.stdout, self.stderr, self.error, self.protocol = stdout, stderr, error, protocol
        self.exit_code = exit_code_of(error)

    def __repr__(self):
        return (f"Result(exit={self.exit_code}, stdout={self.stdout[:200]!r}, stderr={self.stderr[:200]!r}, "
                f"error={self.error[:300]!r}, protocol={self.protocol})")


class Session:
    """An exec or attach: write stdin, resize, read each output channel, wait for the end."""

    protocol = ""

    def write_stdin(self, data):
        raise NotImplementedError

    def close_stdin(self):
        raise NotImplementedError

    def resize(self, width, height):
        raise NotImplementedError

    def read(self, channel, timeout=30):
        """Some bytes of "stdout"/"stderr"/"error"; b"" at its end."""
        raise NotImplementedError

    def abort(self, reset=False):
        """Go away without a word: close the TCP connection (FIN), or reset it (RST) when `reset`."""
        raise NotImplementedError

    def socket(self):
        """The TCP socket under the session (to watch its kernel queues)."""
        raise NotImplementedError

    def pause_reading(self, seconds):
        raise NotImplementedError

    def read_until(self, channel, needle, timeout=30):
        out = bytearray()
        deadline = time.monotonic() + timeout
        while needle not in out:
            data = self.read(channel, timeout=max(0.1, deadline - time.monotonic()))
            if not data:
                raise EOFError(f"{channel} ended before {needle!r}: {bytes(out)[-300:]!r}")
            out += data
        return bytes(out)

    def read_all(self, channel, timeout=60):
        out = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            data = self.read(channel, timeout=max(0.1, deadline - time.monotonic()))
            if not data:
                return bytes(out)
            out += data

    def wait(self, timeout=60):
        """Read stdout and stderr to their ends (concurrently), then the error stream: the Result."""
        outs = {}

        def drain(ch):
            outs[ch] = self.read_all(ch, timeout)

        threads = [threading.Thread(target=drain, args=(ch,), daemon=True) for ch in self.outputs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 5)
        for ch in self.outputs:
            if ch not in outs:
                raise TimeoutError(f"{ch} did not end in {timeout}s")
        error = self.read_all("error", timeout)
        self.finish()
        return Result(outs.get("stdout", b""), outs.get("stderr", b""), error, self.protocol)

    def finish(self):
        pass


class SpdySession(Session):
    def __init__(self, url, protocol=V4, stdin=False, stdout=True, stderr=True, tty=False, **kw):
        self.conn, self.protocol = spdy_client.connect(url, [protocol], **kw)
        self.streams = {}
        self.outputs = [n for n, want in (("stdout", stdout), ("stderr", stderr and not tty)) if want]
        wanted = [("error", True), ("stdin", stdin), ("stdout", stdout), ("stderr", stderr and not tty),
                  ("resize", tty)]
        for name, want in wanted:
            if want:
                st = self.conn.create_stream({"streamType": name})
                wait_for_reply(self.conn, st)
                self.streams[name] = st

    def write_stdin(self, data):
        self.streams["stdin"].write(data)

    def close_stdin(self):
        self.streams["stdin"].close()

    def resize(self, width, height):
        self.streams["resize"].write(json.dumps({"Width": width, "Height": height}).encode() + b"\n")

    def read(self, channel, timeout=30):
        return self.streams[channel].read(timeout)

    def abort(self, reset=False):
        self.conn.abort(reset)

    def socket(self):
        return self.conn.sock

    def pause_reading(self, seconds):
        self.conn.pause_reading(seconds)

    def finish(self):
        self.conn.close()


def wait_for_reply(conn, st, timeout=30):
    """client-go waits for each stream's SYN_REPLY before it creates the next one."""
    deadline = time.monotonic() + timeout
    while st.reply is None:
        if conn.closed or time.monotonic() > deadline:
            raise TimeoutError(f"no SYN_REPLY for stream {st.id} {st.headers} (closed={conn.closed}, "
                               f"error={conn.error}, reset={st.reset_status})")
        time.sleep(0.005)


class WsSession(Session):
    def __init__(self, url, protocol=V4, stdin=False, stdout=True, stderr=True, tty=False, fragments=1,
                 timeout=30):
        self.ws = ws_client.connect(url, [protocol], timeout)
        self.protocol = self.ws.protocol
        self.base64 = "base64" in self.protocol
        self.fragments = fragments
        self.outputs = [n for n, want in (("stdout", stdout), ("stderr", stderr and not tty)) if want]
        self.queues = {ch: queue.Queue() for ch in range(256)}
        self.pending = {}
        self.ended = set()
        self.reader = threading.Thread(target=self._demux, daemon=True)
        self.reader.start()

    def _demux(self):
        try:
            while True:
                op, msg = self.ws.recv(timeout=None)
                if op == ws_client.CLOSE:
                    break
                if not msg:
                    continue
                if self.base64:
                    if op != ws_client.TEXT:
                        raise ws_client.ProtocolError("binary message in a base64 protocol")
                    ch, data = msg[0] - ord("0"), base64.b64decode(msg[1:])
                else:
                    if op != ws_client.BINARY:
                        raise ws_client.ProtocolError("text message in a binary protocol")
                    ch, data = msg[0], msg[1:]
                if ch == CH_CLOSE and data:
                    self.queues[data[0]].put(b"")  # v5: the server closed that channel
                elif data:
                    self.queues[ch].put(data)
        except (OSError, EOFError):
            pass
        finally:
            for q in self.queues.values():
                q.put(b"")

    def send(self, ch, data):
        if self.base64:
            self.ws.send((chr(ord("0") + ch)).encode() + base64.b64encode(data), ws_client.TEXT, self.fragments)
        else:
            self.ws.send(bytes([ch]) + bytes(data), ws_client.BINARY, self.fragments)

    def write_stdin(self, data):
        view = memoryview(bytes(data))
        while len(view):
            self.send(CH_STDIN, view[:64 * 1024])
            view = view[64 * 1024:]

    def close_stdin(self):
        if not self.protocol.startswith("v5."):
            raise NotImplementedError(f"{self.protocol} has no way to close stdin")
        self.ws.send(bytes([CH_CLOSE, CH_STDIN]))

    def resize(self, width, height):
        self.send(CH_RESIZE, json.dumps({"Width": width, "Height": height}).encode())

    def read(self, channel, timeout=30):
        ch = CHANNEL_NAMES[channel]
        if ch in self.ended:
            return b""
        if self.pending.get(ch):
            return self.pending.pop(ch)
        try:
            data = self.queues[ch].get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"channel {channel}: nothing for {timeout}s") from None
        if not data:
            self.ended.add(ch)
        return data

    def abort(self, reset=False):
        self.ws.abort(reset, self.reader)

    def socket(self):
        return self.ws.sock

    def pause_reading(self, seconds):
        self.ws.pause_reading(seconds)

    def finish(self):
        self.ws.close()
        self.reader.join(5)
        self.ws.abort()


def open_session(transport, url, **kw):
    return (SpdySession if transport == "spdy" else WsSession)(url, **kw)


def run(transport, url, protocol=V4, stdin=None, tty=False, stdout=True, stderr=True, resize=None, timeout=60,
        **kw):
    """A whole exec: stdin (bytes, written by a thread, then closed), an optional first resize; the Result."""
    s = open_session(transport, url, protocol=protocol, stdin=stdin is not None, stdout=stdout, stderr=stderr,
                     tty=tty, **kw)
    if resize:
        s.resize(*resize)
    if stdin is not None:
        def feed():
            s.write_stdin(stdin)
            s.close_stdin()
        threading.Thread(target=feed, daemon=True).start()
    return s.wait(timeout)


# --------------------------------------------------------------------------
# port forwarding

class SpdyPortForward:
    def __init__(self, url, **kw):
        self.conn, self.protocol = spdy_client.connect(url, [PORTFORWARD], **kw)
        self.next_request = 0

    def open(self, port):
        """(data stream, error stream) of one forwarded connection."""
        rid = str(self.next_request)
        self.next_request += 1
        err = self.conn.create_stream({"streamType": "error", "port": str(port), "requestID": rid})
        wait_for_reply(self.conn, err)
        err.close()  # kubectl only reads it
        data = self.conn.create_stream({"streamType": "data", "port": str(port), "requestID": rid})
        wait_for_reply(self.conn, data)
        return data, err

    def request(self, port, payload, timeout=30):
        """Send payload on a new connection, half-close, read the answer to its end: (data, error text)."""
        data, err = self.open(port)
        data.write(payload)
        data.close()
        return data.read_all(timeout), err.read_all(timeout)

    def close(self):
        self.conn.close()


class WsPortForward:
    def __init__(self, url, ports, protocol="v4.channel.k8s.io", timeout=30):
        sep = "&" if "?" in url else "?"
        self.ports = list(ports)
        self.session = WsSession(url + sep + "&".join(f"port={p}" for p in self.ports), protocol=protocol,
                                 timeout=timeout)
        # the demultiplexer keeps channels by number; names are for exec only
        self.first = {}

    def _read_ch(self, ch, timeout):
        s = self.session
        if ch in s.ended:
            return b""
        try:
            data = s.queues[ch].get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"channel {ch}: nothing for {timeout}s") from None
        if not data:
            s.ended.add(ch)
        return data

    def port_prefix(self, i, timeout=30):
        """The 2-byte little-endian port the server sends first on data channel 2i and error channel 2i+1."""
        out = []
        for ch in (2 * i, 2 * i + 1):
            buf = b""
            while len(buf) < 2:
                data = self._read_ch(ch, timeout)
                if not data:
                    raise EOFError(f"channel {ch} ended before its port")
                buf += data
            out.append(int.from_bytes(buf[:2], "little"))
            if buf[2:]:
                self.session.queues[ch].put(buf[2:])  # (not expected: data follows in its own messages)
        return out

    def send(self, i, payload):
        self.session.send(2 * i, payload)

    def read_all(self, i, timeout=30):
        out = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            data = self._read_ch(2 * i, max(0.1, deadline - time.monotonic()))
            if not data:
                return bytes(out)
            out += data

    def error_text(self, i, timeout=5):
        try:
            return self._read_ch(2 * i + 1, timeout)
        except TimeoutError:
            return b""

    def close(self):
        self.session.finish()
