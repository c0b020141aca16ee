# SPDX-License-Identifier: Apache-2.0
"""Stats, metrics and events with real containers: CPU and memory from the
container's cgroups, the writable layer through the snapshotter, pod stats
with network counters from the pod's own network namespace, the cAdvisor
metrics kubelet asks for, GetContainerEvents on concurrent streams, and
cleatd's Prometheus endpoint.  Bands are generous: the machine is shared."""

import os
import queue
import socket
import threading
import time
import urllib.request

import grpc
import pytest

import pod_fixture
from conftest import module_pod_env, pods_removed_after

# Run once with runtime-runc and once with runtime-kata (shimv2) as the default handler (conftest.py), and once
# with every pod in a user namespace of its own (runc+userns).
ALSO_SHIMV2 = True
ALSO_USERNS = True

MIB = 1 << 20


def free_port():
    """A port free on every address, IPv6 and IPv4 (the dual-stack wildcard)."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stats_env(tmp_path_factory, cri, test_layout, default_handler):
    """A cleatd measuring in every call (writable layers too; no collector: test_stats_collector.py), with its
    metrics endpoint on."""
    port = free_port()
    extra = (f"stats: {{writable_layer_max_age_seconds: 0, collection_period_seconds: 0}}\n"
             f"events: {{queue_size: 64}}\n"
             f"metrics: {{address: \"127.0.0.1:{port}\"}}\n")
    with module_pod_env(tmp_path_factory, cri, test_layout, default_handler, "stats", config_extra=extra) as env:
        env.metrics_url = f"http://127.0.0.1:{port}/metrics"
        yield env


@pytest.fixture
def senv(stats_env):
    with pods_removed_after(stats_env):
        yield stats_env


def cstats(env, cid):
    return env.rt.ContainerStats(env.pb2.ContainerStatsRequest(container_id=cid), timeout=60).stats


def pstats(env, pod):
    return env.rt.PodSandboxStats(env.pb2.PodSandboxStatsRequest(pod_sandbox_id=pod), timeout=60).stats


def wait_log(env, pod, cid, text, timeout=30):
    path = env.log_path(pod, cid)
    return pod_fixture.wait_for(lambda: os.path.exists(path) and text in "\n".join(pod_fixture.log_messages(path)),
                                timeout, f"{text!r} in the log of {cid}")


def test_cpu_usage_and_nano_cores(senv):
    pod = senv.run_pod()
    cid = senv.run(pod, command=["sh", "-c", "while :; do :; done"])
    first = cstats(senv, cid)
    assert first.attributes.id == cid and first.attributes.metadata.name
    time.sleep(2)
    second = cstats(senv, cid)
    assert second.cpu.usage_core_nano_seconds.value > first.cpu.usage_core_nano_seconds.value
    assert second.cpu.timestamp > first.cpu.timestamp
    cores = second.cpu.usage_nano_cores.value / 1e9
    # The rate between the two samples; how much CPU the loop got depends on the machine's load.
    used = second.cpu.usage_core_nano_seconds.value - first.cpu.usage_core_nano_seconds.value
    expected = used / (second.cpu.timestamp - first.cpu.timestamp)
    assert abs(cores - expected) < 0.01, f"usage_nano_cores says {cores:.3f} cores, the counters {expected:.3f}"
    assert 0.05 < cores < 1.05, f"a single busy loop used {cores:.2f} cores"
    assert second.memory.working_set_bytes.value > 0
    print(f"busy loop: {cores:.3f} cores over 2 s")


def test_memory_working_set(senv):
    pod = senv.run_pod()
    cid = senv.run(pod, command=["/bin/cleat-testbin", "alloc", "64"])
    wait_log(senv, pod, cid, "allocated")
    mem = cstats(senv, cid).memory
    print(f"64 MiB allocated: working set {mem.working_set_bytes.value / MIB:.1f} MiB, "
          f"usage {mem.usage_bytes.value / MIB:.1f} MiB, rss {mem.rss_bytes.value / MIB:.1f} MiB")
    assert mem.working_set_bytes.value >= 64 * MIB
    assert mem.usage_bytes.value >= mem.working_set_bytes.value
    assert mem.rss_bytes.value >= 60 * MIB
    assert mem.page_faults.value > 0
    assert not mem.HasField("available_bytes")  # no limit, nothing to be available under


def test_memory_available_under_limit(senv):
    pb2 = senv.pb2
    pod = senv.run_pod()
    res = pb2.LinuxContainerResources(memory_limit_in_bytes=256 * MIB)
    cid = senv.run(pod, command=["/bin/cleat-testbin", "alloc", "16"], resources=res)
    wait_log(senv, pod, cid, "allocated")
    mem = cstats(senv, cid).memory
    assert mem.available_bytes.value == 256 * MIB - mem.working_set_bytes.value


def test_writable_layer_usage(senv):
    pod = senv.run_pod()
    cid = senv.run(pod, command=["sleep", "3600"])
    before = cstats(senv, cid).writable_layer
    assert before.fs_id.mountpoint
    senv.sh(cid, "dd if=/dev/zero of=/big bs=1048576 count=10 2>/dev/null && sync")
    after = cstats(senv, cid).writable_layer
    print(f"writable layer: {before.used_bytes.value} -> {after.used_bytes.value} bytes")
    assert after.used_bytes.value - before.used_bytes.value >= 10 * MIB
    assert after.inodes_used.value > before.inodes_used.value


def lo(stats):
    return {i.name: i for i in stats.linux.network.interfaces}["lo"]


def test_pod_stats_sum_containers_and_network(senv):
    pod = senv.run_pod()
    a = senv.run(pod, command=["/bin/cleat-testbin", "alloc", "32"])
    b = senv.run(pod, command=["/bin/cleat-testbin", "alloc", "16"])
    wait_log(senv, pod, a, "allocated")
    wait_log(senv, pod, b, "allocated")
    before = pstats(senv, pod)
    assert before.attributes.id == pod
    assert {c.attributes.id for c in before.linux.containers} == {a, b}
    ws = {c.attributes.id: c.memory.working_set_bytes.value for c in before.linux.containers}
    pod_ws = before.linux.memory.working_set_bytes.value
    print(f"pod working set {pod_ws / MIB:.1f} MiB, containers {[round(v / MIB, 1) for v in ws.values()]}")
    assert pod_ws >= 48 * MIB
    assert pod_ws >= 0.95 * sum(ws.values())
    assert before.linux.process.process_count.value >= 2
    assert before.linux.cpu.usage_core_nano_seconds.value > 0
    # Only loopback here: traffic over it is the pod's network traffic (and not the host's).
    host_lo = open("/proc/net/dev").read()
    rx = lo(before).rx_bytes.value
    senv.exec(a, ["sh", "-c", "ping -c 3 -W 1 127.0.0.1; wget -T 1 -q -O /dev/null http://127.0.0.1:9/; true"])
    after = pstats(senv, pod)
    assert lo(after).rx_bytes.value > rx, (lo(before), lo(after))
    assert lo(after).tx_bytes.value > 0
    assert after.linux.network.default_interface.name
    assert host_lo  # read for the record; the pod's counters come from its own namespace
    # ListPodSandboxStats: filters by id and labels.
    listed = senv.rt.ListPodSandboxStats(senv.pb2.ListPodSandboxStatsRequest(
        filter=senv.pb2.PodSandboxStatsFilter(id=pod[:12])), timeout=60).stats
    assert [s.attributes.id for s in listed] == [pod]
    name = senv.configs[pod].metadata.name
    listed = senv.rt.ListPodSandboxStats(senv.pb2.ListPodSandboxStatsRequest(
        filter=senv.pb2.PodSandboxStatsFilter(label_selector={"io.kubernetes.pod.name": name})), timeout=60).stats
    assert [s.attributes.id for s in listed] == [pod]
    listed = senv.rt.ListPodSandboxStats(senv.pb2.ListPodSandboxStatsRequest(
        filter=senv.pb2.PodSandboxStatsFilter(label_selector={"io.kubernetes.pod.name": "nope"})), timeout=60).stats
    assert list(listed) == []


def test_list_container_stats_filters(senv):
    pb2 = senv.pb2
    pod1, pod2 = senv.run_pod(), senv.run_pod()
    a = senv.run(pod1, command=["sleep", "3600"], labels={"app": "one"})
    b = senv.run(pod2, command=["sleep", "3600"], labels={"app": "two"})

    def ids(**f):
        req = pb2.ListContainerStatsRequest(filter=pb2.ContainerStatsFilter(**f))
        return {s.attributes.id for s in senv.rt.ListContainerStats(req, timeout=60).stats}

    assert {a, b} <= ids()
    assert ids(pod_sandbox_id=pod1) == {a}
    assert ids(id=b[:10]) == {b}
    assert ids(label_selector={"app": "two"}) == {b}
    assert ids(pod_sandbox_id=pod1, label_selector={"app": "two"}) == set()


def skeleton(msg):
    """A stats message without its figures, which move between two calls: every string (IDs, names, labels,
    annotations, mount points) as it is, every message as there or not, lists in a fixed order; numbers left
    out (proto3 leaves out a zero, so even whether one is there moves: a PSI average, a fault count)."""
    out = {}
    for f, v in msg.ListFields():
        if f.type == f.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
            out[f.name] = dict(v)
        elif f.type == f.TYPE_MESSAGE and f.label == f.LABEL_REPEATED:
            out[f.name] = sorted((skeleton(x) for x in v), key=repr)
        elif f.type == f.TYPE_MESSAGE:
            out[f.name] = skeleton(v)
        elif f.type == f.TYPE_STRING:
            out[f.name] = v
    return out


def test_lists_answer_as_the_single_calls(senv):
    """ListPodSandboxStats and ListContainerStats read every record into the call's arena and pack the answer
    themselves (pb_pack); PodSandboxStats and ContainerStats read one record the old way.  Each object's item in
    a list is what its single call answers: the attributes whole, the same figures there, in pods with labels and
    annotations, a running container, one stopped, and one that exited by itself (its exit applied to the record
    read, not stored yet)."""
    pb2 = senv.pb2
    pod1 = senv.run_pod(labels={"io.kubernetes.pod.name": "lists-one", "tier": "web"},
                        annotations={"note": "x" * 300})
    pod2 = senv.run_pod(labels={"io.kubernetes.pod.name": "lists-two"})
    running = senv.run(pod1, command=["sleep", "3600"], labels={"app": "one", "io.kubernetes.container.name": "r"},
                       annotations={"a": "b", "c": ""})
    stopped = senv.run(pod1, command=["sleep", "3600"])
    senv.stop(stopped)
    exited = senv.run(pod2, command=["true"])
    pod_fixture.wait_for(lambda: senv.rt.ContainerStatus(pb2.ContainerStatusRequest(container_id=exited),
                                                         timeout=60).status.state == pb2.CONTAINER_EXITED,
                         30, f"{exited} exits")
    senv.rt.ListPodSandboxStats(pb2.ListPodSandboxStatsRequest(), timeout=60)  # a first CPU sample of each
    time.sleep(0.3)  # past STATS_MIN_INTERVAL_NS: every later call has a rate
    pods = {s.attributes.id: s for s in senv.rt.ListPodSandboxStats(pb2.ListPodSandboxStatsRequest(),
                                                                      timeout=60).stats}
    ctrs = {s.attributes.id: s for s in senv.rt.ListContainerStats(pb2.ListContainerStatsRequest(),
                                                                     timeout=60).stats}
    assert set(pods) == {pod1, pod2}
    assert set(ctrs) == {running, stopped, exited}
    for pod in (pod1, pod2):
        assert skeleton(pods[pod]) == skeleton(pstats(senv, pod)), pod
    for cid in (running, stopped, exited):
        assert skeleton(ctrs[cid]) == skeleton(cstats(senv, cid)), cid
    assert dict(pods[pod1].attributes.annotations) == {"note": "x" * 300}
    assert dict(ctrs[running].attributes.labels)["app"] == "one"
    assert ctrs[running].HasField("cpu") and not ctrs[exited].HasField("cpu") and not ctrs[stopped].HasField("cpu")
    assert {c.attributes.id for c in pods[pod1].linux.containers} == {running, stopped}


def test_stats_of_removed_container_not_found(senv):
    pod = senv.run_pod()
    cid = senv.run(pod, command=["sleep", "3600"])
    cstats(senv, cid)
    senv.stop(cid)
    exited = cstats(senv, cid)  # an exited container: no cgroup figures, still its layer
    assert not exited.HasField("cpu") and exited.HasField("writable_layer")
    senv.remove(cid)
    with pytest.raises(grpc.RpcError) as e:
        cstats(senv, cid)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        pstats(senv, "0" * 64)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        cstats(senv, "")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_metric_descriptors_and_pod_metrics(senv):
    pb2 = senv.pb2
    descs = senv.rt.ListMetricDescriptors(pb2.ListMetricDescriptorsRequest(), timeout=60).descriptors
    by_name = {d.name: d for d in descs}
    for name in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                 "container_memory_usage_bytes", "container_network_receive_bytes_total", "container_fs_usage_bytes"):
        assert name in by_name
    assert list(by_name["container_network_receive_bytes_total"].label_keys) == ["id", "name", "image", "interface"]
    pod = senv.run_pod()
    cid = senv.run(pod, command=["/bin/cleat-testbin", "alloc", "16"])
    wait_log(senv, pod, cid, "allocated")
    pms = senv.rt.ListPodSandboxMetrics(pb2.ListPodSandboxMetricsRequest(), timeout=60).pod_metrics
    pm = {p.pod_sandbox_id: p for p in pms}[pod]
    assert any(m.name == "container_network_receive_bytes_total" and m.label_values[-1] == "lo" for m in pm.metrics)
    cm = {c.container_id: c for c in pm.container_metrics}[cid]
    got = {m.name: m for m in cm.metrics}
    ws = got["container_memory_working_set_bytes"]
    assert ws.value.value >= 16 * MIB and ws.metric_type == pb2.GAUGE
    assert list(ws.label_values[:2]) == [cid, senv.status(cid).status.metadata.name]
    assert got["container_cpu_usage_seconds_total"].metric_type == pb2.COUNTER
    for m in cm.metrics:
        assert len(m.label_values) == len(by_name[m.name].label_keys)


def test_update_pod_sandbox_resources(senv):
    pb2 = senv.pb2
    pod = senv.run_pod()
    res = pb2.LinuxContainerResources(cpu_shares=512, memory_limit_in_bytes=512 * MIB)
    senv.rt.UpdatePodSandboxResources(pb2.UpdatePodSandboxResourcesRequest(pod_sandbox_id=pod, resources=res),
                                      timeout=60)
    with pytest.raises(grpc.RpcError) as e:
        senv.rt.UpdatePodSandboxResources(pb2.UpdatePodSandboxResourcesRequest(pod_sandbox_id="0" * 64,
                                                                               resources=res), timeout=60)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


class EventStream:
    """One GetContainerEvents stream, read on a thread of its own."""

    def __init__(self, env):
        self.call = env.rt.GetContainerEvents(env.pb2.GetEventsRequest())
        self.events = queue.Queue()
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        try:
            for ev in self.call:
                self.events.put(ev)
        except grpc.RpcError:
            pass

    def until(self, pred, timeout=30):
        """Events up to and including the first for which pred holds."""
        seen, end = [], time.time() + timeout
        while True:
            left = end - time.time()
            assert left > 0, f"no matching event; got {[(e.container_id[:12], e.container_event_type) for e in seen]}"
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            seen.append(ev)
            if pred(ev):
                return seen

    def close(self):
        self.call.cancel()
        self.thread.join(10)


def await_subscribed(env, pod, streams):
    """A stream subscribes when its call reaches cleatd: make probe events (a container created and removed in
    `pod`) until every stream has seen one.  Returns the last probe's ID, or None if they never started."""
    for attempt in range(50):
        probe = env.create(pod, command=["sleep", "1"])
        env.remove(probe)
        if all(not s.events.empty() for s in streams):
            return probe
    return None


