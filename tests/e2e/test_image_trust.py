# SPDX-License-Identifier: Apache-2.0
"""The image signature policy (images.signature_policy, containers-policy.json)
end to end: a real docker-registry over TLS, an image built here and pushed
with skopeo to several repositories, cosign-format signatures made with
openssl and attached as sha256-<hex>.sig, GPG signatures made by gpg through
skopeo --sign-by into a file lookaside.  Each pull runs on a fresh cleatd, so
that "refused with nothing left" can be checked on an empty store."""

import glob
import json
import os
import platform
import subprocess

import grpc
import pytest

import registry_fixture as rf
import trust_fixture as tf
from conftest import SHIPPED_PLUGIN_DIRS, run_cleatd

HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def add_index(layout, info, tag):
    """Tag a one-entry OCI index of the layout's image (host platform) as `tag`; its descriptor."""
    index = json.dumps({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": [
        {"mediaType": rf.MT_OCI_MANIFEST, "digest": info["manifest_digest"], "size": info["manifest_size"],
         "platform": {"os": "linux", "architecture": HOST_ARCH}}]}, sort_keys=True).encode()
    with open(os.path.join(layout, "blobs", "sha256", tf.digest(index)[7:]), "wb") as f:
        f.write(index)
    with open(os.path.join(layout, "index.json")) as f:
        top = json.load(f)
    top["manifests"].append({"mediaType": MT_OCI_INDEX, "digest": tf.digest(index), "size": len(index),
                             "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(top, f)
    return tf.digest(index)


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """The registry, the image under several repositories, keys, and signatures of each kind."""
    base = tmp_path_factory.mktemp("trust")
    work = str(base / "work")
    os.makedirs(work)
    pki = rf.Pki(str(base / "pki"))
    reg = rf.Registry(str(base / "registry"), str(base / "storage"), pki=pki).start()
    gpg = stranger = None
    try:
        layout = str(base / "layout")
        info = rf.build_busybox_layout(layout, tag="t")
        index_digest = add_index(layout, info, "idx")
        host = reg.hostport
        keys = {k: tf.Key(work, k, k) for k in ("ec256", "ec384", "rsa", "ed25519")}
        keys["stranger"] = tf.Key(work, "stranger", "ec256")
        d = info["manifest_digest"]
        for repo in ("signed", "unsigned", "wrongkey", "otherdigest", "corrupt", "notbase64", "identity",
                     "exact", "rejected", "open", "rsa", "ed25519", "ec384"):
            assert reg.push(layout, "t", f"test/{repo}", dest_tag="1") == d
        reg.push(layout, "t", "elsewhere/app", dest_tag="1")
        for repo in ("index-sig-of-index", "index-sig-of-manifest"):
            subprocess.run(["skopeo", "copy", "--quiet", "--all", "--dest-cert-dir", pki.cert_dir(),
                            f"oci:{layout}:idx", f"docker://{host}/test/{repo}:1"], check=True, timeout=120)
        ec = keys["ec256"]
        for repo in ("signed", "rejected", "open"):
            tf.sign_cosign(reg, f"test/{repo}", d, ec, f"{host}/test/{repo}", work)
        for kind in ("rsa", "ed25519", "ec384"):
            tf.sign_cosign(reg, f"test/{kind}", d, keys[kind], f"{host}/test/{kind}", work)
        tf.sign_cosign(reg, "test/wrongkey", d, keys["stranger"], f"{host}/test/wrongkey", work)
        other = "sha256:" + "ab" * 32
        tf.sign_cosign(reg, "test/otherdigest", d, ec, f"{host}/test/otherdigest", work, payload_digest=other)
        payload = tf.cosign_payload(d, f"{host}/test/corrupt")
        good = ec.sign(payload, work)
        tf.attach_cosign(reg, "test/corrupt", d, [(payload, good[:-4] + bytes(4))])
        tf.attach_cosign(reg, "test/notbase64", d, [(tf.cosign_payload(d, f"{host}/test/notbase64"), "!!not64!!")])
        tf.sign_cosign(reg, "test/identity", d, ec, f"{host}/test/somebody-else", work)
        tf.sign_cosign(reg, "test/exact", d, ec, f"{host}/test/exact:1", work)
        tf.sign_cosign(reg, "test/index-sig-of-index", index_digest, ec, f"{host}/test/index-sig-of-index", work)
        tf.sign_cosign(reg, "test/index-sig-of-manifest", d, ec, f"{host}/test/index-sig-of-manifest", work)
        # GPG simple signing: skopeo --sign-by writes into the lookaside registries.d names.
        gpg = tf.Gpg(work)
        lookaside = str(base / "lookaside")
        registries_d = str(base / "registries.d")
        os.makedirs(registries_d)
        with open(os.path.join(registries_d, "test.yaml"), "w") as f:
            f.write(f"docker:\n  {host}/test:\n    lookaside: file://{lookaside}\n")
        tf.skopeo_push_signed(reg, layout, "t", "test/gpg", "1", gpg, registries_d)
        reg.push(layout, "t", "test/gpg-unsigned", dest_tag="1")
        # A signature claiming another repository, made with skopeo standalone-sign, where the lookaside keeps it.
        reg.push(layout, "t", "test/gpg-identity", dest_tag="1")
        sig_dir = os.path.join(lookaside, "test", f"gpg-identity@sha256={d[7:]}")
        os.makedirs(sig_dir)
        manifest_file = os.path.join(work, "manifest.json")
        with open(manifest_file, "wb") as f:
            f.write(info["manifest"])
        subprocess.run(["skopeo", "standalone-sign", "-o", os.path.join(sig_dir, "signature-1"), manifest_file,
                        f"{host}/test/somebody-else:1", gpg.fingerprint], check=True, env=gpg.env, timeout=60)
        stranger = tf.Gpg(os.path.join(work, "stranger"), "cleat stranger")
        yield {"registry": reg, "pki": pki, "keys": keys, "digest": d, "index_digest": index_digest, "info": info,
               "layout": layout, "base": base, "work": work, "gpg": gpg, "stranger_gpg": stranger,
               "registries_d": registries_d, "lookaside": lookaside}
    finally:
        for g in (gpg, stranger):
            if g:
                g.stop()
        reg.stop()


def policy_for(signed, path, extra_scopes=None):
    """Default reject; test/ needs the P-256 key (cosign identities: matchRepository); a few scopes of their own."""
    host, keys = signed["registry"].hostport, signed["keys"]
    sig = lambda key, **kw: dict({"type": "sigstoreSigned", "keyPath": key.public,
                                  "signedIdentity": {"type": "matchRepository"}}, **kw)
    scopes = {
        f"{host}/test": [sig(keys["ec256"])],
        f"{host}/test/exact": [{"type": "sigstoreSigned", "keyPath": keys["ec256"].public}],
        f"{host}/test/open": [{"type": "insecureAcceptAnything"}],
        f"{host}/test/rejected": [{"type": "reject"}],
        f"{host}/test/rsa": [{"type": "sigstoreSigned", "keyData": keys["rsa"].public_b64(),
                              "signedIdentity": {"type": "matchRepository"}}],
        f"{host}/test/ed25519": [sig(keys["ed25519"])],
        f"{host}/test/ec384": [{"type": "sigstoreSigned", "keyPaths": [keys["stranger"].public, keys["ec384"].public],
                                "signedIdentity": {"type": "exactRepository",
                                                   "dockerRepository": f"{host}/test/ec384"}}],
    }
    gpg = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": signed["gpg"].public}
    for repo in ("gpg", "gpg-unsigned", "gpg-identity"):
        scopes[f"{host}/test/{repo}"] = [gpg]
    scopes.update(extra_scopes or {})
    with open(path, "w") as f:
        json.dump({"default": [{"type": "reject"}], "transports": {"docker": scopes}}, f, indent=2)
    return str(path)


def daemon_config(signed):
    return f"""plugin_dirs: [{", ".join(SHIPPED_PLUGIN_DIRS)}]
snapshotter: {{name: overlayfs, plugin: storage-overlay}}
transports:
  registry:
    plugin: image-docker
    schemes: [""]
    options:
      retries: 1
      registries:
        "{signed['registry'].hostport}": {{ca_file: {signed['pki'].ca_cert}}}
"""


@pytest.fixture
def daemon(cleatd_factory, signed, cri, tmp_path):
    """cleatd with the policy given as a drop-in, the way operators add one."""
    made = []

    def start(policy=None, extra=""):
        base = tmp_path / f"cleatd{len(made)}"
        base.mkdir()
        made.append(base)
        d = cleatd_factory(daemon_config(signed), base=base)
        policy = policy or policy_for(signed, tmp_path / "policy.json")
        with open(os.path.join(d.dropin_dir, "50-trust.yaml"), "w") as f:
            f.write(f"images: {{signature_policy: {policy}, registries_d: {signed['registries_d']}}}\n{extra}")
        d.start()
        pb2, pb2_grpc = cri
        d.images = pb2_grpc.ImageServiceStub(d.channel())
        return d
    return start


def pull(d, pb2, ref):
    return d.images.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=ref)), timeout=120).image_ref


