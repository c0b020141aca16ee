# SPDX-License-Identifier: Apache-2.0
"""Reloading the configuration on SIGHUP (cleatd(8), SIGNALS): registry
mirrors, the signature policy, pinned images and the log level change on a
running cleatd; a broken file keeps every running setting and the log says
why; other settings say they need a restart.  Real docker-registry
processes on 127.0.0.1 serve the images, built here and pushed with skopeo;
the registry that references name has nothing listening, so a pull works
only through a mirror."""

import json
import os
import re
import signal
import socket
import time
import urllib.error
import urllib.request

import grpc
import pytest

import registry_fixture as rf
from test_images import BASE, entry, image_manifest, plugin_dirs, write_index

SIGHUP_DONE = re.compile(r"SIGHUP: configuration (reloaded|not reloaded)[^\n]*")


@pytest.fixture(scope="module")
def registries(tmp_path_factory):
    """Registry A holds test/app:one; registry B holds test/app:one and test/app:two; `dead` is a free port."""
    base = tmp_path_factory.mktemp("reload")
    layout = str(base / "layout")
    descs = {name: image_manifest(layout, [BASE, [entry(f"etc/{name}", f"image {name}\n".encode())]])
             for name in ("one", "two")}
    write_index(layout, list(descs.items()))
    a = rf.Registry(str(base / "a"), str(base / "storage-a")).start()
    b = rf.Registry(str(base / "b"), str(base / "storage-b")).start()
    try:
        a.push(layout, "one", "test/app")
        b.push(layout, "one", "test/app")
        b.push(layout, "two", "test/app")
        yield {"a": a, "b": b, "dead": f"127.0.0.1:{rf.free_port()}", "descs": descs}
    finally:
        a.stop()
        b.stop()


def config(regs, mirror=None, images="", extra="", options_extra=""):
    """References name the dead registry; `mirror` ("a" or "b") is the one mirror it has."""
    mirrors = f", mirrors: [\"{regs[mirror].url}\"]" if mirror else ""
    return f"""plugin_dirs: [{", ".join(plugin_dirs())}]
snapshotter: {{name: overlayfs, plugin: storage-overlay}}
transports:
  registry:
    plugin: image-docker
    schemes: [""]
    options:
      retries: 0
      connect_timeout_seconds: 2
{options_extra}      registries:
        "{regs["dead"]}": {{insecure: true{mirrors}}}
        "{regs["a"].hostport}": {{insecure: true}}
        "{regs["b"].hostport}": {{insecure: true}}
  oci: {{plugin: image-oci, schemes: [oci, oci-archive]}}
{images}{extra}"""


def start(cleatd_factory, cri, body, log_level="debug"):
    pb2, pb2_grpc = cri
    d = cleatd_factory(body)
    if log_level is None:  # no --log-level: the file's log_level is in force
        d.args = lambda: [os.environ.get("CLEATD", "cleatd"), "--config", d.config_path, "--dropin-dir",
                          d.dropin_dir]
    d.start()
    d.images = pb2_grpc.ImageServiceStub(d.channel())
    d.runtime = pb2_grpc.RuntimeServiceStub(d.channel())
    return d


def hup(d, timeout=20, done=SIGHUP_DONE):
    """SIGHUP by pid; wait for the reload's last line (`done`) and return the log it wrote."""
    before = d.read_log()
    os.kill(d.proc.pid, signal.SIGHUP)
    deadline = time.time() + timeout
    while time.time() < deadline:
        log = d.read_log()
        if done.search(log[len(before):]):
            return log[len(before):]
        assert d.proc.poll() is None, f"cleatd exited on SIGHUP:\n{log}"
        time.sleep(0.05)
    raise AssertionError(f"no end of the reload in the log:\n{d.read_log()[len(before):]}")


def pull(d, pb2, ref):
    return d.images.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=ref)), timeout=60).image_ref