def test_events_in_order_on_two_streams(senv):
    pb2 = senv.pb2
    pod = senv.run_pod()
    streams = [EventStream(senv), EventStream(senv)]
    try:
        probe = await_subscribed(senv, pod, streams)
        if probe is None:
            pytest.fail("the event streams never started")
        for s in streams:
            s.until(lambda e, p=probe: e.container_id == p and e.container_event_type == pb2.CONTAINER_DELETED_EVENT)

        cid = senv.create(pod, command=["sleep", "3600"])
        senv.start(cid)
        senv.stop(cid, timeout=0)
        senv.remove(cid)
        want = [pb2.CONTAINER_CREATED_EVENT, pb2.CONTAINER_STARTED_EVENT, pb2.CONTAINER_STOPPED_EVENT,
                pb2.CONTAINER_DELETED_EVENT]
        for s in streams:
            evs = [e for e in s.until(lambda e: e.container_id == cid and
                                      e.container_event_type == pb2.CONTAINER_DELETED_EVENT) if e.container_id == cid]
            assert [e.container_event_type for e in evs] == want
            assert all(e.pod_sandbox_status.id == pod for e in evs)
            assert [e.created_at for e in evs] == sorted(e.created_at for e in evs)
            states = [{c.id: c.state for c in e.containers_statuses}.get(cid) for e in evs]
            assert states == [pb2.CONTAINER_CREATED, pb2.CONTAINER_RUNNING, pb2.CONTAINER_EXITED, None]
    finally:
        for s in streams:
            s.close()


