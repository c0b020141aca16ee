# SPDX-License-Identifier: Apache-2.0
"""Version, Status, RuntimeConfig, UpdateRuntimeConfig and the routing of
every other RPC, over cleatd's real socket, with grpcio as the client."""

import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading

import grpc
import pytest

import pod_fixture
from conftest import CLEATD, run_cleatd, sdk_abi

PLUGINS = """
runtime:
  default_handler: fast
  handlers:
    runc: null
    fast:
      plugin: test-good-runtime
      options: {recursive_read_only_mounts: true}
    sleepy:
      plugin: test-good-runtime
      options: {ready: false, reason: "the sleepy runtime is asleep", user_namespaces: true}
network:
  name: testnet
  plugin: test-good-network
"""


def conditions(resp):
    return {c.type: c for c in resp.status.conditions}


def test_version(cleatd_factory, runtime_stub, cri):
    pb2, _ = cri
    d = cleatd_factory().start()
    resp = runtime_stub(d).Version(pb2.VersionRequest(version="v1"))
    assert resp.runtime_name == "cleat"
    assert resp.runtime_api_version == "v1"
    own = subprocess.run([CLEATD, "--version"], capture_output=True, text=True, check=True).stdout
    assert resp.runtime_version in own


def test_status_embedded_defaults_are_honest(cleatd_factory, runtime_stub, cri):
    """The default handler runc, as installed (or not) here, and no network: the conditions say so."""
    pb2, _ = cri
    d = cleatd_factory().start()
    resp = runtime_stub(d).Status(pb2.StatusRequest())
    c = conditions(resp)
    assert set(c) == {"RuntimeReady", "NetworkReady"}
    shim = json.loads(runtime_stub(d).Status(pb2.StatusRequest(verbose=True)).info["config"])
    shim_path = shim["runtime"].get("handlers", {}).get("runc", {}).get("options", {}).get("shim")
    installed = os.access("/usr/bin/runc", os.X_OK) and (shim_path is None or os.access(shim_path, os.X_OK))
    if not installed or not c["RuntimeReady"].status:
        # The test build is not installed: the default shim path does not exist, and Status says which.
        assert not c["RuntimeReady"].status
        assert c["RuntimeReady"].reason == "RuntimeNotReady"
        assert "runc" in c["RuntimeReady"].message and "shim" in c["RuntimeReady"].message
    assert not c["NetworkReady"].status
    assert c["NetworkReady"].reason == "NetworkPluginNotReady"
    assert c["NetworkReady"].message
    assert {h.name for h in resp.runtime_handlers} == {"", "runc"}
    assert len(resp.info) == 0  # only with verbose


@pytest.fixture
def open_base():
    """A base dir others may traverse (0755, in /tmp), as /run is: pods with a user namespace of their own
    can reach their files under it."""
    base = tempfile.mkdtemp(prefix="cleat-runtime-info-")
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_status_reports_plugins(cleatd_factory, runtime_stub, cri, open_base):
    pb2, _ = cri
    d = cleatd_factory(PLUGINS, base=open_base).start()
    resp = runtime_stub(d).Status(pb2.StatusRequest())
    c = conditions(resp)
    assert c["RuntimeReady"].status, c["RuntimeReady"]
    assert c["NetworkReady"].status, c["NetworkReady"]
    handlers = {h.name: h.features for h in resp.runtime_handlers}
    assert set(handlers) == {"", "fast", "sleepy"}
    assert handlers[""].recursive_read_only_mounts and not handlers[""].user_namespaces
    assert handlers["fast"].recursive_read_only_mounts
    assert handlers["sleepy"].user_namespaces and not handlers["sleepy"].recursive_read_only_mounts
    assert not resp.features.user_namespaces_host_network


def test_user_namespaces_only_where_they_work(cleatd_factory, runtime_stub, cri, tmp_path):
    """Under pytest's 0700 tmp dir no pod's root could reach its rootfs: a runtime's user_namespaces is not
    passed on, and the log says why."""
    pb2, _ = cri
    d = cleatd_factory(PLUGINS).start()
    resp = runtime_stub(d).Status(pb2.StatusRequest())
    assert not {h.name: h.features for h in resp.runtime_handlers}["sleepy"].user_namespaces
    assert "user namespaces: pods cannot have their own: the directory" in d.read_log(), d.read_log()
    assert "keeps the pods' users from reaching" in d.read_log()


def test_status_runtime_not_ready_says_why(cleatd_factory, runtime_stub, cri):
    pb2, _ = cri
    d = cleatd_factory(PLUGINS.replace("default_handler: fast", "default_handler: sleepy")).start()
    c = conditions(runtime_stub(d).Status(pb2.StatusRequest()))
    assert not c["RuntimeReady"].status
    assert c["RuntimeReady"].reason == "RuntimeNotReady"
    assert "the sleepy runtime is asleep" in c["RuntimeReady"].message
    assert c["NetworkReady"].status