def refused(d, pb2, ref):
    with pytest.raises(grpc.RpcError) as e:
        pull(d, pb2, ref)
    return e.value


def still_serving(d, pb2):
    assert d.proc.poll() is None
    assert d.runtime.Version(pb2.VersionRequest()).runtime_name == "cleat"


def test_mirror_change_takes_effect(cleatd_factory, registries, cri):
    pb2, _ = cri
    regs = registries
    d = start(cleatd_factory, cri, config(regs, mirror="a"))
    dead = regs["dead"]
    assert pull(d, pb2, f"{dead}/test/app:one") == regs["descs"]["one"]["config"]
    refused(d, pb2, f"{dead}/test/app:two")  # A has no :two, and the registry itself does not answer

    d.write_config(config(regs, mirror="b"))
    out = hup(d)
    assert "SIGHUP: transport 'registry': new options in force" in out, out
    assert "configuration reloaded: changed live: transports; 0 settings need a restart" in out, out
    assert pull(d, pb2, f"{dead}/test/app:two") == regs["descs"]["two"]["config"]
    assert f"mirror {regs['b'].url}" not in d.read_log()  # B answered: no mirror failure

    # Back to no mirror at all: nothing answers for the dead registry any more.
    d.write_config(config(regs))
    hup(d)
    d.images.RemoveImage(pb2.RemoveImageRequest(image=pb2.ImageSpec(image=f"{dead}/test/app:two")))
    refused(d, pb2, f"{dead}/test/app:two")


def test_broken_yaml_keeps_everything(cleatd_factory, registries, cri):
    pb2, _ = cri
    regs = registries
    d = start(cleatd_factory, cri, config(regs, mirror="a"))
    dead = regs["dead"]
    # Mirror B and a wrong indentation in one file: nothing of it is taken.
    with open(d.config_path, "w") as f:
        f.write(config(regs, mirror="b").replace("    plugin: image-docker", "   plugin: image-docker"))
    out = hup(d)
    assert re.search(rf"SIGHUP: configuration not reloaded, every running setting stays: "
                     rf"{re.escape(d.config_path)}:\d+:\d+: ", out), out
    still_serving(d, pb2)
    assert pull(d, pb2, f"{dead}/test/app:one")  # still through A
    refused(d, pb2, f"{dead}/test/app:two")  # B is not in force

    # A drop-in with an unknown key is refused the same way, naming the drop-in.
    dropin = os.path.join(d.dropin_dir, "50-typo.yaml")
    with open(dropin, "w") as f:
        f.write("grpc: {wrokers: 4}\n")
    d.write_config(config(regs, mirror="b"))
    out = hup(d)
    assert re.search(rf"not reloaded.*{re.escape(dropin)}:1:\d+: .*wrokers", out), out
    refused(d, pb2, f"{dead}/test/app:two")
    os.unlink(dropin)
    out = hup(d)
    assert "configuration reloaded" in out, out
    assert pull(d, pb2, f"{dead}/test/app:two")


def test_unreadable_tls_file_keeps_the_transport(cleatd_factory, registries, cri, tmp_path):
    """A plugin's own check (image-docker reads its TLS files) refuses the reload as a whole."""
    pb2, _ = cri
    regs = registries
    d = start(cleatd_factory, cri, config(regs, mirror="a"))
    missing = str(tmp_path / "no-such-ca.pem")
    body = config(regs, mirror="b", images="log_level: warning\n").replace(
        f'"{regs["b"].hostport}": {{insecure: true}}', f'"{regs["b"].hostport}": {{insecure: true, ca_file: {missing}}}')
    d.write_config(body)
    out = hup(d)
    assert "not reloaded" in out and missing in out and "transport 'registry'" in out, out
    # The log level of the same file was not taken either (the daemon runs with --log-level debug anyway,
    # but the part was never applied: no log_level line).
    assert "SIGHUP: log_level" not in out, out
    refused(d, pb2, f"{regs['dead']}/test/app:two")
    still_serving(d, pb2)