def test_pod_sandbox_lifecycle_events(senv):
    """The sandbox itself has events, named by the pod's id: kubelet's evented PLEG forgets a pod on its DELETED."""
    pb2 = senv.pb2
    first = senv.run_pod()
    stream = EventStream(senv)
    try:
        await_subscribed(senv, first, [stream])
        pod = senv.run_pod()
        senv.stop_pod(pod)
        senv.remove_pod(pod)
        evs = [e for e in stream.until(lambda e: e.container_id == pod and
                                       e.container_event_type == pb2.CONTAINER_DELETED_EVENT)
               if e.container_id == pod]
        assert [e.container_event_type for e in evs] == [pb2.CONTAINER_CREATED_EVENT, pb2.CONTAINER_STARTED_EVENT,
                                                         pb2.CONTAINER_STOPPED_EVENT, pb2.CONTAINER_DELETED_EVENT]
        assert [e.pod_sandbox_status.state for e in evs[:3]] == [pb2.SANDBOX_READY, pb2.SANDBOX_READY,
                                                                  pb2.SANDBOX_NOTREADY]
        assert all(e.pod_sandbox_status.id == pod for e in evs[:3])
    finally:
        stream.close()


def test_container_exit_is_an_event(senv):
    """A container that ends on its own is reported too (the runtime's exit report)."""
    pb2 = senv.pb2
    pod = senv.run_pod()
    stream = EventStream(senv)
    try:
        await_subscribed(senv, pod, [stream])
        cid = senv.run(pod, command=["sh", "-c", "exit 3"])
        evs = stream.until(lambda e: e.container_id == cid and e.container_event_type == pb2.CONTAINER_STOPPED_EVENT)
        st = {c.id: c for c in evs[-1].containers_statuses}[cid]
        assert (st.state, st.exit_code) == (pb2.CONTAINER_EXITED, 3)
    finally:
        stream.close()


