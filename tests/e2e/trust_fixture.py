# SPDX-License-Identifier: Apache-2.0
"""Signatures for the image signature policy tests, made here with the real tools.

- cosign's format without cosign: keys made with the openssl CLI (ECDSA
  P-256, RSA, Ed25519), a simple-signing payload signed with openssl, and
  the signature manifest pushed to the registry under the tag
  sha256-<hex>.sig over the registry's HTTP API (as cosign does).
- GPG simple signing: a throw-away GnuPG home with a key made by gpg, and
  skopeo copy --sign-by writing signatures into a file lookaside that a
  registries.d file names (the same file cleatd then reads).
"""

import base64
import hashlib
import json
import os
import subprocess
import urllib.parse
import urllib.request

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_PAYLOAD = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANNOTATION = "dev.cosignproject.cosign/signature"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, **kw)


class Key:
    """A key pair made by openssl: kind is "ec256", "ec384", "rsa" or "ed25519"."""

    def __init__(self, directory, name, kind="ec256"):
        self.kind = kind
        self.private = os.path.join(directory, name + ".key")
        self.public = os.path.join(directory, name + ".pub")
        gen = {"ec256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
               "ec384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
               "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
               "ed25519": ["-algorithm", "ed25519"]}[kind]
        _run(["openssl", "genpkey"] + gen + ["-out", self.private])
        _run(["openssl", "pkey", "-in", self.private, "-pubout", "-out", self.public])

    def public_b64(self):
        with open(self.public, "rb") as f:
            return base64.b64encode(f.read()).decode()

    def sign(self, data, directory):
        msg = os.path.join(directory, "payload.tmp")
        with open(msg, "wb") as f:
            f.write(data)
        if self.kind == "ed25519":
            out = _run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", self.private, "-in", msg]).stdout
        else:
            out = _run(["openssl", "dgst", "-sha256", "-sign", self.private, msg]).stdout
        os.unlink(msg)
        return out


def cosign_payload(manifest_digest, docker_reference):
    """The payload cosign signs (cosign writes "optional": null)."""
    return json.dumps({"critical": {"identity": {"docker-reference": docker_reference},
                                    "image": {"docker-manifest-digest": manifest_digest},
                                    "type": "cosign container image signature"},
                       "optional": None}, separators=(",", ":")).encode()


def _ssl(reg):
    return reg._ssl_context() if reg.pki else None


def _push_blob(reg, repo, data):
    ctx = _ssl(reg)
    start = urllib.request.Request(f"{reg.url}/v2/{repo}/blobs/uploads/", method="POST", data=b"")
    loc = urllib.request.urlopen(start, context=ctx, timeout=30).headers["Location"]
    url = urllib.parse.urljoin(reg.url + "/", loc)
    url += ("&" if "?" in url else "?") + "digest=" + urllib.parse.quote(digest(data))
    put = urllib.request.Request(url, method="PUT", data=data, headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(put, context=ctx, timeout=30)


def push_manifest(reg, repo, tag, manifest, blobs):
    for b in blobs:
        _push_blob(reg, repo, b)
    put = urllib.request.Request(f"{reg.url}/v2/{repo}/manifests/{tag}", method="PUT", data=manifest,
                                 headers={"Content-Type": MT_OCI_MANIFEST})
    urllib.request.urlopen(put, context=_ssl(reg), timeout=30)


def attach_cosign(reg, repo, signed_digest, layers):
    """Store a signature manifest for signed_digest: layers is a list of (payload, signature bytes or str)."""
    config = b"{}"
    descs, blobs = [], [config]
    for payload, sig in layers:
        sig_text = sig if isinstance(sig, str) else base64.b64encode(sig).decode()
        descs.append({"mediaType": MT_PAYLOAD, "digest": digest(payload), "size": len(payload),
                      "annotations": {SIG_ANNOTATION: sig_text}})
        blobs.append(payload)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
                           "config": {"mediaType": MT_OCI_CONFIG, "digest": digest(config), "size": len(config)},
                           "layers": descs}).encode()
    push_manifest(reg, repo, "sha256-" + signed_digest.split(":", 1)[1] + ".sig", manifest, blobs)


def sign_cosign(reg, repo, signed_digest, key, identity, workdir, payload_digest=None):
    """Sign (with openssl) and attach a cosign signature of signed_digest claiming `identity`."""
    payload = cosign_payload(payload_digest or signed_digest, identity)
    attach_cosign(reg, repo, signed_digest, [(payload, key.sign(payload, workdir))])


class Gpg:
    """A GnuPG home with one signing key (no passphrase), for skopeo --sign-by."""

    def __init__(self, directory, name="cleat test signer"):
        self.home = os.path.join(directory, "gnupg")
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        self.env = dict(os.environ, GNUPGHOME=self.home)
        _run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
              f"{name} <{name.replace(' ', '.')}@example.invalid>", "ed25519", "sign", "1d"], env=self.env)
        out = _run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=self.env).stdout.decode()
        self.fingerprint = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))
        self.public = os.path.join(directory, "signer.gpg")
        with open(self.public, "wb") as f:
            f.write(_run(["gpg", "--batch", "--export", self.fingerprint], env=self.env).stdout)

    def stop(self):
        """End the agent gpg started for this home (it holds the key for signing)."""
        subprocess.run(["gpgconf", "--kill", "all"], env=self.env, capture_output=True)


def skopeo_push_signed(reg, layout, tag, repo, dest_tag, gpg, registries_d):
    """skopeo copy with --sign-by: the image to the registry, its signature into registries.d's lookaside."""
    args = ["skopeo", "--registries.d", registries_d, "copy", "--quiet", "--sign-by", gpg.fingerprint]
    args += ["--dest-cert-dir", reg.pki.cert_dir()] if reg.pki else ["--dest-tls-verify=false"]
    args += [f"oci:{layout}:{tag}", f"docker://{reg.hostport}/{repo}:{dest_tag}"]
    _run(args, env=gpg.env, timeout=120)