def leftovers(d):
    """What a refused pull must not leave: blobs, partial downloads, snapshots, image records."""
    content = os.path.join(d.root_dir, "content")
    return {"blobs": glob.glob(os.path.join(content, "blobs", "sha256", "*")),
            "ingest": glob.glob(os.path.join(content, "ingest", "*")),
            "snapshots": glob.glob(os.path.join(d.root_dir, "plugins", "snapshotter", "*", "snapshots", "*"))}


def assert_refused(d, pb2, ref, *words):
    with pytest.raises(grpc.RpcError) as e:
        pull(d, pb2, ref)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value.details()
    msg = e.value.details()
    for w in words:
        assert w in msg, msg
    assert leftovers(d) == {"blobs": [], "ingest": [], "snapshots": []}
    assert list(d.images.ListImages(pb2.ListImagesRequest()).images) == []
    return msg


def test_signed_image_is_pulled(daemon, signed, cri):
    pb2, _ = cri
    d = daemon()
    ref = f"{signed['registry'].hostport}/test/signed:1"
    assert pull(d, pb2, ref) == signed["info"]["config_digest"]
    assert "image signature policy" in d.read_log()


@pytest.mark.parametrize("repo", ["rsa", "ed25519", "ec384"])
def test_each_key_type_verifies(daemon, signed, cri, repo):
    """RSA (keyData), Ed25519, and P-384 among keyPaths with exactRepository."""
    pb2, _ = cri
    d = daemon()
    assert pull(d, pb2, f"{signed['registry'].hostport}/test/{repo}:1") == signed["info"]["config_digest"]


