# SPDX-License-Identifier: Apache-2.0
"""Pod networking through net-cni with the real CNI plugins (bridge, host-local,
portmap) on a bridge in a node network namespace the test makes (net_fixture):
pod IPs, pod-to-pod traffic, hostPort, host-network pods, NetworkReady that
follows the conf dir, restart safety and clean failures."""

import ipaddress
import os
import signal
import subprocess

import grpc
import pytest

import net_fixture
from conftest import pods_removed_after
from net_fixture import NODE_IF, NODE_IP, NetEnv, reserved_ips, write_conf
from pod_fixture import wait_for

# busybox-static's wget crashes (SIGSEGV) with -T once connected: the exec's own timeout bounds it instead.
HTTPD = ("mkdir -p /tmp/www && echo \"hello from $(hostname)\" > /tmp/www/index.html && "
         "exec httpd -f -p 8080 -h /tmp/www")


@pytest.fixture(scope="module")
def net(tmp_path_factory, cri, test_layout):
    missing = net_fixture.missing_prerequisites()
    if missing:
        pytest.skip("; ".join(missing))
    n = NetEnv(str(tmp_path_factory.mktemp("net")), cri, test_layout)
    yield n
    n.close()


@pytest.fixture
def own_net(tmp_path, cri, test_layout):
    """A NetEnv of its own (a test that restarts cleatd or rewrites the conf dir)."""
    missing = net_fixture.missing_prerequisites()
    if missing:
        pytest.skip("; ".join(missing))
    made = []

    def make(**kw):
        made.append(NetEnv(str(tmp_path), cri, test_layout, **kw))
        return made[-1]

    yield make
    for n in made:
        n.close()


@pytest.fixture
def pods(net):
    """The module's NetEnv; the pods a test made are removed after it."""
    with pods_removed_after(net.env):
        yield net


def pod_ip(env, pod_id):
    st = env.pod_status(pod_id).status
    return st.network.ip, [a.ip for a in st.network.additional_ips]


def serve_http(env, pod_id):
    cid = env.run(pod_id, command=["sh", "-c", HTTPD])
    wait_for(lambda: env.exec(cid, ["wget", "-q", "-O-", "http://127.0.0.1:8080/"], timeout=5).exit_code == 0, 20,
             "httpd in the pod")
    return cid


def test_network_ready_with_a_config(pods):
    cond = pods.network_condition()
    assert cond.status, (cond.reason, cond.message)


def test_two_pods_get_distinct_ips_and_reach_each_other(pods):
    env = pods.env
    a = env.run_pod(name="server")
    b = env.run_pod(name="client")
    ip_a, more_a = pod_ip(env, a)
    ip_b, _ = pod_ip(env, b)
    subnet = ipaddress.ip_network(pods.subnet)
    assert ip_a != ip_b
    assert ipaddress.ip_address(ip_a) in subnet and ipaddress.ip_address(ip_b) in subnet
    assert more_a == []
    assert sorted(reserved_ips(pods.data_dir)) == sorted([ip_a, ip_b])
    # the address is on the pod's eth0, seen from inside
    serve_http(env, a)
    client = env.run(b, command=["sleep", "3600"])
    assert f"inet {ip_b}/24" in env.sh(client, "ip -4 addr show dev eth0")
    body = env.sh(client, f"wget -q -O- http://{ip_a}:8080/", timeout=10)
    assert body.strip() == "hello from server"
    # ListPodSandbox and PodSandboxStatus agree; the node reaches the pod through the bridge
    assert pods.netns.wget(f"http://{ip_a}:8080/").strip() == "hello from server"
    # two veths on the node, one per pod, both on the bridge
    assert len(pods.netns.veths()) == 2


