# SPDX-License-Identifier: Apache-2.0
"""Real registries for tests: Debian's docker-registry (distribution 2.8).

What this module gives:

- `Pki`: a throw-away CA, a server certificate for 127.0.0.1 and a client
  certificate, made with the openssl CLI.
- `Registry`: one `docker-registry serve` on 127.0.0.1 and a free port, storage
  in a directory (several registries may serve one storage directory), plain
  http or TLS, optionally requiring client certificates, anonymous or with
  htpasswd basic auth or with token auth.  Stopped by pid.
- `TokenServer`: a docker token server (the spec's GET and the OAuth2 POST)
  that signs real JWTs (RS256, openssl CLI, x5c header) which the real
  docker-registry verifies with `auth: token:`.
- `build_busybox_layout()`: an OCI image layout made by hand from
  busybox-static (/bin/busybox and a few applet links), and `push()` with
  skopeo.
- Test doubles, clearly fakes: `StallServer` (accepts connections and never
  answers), `QuirkyServer` (a /v2/ endpoint that ignores Range, refuses
  HEAD and sends no Docker-Content-Digest) and `RedirectServer` (redirects a blob to "storage" on
  another host name and records whether credentials followed).

Run as a script (`python3 registry_fixture.py serve`) it starts a set of them,
pushes the image, prints "key value" lines then "ready", and keeps them up
until its stdin closes (or says "quit"); "stats" prints the token server's
and the redirect server's counters.  Every process it started is then
stopped by pid and the temporary directory removed.  That is how
tests/unit/test_image_docker.c uses it.
"""

import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import oci_schema

REGISTRY_BIN = os.environ.get("DOCKER_REGISTRY", "/usr/bin/docker-registry")
BUSYBOX = os.environ.get("BUSYBOX", "/bin/busybox")
APPLETS = ("sh", "ls", "cat", "echo", "sleep", "true", "false", "env", "id")

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


# --------------------------------------------------------------------------
# certificates

class Pki:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        p = lambda name: os.path.join(directory, name)
        self.ca_cert, self.ca_key = p("ca.pem"), p("ca.key")
        self.server_cert, self.server_key = p("server.pem"), p("server.key")
        self.client_cert, self.client_key = p("client.pem"), p("client.key")
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
              "/CN=cleat test CA", "-keyout", self.ca_key, "-out", self.ca_cert])
        self._issue("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth\n")
        self._issue("client", "/CN=cleat test client", "extendedKeyUsage=clientAuth\n")

    def _issue(self, name, subject, extensions):
        key, csr = os.path.join(self.dir, name + ".key"), os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write(extensions)
        _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", key, "-out", csr])
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
              "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", os.path.join(self.dir, name + ".pem")])

    def cert_dir(self):
        """A directory in the layout skopeo's --dest-cert-dir wants (CA *.crt, client *.cert/*.key)."""
        d = os.path.join(self.dir, "certs.d")
        os.makedirs(d, exist_ok=True)
        shutil.copy(self.ca_cert, os.path.join(d, "ca.crt"))
        shutil.copy(self.client_cert, os.path.join(d, "client.cert"))
        shutil.copy(self.client_key, os.path.join(d, "client.key"))
        return d


# --------------------------------------------------------------------------
# the token server

