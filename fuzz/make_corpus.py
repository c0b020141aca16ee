#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Write the seed corpora of the fuzz targets into fuzz/corpus/<target>/.

Seeds are the inputs the unit tests use (string literals taken from their
sources, tests/unit/image/*.json, tests/unit/config/*.yaml, the layers of
tests/unit/unpack/gen_fixtures.py) plus a few
protocol examples built here (SPDY frames compressed with the dictionary
read from core/streaming/stream_spdy.c, WebSocket frames).  Every seed is written as
seed-<sha1 prefix>; files named regress-* (inputs that once found a bug) are
never touched.  Run it again after changing the unit tests:

    fuzz/make_corpus.py [--clean]      # --clean: remove the old seed-* first
"""
import hashlib
import json
import pathlib
import re
import struct
import sys
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
MAX_SEED = 16384  # no giant blobs


def c_literals(path):
    """The string literals of a C file, adjacent ones joined, escapes decoded."""
    text = path.read_text()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)
    out = []
    for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"(?:\s*"(?:[^"\\\n]|\\.)*")*', text):
        parts = re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(0))
        raw = "".join(parts)
        try:
            out.append(raw.encode("latin-1").decode("unicode_escape").encode("latin-1"))
        except (UnicodeDecodeError, UnicodeEncodeError):
            continue
    return out


def is_json_object(data):
    try:
        return isinstance(json.loads(data), dict)
    except ValueError:
        return False


# ---- SPDY ------------------------------------------------------------------


def spdy_dictionary():
    """The SPDY/3 dictionary, built as core/streaming/stream_spdy.c builds it from its own tables."""
    src = (ROOT / "core" / "streaming" / "stream_spdy.c").read_text()
    words_src = re.search(r"dict_words\[\] = \{(.*?)NULL\};", src, re.S).group(1)
    tail_src = re.search(r"dict_tail\[\] =(.*?);", src, re.S).group(1)
    words = [w.encode() for w in re.findall(r'"([^"]*)"', words_src)]
    d = b"".join(struct.pack(">I", len(w)) + w for w in words)
    d += "".join(re.findall(r'"([^"]*)"', tail_src)).encode()
    assert zlib.adler32(d) == 0xE3C6A7C2, "the dictionary read from stream_spdy.c is not SPDY/3's"
    return d


def spdy_block(comp, headers):
    raw = struct.pack(">I", len(headers))
    for k, v in headers:
        raw += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
    return comp.compress(raw) + comp.flush(zlib.Z_SYNC_FLUSH)


def spdy_control(ftype, payload, flags=0):
    return struct.pack(">HHI", 0x8003, ftype, flags << 24 | len(payload)) + payload


def spdy_seeds():
    zdict = spdy_dictionary()
    comp = zlib.compressobj(zdict=zdict)
    exec_hdrs = [(b"streamtype", b"error"), (b"x-stream-protocol-version", b"v4.channel.k8s.io")]
    stdin_hdrs = [(b"streamtype", b"stdin"), (b"port", b"8080"), (b"requestid", b"0")]
    conn = spdy_control(1, struct.pack(">IIH", 1, 0, 0) + spdy_block(comp, exec_hdrs))
    conn += spdy_control(1, struct.pack(">IIH", 3, 0, 0) + spdy_block(comp, stdin_hdrs), flags=1)
    conn += struct.pack(">II", 3, 1 << 24 | 5) + b"hello"  # DATA with FIN
    conn += spdy_control(8, struct.pack(">I", 3) + spdy_block(comp, [(b"a", b"b\0c")]))
    conn += spdy_control(6, struct.pack(">I", 1))  # PING
    conn += spdy_control(9, struct.pack(">II", 3, 100))  # WINDOW_UPDATE
    conn += spdy_control(4, struct.pack(">IBBHI", 1, 0, 0, 7, 65536))  # SETTINGS, one entry
    conn += spdy_control(3, struct.pack(">II", 1, 5))  # RST_STREAM
    conn += spdy_control(7, struct.pack(">II", 3, 0))  # GOAWAY
    one = spdy_control(1, struct.pack(">IIH", 1, 0, 0) + spdy_block(zlib.compressobj(zdict=zdict), exec_hdrs))
    reply = spdy_control(2, struct.pack(">I", 1) + spdy_block(zlib.compressobj(zdict=zdict), [(b"status", b"200")]))
    return [conn, one, reply, struct.pack(">II", 1, 3) + b"abc"]


# ---- WebSocket ------------------------------------------------------------


def ws_frame(opcode, payload, fin=True, mask=b"\x01\x02\x03\x04"):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def ws_seeds():
    msgs = ws_frame(1, b"hel", fin=False) + ws_frame(9, b"p") + ws_frame(0, b"lo") + ws_frame(8, b"\x03\xe8")
    b64 = ws_frame(1, b"0" + b"Zm9vYmFy") + ws_frame(1, b"4" + b"eyJXaWR0aCI6ODB9")
    mid = ws_frame(2, b"\x00" + b"x" * 200)
    big = ws_frame(2, b"\x01" + b"y" * 70000)
    return [
        b"\x01\x00" + msgs,  # require a mask, all at once
        b"\x01\x03" + msgs,  # ... in 3-byte chunks
        b"\x01\x00" + b64,
        b"\x01\x07" + mid,
        b"\x00\x00" + ws_frame(2, b"\x01out", mask=None),
        b"\x01\x00" + big[:MAX_SEED - 2],  # incomplete: the rest never comes
    ]


# ---- the others -------------------------------------------------------------

HTTP = [
    b"GET /exec/abc?command=ls&command=-l&input=1&output=1&tty=0 HTTP/1.1\r\nHost: 127.0.0.1:10010\r\n"
    b"Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
    b"X-Stream-Protocol-Version: v3.channel.k8s.io, v2.channel.k8s.io\r\n\r\n",
    b"GET /attach/tok HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Protocol: v5.channel.k8s.io, base64.channel.k8s.io\r\n\r\n",
    b"GET /portforward/tok?port=80&port=8080 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /exec/x%20y?x=%41+b HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
]

CHALLENGES = [
    b'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
    b'scope="repository:library/busybox:pull"',
    b'Basic realm="cleat-test"',
    b'Bearer realm="https://127.0.0.1:5001/auth", service=registry, error="insufficient_scope"',
    b'bearer realm=https://x/t,scope="a\\"b"',
]

TOKENS = [
    b'{"token":"eyJhbGciOiJFUzI1NiJ9.e30.sig","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"}',
    b'{"access_token":"abc","refresh_token":"r","expires_in":60}',
    b'{"token":"","access_token":"x"}',
    b'{"token":"a\\r\\nX-Evil: 1"}',
]

CNI = [
    b'{"cniVersion":"1.0.0","interfaces":[{"name":"cni0","mac":"00:11:22:33:44:55"},'
    b'{"name":"veth1","mac":"66:77:88:99:aa:bb"},{"name":"eth0","mac":"02:42:ac:11:00:02","sandbox":"/var/run/netns/x"}],'
    b'"ips":[{"interface":2,"address":"10.22.0.5/16","gateway":"10.22.0.1"},'
    b'{"interface":2,"address":"fd00::5/64","gateway":"fd00::1"}],'
    b'"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}',
    b'{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.2.3/24"}]}',
    b'{"cniVersion":"0.2.0","ip4":{"ip":"10.1.2.3/24","gateway":"10.1.2.1","routes":[{"dst":"0.0.0.0/0"}]},'
    b'"ip6":{"ip":"fd00::3/64"}}',
]

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
OCI = [
    json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D1, "size": 500,
         "annotations": {"org.opencontainers.image.ref.name": "latest"}},
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": D2, "size": 300,
         "urls": ["https://example.com/x"], "annotations": {"org.opencontainers.image.ref.name": "v1.0"}}]}).encode(),
    json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "0" * 64,
         "size": 1}]}).encode(),
    b'{"imageLayoutVersion":"1.0.0"}',
]


# ---- tar layers -------------------------------------------------------------


def tar_seeds():
    """The unit tests' hostile and replace layers (tests/unit/unpack/gen_fixtures.py), and more kinds of entries."""
    sys.path.insert(0, str(ROOT / "tests" / "unit" / "unpack"))
    import gen_fixtures as g
    import tarfile
    d, f, l, s = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE
    layers = list(g.hostile_cases().values()) + [g.replace_entries()[:21]]
    layers += [
        # whiteouts: a file, an opaque directory, aufs metadata, and a whiteout through a symlink
        [(g.entry("etc/", d), None), (g.entry("etc/.wh.passwd"), b""), (g.entry("var/", d), None),
         (g.entry("var/.wh..wh..opq"), b""), (g.entry(".wh..wh.plnk/", d, 0o700), None),
         (g.entry(".wh..wh.aufs"), b""), (g.entry("l", s, linkname="/etc"), None), (g.entry("l/.wh.x"), b"")],
        # device nodes, a fifo, setuid and sticky modes, owners, times
        [(g.entry("dev/", d), None), (g.entry("dev/sda", tarfile.BLKTYPE, 0o660, 0, 6, dev=(8, 0)), None),
         (g.entry("dev/null", tarfile.CHRTYPE, 0o666, dev=(1, 3)), None),
         (g.entry("run/fifo", tarfile.FIFOTYPE, 0o600), None), (g.entry("bin/su", f, 0o4755, mtime=1), b"su"),
         (g.entry("tmp/", d, 0o1777, 1000, 1000), None)],
        # pax: a path and a link target longer than ustar allows, xattrs, overlay's own ones (dropped)
        [(g.entry("long/" + "n" * 200 + "/file"), b"x"),
         (g.entry("long/link", s, linkname="../" * 60 + "etc/shadow"), None),
         (g.entry("cap", f, 0o755, pax={"SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
                                        "SCHILY.xattr.user.x": "y",
                                        "SCHILY.xattr.trusted.overlay.opaque": "y"}), b"x")],
        # hardlinks: to an earlier file, to itself, to a symlink, through a symlinked parent, to the root
        [(g.entry("a"), b"a"), (g.entry("b", l, linkname="a"), None), (g.entry("a", l, linkname="a"), None),
         (g.entry("sl", s, linkname="/"), None), (g.entry("c", l, linkname="sl"), None),
         (g.entry("dir", s, linkname=".."), None), (g.entry("d", l, linkname="dir/a"), None),
         (g.entry("e", l, linkname="./"), None)],
        # replacing: a directory by a file by a symlink, and a deep chain of new parents
        [(g.entry("x/y/", d), None), (g.entry("x"), b"file"), (g.entry("x", s, linkname="/"), None),
         (g.entry("x/z"), b"through the link, inside the root"), (g.entry("p/" * 40 + "q"), b"deep")],
    ]
    out = [g.tar_bytes(entries) for entries in layers]
    out.append(g.tar_bytes(g.hostile_cases()["dotdot"], tarfile.GNU_FORMAT))  # GNU longname/longlink records
    out.append(g.tar_bytes([(g.entry("gnu/" + "g" * 150), b"g")], tarfile.GNU_FORMAT))
    out.append(g.tar_bytes([(g.entry("ustar/old"), b"u")], tarfile.USTAR_FORMAT))
    out.append(out[0][:700])  # cut inside the data
    out.append(b"\0" * 1024)  # just the end marker
    # tarfile pads to 10 KiB records: keep one end marker, the rest is zeros that only slow fuzzing down.
    trimmed = []
    for t in out:
        end = len(t)
        while end >= 512 and t[end - 512:end] == bytes(512):
            end -= 512
        trimmed.append(t[:end] + bytes(1024) if end < len(t) else t)
    return trimmed


# Signature policies, payloads and cosign signature manifests as the tools write them.
TRUST = [
    b'{"default": [{"type": "insecureAcceptAnything"}]}',
    b'{"default": [{"type": "reject"}], "transports": {"docker": {"reg.example:5000/team": [{"type": '
    b'"signedBy", "keyType": "GPGKeys", "keyPath": "/nonexistent.gpg", "signedIdentity": {"type": '
    b'"remapIdentity", "prefix": "reg.example:5000/team", "signedPrefix": "vendor.example"}}], '
    b'"*.example.com": [{"type": "insecureAcceptAnything"}]}, "oci": {"/srv": [{"type": "reject"}]}}}',
    b'{"critical":{"identity":{"docker-reference":"reg.example/app"},"image":{"docker-manifest-digest":'
    b'"sha256:' + b"a" * 64 + b'"},"type":"cosign container image signature"},"optional":null}',
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":'
    b'"application/vnd.oci.image.config.v1+json","digest":"sha256:' + b"b" * 64 + b'","size":2},"layers":'
    b'[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:' + b"c" * 64 +
    b'","size":200,"annotations":{"dev.cosignproject.cosign/signature":"MEUCIQ=="}}]}',
]


def pb_varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def pb_bytes(num, data):
    return pb_varint(num << 3 | 2) + pb_varint(len(data)) + data


def pb_uint(num, value):
    return pb_varint(num << 3) + pb_varint(value)


def ttrpc_frame(stream, ftype, data, flags=0):
    return struct.pack(">IIBB", len(data), stream, ftype, flags) + data


def ttrpc_seeds():
    """Events/Forward calls as a shim makes them (plugins/runtime-kata/proto/*.proto), and their variants."""
    ts = pb_uint(1, 1700000000) + pb_uint(2, 5)
    exit_ev = pb_bytes(1, b"c1") + pb_bytes(2, b"c1") + pb_uint(3, 77) + pb_uint(4, 137) + pb_bytes(5, ts)
    event = pb_bytes(1, b"containerd.events.TaskExit") + pb_bytes(2, exit_ev)
    env = pb_bytes(1, ts) + pb_bytes(2, b"k8s.io") + pb_bytes(3, b"/tasks/exit") + pb_bytes(4, event)
    service = pb_bytes(1, b"containerd.services.events.ttrpc.v1.Events")
    forward = service + pb_bytes(2, b"Forward") + pb_bytes(3, pb_bytes(1, env)) + pb_uint(4, 5000000000)
    other = service + pb_bytes(2, b"Subscribe")
    one = ttrpc_frame(1, 1, forward)
    yield one
    yield one + ttrpc_frame(3, 1, other) + ttrpc_frame(5, 3, b"data", 1) + ttrpc_frame(4, 1, forward)
    yield one + ttrpc_frame(3, 1, pb_bytes(3, b"\xff")) + ttrpc_frame(5, 1, b"\x0a\x50x") + one[:15]
    yield one + struct.pack(">IIBB", (4 << 20) + 1, 3, 1, 0) + one


def seeds():
    tests = ROOT / "tests" / "unit"
    lits = {name: c_literals(tests / f"test_{name}.c") for name in ("image_ref", "config", "net_cni", "image_oci",
                                                                    "stream", "trust_policy", "cdi")}
    yield "http_request", HTTP + [s for s in lits["stream"] if s.endswith(b"\r\n\r\n")]
    yield "spdy_frames", spdy_seeds()
    yield "ws_frames", ws_seeds()
    yield "image_ref", [s for s in lits["image_ref"] if 0 < len(s) < 400 and b" " not in s]
    yield "image_manifest", [p.read_bytes() for p in sorted((tests / "image").glob("*.json"))]
    yield "www_authenticate", CHALLENGES
    yield "registry_token", TOKENS
    yield "cni_result", CNI + [s for s in lits["net_cni"] if is_json_object(s) and b'"ip' in s]
    yield "oci_index", OCI + [s for s in lits["image_oci"] if b"manifests" in s and b"%" not in s]
    yaml = [p.read_bytes() for p in sorted((tests / "config").glob("*.yaml"))]
    yaml.append((ROOT / "config" / "cleat.yaml.in").read_bytes())
    yield "config_yaml", yaml + [s for s in lits["config"] if b":" in s and b"\n" in s and b"%" not in s]
    yield "unpack_tar", tar_seeds()
    yield "ttrpc_events", ttrpc_seeds()
    yield "trust_policy", TRUST + [s for s in lits["trust_policy"] if s.startswith(b"{") and b"%" not in s]
    yield "cdi_spec", [s for s in lits["cdi"] if b"cdiVersion" in s and b"%" not in s]


def main():
    clean = "--clean" in sys.argv[1:]
    for name, items in seeds():
        d = CORPUS / name
        d.mkdir(parents=True, exist_ok=True)
        if clean:
            for old in d.glob("seed-*"):
                old.unlink()
        n = 0
        for data in items:
            if not data or len(data) > MAX_SEED:
                continue
            (d / f"seed-{hashlib.sha1(data).hexdigest()[:16]}").write_bytes(data)
            n += 1
        print(f"{name}: {n} seeds")


if __name__ == "__main__":
    main()
