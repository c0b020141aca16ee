# SPDX-License-Identifier: Apache-2.0
"""What the benchmarks share: the CRI client modules compiled from our
api.proto, percentiles, figures from /proc, and CriBench, the calls kubelet
makes timed against any CRI socket (cleatd's, containerd's, cri-o's).

CriBench asks only what the CRI answers every runtime: the daemon is the
process at the other end of the socket (SO_PEERCRED), and a container's
helper (its shim or conmon) is the parent of the pid that the verbose
ContainerStatus reports, as kubelet's own tools find them."""

import importlib
import json
import math
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import time
import uuid

import grpc

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cri_modules(tmp):
    """api_pb2 and api_pb2_grpc, compiled from core/proto/api.proto into tmp/proto."""
    out = os.path.join(tmp, "proto")
    os.makedirs(out, exist_ok=True)
    proto_dir = os.path.join(SOURCE, "core", "proto")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}", f"--python_out={out}",
                    f"--grpc_python_out={out}", os.path.join(proto_dir, "api.proto")], check=True)
    if out not in sys.path:
        sys.path.insert(0, out)
    return importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc")


def pct(values, p):
    """The p-th percentile, nearest rank."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def ms(values):
    return f"median {statistics.median(values) * 1e3:8.1f} ms   p95 {pct(values, 95) * 1e3:8.1f} ms"


def save_figures(path, figures):
    """A script's figures as JSON at `path` (its --json FILE, which all.py reads); nothing when path is None."""
    if path:
        with open(path, "w") as f:
            json.dump(figures, f, indent=1)