def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues registry tokens: JWTs signed with RS256 by a key whose self-signed
    certificate is the registry's `rootcertbundle`, named in the x5c header."""

    service = "cleat-test"
    issuer = "cleat-fixture"

    def __init__(self, directory, username=None, password=None, identity_token=None, expires_in=300):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.key = os.path.join(directory, "token.key")
        self.cert = os.path.join(directory, "token.pem")
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
              "/CN=cleat token signer", "-keyout", self.key, "-out", self.cert])
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.username, self.password, self.identity_token = username, password, identity_token
        self.expires_in = expires_in
        self.issued = 0
        self.refused = 0
        self.lock = threading.Lock()
        self.port = None
        self.httpd = None

    @property
    def realm(self):
        return f"http://127.0.0.1:{self.port}/token"

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = (_b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing_input, check=True,
                             capture_output=True).stdout
        return signing_input.decode() + "." + _b64url(sig)

    def grant(self, subject, scopes):
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) == 3 and parts[0] == "repository":
                access.append({"type": "repository", "name": parts[1],
                               "actions": [a for a in parts[2].split(",") if a in ("pull", "push")]})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + self.expires_in,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        with self.lock:
            self.issued += 1
        return self.sign(claims)

    def start(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def refuse(self, why):
                with server.lock:
                    server.refused += 1
                self.answer(401, {"details": why})

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(url.query)
                if url.path != "/token" or q.get("service") != [server.service]:
                    return self.answer(400, {"details": "bad token request"})
                subject = "anonymous"
                authz = self.headers.get("Authorization", "")
                if server.username is not None:
                    expected = "Basic " + base64.b64encode(f"{server.username}:{server.password}".encode()).decode()
                    if authz != expected:
                        return self.refuse("incorrect username or password")
                    subject = server.username
                self.answer(200, {"token": server.grant(subject, q.get("scope", [])),
                                  "expires_in": server.expires_in,
                                  "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                if urllib.parse.urlparse(self.path).path != "/token" or form.get("service") != [server.service]:
                    return self.answer(400, {"error": "invalid_request"})
                if form.get("grant_type") != ["refresh_token"] or server.identity_token is None or \
                        form.get("refresh_token") != [server.identity_token]:
                    return self.refuse("invalid refresh token")
                self.answer(200, {"access_token": server.grant("oauth", form.get("scope", [])),
                                  "expires_in": server.expires_in, "refresh_token": server.identity_token})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


# --------------------------------------------------------------------------
# the registry

class Registry:
    """One docker-registry process."""

    def __init__(self, directory, storage, pki=None, client_certs=False, htpasswd=None, token=None):
        self.dir = directory
        self.storage = storage
        self.pki = pki
        self.client_certs = client_certs
        self.htpasswd = htpasswd  # (user, password)
        self.token = token  # a started TokenServer
        self.port = None
        self.proc = None
        os.makedirs(directory, exist_ok=True)

    @property
    def hostport(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"{'https' if self.pki else 'http'}://{self.hostport}"

    def _config(self):
        lines = ["version: 0.1",
                 "log: {level: error, accesslog: {disabled: true}}",
                 f"storage: {{filesystem: {{rootdirectory: {self.storage}}}, delete: {{enabled: true}},"
                 " maintenance: {uploadpurging: {enabled: false}}}",
                 "http:",
                 f"  addr: {self.hostport}",
                 "  secret: cleat-test-secret"]
        if self.pki:
            lines += ["  tls:", f"    certificate: {self.pki.server_cert}", f"    key: {self.pki.server_key}"]
            if self.client_certs:
                lines += [f"    clientcas: [{self.pki.ca_cert}]"]
        if self.htpasswd:
            path = os.path.join(self.dir, "htpasswd")
            out = _run(["htpasswd", "-Bbn", self.htpasswd[0], self.htpasswd[1]]).stdout
            with open(path, "w") as f:
                f.write(out)
            lines += ["auth:", f"  htpasswd: {{realm: cleat-test, path: {path}}}"]
        elif self.token:
            lines += ["auth:", "  token:", f"    realm: {self.token.realm}", f"    service: {self.token.service}",
                      f"    issuer: {self.token.issuer}", f"    rootcertbundle: {self.token.cert}"]
        path = os.path.join(self.dir, "config.yml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def _ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
        if self.client_certs:
            ctx.load_cert_chain(self.pki.client_cert, self.pki.client_key)
        return ctx

    def _answers(self):
        try:
            urllib.request.urlopen(self.url + "/v2/", timeout=2,
                                   context=self._ssl_context() if self.pki else None)
            return True
        except urllib.error.HTTPError:
            return True  # 401 is an answer
        except (urllib.error.URLError, OSError):
            return False

    def start(self, timeout=20):
        for _ in range(5):  # the port may be taken between free_port() and the bind
            self.port = free_port()
            self.log = open(os.path.join(self.dir, "registry.log"), "ab")
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", self._config()], stdout=self.log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            deadline = time.time() + timeout
            while time.time() < deadline and self.proc.poll() is None:
                if self._answers():
                    return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"docker-registry did not start; see {self.dir}/registry.log")

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            self.proc = None
            self.log.close()

    def push(self, layout, tag, repo, dest_tag=None, creds=None, fmt=None):
        """skopeo copy oci:LAYOUT:TAG docker://HOST/REPO:DEST_TAG; returns the pushed manifest digest."""
        digest_file = os.path.join(self.dir, "digest")
        args = ["skopeo", "copy", "--quiet", "--digestfile", digest_file]
        if fmt:
            args += ["--format", fmt]
        if self.pki:
            args += ["--dest-cert-dir", self.pki.cert_dir()]
        else:
            args += ["--dest-tls-verify=false"]
        if creds:
            args += ["--dest-creds", f"{creds[0]}:{creds[1]}"]
        args += [f"oci:{layout}:{tag}", f"docker://{self.hostport}/{repo}:{dest_tag or tag}"]
        _run(args, timeout=120)
        with open(digest_file) as f:
            return f.read().strip()


# --------------------------------------------------------------------------
# the image

def _deterministic(info):
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    return info


def build_busybox_layout(layout, tag="t"):
    """An OCI layout with one image, `tag`: /bin/busybox and applet links, in one gzip layer."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = _deterministic(tarfile.TarInfo("bin"))
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(d)
        with open(BUSYBOX, "rb") as f:
            data = f.read()
        bb = _deterministic(tarfile.TarInfo("bin/busybox"))
        bb.size, bb.mode = len(data), 0o755
        tar.addfile(bb, io.BytesIO(data))
        for applet in APPLETS:
            link = _deterministic(tarfile.TarInfo(f"bin/{applet}"))
            link.type, link.linkname, link.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(link)
    layer_tar = raw.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    config = json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer_tar)]},
        "history": [{"created_by": "cleat registry_fixture.py: busybox-static"}],
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": MT_OCI_LAYER_GZIP, "digest": sha256_digest(layer), "size": len(layer)}],
    }, sort_keys=True).encode()
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    for blob in (layer, config, manifest):
        with open(os.path.join(blobs, hashlib.sha256(blob).hexdigest()), "wb") as f:
            f.write(blob)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": MT_OCI_MANIFEST, "digest": sha256_digest(manifest), "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
    oci_schema.check_image_layout(layout)
    return {"manifest_digest": sha256_digest(manifest), "manifest_size": len(manifest),
            "manifest_media_type": MT_OCI_MANIFEST,
            "config_digest": sha256_digest(config), "config_size": len(config),
            "layer_digest": sha256_digest(layer), "layer_size": len(layer), "layer": layer, "manifest": manifest}


# --------------------------------------------------------------------------
# test doubles (fakes, not registries)

class StallServer:
    """FAKE: accepts TCP connections and never says a word (a stalled registry)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                return

    def stop(self):
        self.stopped = True
        self.sock.close()
        for c in self.conns:
            c.close()


class QuirkyServer:
    """FAKE: a minimal /v2/ endpoint with the quirks of some proxies and old
    registries: it ignores Range (always 200 with the whole blob), answers
    HEAD with 405, and serves the manifest without Docker-Content-Digest --
    as tag "t" with its media type, as tag "vague" as application/json."""

    def __init__(self, repo, digest, data, manifest):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, code, body=b"", headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):
                self.send(405)

            def do_GET(self):
                if self.path == f"/v2/{repo}/blobs/{digest}":
                    server.ranges.append(self.headers.get("Range"))
                    self.send(200, data, [("Docker-Content-Digest", digest)])
                elif self.path == f"/v2/{repo}/manifests/t":
                    self.send(200, manifest, [("Content-Type", MT_OCI_MANIFEST)])
                elif self.path == f"/v2/{repo}/manifests/vague":
                    self.send(200, manifest, [("Content-Type", "application/json")])
                else:
                    self.send(200 if self.path == "/v2/" else 404)

        self.ranges = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class RedirectServer:
    """FAKE: a /v2/ endpoint that redirects blob GETs to "blob storage" on another
    host name (localhost instead of 127.0.0.1, same port), which records whether
    an Authorization header reached it.  A client must follow the redirect and
    must not forward the registry's credentials to the other host."""

    def __init__(self, repo, digest, data):
        server = self
        self.auth_at_registry = 0
        self.auth_at_storage = 0
        self.storage_hits = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                host = self.headers.get("Host", "")
                authorized = self.headers.get("Authorization") is not None
                if host.startswith("127.0.0.1:") and self.path == f"/v2/{repo}/blobs/{digest}":
                    server.auth_at_registry += authorized
                    self.send_response(307)
                    self.send_header("Location", f"http://localhost:{server.port}/storage/{digest}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif host.startswith("localhost:") and self.path == f"/storage/{digest}":
                    server.auth_at_storage += authorized
                    server.storage_hits += 1
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------
# the set the C unit test uses

class Fixture:
    """All of the above, sharing one storage directory with the image pushed once."""

    USER, PASSWORD, IDENTITY_TOKEN = "cleat", "s3cret-pass", "cleat-identity-token"
    REPO, TAG = "test/busybox", "t"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cleat-registry-")
        self.storage = os.path.join(self.dir, "storage")
        self.stoppables = []
        self.info = {}

    def _add(self, thing):
        self.stoppables.append(thing)
        return thing

    def start(self):
        d = lambda name: os.path.join(self.dir, name)
        pki = Pki(d("pki"))
        layout = d("layout")
        image = build_busybox_layout(layout, self.TAG)
        token = self._add(TokenServer(d("token"), self.USER, self.PASSWORD, self.IDENTITY_TOKEN).start())
        regs = {
            "plain": Registry(d("plain"), self.storage),
            "tls": Registry(d("tls"), self.storage, pki=pki),
            "mtls": Registry(d("mtls"), self.storage, pki=pki, client_certs=True),
            "basic": Registry(d("basic"), self.storage, htpasswd=(self.USER, self.PASSWORD)),
            "token": Registry(d("token-registry"), self.storage, token=token),
        }
        threads = [threading.Thread(target=r.start) for r in regs.values()]
        for r in regs.values():
            self._add(r)
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name, r in regs.items():
            if r.proc is None:
                raise RuntimeError(f"registry '{name}' did not start")
        pushed = regs["plain"].push(layout, self.TAG, self.REPO)
        if pushed != image["manifest_digest"]:
            raise RuntimeError(f"skopeo pushed {pushed}, expected {image['manifest_digest']}")
        docker_digest = regs["plain"].push(layout, self.TAG, self.REPO, dest_tag="docker", fmt="v2s2")
        stall = self._add(StallServer())
        quirky = self._add(QuirkyServer(self.REPO, image["layer_digest"], image["layer"], image["manifest"]))
        self.redirect = self._add(RedirectServer(self.REPO, image["layer_digest"], image["layer"]))
        for name, r in regs.items():
            self.info[f"{name}_port"] = r.port
        self.info.update({
            "stall_port": stall.port, "quirky_port": quirky.port, "redirect_port": self.redirect.port,
            "dead_port": free_port(),
            "ca_file": pki.ca_cert, "client_cert": pki.client_cert, "client_key": pki.client_key,
            "user": self.USER, "password": self.PASSWORD, "identity_token": self.IDENTITY_TOKEN,
            "repo": self.REPO, "tag": self.TAG, "docker_tag": "docker", "docker_manifest_digest": docker_digest,
            "skopeo_digest": pushed, "dir": self.dir})
        self.info.update({k: v for k, v in image.items() if k not in ("layer", "manifest")})
        self.token = token
        return self

    def stop(self):
        for thing in reversed(self.stoppables):
            try:
                thing.stop()
            except Exception as e:  # keep stopping the rest
                print(f"registry_fixture: stopping {thing}: {e}", file=sys.stderr)
        self.stoppables = []
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def serve():
    fixture = Fixture()
    # A SIGTERM from the test (by pid) must still stop the registries.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        fixture.start()
        for k, v in fixture.info.items():
            print(k, v)
        print("ready", flush=True)
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "stats":
                print("tokens_issued", fixture.token.issued)
                print("tokens_refused", fixture.token.refused)
                print("redirect_auth_at_registry", fixture.redirect.auth_at_registry)
                print("redirect_auth_at_storage", fixture.redirect.auth_at_storage)
                print("redirect_storage_hits", fixture.redirect.storage_hits)
                print("ok", flush=True)
            elif cmd == "quit":
                break
    except Exception as e:
        print(f"error {e}", flush=True)
        raise
    finally:
        fixture.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve()
    else:
        print(__doc__)
        sys.exit(2)
