# SPDX-License-Identifier: Apache-2.0
"""Pod networking with the real CNI plugins (Debian's containernetworking-plugins).

cleatd runs inside a network namespace the test makes, standing for the
node: the bridge, the veths' host ends, the portmap and masquerade iptables
rules all live there and go with it, so a test never touches the machine's
own network.  The namespace has `lo` and a veth with the node's
address, NODE_IP.
"""

import ipaddress
import json
import os
import subprocess
import uuid

import pod_fixture
from conftest import Cleatd

CNI_BIN_DIR = "/usr/lib/cni"
NODE_IP = "192.0.2.10"  # TEST-NET-1: never routed anywhere
NODE_IF = "node0"
NODE_PEER = "node0p"


def missing_prerequisites():
    why = pod_fixture.missing_prerequisites()
    for plugin in ("bridge", "host-local", "portmap", "loopback"):
        if not os.path.exists(os.path.join(CNI_BIN_DIR, plugin)):
            why.append(f"no CNI plugin {plugin} in {CNI_BIN_DIR} (containernetworking-plugins)")
    for tool in ("/usr/bin/unshare", "/usr/bin/nsenter", "/usr/sbin/ip", "/usr/sbin/iptables", "/bin/busybox"):
        if not os.path.exists(tool):
            why.append(f"no {tool}")
    return why


class NodeNetns:
    """A network namespace pinned on a file under `base`: the node cleatd runs in."""

    def __init__(self, base):
        self.path = os.path.join(base, "node-netns")
        open(self.path, "w").close()
        subprocess.run(["unshare", f"--net={self.path}", "true"], check=True)
        try:
            self._make_interfaces()
        except BaseException:
            self.close()
            raise

    def _make_interfaces(self):
        self.run("ip", "link", "set", "lo", "up")
        # The node's "uplink": a veth pair, since this kernel may have no dummy driver.
        self.run("ip", "link", "add", NODE_IF, "type", "veth", "peer", "name", NODE_PEER)
        self.run("ip", "addr", "add", f"{NODE_IP}/24", "dev", NODE_IF)
        self.run("ip", "link", "set", NODE_PEER, "up")
        self.run("ip", "link", "set", NODE_IF, "up")

    def run(self, *cmd, check=True, timeout=60):
        """A command in the node's namespace; returns the CompletedProcess (text)."""
        return subprocess.run(["nsenter", f"--net={self.path}", "--", *cmd], check=check, capture_output=True,
                              text=True, timeout=timeout)

    def links(self):
        """{name: kind} of the node's interfaces ("veth", "bridge", "dummy", ...)."""
        out = self.run("ip", "-d", "-j", "link", "show").stdout
        return {l["ifname"]: l.get("linkinfo", {}).get("info_kind", "") for l in json.loads(out)}

    def veths(self):
        """The pods' veths (the node's own pair left out)."""
        return sorted(n for n, kind in self.links().items() if kind == "veth" and n not in (NODE_IF, NODE_PEER))

    def wget(self, url, timeout=5):
        """busybox wget from the node: the body, or None when it cannot get it in `timeout` seconds.
        (Debian's busybox-static wget crashes with its own -T once connected: the process is bounded instead.)"""
        try:
            r = self.run("/bin/busybox", "wget", "-q", "-O-", url, check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return r.stdout if r.returncode == 0 else None

    def close(self):
        subprocess.run(["umount", self.path], check=False)
        os.unlink(self.path)


def in_netns(netns):
    """A Cleatd class whose daemon runs in `netns` (nsenter execs it: the pid is cleatd's)."""

    class NetnsCleatd(Cleatd):
        def args(self):
            return ["nsenter", f"--net={netns.path}", "--"] + super().args()

    return NetnsCleatd


def bridge_conflist(name, bridge, subnet, data_dir, subnet6=None, extra_plugins=(), version="1.0.0", portmap=True):
    """bridge + host-local (+ portmap) as a kubelet operator writes it; host-local keeps its store in data_dir."""
    ranges = [[{"subnet": subnet}]] + ([[{"subnet": subnet6}]] if subnet6 else [])
    routes = [{"dst": "0.0.0.0/0"}] + ([{"dst": "::/0"}] if subnet6 else [])
    return {
        "cniVersion": version,
        "name": name,
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": True, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": ranges, "routes": routes, "dataDir": data_dir}},
            *([{"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}] if portmap else []),
            *extra_plugins,
        ],
    }


def write_conf(conf_dir, filename, conf):
    """Write a config the way a CNI daemonset does: a temporary file, then rename (text is written as is)."""
    os.makedirs(conf_dir, exist_ok=True)
    tmp = os.path.join(conf_dir, f".{filename}.tmp")
    with open(tmp, "w") as f:
        f.write(conf if isinstance(conf, str) else json.dumps(conf, indent=2))
    os.rename(tmp, os.path.join(conf_dir, filename))


def reserved_ips(data_dir):
    """The addresses host-local holds in data_dir (its files named by address)."""
    found = []
    for _, _, files in os.walk(data_dir):
        for f in files:
            try:
                found.append(str(ipaddress.ip_address(f)))
            except ValueError:
                pass  # lock, last_reserved_ip.N
    return sorted(found)


class NetEnv:
    """A node netns, a conf dir, a host-local store and a cleatd with net-cni, with the test images pulled."""

    def __init__(self, base, cri, layout, conf=True, bin_dirs=(CNI_BIN_DIR,), config_extra="", **conflist_kw):
        """conf: True for the bridge conflist (conflist_kw passed on), False for an empty conf dir;
        config_extra: more of cleatd's config."""
        self.base = base
        self.netns = NodeNetns(base)
        self.conf_dir = os.path.join(base, "net.d")
        self.data_dir = os.path.join(base, "ipam")
        self.net_name = "cleat-e2e"
        self.bridge = "clt" + uuid.uuid4().hex[:8]
        self.subnet = "10.244.7.0/24"
        os.makedirs(self.conf_dir, exist_ok=True)
        if conf:
            write_conf(self.conf_dir, "10-bridge.conflist", self.conflist(**conflist_kw))
        options = f"{{conf_dir: {self.conf_dir}, bin_dirs: [{', '.join(bin_dirs)}]}}"
        try:
            self.env = pod_fixture.make_env(in_netns(self.netns), base, cri, layout,
                                            f"network:\n  plugin: net-cni\n  options: {options}\n" + config_extra)
        except BaseException:
            self.netns.close()
            raise
        self.cache_dir = os.path.join(self.env.d.root_dir, "plugins", "network", "net-cni")

    def conflist(self, **kw):
        return bridge_conflist(self.net_name, self.bridge, self.subnet, self.data_dir, **kw)

    def network_condition(self):
        pb2 = self.env.pb2
        st = self.env.rt.Status(pb2.StatusRequest(), timeout=30).status
        return next(c for c in st.conditions if c.type == "NetworkReady")

    def close(self):
        """Remove every pod, stop cleatd (it must exit 0), then check nothing is left and drop the netns."""
        try:
            self.env.remove_all()
            rc = self.env.d.stop()
            self.env.remove_cgroups()
            assert rc == 0, f"cleatd exited with {rc}:\n{self.env.d.read_log()}"
            assert self.netns.veths() == []
            assert reserved_ips(self.data_dir) == []
        finally:
            self.netns.close()
