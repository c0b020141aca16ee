#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Pod benchmark: N pods (default 20), each with one container `sleep 3600`,
host network, the image already pulled; run, created and started one after
another, then stopped and removed.  Against the machine's floor measured in
the same run: the same container (same rootfs content, a prepared bundle
whose config.json is the one cleat wrote, its pod paths replaced) started
with bare `runc create` + `runc start`, and with `runc run -d`.

    /usr/bin/python3 bench/pods.py [--build-dir DIR] [--cleatd PATH] [-n 20] [--calls 50] [--floor-only] [--cni]
                                   [--no-shimv2] [--quick] [--json FILE]

--quick: 2 pods and 5 calls each (what CI runs, so that the script cannot
rot); --json: the ratios also into FILE, for bench/all.py.

Each is measured twice: with runtime-runc (cleat-shim), and with the shimv2
handler (runtime-kata driving containerd-shim-runc-v2, one shim per pod, a
relay per container) when that shim is installed.

With --cni the pods are on the pod network instead: cleatd runs in a
network namespace of the benchmark's own (standing for the node) with
net-cni and the default conflist that cleat ships (config/cni: bridge,
host-local, portmap), so RunPodSandbox includes the CNI ADD and
StopPodSandbox the DEL.

(as root; --build-dir defaults to ./build; cleatd, cleat-shim, cleat-pause and
the plugins are taken from it).  Prints median and p95 latency of
RunPodSandbox, CreateContainer, StartContainer, the three together,
StopPodSandbox and RemovePodSandbox; p50 and p99 of the calls kubelet
makes every few seconds, with all N pods running (--calls times each:
ListPodSandbox and ListContainers, whole and filtered to one pod,
PodSandboxStatus, ContainerStatus, ListContainerStats, ListPodSandboxStats:
the time until the response is in hand as bytes, and apart from it this
client's parse of it);
the container lifecycle (Create, Start,
Stop, Remove of one container in a running pod, N times); cleatd's VmRSS and
RssAnon with all N running; one shim's Rss and Pss (smaps_rollup) and the
median over all shims (for shimv2 the pod's shim v2, and the container's
relay); the floor medians; and the ratios (cleat run+create+start median /
runc create+start median).  Everything it made is removed at the end
(cleatd by pid, containers, mounts, cgroups, temporary directories).
"""

import argparse
import gzip
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE, "tests", "e2e"))
import registry_fixture as rf  # noqa: E402
from cri_client import (CriBench, bench_cgroup_parent, cri_modules, kb_fields, ms, pct, remove_cgroup,  # noqa: E402
                        save_figures)

RUNC = "/usr/bin/runc"
SHIMV2 = "/usr/bin/containerd-shim-runc-v2"
HANDLERS = {"runc": "runtime-runc, cleat-shim per container",
            "shimv2": "runtime-kata, containerd-shim-runc-v2 per pod + relay per container"}


def mounts_under(prefix):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if point.startswith(prefix + "/"):
                out.append(point)
    return out


# --------------------------------------------------------------------------
# cleat

class Cleat(CriBench):
    """A cleatd of the bench's own (the build dir's binaries, a temporary root), and CriBench against it.
    registries: {host:port: options} for image-docker (e.g. {insecure: true} for a local docker-registry)."""

    def __init__(self, args, tmp, pb2, pb2_grpc, handler="runc", registries=None):
        self.args = args
        self.handler = handler
        self.base = os.path.join(tmp, f"cleat-{handler}")
        self.state = os.path.join(self.base, "run")
        self.logs = os.path.join(self.base, "logs")
        os.makedirs(self.logs)
        self.cgroup_parent = bench_cgroup_parent()
        b = args.build_dir
        cfg = os.path.join(self.base, "cleat.yaml")
        plugins = ", ".join(os.path.join(b, "plugins", p)
                            for p in ("storage-overlay", "image-docker", "image-oci", "runtime-runc", "runtime-kata",
                                      "net-cni"))
        prefix, network = [], "network: null\n"
        self.netns = None
        if args.cni:
            # The node: a netns pinned on a file, holding the bridge and the iptables rules, gone at close().
            self.netns = os.path.join(self.base, "node-netns")
            open(self.netns, "w").close()
            subprocess.run(["unshare", f"--net={self.netns}", "true"], check=True)
            subprocess.run(["nsenter", f"--net={self.netns}", "ip", "link", "set", "lo", "up"], check=True)
            conf_dir = os.path.join(self.base, "net.d")
            os.makedirs(conf_dir)
            with open(os.path.join(SOURCE, "config", "cni", "10-cleat-bridge.conflist")) as f:
                conf = json.load(f)
            conf["plugins"][0]["ipam"]["dataDir"] = os.path.join(self.base, "ipam")
            self.conf_path = os.path.join(conf_dir, "10-cleat-bridge.conflist")
            with open(self.conf_path, "w") as f:
                json.dump(conf, f)
            prefix = ["nsenter", f"--net={self.netns}", "--"]
            network = f"network:\n  plugin: net-cni\n  options: {{conf_dir: {conf_dir}}}\n"
        with open(cfg, "w") as f:
            f.write(network)
            f.write(f"socket: {self.state}/cleat.sock\nroot_dir: {self.base}/root\nstate_dir: {self.state}\n"
                    f"log_level: notice\nplugin_dirs: [{plugins}]\n"
                    f"runtime:\n  default_handler: {handler}\n"
                    f"  seccomp_default_profile: {os.path.join(SOURCE, 'config', 'seccomp-default.json')}\n"
                    f"  pause_binary: {os.path.join(b, 'shim', 'cleat-pause')}\n"
                    f"  handlers:\n    runc:\n      plugin: runtime-runc\n"
                    f"      options: {{binary: {args.runc}, shim: {os.path.join(b, 'shim', 'cleat-shim')}}}\n"
                    f"    shimv2:\n      plugin: runtime-kata\n"
                    f"      options: {{shim: {SHIMV2}, relay: {os.path.join(b, 'shim', 'cleat-shim')}}}\n")
            if registries:
                f.write("transports:\n  registry:\n    options:\n      registries:\n")
                for host, opts in registries.items():
                    f.write(f"        \"{host}\": {json.dumps(opts)}\n")
        self.log = open(os.path.join(self.base, "cleatd.log"), "wb")
        self.proc = subprocess.Popen(prefix + [args.cleatd, "--config", cfg, "--dropin-dir", os.path.join(self.base, "none")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            super().__init__(f"{self.state}/cleat.sock", pb2, pb2_grpc, self.logs, self.cgroup_parent,
                             pod_network=args.cni)
        except BaseException:
            self.stop_daemon()
            raise

    def memory(self):
        """cleatd's status, and [(pid, smaps_rollup)] of the shims: cleat-shims, or (shimv2) shim v2s and relays."""
        st = kb_fields(f"/proc/{self.proc.pid}/status")
        shims, relays = [], []
        for pod, cid in self.pods:
            with open(os.path.join(self.state, "containers", cid, "shim.pid")) as f:
                pid = int(f.read())
            (relays if self.handler == "shimv2" else shims).append((pid, kb_fields(f"/proc/{pid}/smaps_rollup")))
            if self.handler == "shimv2":
                path = os.path.join(self.state, "plugins", "runtime", "shimv2", "pods", pod + ".json")
                with open(path) as f:
                    pid = json.load(f)["shim_pid"]
                shims.append((pid, kb_fields(f"/proc/{pid}/smaps_rollup")))
        return st, shims, relays

    def container_spec(self):
        """The config.json cleat wrote for the first container."""
        with open(os.path.join(self.state, "containers", self.pods[0][1], "config.json")) as f:
            return json.load(f)

    def close(self):
        super().close()
        self.stop_daemon()

    def stop_daemon(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.netns:
            subprocess.run(["umount", self.netns], check=False)
        left = mounts_under(self.base)
        if left:
            print(f"warning: cleat left mounts: {left}", file=sys.stderr)
            for m in sorted(left, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True)


# --------------------------------------------------------------------------
# the CNI floor: the same conflist's plugins run by hand

def cni_floor(netns, conf_path, n):
    """ADD of the conflist's plugins in order (prevResult chained), each pod in a fresh netns: the seconds
    the plugins themselves take per pod, as cleat's RunPodSandbox runs them; then DEL, in reverse."""
    with open(conf_path) as f:
        conf = json.load(f)
    base = os.path.dirname(netns)
    times = []

    def call(plugin, command, pod_ns, cid, prev):
        stdin = dict(plugin, name=conf["name"], cniVersion=conf["cniVersion"])
        if prev is not None:
            stdin["prevResult"] = prev
        env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=cid, CNI_NETNS=pod_ns, CNI_IFNAME="eth0",
                   CNI_PATH="/usr/lib/cni:/opt/cni/bin")
        r = subprocess.run(["nsenter", f"--net={netns}", "--", os.path.join("/usr/lib/cni", plugin["type"])],
                           input=json.dumps(stdin), env=env, capture_output=True, text=True, check=True)
        return json.loads(r.stdout) if r.stdout.strip() else None

    for i in range(n):
        pod_ns = os.path.join(base, f"floor-ns-{i}")
        open(pod_ns, "w").close()
        subprocess.run(["unshare", f"--net={pod_ns}", "true"], check=True)
        cid = f"floor{i:04d}" + uuid.uuid4().hex
        t0 = time.monotonic()
        prev = None
        for plugin in conf["plugins"]:
            prev = call(plugin, "ADD", pod_ns, cid, prev)
        times.append(time.monotonic() - t0)
        for plugin in reversed(conf["plugins"]):
            call(plugin, "DEL", pod_ns, cid, prev)
        subprocess.run(["umount", pod_ns], check=False)
        os.unlink(pod_ns)
    return times