def test_unsigned_image_is_refused_with_nothing_left(daemon, signed, cri):
    pb2, _ = cri
    d = daemon()
    host = signed["registry"].hostport
    msg = assert_refused(d, pb2, f"{host}/test/unsigned:1", f"{host}/test/unsigned:1", f'docker scope "{host}/test"',
                         "requirement 1 of 1 (sigstoreSigned)", "no sigstore signature", signed["digest"])
    assert "policy.json" in msg


def test_wrong_key_is_refused(daemon, signed, cri):
    pb2, _ = cri
    assert_refused(daemon(), pb2, f"{signed['registry'].hostport}/test/wrongkey:1",
                   "does not verify with the requirement's key")


def test_signature_of_another_digest_is_refused(daemon, signed, cri):
    pb2, _ = cri
    assert_refused(daemon(), pb2, f"{signed['registry'].hostport}/test/otherdigest:1",
                   "the signature is for sha256:abab")


@pytest.mark.parametrize("repo", ["corrupt", "notbase64"])
def test_corrupt_signature_is_refused(daemon, signed, cri, repo):
    pb2, _ = cri
    assert_refused(daemon(), pb2, f"{signed['registry'].hostport}/test/{repo}:1", "does not verify")


def test_identity_mismatch_is_refused(daemon, signed, cri):
    pb2, _ = cri
    host = signed["registry"].hostport
    assert_refused(daemon(), pb2, f"{host}/test/identity:1", f"claims '{host}/test/somebody-else'",
                   "matchRepository")