def write_policy(path, requirement):
    with open(path, "w") as f:
        json.dump({"default": [requirement]}, f)
    return str(path)


def test_signature_policy_swap(cleatd_factory, registries, cri, tmp_path):
    pb2, _ = cri
    regs = registries
    policy = write_policy(tmp_path / "policy.json", {"type": "reject"})
    d = start(cleatd_factory, cri, config(regs, mirror="b", images=f"images: {{signature_policy: {policy}}}\n"))
    ref = f"{regs['dead']}/test/app:one"
    e = refused(d, pb2, ref)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()

    # A policy file cleatd cannot use: the reject policy stays.
    write_policy(policy, {"type": "acceptIfYouLike"})
    out = hup(d)
    assert re.search(rf"not reloaded.*signature policy {re.escape(policy)}: .*"
                     r'unknown requirement type "acceptIfYouLike"', out), out
    assert refused(d, pb2, ref).code() == grpc.StatusCode.FAILED_PRECONDITION
    still_serving(d, pb2)

    # The same path with a policy that accepts: read again on SIGHUP, the pull works.
    write_policy(policy, {"type": "insecureAcceptAnything"})
    out = hup(d)
    assert f"SIGHUP: images.signature_policy: {policy} changed on disk, now in force" in out, out
    assert pull(d, pb2, ref) == regs["descs"]["one"]["config"]

    # And back to reject under another path: pulls refused again (the image is on the node; pull asks anyway).
    other = write_policy(tmp_path / "other.json", {"type": "reject"})
    d.write_config(config(regs, mirror="b", images=f"images: {{signature_policy: {other}}}\n"))
    out = hup(d)
    assert f"SIGHUP: images.signature_policy: now {other}" in out, out
    assert refused(d, pb2, ref).code() == grpc.StatusCode.FAILED_PRECONDITION


def listed(d, pb2):
    return {i.id: i.pinned for i in d.images.ListImages(pb2.ListImagesRequest()).images}


def test_pinned_images_change(cleatd_factory, registries, cri):
    pb2, _ = cri
    regs = registries
    d = start(cleatd_factory, cri, config(regs, mirror="b"))
    one = pull(d, pb2, f"{regs['dead']}/test/app:one")
    two = pull(d, pb2, f"{regs['dead']}/test/app:two")
    assert listed(d, pb2) == {one: False, two: False}

    d.write_config(config(regs, mirror="b", images=f"images: {{pinned: [\"{regs['dead']}/test/app:two\"]}}\n"))
    out = hup(d)
    assert "SIGHUP: images.pinned: now 1 reference" in out, out
    assert listed(d, pb2) == {one: False, two: True}

    # A malformed pin refuses the reload: the running pins stay.
    d.write_config(config(regs, mirror="b", images="images: {pinned: [\"sha256:nothex\"]}\n"))
    out = hup(d)
    assert "not reloaded" in out and "sha256:nothex" in out, out
    assert listed(d, pb2) == {one: False, two: True}

    d.write_config(config(regs, mirror="b", images=f"images: {{pinned: [\"{one}\"]}}\n"))
    hup(d)
    assert listed(d, pb2) == {one: True, two: False}


def test_log_level_change(cleatd_factory, registries, cri):
    pb2, _ = cri
    regs = registries
    ref = f"{regs['dead']}/test/app:one"
    d = start(cleatd_factory, cri, config(regs, mirror="b", extra="log_level: info\n"), log_level=None)
    pull(d, pb2, ref)
    assert "resolved " + ref not in d.read_log()  # a debug line of image-docker

    d.write_config(config(regs, mirror="b", extra="log_level: debug\n"))
    out = hup(d)
    assert "SIGHUP: log_level: debug (was info)" in out, out
    pull(d, pb2, ref)
    assert "resolved " + ref in d.read_log()

    d.write_config(config(regs, mirror="b", extra="log_level: warning\n"))
    # The reload's last line is at info, which is no longer written: wait for the level's own line.
    out = hup(d, done=re.compile("SIGHUP: log_level: warning"))
    assert "SIGHUP: log_level: warning (was debug)" in out, out
    before = len(d.read_log())
    pull(d, pb2, ref)
    assert "resolved " not in d.read_log()[before:]