def test_host_port_reaches_the_pod(pods):
    env = pods.env
    pb2 = env.pb2
    cfg = env.pod_config(name="web")
    cfg.port_mappings.append(pb2.PortMapping(protocol=pb2.TCP, container_port=8080, host_port=18080))
    pod = env.run_pod(config=cfg)
    serve_http(env, pod)
    assert pods.netns.wget(f"http://{NODE_IP}:18080/").strip() == "hello from web"
    assert pods.netns.wget("http://127.0.0.1:18080/").strip() == "hello from web"
    # the mapping goes with the pod
    env.stop_pod(pod)
    assert pods.netns.wget(f"http://{NODE_IP}:18080/", timeout=2) is None
    rules = pods.netns.run("iptables-save", "-t", "nat").stdout
    assert "18080" not in rules, rules


def test_host_network_pod_sees_the_node_and_never_calls_cni(pods):
    env = pods.env
    before = reserved_ips(pods.data_dir)
    pod = env.run_pod(host_network=True)
    cid = env.run(pod, command=["sleep", "3600"])
    assert NODE_IF in env.sh(cid, "cat /proc/net/dev")
    assert pods.bridge in env.sh(cid, "cat /proc/net/dev")
    assert pod_ip(env, pod) == ("", [])
    assert reserved_ips(pods.data_dir) == before
    assert not os.path.isdir(pods.cache_dir) or not [f for f in os.listdir(pods.cache_dir) if pod in f]


def test_stop_twice_and_remove_release_everything(pods):
    env = pods.env
    pod = env.run_pod()
    ip, _ = pod_ip(env, pod)
    assert ip in reserved_ips(pods.data_dir)
    env.stop_pod(pod)
    assert ip not in reserved_ips(pods.data_dir)
    assert pods.netns.veths() == []
    env.stop_pod(pod)  # idempotent
    env.remove_pod(pod)
    assert not [f for f in os.listdir(pods.cache_dir) if pod in f]


def test_dual_stack_ipv4_first(own_net):
    n = own_net(subnet6="fd00:10:244:7::/64")
    env = n.env
    pod = env.run_pod()
    ip, more = pod_ip(env, pod)
    assert ipaddress.ip_address(ip).version == 4
    assert len(more) == 1 and ipaddress.ip_address(more[0]).version == 6
    assert sorted(reserved_ips(n.data_dir)) == sorted([ip, more[0]])


@pytest.mark.parametrize("version", ["0.2.0", "0.3.1", "0.4.0"])
def test_older_cni_versions(own_net, version):
    # Before 0.3.0 there was no chaining (portmap refuses to run alone): bridge only, with the ip4 result form.
    n = own_net(version=version, portmap=version >= "0.3")
    pod = n.env.run_pod()
    ip, _ = pod_ip(n.env, pod)
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(n.subnet)
    n.env.stop_pod(pod)
    assert reserved_ips(n.data_dir) == []


def test_network_ready_follows_the_conf_dir(own_net):
    n = own_net(conf=False)
    env = n.env
    cond = n.network_condition()
    assert not cond.status
    assert cond.reason == "NetworkPluginNotReady"
    assert n.conf_dir in cond.message, cond.message
    # a pod on the pod network cannot run yet, and leaves nothing behind; one on the host network can
    with pytest.raises(grpc.RpcError) as e:
        env.run_pod(name="too-early")
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "network" in e.value.details().lower(), e.value.details()
    assert [p for p in env.list_pods() if p.metadata.name == "too-early"] == []
    assert os.listdir(os.path.join(env.d.state_dir, "pods")) == []
    host = env.run_pod(host_network=True)
    env.stop_pod(host)
    env.remove_pod(host)
    # a broken file is named in the message
    write_conf(n.conf_dir, "05-broken.conflist", "{\"cniVersion\": \"1.0.0\", \"name\": ")
    wait_for(lambda: "05-broken.conflist" in n.network_condition().message, 20, "the broken file in the message")
    assert not n.network_condition().status
    # the CNI daemonset installs its config: ready without a restart, the broken file skipped
    write_conf(n.conf_dir, "10-bridge.conflist", n.conflist())
    wait_for(lambda: n.network_condition().status, 20, "NetworkReady")
    pod = env.run_pod()
    assert ipaddress.ip_address(pod_ip(env, pod)[0]) in ipaddress.ip_network(n.subnet)
    # the config goes away: not ready again, and the running pod still tears down from its cached result
    os.unlink(os.path.join(n.conf_dir, "10-bridge.conflist"))
    os.unlink(os.path.join(n.conf_dir, "05-broken.conflist"))
    wait_for(lambda: not n.network_condition().status, 20, "NetworkReady false")
    env.stop_pod(pod)
    assert reserved_ips(n.data_dir) == []
    assert n.netns.veths() == []