def test_default_identity_rule_wants_the_exact_tag(daemon, signed, cri):
    """matchRepoDigestOrExact (the default): a tag pull needs the tag signed; a digest pull the repository."""
    pb2, _ = cri
    host = signed["registry"].hostport
    d = daemon()
    assert pull(d, pb2, f"{host}/test/exact:1") == signed["info"]["config_digest"]
    assert pull(d, pb2, f"{host}/test/exact@{signed['digest']}") == signed["info"]["config_digest"]
    # The repository-only identity cosign writes does not satisfy the default for a tag.
    policy = policy_for(signed, signed["base"] / "exact-default.json",
                        {f"{host}/test/signed": [{"type": "sigstoreSigned", "keyPath": signed["keys"]["ec256"].public}]})
    d2 = daemon(policy)
    assert_refused(d2, pb2, f"{host}/test/signed:1", "matchRepoDigestOrExact")


def test_reject_scope_refuses_before_fetching(daemon, signed, cri):
    pb2, _ = cri
    host = signed["registry"].hostport
    d = daemon()
    assert_refused(d, pb2, f"{host}/test/rejected:1", f'docker scope "{host}/test/rejected"', "(reject)")
    # The default reject covers what no scope names.
    assert_refused(d, pb2, f"{host}/elsewhere/app:1", "default, requirement 1 of 1 (reject)")


def test_insecure_accept_anything_scope(daemon, signed, cri):
    pb2, _ = cri
    assert pull(daemon(), pb2, f"{signed['registry'].hostport}/test/open:1") == signed["info"]["config_digest"]


@pytest.mark.parametrize("repo", ["index-sig-of-index", "index-sig-of-manifest"])
def test_one_entry_index_signed_either_way(daemon, signed, cri, repo):
    """A tag naming a one-entry index: a signature of the index or of the platform manifest will do."""
    pb2, _ = cri
    assert pull(daemon(), pb2, f"{signed['registry'].hostport}/test/{repo}:1") == signed["info"]["config_digest"]


def write_policy(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)
    return str(path)


def check_config(d):
    return run_cleatd(["--config", d.config_path, "--dropin-dir", d.dropin_dir, "--check-config"])


@pytest.mark.parametrize("req,words", [
    ({"type": "signedByMagic"}, ['unknown requirement type "signedByMagic"']),
    ({"type": "sigstoreSigned", "fulcio": {"caPath": "/x"}, "rekorPublicKeyPath": "/y"},
     ['"fulcio"', "keyless", "not supported"]),
    ({"type": "sigstoreSigned", "keyPath": "/nonexistent/key.pub"}, ["/nonexistent/key.pub"]),
    ({"type": "reject", "extra": 1}, ['unknown field "extra"']),
])
def test_bad_policy_is_a_config_error(cleatd_factory, signed, tmp_path, req, words):
    path = write_policy(tmp_path / "bad.json", {"default": [{"type": "insecureAcceptAnything"}],
                                                 "transports": {"docker": {"example.com/x": [req]}}})
    d = cleatd_factory(daemon_config(signed) + f"images: {{signature_policy: {path}}}\n")
    r = check_config(d)
    assert r.returncode != 0
    for w in words + [path, 'transports.docker["example.com/x"][0]']:
        assert w in r.stderr, r.stderr
    with pytest.raises(AssertionError) as e:
        d.start(timeout=10)
    for w in words:
        assert w in str(e.value)