def test_command_line_log_level_stays(cleatd_factory, registries, cri):
    pb2, _ = cri
    regs = registries
    d = start(cleatd_factory, cri, config(regs, mirror="b"))  # --log-level debug
    d.write_config(config(regs, mirror="b", extra="log_level: error\n"))
    out = hup(d)
    assert "SIGHUP: log_level: the file now says error, but --log-level debug from the command line stays" in out
    pull(d, pb2, f"{regs['dead']}/test/app:one")
    assert "resolved " in d.read_log()


def metrics_answers(address):
    try:
        urllib.request.urlopen(f"http://{address}/metrics", timeout=2)
        return True
    except (urllib.error.URLError, OSError):
        return False


def test_restart_only_settings_say_so_and_stay(cleatd_factory, registries, cri):
    pb2, _ = cri
    regs = registries
    d = start(cleatd_factory, cri, config(regs, mirror="b"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    d.write_config(config(regs, mirror="b", extra=f"metrics: {{address: \"{address}\"}}\ngrpc: {{workers: 3}}\n"))
    dropin = os.path.join(d.dropin_dir, "50-oci.yaml")
    with open(dropin, "w") as f:
        f.write("transports: {oci: {schemes: [oci]}}\n")
    out = hup(d)
    for key, where in (("metrics.address", d.config_path), ("grpc.workers", d.config_path),
                       ("transports.oci.schemes", dropin)):
        assert re.search(rf"SIGHUP: {re.escape(key)} changed \({re.escape(where)}:\d+:\d+\): "
                         r"it needs a restart of cleatd; the running value stays", out), out
    assert "configuration reloaded: changed live: nothing; 3 settings need a restart" in out, out
    assert not metrics_answers(address)
    # oci-archive: is still served (the running schemes stay): the error is about the file, not the scheme.
    e = refused(d, pb2, "oci-archive:/nonexistent.tar")
    assert "no transport is configured" not in e.details(), e.details()
    # Said again on the next SIGHUP, until the restart.
    out = hup(d)
    assert "grpc.workers changed" in out, out
    # The files as at start: nothing to say.
    os.unlink(dropin)
    d.write_config(config(regs, mirror="b"))
    out = hup(d)
    assert "configuration reloaded: nothing changed" in out, out
    still_serving(d, pb2)


def test_reloads_while_pulling(cleatd_factory, registries, cri, tmp_path):
    """Pulls run while SIGHUPs swap the mirror and the policy under them: each pull sees one whole setting
    (both mirrors hold the image, both policies accept it), so every pull succeeds."""
    import threading
    pb2, _ = cri
    regs = registries
    ref = f"{regs['dead']}/test/app:one"
    policies = [write_policy(tmp_path / f"p{i}.json", {"type": "insecureAcceptAnything"}) for i in range(2)]
    d = start(cleatd_factory, cri, config(regs, mirror="a", images=f"images: {{signature_policy: {policies[0]}}}\n"))
    errors = []

    def puller():
        for _ in range(8):
            try:
                pull(d, pb2, ref)
                d.images.RemoveImage(pb2.RemoveImageRequest(image=pb2.ImageSpec(image=ref)))
            except grpc.RpcError as e:
                errors.append(e.details())

    threads = [threading.Thread(target=puller) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(8):
        d.write_config(config(regs, mirror="ab"[i % 2],
                              images=f"images: {{signature_policy: {policies[i % 2]}, pinned: [\"{ref}\"]}}\n"))
        hup(d)
    for t in threads:
        t.join()
    assert errors == []
    still_serving(d, pb2)