FAILING_PLUGIN = """#!/bin/sh
# A chained CNI plugin that refuses ADD (and lets DEL and the rest succeed).
cat >/dev/null
case "$CNI_COMMAND" in
ADD) echo '{"cniVersion": "1.0.0", "code": 999, "msg": "refused by the test", "details": "on purpose"}'; exit 1;;
VERSION) echo '{"cniVersion": "1.0.0", "supportedVersions": ["0.3.1", "0.4.0", "1.0.0"]}';;
esac
exit 0
"""


def test_failing_plugin_undoes_what_was_made(own_net, tmp_path):
    bin_dir = tmp_path / "cni-bin"
    bin_dir.mkdir()
    (bin_dir / "refuse").write_text(FAILING_PLUGIN)
    os.chmod(bin_dir / "refuse", 0o755)
    # bridge and host-local succeed, then the chain's last plugin fails
    n = own_net(bin_dirs=(str(bin_dir), net_fixture.CNI_BIN_DIR), extra_plugins=[{"type": "refuse"}],
                config_extra="metrics: {address: \"127.0.0.1:9464\"}\n")  # in the node netns: no clash
    assert n.network_condition().status
    env = n.env
    with pytest.raises(grpc.RpcError) as e:
        env.run_pod(name="refused")
    assert "refused by the test" in e.value.details() and "on purpose" in e.value.details(), e.value.details()
    assert [p for p in env.list_pods() if p.metadata.name == "refused"] == []
    assert os.listdir(os.path.join(env.d.state_dir, "pods")) == []
    assert n.netns.veths() == []
    assert reserved_ips(n.data_dir) == []
    # and the operator sees it in cleatd's metrics
    metrics = n.netns.wget("http://127.0.0.1:9464/metrics")
    assert 'cleat_plugin_errors_total{concern="network",instance="net-cni",op="setup"} 1' in metrics, metrics


def test_missing_plugin_binary(own_net):
    n = own_net(extra_plugins=[{"type": "no-such-cni-plugin"}])
    cond = n.network_condition()
    assert not cond.status and "no-such-cni-plugin" in cond.message, cond
    env = n.env
    with pytest.raises(grpc.RpcError) as e:
        env.run_pod(name="nobin")
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no-such-cni-plugin" in e.value.details(), e.value.details()
    assert n.netns.veths() == []
    assert reserved_ips(n.data_dir) == []


def test_kill9_restart_then_stop_releases_the_ip(own_net):
    n = own_net()
    env = n.env
    pod = env.run_pod(name="survivor")
    ip, _ = pod_ip(env, pod)
    cid = env.run(pod, command=["sleep", "3600"])
    assert reserved_ips(n.data_dir) == [ip]
    env.d.proc.send_signal(signal.SIGKILL)
    env.d.proc.wait()
    env.d.log.close()
    # the operator replaces the config meanwhile: teardown must use what setup used
    os.unlink(os.path.join(n.conf_dir, "10-bridge.conflist"))
    write_conf(n.conf_dir, "10-other.conflist", net_fixture.bridge_conflist(
        "other", "clt-other", "10.244.8.0/24", n.data_dir + "-other"))
    env.d.start()
    env.connect()
    assert pod_ip(env, pod)[0] == ip
    assert env.sh(cid, "echo alive").strip() == "alive"
    env.stop_pod(pod)
    assert reserved_ips(n.data_dir) == []
    assert n.netns.veths() == []
    env.stop_pod(pod)
    env.remove_pod(pod)


def test_the_machine_network_is_untouched(net):
    """Everything lives in the node netns: the machine has no bridge or veth of ours."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    assert net.bridge not in out