# --------------------------------------------------------------------------
# the floor: bare runc

def runc_spec(tmp):
    """Without a config.json from cleat (--floor-only): `runc spec`, made like cleat's (host network)."""
    d = os.path.join(tmp, "spec")
    os.makedirs(d)
    subprocess.run([RUNC, "spec"], cwd=d, check=True)
    with open(os.path.join(d, "config.json")) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["sleep", "3600"]
    spec["root"]["readonly"] = False
    spec["linux"]["namespaces"] = [ns for ns in spec["linux"]["namespaces"] if ns["type"] != "network"]
    return spec


class Floor:
    def __init__(self, args, tmp, layer_tar, spec):
        self.args = args
        self.dir = os.path.join(tmp, "floor")
        self.root = os.path.join(self.dir, "runc-root")
        self.rootfs = os.path.join(self.dir, "rootfs")
        self.cgroup_parent = f"/cleat-bench-floor-{uuid.uuid4().hex[:10]}"
        os.makedirs(self.rootfs)
        with tarfile.open(layer_tar) as tar:
            tar.extractall(self.rootfs)
        for d in ("proc", "sys", "dev", "tmp", "etc"):
            os.makedirs(os.path.join(self.rootfs, d), exist_ok=True)
        self.files = os.path.join(self.dir, "pod-files")
        os.makedirs(self.files)
        self.spec = self.adapt(spec)
        self.ids = []

    def adapt(self, spec):
        """cleat's config.json with its paths replaced: our rootfs, new namespaces instead of the pod's
        pinned ones (they are gone), stand-ins for the pod files, our own cgroup."""
        spec = json.loads(json.dumps(spec))
        spec["root"] = {"path": self.rootfs, "readonly": bool(spec.get("root", {}).get("readonly"))}
        linux = spec.setdefault("linux", {})
        for ns in linux.get("namespaces", []):
            ns.pop("path", None)
        for i, m in enumerate(spec.get("mounts", [])):
            src = m.get("source", "")
            if m.get("type") == "bind" and src.startswith(self.args.state_prefix or "\0"):
                stand_in = os.path.join(self.files, f"{i}-{os.path.basename(src)}")
                if os.path.isdir(src) or m["destination"] == "/dev/shm":
                    os.makedirs(stand_in, exist_ok=True)
                else:
                    with open(stand_in, "w") as f:
                        f.write("")
                m["source"] = stand_in
        spec["process"]["terminal"] = False
        return spec

    def bundle(self, cid):
        b = os.path.join(self.dir, "bundles", cid)
        os.makedirs(b)
        spec = json.loads(json.dumps(self.spec))
        spec["linux"]["cgroupsPath"] = f"{self.cgroup_parent}/{cid}"
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(spec, f)
        return b

    def runc(self, *a):
        # Never a pipe: `runc create` hands its stdio to the container, which would hold it open.
        with tempfile.TemporaryFile() as err:
            r = subprocess.run([self.args.runc, "--root", self.root, *a], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err)
            if r.returncode != 0:
                err.seek(0)
                raise RuntimeError(f"runc {' '.join(a)}: exit {r.returncode}: {err.read().decode(errors='replace')}")

    def create_start(self, n):
        bundles = [(cid, self.bundle(cid)) for cid in (f"floor-cs-{i}-{uuid.uuid4().hex[:6]}" for i in range(n))]
        times = []
        for cid, b in bundles:
            t0 = time.monotonic()
            self.runc("create", "--bundle", b, cid)
            self.ids.append(cid)
            self.runc("start", cid)
            times.append(time.monotonic() - t0)
        self.clear()
        return times

    def run_detached(self, n):
        bundles = [(cid, self.bundle(cid)) for cid in (f"floor-run-{i}-{uuid.uuid4().hex[:6]}" for i in range(n))]
        times = []
        for cid, b in bundles:
            t0 = time.monotonic()
            self.runc("run", "-d", "--bundle", b, cid)
            self.ids.append(cid)
            times.append(time.monotonic() - t0)
        self.clear()
        return times

    def clear(self):
        for cid in self.ids:
            subprocess.run([self.args.runc, "--root", self.root, "delete", "-f", cid], capture_output=True)
        self.ids = []

    def close(self):
        self.clear()
        remove_cgroup(self.cgroup_parent)


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--cleatd", help="default: BUILD_DIR/core/cleatd")
    ap.add_argument("--runc", default=RUNC)
    ap.add_argument("-n", type=int, default=20, help="pods (default 20)")
    ap.add_argument("--floor-only", action="store_true", help="only the bare runc floor (a `runc spec` config)")
    ap.add_argument("--cni", action="store_true", help="pods on the pod network: net-cni with the shipped conflist")
    ap.add_argument("--no-shimv2", action="store_true", help="runtime-runc only (no shimv2 column)")
    ap.add_argument("--calls", type=int, default=50,
                    help="times each hot kubelet call (List*, *Status, stats lists) is timed with all pods running "
                         "(default 50; 0: none)")
    ap.add_argument("--quick", action="store_true", help="2 pods, 5 calls each (what CI runs: it must complete)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures to FILE (bench/all.py reads it)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.calls = 2, 5
    args.build_dir = os.path.abspath(args.build_dir)
    args.cleatd = args.cleatd or os.path.join(args.build_dir, "core", "cleatd")
    args.state_prefix = None
    if os.geteuid() != 0:
        sys.exit("pods.py needs root")

    tmp = tempfile.mkdtemp(prefix="cleat-bench-pods-")
    cleat = floor = cni = None
    try:
        layout = os.path.join(tmp, "layout")
        image = rf.build_busybox_layout(layout, "bench")
        layer_tar = os.path.join(tmp, "layer.tar")
        with open(layer_tar, "wb") as f:
            f.write(gzip.decompress(image["layer"]))
        spec = None
        results, figures = {}, {}
        handlers = [] if args.floor_only else ["runc"] + ([] if args.no_shimv2 or not os.path.exists(SHIMV2)
                                                         else ["shimv2"])
        for handler in handlers:
            pb2, pb2_grpc = cri_modules(tmp) if handler == handlers[0] else (pb2, pb2_grpc)
            cleat = Cleat(args, tmp, pb2, pb2_grpc, handler)
            image_id = cleat.pull(f"oci:{layout}:bench")
            net = "pod network (CNI bridge + host-local + portmap)" if args.cni else "host network"
            print(f"cleat, {handler} ({HANDLERS[handler]}): {args.n} pods, one `sleep 3600` container each, {net}, "
                  f"image present", flush=True)
            t = cleat.run_all(args.n, image_id)
            hot = cleat.hot_calls(args.calls) if args.calls > 0 else {}
            status, shims, relays = cleat.memory()
            if handler == "runc":
                spec = cleat.container_spec()
                args.state_prefix = cleat.state + "/"
            u = cleat.stop_remove_all()
            life = cleat.lifecycle(args.n, image_id)
            cni = cni_floor(cleat.netns, cleat.conf_path, args.n) if args.cni else None
            cleat.close()
            cleat = None
            results[handler] = t
            print(f"  RunPodSandbox                      {ms(t['run'])}")
            print(f"  CreateContainer                    {ms(t['create'])}")
            print(f"  StartContainer                     {ms(t['start'])}")
            print(f"  Run+Create+Start                   {ms(t['all'])}")
            print(f"  StopPodSandbox                     {ms(u['stop'])}")
            print(f"  RemovePodSandbox                   {ms(u['remove'])}")
            print(f"  container lifecycle (C+S+St+Stop+Rm) {ms(life['all'])}")
            print(f"  cleatd with {args.n} running: VmRSS {status['VmRSS']} kB, RssAnon {status['RssAnon']} kB")
            for name, (times, parsing) in hot.items():
                print(f"  {name:<34} p50 {pct(times, 50) * 1e3:8.2f} ms   p99 {pct(times, 99) * 1e3:8.2f} ms "
                      f"(with {args.n} pods, {len(times)} calls; then this client's parse "
                      f"p50 {pct(parsing, 50) * 1e3:.2f} ms)")
            if cni:
                print(f"  floor: the conflist's plugins by hand (ADD, fresh netns) {ms(cni)}")
            for what, procs in (("shim v2" if handler == "shimv2" else "shim", shims), ("relay", relays)):
                if not procs:
                    continue
                pid, roll = procs[0]
                print(f"  one {what} (pid {pid}): Rss {roll['Rss']} kB, Pss {roll['Pss']} kB; over all {len(procs)}: "
                      f"median Rss {statistics.median(r['Rss'] for _, r in procs)} kB, "
                      f"median Pss {statistics.median(r['Pss'] for _, r in procs)} kB", flush=True)
        floor = Floor(args, tmp, layer_tar, spec or runc_spec(tmp))
        print(f"floor: bare {args.runc}, prepared bundles ({'cleat' if spec else '`runc spec`'}'s config.json), "
              f"same rootfs content", flush=True)
        cs = floor.create_start(args.n)
        rd = floor.run_detached(args.n)
        print(f"  runc create + runc start           {ms(cs)}")
        print(f"  runc run -d                        {ms(rd)}")
        for handler, t in results.items():
            if cni:
                ratio = statistics.median(t["all"]) / (statistics.median(cs) + statistics.median(cni))
                print(f"ratio ({handler}): cleat Run+Create+Start median / (runc create+start + CNI ADD medians) "
                      f"= {ratio:.2f}")
            else:
                ratio = statistics.median(t["all"]) / statistics.median(cs)
                print(f"ratio ({handler}): cleat Run+Create+Start median / runc create+start median = {ratio:.2f}")
            figures[f"run_create_start_over_floor_{handler}"] = ratio
        figures["runc_create_start_ms"] = statistics.median(cs) * 1e3
        save_figures(args.json, figures)
    finally:
        if cleat:
            cleat.close()
        if floor:
            floor.close()
        left = mounts_under(tmp)
        for m in sorted(left, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