def test_status_verbose_info_is_json(cleatd_factory, runtime_stub, cri):
    pb2, _ = cri
    d = cleatd_factory(PLUGINS).start()
    resp = runtime_stub(d).Status(pb2.StatusRequest(verbose=True))
    info = {k: json.loads(v) for k, v in resp.info.items()}
    assert info["config"]["socket"] == d.socket
    assert info["config"]["runtime"]["default_handler"] == "fast"
    names = sorted((p["concern"], p["name"]) for p in info["plugins"])
    assert names == [("network", "testnet"), ("runtime", "fast"), ("runtime", "sleepy"),
                     ("snapshotter", "overlayfs"), ("transport", "oci"), ("transport", "registry")]
    assert all(p["abi"] == "%d.%d" % sdk_abi() and p["file"].endswith(".so") for p in info["plugins"]), info["plugins"]
    assert info["podCIDR"] == ""


def test_runtime_config_cgroup_driver(cleatd_factory, runtime_stub, cri, tmp_path):
    pb2, _ = cri
    d = cleatd_factory(base=tmp_path / "a").start()
    resp = runtime_stub(d).RuntimeConfig(pb2.RuntimeConfigRequest())
    assert resp.linux.cgroup_driver == pb2.CGROUPFS
    d2 = cleatd_factory("cgroup_driver: systemd\n", base=tmp_path / "b").start()
    resp = runtime_stub(d2).RuntimeConfig(pb2.RuntimeConfigRequest())
    assert resp.linux.cgroup_driver == pb2.SYSTEMD


def update_cidr(stub, pb2, cidr):
    return stub.UpdateRuntimeConfig(pb2.UpdateRuntimeConfigRequest(
        runtime_config=pb2.RuntimeConfig(network_config=pb2.NetworkConfig(pod_cidr=cidr))))


def test_update_runtime_config_reaches_network_and_persists(cleatd_factory, runtime_stub, cri):
    pb2, _ = cri
    d = cleatd_factory(PLUGINS).start()
    stub = runtime_stub(d)
    update_cidr(stub, pb2, "10.88.0.0/16,fd00:88::/64")
    marker = os.path.join(d.state_dir, "plugins", "network", "testnet", "pod_cidr")
    with open(marker) as f:
        assert f.read().strip() == "10.88.0.0/16,fd00:88::/64"
    # An empty request is a no-op, not a reset (kubelet repeats it).
    stub.UpdateRuntimeConfig(pb2.UpdateRuntimeConfigRequest())
    info = stub.Status(pb2.StatusRequest(verbose=True)).info
    assert json.loads(info["podCIDR"]) == "10.88.0.0/16,fd00:88::/64"

    assert d.stop() == 0
    os.unlink(marker)
    d.start()
    info = runtime_stub(d).Status(pb2.StatusRequest(verbose=True)).info
    assert json.loads(info["podCIDR"]) == "10.88.0.0/16,fd00:88::/64"
    with open(marker) as f:  # handed to the network plugin again at start-up
        assert f.read().strip() == "10.88.0.0/16,fd00:88::/64"


@pytest.mark.parametrize("cidr", ["10.88.0.0", "10.88.0.0/33", "banana/8", "10.0.0.0/8,", "fd00::/129"])
def test_update_runtime_config_rejects_bad_cidr(cleatd_factory, runtime_stub, cri, cidr):
    pb2, _ = cri
    d = cleatd_factory().start()
    with pytest.raises(grpc.RpcError) as e:
        update_cidr(runtime_stub(d), pb2, cidr)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert cidr in e.value.details()


def test_unbuilt_rpcs_answer_unimplemented(cleatd_factory, runtime_stub, cri):
    pb2, pb2_grpc = cri
    d = cleatd_factory().start()
    stub = runtime_stub(d)
    with pytest.raises(grpc.RpcError) as e:
        stub.CheckpointContainer(pb2.CheckpointContainerRequest(container_id="x"))
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "/runtime.v1.RuntimeService/CheckpointContainer" in e.value.details()


def test_every_rpc_of_the_contract_is_routed(cleatd_factory, cri):
    """Each method of both services answers (OK or UNIMPLEMENTED), never 'unknown method'."""
    pb2, _ = cri
    d = cleatd_factory().start()
    ch = d.channel()
    for svc in pb2.DESCRIPTOR.services_by_name.values():
        for m in svc.methods:
            path = f"/{svc.full_name}/{m.name}"
            call = ch.unary_unary(path, request_serializer=lambda x: b"", response_deserializer=lambda b: b)
            # The event stream only ends when its client leaves: it is routed if it is still open.
            endless = m.name == "GetContainerEvents"
            try:
                call(None, timeout=1 if endless else 10)
            except grpc.RpcError as e:
                want = (grpc.StatusCode.DEADLINE_EXCEEDED,) if endless else (grpc.StatusCode.UNIMPLEMENTED,
                                                                             grpc.StatusCode.INVALID_ARGUMENT)
                assert e.code() in want, (path, e)
                assert "unknown method" not in e.details(), path