def test_prometheus_metrics(senv):
    pb2 = senv.pb2
    for _ in range(3):
        senv.rt.Version(pb2.VersionRequest(), timeout=10)
    # paths a client makes up share one series (they would grow the metrics without bound)
    with senv.d.channel() as ch:
        for i in range(3):
            call = ch.unary_unary(f"/no.Such/Method{i}", request_serializer=lambda x: x,
                                  response_deserializer=lambda b: b)
            with pytest.raises(grpc.RpcError):
                call(b"", timeout=10)
    pod = senv.run_pod()
    senv.run(pod, command=["sleep", "3600"])
    with urllib.request.urlopen(senv.metrics_url, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    version = 'cleat_grpc_requests_total{method="/runtime.v1.RuntimeService/Version",code="OK"}'
    assert samples[version] >= 3
    assert samples['cleat_grpc_request_duration_seconds_count{method="/runtime.v1.RuntimeService/Version"}'] >= 3
    assert samples['cleat_grpc_request_duration_seconds_bucket{method="/runtime.v1.RuntimeService/Version",le="+Inf"}'] >= 3
    assert samples['cleat_grpc_requests_total{method="unknown",code="UNIMPLEMENTED"}'] >= 3
    assert "/no.Such/" not in text
    assert samples['cleat_pods{state="ready"}'] >= 1
    assert samples['cleat_containers{state="running"}'] >= 1
    assert "cleat_image_pulls_total" in text and "cleat_plugin_errors_total" in text
    assert "# TYPE cleat_grpc_request_duration_seconds histogram" in text
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(senv.metrics_url.replace("/metrics", "/nothing"), timeout=10)
    assert e.value.code == 404


def test_metrics_on_every_address_and_a_trickling_client(cleatd_factory):
    """`:PORT` is every address, IPv4 and IPv6; a client that trickles its request is cut off, not served for hours."""
    port = free_port()
    cleatd_factory(f"metrics: {{address: \":{port}\"}}\n").start()
    for host in ("127.0.0.1", "[::1]"):
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as r:
            assert r.status == 200 and b"cleat_grpc_requests_total" in r.read()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
        closed = False
        for ch in b"GET /metrics HTTP/1.1\r\n":
            try:
                slow.sendall(bytes([ch]))
            except OSError:
                closed = True
                break
            time.sleep(1)
            slow.setblocking(False)
            try:
                closed = slow.recv(4096) is not None
            except BlockingIOError:
                pass
            except OSError:  # reset
                closed = True
            slow.setblocking(True)
            if closed:
                break
        assert closed, "the trickling client still holds the metrics server"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
