# SPDX-License-Identifier: Apache-2.0
"""The pod network hook: RunPodSandbox calls the network plugin's setup in
the pod's pinned netns, PodSandboxStatus reports the addresses it gave,
StopPodSandbox calls teardown, a failing setup leaves nothing behind, and
host-network pods never reach the plugin.  The plugin is the test plugin
(tests/plugins); real CNI is the networking issue's."""

import os

import grpc
import pytest

from conftest import BUILD_DIR, PLUGIN_DIR, SHIPPED_PLUGIN_DIRS

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)")

RUNC_DIR = os.path.join(BUILD_DIR, "plugins", "runtime-runc")


def config():
    dirs = ", ".join(SHIPPED_PLUGIN_DIRS + [RUNC_DIR, PLUGIN_DIR])
    shim = os.environ.get("CLEAT_SHIM", os.path.join(BUILD_DIR, "shim", "cleat-shim"))
    return (f"plugin_dirs: [{dirs}]\n"
            "runtime:\n  handlers:\n    runc:\n      plugin: runtime-runc\n"
            f"      options: {{shim: {shim}}}\n"
            "network:\n  plugin: test-good-network\n  name: testnet\n")


@pytest.fixture
def daemon(cleatd_factory):
    return cleatd_factory(config()).start()


def pod_config(pb, name, host_network=False):
    ns = pb.NamespaceOption(network=pb.NODE if host_network else pb.POD, pid=pb.CONTAINER)
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, namespace="hook", uid="uid-" + name),
        hostname=name,
        linux=pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns)))


def net_state_dir(daemon):
    return os.path.join(daemon.state_dir, "plugins", "network", "testnet")


def test_setup_status_teardown(cri, daemon, runtime_stub):
    pb, _ = cri
    rt = runtime_stub(daemon)
    pod = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=pod_config(pb, "web"))).pod_sandbox_id
    with open(os.path.join(net_state_dir(daemon), f"setup-{pod}")) as f:
        assert f.read().strip() == os.path.join(daemon.state_dir, "pods", pod, "ns", "net")
    st = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod)).status
    assert st.network.ip == "10.88.0.5"
    assert [ip.ip for ip in st.network.additional_ips] == ["fd00::5"]
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod))
    assert os.path.exists(os.path.join(net_state_dir(daemon), f"teardown-{pod}"))
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod))  # idempotent
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod))
    assert not os.path.exists(os.path.join(daemon.state_dir, "pods", pod))


def test_failed_setup_leaves_nothing(cri, daemon, runtime_stub):
    pb, _ = cri
    rt = runtime_stub(daemon)
    with pytest.raises(grpc.RpcError) as e:
        rt.RunPodSandbox(pb.RunPodSandboxRequest(config=pod_config(pb, "fail-net")))
    assert e.value.code() == grpc.StatusCode.INTERNAL
    assert "no addresses left" in e.value.details()
    assert len(rt.ListPodSandbox(pb.ListPodSandboxRequest()).items) == 0
    assert os.listdir(os.path.join(daemon.state_dir, "pods")) == []
    # what setup made was torn down again
    names = os.listdir(net_state_dir(daemon))
    pods = [n[len("setup-"):] for n in names if n.startswith("setup-")]
    assert len(pods) == 1 and f"teardown-{pods[0]}" in names
    with open("/proc/self/mountinfo") as f:
        assert daemon.state_dir + "/pods/" not in f.read()


def test_host_network_skips_the_plugin(cri, daemon, runtime_stub):
    pb, _ = cri
    rt = runtime_stub(daemon)
    pod = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=pod_config(pb, "hostnet", True))).pod_sandbox_id
    assert rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod)).status.network.ip == ""
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod))
    assert not any(n.endswith(pod) for n in os.listdir(net_state_dir(daemon)))