def test_good_policy_passes_check_config(cleatd_factory, signed, tmp_path):
    path = policy_for(signed, tmp_path / "good.json")
    d = cleatd_factory(daemon_config(signed) + f"images: {{signature_policy: {path}}}\n")
    r = check_config(d)
    assert r.returncode == 0, r.stderr
    assert f"image signature policy {path} OK" in r.stdout


def test_named_policy_file_must_exist(cleatd_factory, signed, tmp_path):
    d = cleatd_factory(daemon_config(signed) + f"images: {{signature_policy: {tmp_path}/missing.json}}\n")
    r = check_config(d)
    assert r.returncode != 0 and "missing.json" in r.stderr


def test_empty_setting_turns_the_policy_off(daemon, signed, cri, tmp_path):
    """signature_policy: "" accepts everything even where /etc/containers/policy.json exists."""
    pb2, _ = cri
    d = daemon(extra="")
    with open(os.path.join(d.dropin_dir, "60-off.yaml"), "w") as f:
        f.write('images: {signature_policy: ""}\n')
    d.stop()
    d.start()
    pb2, pb2_grpc = cri
    d.images = pb2_grpc.ImageServiceStub(d.channel())
    assert pull(d, pb2, f"{signed['registry'].hostport}/test/unsigned:1") == signed["info"]["config_digest"]


def test_gpg_signed_image_is_pulled(daemon, signed, cri):
    """skopeo --sign-by's signature, read from the file lookaside registries.d names."""
    pb2, _ = cri
    d = daemon()
    assert pull(d, pb2, f"{signed['registry'].hostport}/test/gpg:1") == signed["info"]["config_digest"]


def test_gpg_leaves_no_gnupg_home_behind(daemon, signed, cri, tmp_path):
    pb2, _ = cri
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    d = daemon()
    d.stop()
    d.env = lambda log: {"TMPDIR": str(tmp)}
    d.start()
    pb2, pb2_grpc = cri
    d.images = pb2_grpc.ImageServiceStub(d.channel())
    assert pull(d, pb2, f"{signed['registry'].hostport}/test/gpg:1") == signed["info"]["config_digest"]
    assert os.listdir(tmp) == []


def test_gpg_unsigned_image_is_refused(daemon, signed, cri):
    pb2, _ = cri
    host = signed["registry"].hostport
    assert_refused(daemon(), pb2, f"{host}/test/gpg-unsigned:1", "(signedBy)", "no GPG (lookaside) signature")


def test_gpg_identity_mismatch_is_refused(daemon, signed, cri):
    pb2, _ = cri
    host = signed["registry"].hostport
    assert_refused(daemon(), pb2, f"{host}/test/gpg-identity:1", f"claims '{host}/test/somebody-else:1'",
                   "matchRepoDigestOrExact")


def test_gpg_signature_by_another_key_is_refused(daemon, signed, cri, tmp_path):
    pb2, _ = cri
    host = signed["registry"].hostport
    policy = policy_for(signed, tmp_path / "stranger.json", {f"{host}/test/gpg": [
        {"type": "signedBy", "keyType": "GPGKeys", "keyPath": signed["stranger_gpg"].public}]})
    assert_refused(daemon(policy), pb2, f"{host}/test/gpg:1", "(signedBy)", "not one of the requirement's keys")


def test_gpg_keyring_that_is_no_keyring_is_a_config_error(cleatd_factory, signed, tmp_path):
    junk = tmp_path / "junk.gpg"
    junk.write_bytes(b"not a keyring\n")
    path = write_policy(tmp_path / "bad.json", {"default": [
        {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(junk)}]})
    d = cleatd_factory(daemon_config(signed) + f"images: {{signature_policy: {path}}}\n")
    r = check_config(d)
    assert r.returncode != 0 and "no OpenPGP public key" in r.stderr and str(junk) in r.stderr, r.stderr