def kb_fields(path):
    """The `Name: N kB` lines of a /proc file (status, smaps_rollup) as {name: N}."""
    with open(path) as f:
        return {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB", f.read(), re.M)}


def peer_pid(socket_path):
    """The pid of the process that serves a unix socket (SO_PEERCRED of a connection to it)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(socket_path)
        pid, _, _ = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return pid


def parent_pid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def bench_cgroup_parent():
    """A cgroupfs parent of the bench's own for the pods' cgroups (kubelet's cgroupfs driver style)."""
    return f"/cleat-bench-{uuid.uuid4().hex[:10]}"


def remove_cgroup(parent):
    """rmdir cgroup `parent` and its children in every hierarchy."""
    for h in sorted({os.path.realpath(os.path.join("/sys/fs/cgroup", p)) for p in os.listdir("/sys/fs/cgroup")}):
        top = os.path.join(h, parent.lstrip("/"))
        if not os.path.isdir(top):
            continue
        for root, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            for _ in range(50):
                try:
                    os.rmdir(root)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


class CriBench:
    """kubelet's calls against the CRI socket `socket_path`, timed.  Pods are on the host network unless
    pod_network; their cgroups go under cgroup_parent/podN when one is given (as kubelet always gives one:
    containerd has no pod stats without it; a cgroupfs path, which close() removes), and where the runtime
    chooses when not; container logs go under logs_dir."""

    def __init__(self, socket_path, pb2, pb2_grpc, logs_dir, cgroup_parent=None, pod_network=False):
        self.socket_path, self.pb2 = socket_path, pb2
        self.logs, self.cgroup_parent, self.pod_network = logs_dir, cgroup_parent, pod_network
        os.makedirs(logs_dir, exist_ok=True)
        self.channel = grpc.insecure_channel(f"unix://{socket_path}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.rt = pb2_grpc.RuntimeServiceStub(self.channel)
        self.img = pb2_grpc.ImageServiceStub(self.channel)
        self.pods = []  # (pod id, container id or None) the bench made and has not removed

    def version(self):
        v = self.rt.Version(self.pb2.VersionRequest(), timeout=30)
        return f"{v.runtime_name} {v.runtime_version}"

    def pull(self, ref):
        return self.img.PullImage(self.pb2.PullImageRequest(image=self.pb2.ImageSpec(image=ref)),
                                  timeout=600).image_ref

    def timed_pull(self, ref):
        """Seconds of a PullImage of `ref`, removed first when present, and removed again after."""
        self.remove_image(ref)
        t0 = time.monotonic()
        self.pull(ref)
        elapsed = time.monotonic() - t0
        self.remove_image(ref)
        return elapsed

    def remove_image(self, ref):
        st = self.img.ImageStatus(self.pb2.ImageStatusRequest(image=self.pb2.ImageSpec(image=ref)), timeout=60)
        if st.image.id:
            self.img.RemoveImage(self.pb2.RemoveImageRequest(image=self.pb2.ImageSpec(image=st.image.id)),
                                 timeout=120)

    def pod_config(self, i):
        pb2 = self.pb2
        name = f"bench-{i}"
        uid = str(uuid.uuid4())
        log_dir = os.path.join(self.logs, f"bench_{name}_{uid}")
        os.makedirs(log_dir)
        linux = pb2.LinuxPodSandboxConfig(security_context=pb2.LinuxSandboxSecurityContext(
            namespace_options=pb2.NamespaceOption(network=pb2.POD if self.pod_network else pb2.NODE,
                                                  pid=pb2.CONTAINER, ipc=pb2.POD)))
        if self.cgroup_parent:
            linux.cgroup_parent = f"{self.cgroup_parent}/pod{i}"
        return pb2.PodSandboxConfig(metadata=pb2.PodSandboxMetadata(name=name, namespace="bench", uid=uid),
                                    log_directory=log_dir, linux=linux)

    def container_config(self, pod_cfg, image):
        pb2 = self.pb2
        return pb2.ContainerConfig(
            metadata=pb2.ContainerMetadata(name="sleep"), image=pb2.ImageSpec(image=image),
            command=["sleep", "3600"], log_path="sleep/0.log",
            linux=pb2.LinuxContainerConfig(security_context=pb2.LinuxContainerSecurityContext(
                namespace_options=pod_cfg.linux.security_context.namespace_options)))

    def run_pod(self, cfg):
        return self.rt.RunPodSandbox(self.pb2.RunPodSandboxRequest(config=cfg), timeout=120).pod_sandbox_id

    def stop_remove_pod(self, pod):
        self.rt.StopPodSandbox(self.pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=120)
        self.rt.RemovePodSandbox(self.pb2.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=120)

    def run_all(self, n, image):
        """n pods of one running container each, one after another: {run, create, start, all: [seconds]}."""
        pb2, t = self.pb2, {"run": [], "create": [], "start": [], "all": []}
        for i in range(n):
            cfg = self.pod_config(i)
            t0 = time.monotonic()
            pod = self.run_pod(cfg)
            t1 = time.monotonic()
            self.pods.append((pod, None))
            cid = self.rt.CreateContainer(pb2.CreateContainerRequest(
                pod_sandbox_id=pod, config=self.container_config(cfg, image), sandbox_config=cfg),
                timeout=120).container_id
            t2 = time.monotonic()
            self.pods[-1] = (pod, cid)
            self.rt.StartContainer(pb2.StartContainerRequest(container_id=cid), timeout=120)
            t3 = time.monotonic()
            t["run"].append(t1 - t0)
            t["create"].append(t2 - t1)
            t["start"].append(t3 - t2)
            t["all"].append(t3 - t0)
        return t

    def pod_lifecycle(self, n):
        """RunPodSandbox, StopPodSandbox and RemovePodSandbox of an empty pod, n times, each timed whole."""
        times = []
        for i in range(n):
            cfg = self.pod_config(1000000 + i)
            t0 = time.monotonic()
            pod = self.run_pod(cfg)
            self.pods.append((pod, None))
            self.stop_remove_pod(pod)
            times.append(time.monotonic() - t0)
            self.pods.remove((pod, None))
        return times

    def lifecycle(self, n, image):
        """Create, Start, Status, Stop (timeout 0) and Remove of one container in a running pod, n times:
        {create, start, status, stop, remove, all: [seconds]}."""
        pb2, rt = self.pb2, self.rt
        cfg = self.pod_config(2000000)
        pod = self.run_pod(cfg)
        self.pods.append((pod, None))
        t = {k: [] for k in ("create", "start", "status", "stop", "remove", "all")}
        for _ in range(n):
            marks = [time.monotonic()]
            cid = rt.CreateContainer(pb2.CreateContainerRequest(
                pod_sandbox_id=pod, config=self.container_config(cfg, image), sandbox_config=cfg),
                timeout=120).container_id
            marks.append(time.monotonic())
            rt.StartContainer(pb2.StartContainerRequest(container_id=cid), timeout=120)
            marks.append(time.monotonic())
            rt.ContainerStatus(pb2.ContainerStatusRequest(container_id=cid), timeout=120)
            marks.append(time.monotonic())
            rt.StopContainer(pb2.StopContainerRequest(container_id=cid, timeout=0), timeout=120)
            marks.append(time.monotonic())
            rt.RemoveContainer(pb2.RemoveContainerRequest(container_id=cid), timeout=120)
            marks.append(time.monotonic())
            for k, a, b in zip(("create", "start", "status", "stop", "remove"), marks, marks[1:]):
                t[k].append(b - a)
            t["all"].append(marks[-1] - marks[0])
        self.stop_remove_pod(pod)
        self.pods.remove((pod, None))
        return t

    def hot_calls(self, k):
        """What kubelet asks every few seconds, with all pods running: each call k times.  {name: (answer, parse)}:
        the seconds until the whole response was in hand as bytes (the runtime's work and the transport), and
        the seconds this client then took to parse it (Python's, not the runtime's: half of a 500-pod stats
        list's time here)."""
        pb2 = self.pb2
        pod, cid = self.pods[len(self.pods) // 2]
        calls = {
            "ListPodSandbox": ("ListPodSandbox", pb2.ListPodSandboxRequest()),
            "ListPodSandbox (one pod by ID)": ("ListPodSandbox", pb2.ListPodSandboxRequest(
                filter=pb2.PodSandboxFilter(id=pod))),
            "ListContainers": ("ListContainers", pb2.ListContainersRequest()),
            "ListContainers (one pod's)": ("ListContainers", pb2.ListContainersRequest(
                filter=pb2.ContainerFilter(pod_sandbox_id=pod))),
            "PodSandboxStatus": ("PodSandboxStatus", pb2.PodSandboxStatusRequest(pod_sandbox_id=pod)),
            "PodSandboxStatus (verbose)": ("PodSandboxStatus", pb2.PodSandboxStatusRequest(
                pod_sandbox_id=pod, verbose=True)),
            "ContainerStatus": ("ContainerStatus", pb2.ContainerStatusRequest(container_id=cid)),
            "ListContainerStats": ("ListContainerStats", pb2.ListContainerStatsRequest()),
            "ListPodSandboxStats": ("ListPodSandboxStats", pb2.ListPodSandboxStatsRequest()),
        }
        out = {}
        for name, (method, req) in calls.items():
            raw = self.channel.unary_unary(f"/runtime.v1.RuntimeService/{method}",
                                           request_serializer=type(req).SerializeToString,
                                           response_deserializer=None)
            parse = getattr(pb2, f"{method}Response").FromString
            try:
                parse(raw(req))  # a first call fills caches, as kubelet's first poll would
            except grpc.RpcError as e:  # a runtime that cannot answer it here: said, and left out
                print(f"  {name}: {e.code()}: {e.details()}", file=sys.stderr)
                continue
            answer, parsing = [], []
            for _ in range(k):
                t0 = time.monotonic()
                data = raw(req)
                t1 = time.monotonic()
                parse(data)
                answer.append(t1 - t0)
                parsing.append(time.monotonic() - t1)
            out[name] = (answer, parsing)
        return out

    def daemon_memory(self):
        """/proc/<daemon>/status of the process serving the socket, as {field: kB}."""
        return kb_fields(f"/proc/{peer_pid(self.socket_path)}/status")

    def helper_memory(self):
        """{pid: smaps_rollup} of the helpers of the running containers: the parents of their processes (a
        shim, a conmon), each once however many containers it serves."""
        helpers = {}
        for _, cid in self.pods:
            if not cid:
                continue
            st = self.rt.ContainerStatus(self.pb2.ContainerStatusRequest(container_id=cid, verbose=True),
                                         timeout=60)
            pid = int(json.loads(st.info.get("info", "{}")).get("pid", 0) or 0)
            if pid > 0:
                ppid = parent_pid(pid)
                if ppid not in helpers:
                    helpers[ppid] = kb_fields(f"/proc/{ppid}/smaps_rollup")
        return helpers

    def stop_remove_all(self):
        pb2, t = self.pb2, {"stop": [], "remove": []}
        for pod, _ in self.pods:
            t0 = time.monotonic()
            self.rt.StopPodSandbox(pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=120)
            t1 = time.monotonic()
            self.rt.RemovePodSandbox(pb2.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=120)
            t2 = time.monotonic()
            t["stop"].append(t1 - t0)
            t["remove"].append(t2 - t1)
        self.pods = []
        return t

    def close(self):
        """Stop and remove what is left (after a failure: best effort), and close the channel."""
        for pod, _ in self.pods:
            try:
                self.stop_remove_pod(pod)
            except grpc.RpcError as e:
                print(f"cleanup of pod {pod}: {e.code()}: {e.details()}", file=sys.stderr)
        self.pods = []
        self.channel.close()
        if self.cgroup_parent:
            remove_cgroup(self.cgroup_parent)