def test_unknown_method_and_malformed_request(cleatd_factory, cri):
    d = cleatd_factory().start()
    ch = d.channel()
    old = ch.unary_unary("/runtime.v1alpha2.RuntimeService/Version",
                         request_serializer=lambda x: x, response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as e:
        old(b"", timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "unknown method" in e.value.details()
    version = ch.unary_unary("/runtime.v1.RuntimeService/Version",
                             request_serializer=lambda x: x, response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as e:
        version(b"\xff\xff\xff\xff", timeout=10)  # not a protobuf message
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_concurrent_calls(cleatd_factory, runtime_stub, cri):
    pb2, _ = cri
    d = cleatd_factory("grpc: {workers: 3}\n").start()
    stub = runtime_stub(d)
    errors = []

    def hammer():
        try:
            for _ in range(25):
                assert stub.Version(pb2.VersionRequest()).runtime_name == "cleat"
                stub.Status(pb2.StatusRequest(verbose=True))
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=hammer) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_socket_mode_and_cleanup(cleatd_factory):
    d = cleatd_factory().start()
    st = os.stat(d.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert d.stop(signal.SIGINT) == 0
    assert not os.path.exists(d.socket)


def test_second_daemon_on_same_root_is_refused(cleatd_factory, tmp_path):
    d = cleatd_factory().start()
    other_sock = os.path.join(str(tmp_path), "other.sock")
    cfg = os.path.join(str(tmp_path), "other.yaml")
    with open(cfg, "w") as f:
        f.write(f"socket: {other_sock}\nroot_dir: {d.root_dir}\nstate_dir: {tmp_path}/run2\n")
    r = run_cleatd(["--config", cfg, "--dropin-dir", d.dropin_dir])
    assert r.returncode != 0
    assert f"in use by another cleatd (pid {d.proc.pid}" in r.stderr
    assert not os.path.exists(other_sock)
    # The first one is unharmed.
    assert os.path.exists(d.socket)


def test_restart_after_kill9(cleatd_factory, runtime_stub, cri):
    """A cleatd killed with SIGKILL leaves a stale socket and lock; the next one takes over."""
    pb2, _ = cri
    d = cleatd_factory().start()
    update_cidr(runtime_stub(d), pb2, "10.22.0.0/16")
    d.proc.kill()
    d.proc.wait()
    d.log.close()
    assert os.path.exists(d.socket)
    d.start()
    info = runtime_stub(d).Status(pb2.StatusRequest(verbose=True)).info
    assert json.loads(info["podCIDR"]) == "10.22.0.0/16"


def test_sd_notify_ready_once_serving(cleatd_factory, tmp_path):
    """Under systemd (Type=notify) READY=1 must come only when the socket serves."""
    import socket as so
    path = str(tmp_path / "notify.sock")
    sock = so.socket(so.AF_UNIX, so.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    d = cleatd_factory(env=lambda log: {"NOTIFY_SOCKET": path}, base=tmp_path / "d").start()
    msg = sock.recv(4096).decode()
    assert "READY=1" in msg.split("\n")
    assert f"MAINPID={d.proc.pid}" in msg
    assert d.answers()
    assert d.stop() == 0
    assert "STOPPING=1" in sock.recv(4096).decode()
    sock.close()


def test_journald_log_format(cleatd_factory, tmp_path):
    """With stderr connected to journald, lines carry a <priority> prefix instead of a timestamp."""
    def journal_env(log):
        st = os.fstat(log.fileno())
        return {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}

    d = cleatd_factory(env=journal_env).start()
    assert d.stop() == 0
    lines = [l for l in d.read_log().splitlines() if l]
    assert lines and all(l.startswith("<") and l[1].isdigit() and l[2] == ">" for l in lines), lines[:5]
    assert any(l.startswith("<6>") and "serving CRI" in l for l in lines)


def test_user_namespace_pod_refused_by_a_handler_without_them(cleatd_factory, runtime_stub, cri, open_base):
    """A handler whose runtime does not run user namespaces (as runtime-kata) refuses such a pod, naming itself."""
    pb2, _ = cri
    d = cleatd_factory(PLUGINS, base=open_base).start()
    ns = pb2.NamespaceOption(network=pb2.POD, pid=pb2.CONTAINER, ipc=pb2.POD,
                             userns_options=pod_fixture.user_namespace(pb2, [(0, 100000, 65536)]))
    cfg = pb2.PodSandboxConfig(metadata=pb2.PodSandboxMetadata(name="p", namespace="n", uid="u"),
                               linux=pb2.LinuxPodSandboxConfig(security_context=pb2.LinuxSandboxSecurityContext(
                                   namespace_options=ns)))
    with pytest.raises(grpc.RpcError) as e:
        runtime_stub(d).RunPodSandbox(pb2.RunPodSandboxRequest(config=cfg, runtime_handler="fast"), timeout=30)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value
    assert 'handler "fast" cannot run pods with their own user namespace' in e.value.details(), e.value.details()
    assert os.listdir(os.path.join(d.state_dir, "pods")) == []
