# SPDX-License-Identifier: Apache-2.0
"""The stats collector (stats.collection_period_seconds, here 1 s): a
thread measures every live container and ready pod once a period, and the
stats calls answer with its measurement while it is younger than two
periods, so that kubelet's lists read no cgroup file and enter no pod's
network namespace.  What it has not
measured yet, an exited container, and a container whose limits just
changed are measured in the call.  Its own cleatd, runtime-runc."""

import time

import pytest

from conftest import module_pod_env

PERIOD = 1.0
MIB = 1 << 20


@pytest.fixture(scope="module")
def cenv(tmp_path_factory, cri, test_layout):
    with module_pod_env(tmp_path_factory, cri, test_layout, "runc", "statscoll",
                        config_extra="stats: {collection_period_seconds: 1}\n") as env:
        yield env


def listed(env):
    return {s.attributes.id: s for s in
            env.rt.ListContainerStats(env.pb2.ListContainerStatsRequest(), timeout=60).stats}


def pod_listed(env):
    return {s.attributes.id: s for s in
            env.rt.ListPodSandboxStats(env.pb2.ListPodSandboxStatsRequest(), timeout=60).stats}


def same_twice(get, key):
    """Two calls in a row that answer with one measurement (a round may fall between two calls: try again)."""
    for _ in range(10):
        a, b = get(), get()
        if key(a) == key(b):
            return a
        time.sleep(0.05)
    pytest.fail("no two calls in a row answered with the same measurement")


def test_calls_answer_with_the_collectors_measurement(cenv):
    env, pb2 = cenv, cenv.pb2
    pod = env.run_pod()
    busy = env.run(pod, name="busy", command=["sh", "-c", "while :; do :; done"])
    idle = env.run(pod, name="idle", command=["sleep", "3600"])
    # Not measured by the collector yet: measured in the call, with its CPU figures at once.
    first = listed(env)
    assert first[busy].HasField("cpu") and first[idle].HasField("memory")

    time.sleep(2.5 * PERIOD)  # two rounds at least
    a = same_twice(lambda: listed(env), lambda m: m[busy].cpu.timestamp)
    age = time.time_ns() - a[busy].cpu.timestamp
    assert 0 <= age < 2 * PERIOD * 1e9 + 0.5e9, f"a measurement {age / 1e9:.2f} s old"
    # The rate is over the collector's own interval: a busy loop gets a fair part of a core.
    cores = a[busy].cpu.usage_nano_cores.value / 1e9
    assert 0.05 < cores < 1.05, f"a single busy loop used {cores:.2f} cores"
    single = env.rt.ContainerStats(pb2.ContainerStatsRequest(container_id=busy), timeout=60).stats
    assert single.cpu.timestamp >= a[busy].cpu.timestamp
    time.sleep(2.2 * PERIOD)
    later = listed(env)
    assert later[busy].cpu.timestamp > a[busy].cpu.timestamp
    assert later[busy].cpu.usage_core_nano_seconds.value > a[busy].cpu.usage_core_nano_seconds.value

    # Pods as well.
    p = same_twice(lambda: pod_listed(env), lambda m: m[pod].linux.memory.timestamp)
    assert {c.attributes.id for c in p[pod].linux.containers} == {busy, idle}
    # Their network counters too: read in the pod's namespace by the collector, not by every call.
    n = same_twice(lambda: pod_listed(env), lambda m: m[pod].linux.network.timestamp)[pod].linux.network
    assert n.default_interface.name == "lo" and [i.name for i in n.interfaces] == ["lo"]
    age = time.time_ns() - n.timestamp
    assert 0 <= age < 2 * PERIOD * 1e9 + 0.5e9, f"network counters {age / 1e9:.2f} s old"
    time.sleep(2.2 * PERIOD)
    assert pod_listed(env)[pod].linux.network.timestamp > n.timestamp

    # New limits show at once, not at the next round.
    env.rt.UpdateContainerResources(pb2.UpdateContainerResourcesRequest(
        container_id=idle, linux=pb2.LinuxContainerResources(memory_limit_in_bytes=64 * MIB)), timeout=60)
    mem = env.rt.ContainerStats(pb2.ContainerStatsRequest(container_id=idle), timeout=60).stats.memory
    assert mem.HasField("available_bytes") and mem.available_bytes.value <= 64 * MIB

    # An exited container is measured in the call: nothing of its last running measurement is left.
    env.stop(busy, timeout=0)
    st = env.rt.ContainerStats(pb2.ContainerStatsRequest(container_id=busy), timeout=60).stats
    assert not st.HasField("cpu") and st.HasField("writable_layer")


@pytest.fixture(scope="module")
def slow_env(tmp_path_factory, cri, test_layout):
    """A period longer than half the layer figure's maximum age (2 s and 3 s)."""
    with module_pod_env(tmp_path_factory, cri, test_layout, "runc", "statscoll2",
                        config_extra="stats: {collection_period_seconds: 2, "
                                     "writable_layer_max_age_seconds: 3}\n") as env:
        yield env


def test_the_round_walks_the_layer_not_the_calls(slow_env):
    """A round measures the writable layer again whenever its figure would be too old to serve before the next
    round, so every answer's layer figure is the round's own (its timestamp is the CPU figure's), and no call
    walks a layer itself.  Before, a round reused a figure up to 3 s old, the calls served it up to 2 s more,
    and a call that found it older than 3 s walked the layer in the call."""
    env = slow_env
    pod = env.run_pod()
    cid = env.run(pod, name="idle", command=["sleep", "3600"])
    time.sleep(2.5)  # past the first round that saw it
    seen = set()
    deadline = time.monotonic() + 9  # four rounds and more
    while time.monotonic() < deadline:
        s = listed(env)[cid]
        seen.add(s.cpu.timestamp)
        assert s.writable_layer.timestamp == s.cpu.timestamp, \
            f"layer figure from {s.writable_layer.timestamp}, the round's from {s.cpu.timestamp}"
        time.sleep(0.25)
    assert len(seen) >= 3, "the rounds did not come"
