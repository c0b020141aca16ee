# SPDX-License-Identifier: Apache-2.0
"""Pod-level resources, with real cgroups and runc: a pod whose cgroup
parent does not exist yet (a client other than kubelet) gets it made and
sized with its resources + overhead (cpu, memory, hugepages); the pod's
containers run in it; UpdatePodSandboxResources changes its limits; the
pod's stats report the memory limit; RemovePodSandbox removes it.  A pod
cgroup that exists before RunPodSandbox is kubelet's and is left as it is.

This machine is cgroup v1 hybrid: cpu and memory are v1 hierarchies, and
hugetlb is bound to the cgroup2 mount, so both file layouts are used.

One cleatd of its own."""

import os
import uuid

import grpc
import pytest

from conftest import module_pod_env
from pod_fixture import cgroup_hierarchies
from test_bad_input import INVALID, refused

MiB = 1 << 20
V2_MOUNT = "/sys/fs/cgroup/unified"
HUGE_2MB = os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB")


@pytest.fixture(scope="module")
def res_env(tmp_path_factory, cri, test_layout):
    with module_pod_env(tmp_path_factory, cri, test_layout, "runc", name="podres") as env:
        yield env


def hierarchy(controller):
    for h in cgroup_hierarchies():
        if controller in os.path.basename(h).split(","):
            return h
    pytest.skip(f"no {controller} cgroup v1 hierarchy")


def hugetlb_dir(parent):
    """The pod cgroup's hugetlb directory: the v1 hierarchy, else cgroup2 when it offers hugetlb."""
    for h in cgroup_hierarchies():
        if "hugetlb" in os.path.basename(h).split(","):
            return os.path.join(h, parent.lstrip("/")), "limit_in_bytes"
    with open(os.path.join(V2_MOUNT, "cgroup.controllers")) as f:
        if "hugetlb" in f.read().split():
            return os.path.join(V2_MOUNT, parent.lstrip("/")), "max"
    return None, None


def read(dirpath, name):
    with open(os.path.join(dirpath, name)) as f:
        return f.read().strip()


def resources(pb2, quota=None, period=100000, shares=0, memory=0, huge=0):
    r = pb2.LinuxContainerResources(cpu_period=period if quota else 0, cpu_quota=quota or 0, cpu_shares=shares,
                                    memory_limit_in_bytes=memory)
    if huge:
        r.hugepage_limits.add(page_size="2MB", limit=huge)
    return r


def limits(parent):
    cpu = os.path.join(hierarchy("cpu"), parent.lstrip("/"))
    mem = os.path.join(hierarchy("memory"), parent.lstrip("/"))
    got = {"quota": int(read(cpu, "cpu.cfs_quota_us")), "period": int(read(cpu, "cpu.cfs_period_us")),
           "shares": int(read(cpu, "cpu.shares")), "memory": int(read(mem, "memory.limit_in_bytes"))}
    hdir, suffix = hugetlb_dir(parent)
    if hdir and HUGE_2MB and os.path.exists(os.path.join(hdir, f"hugetlb.2MB.{suffix}")):
        got["huge"] = int(read(hdir, f"hugetlb.2MB.{suffix}"))
    return got


def exists(parent):
    return [c for c in ("cpu", "memory") if os.path.isdir(os.path.join(hierarchy(c), parent.lstrip("/")))]


def pod_with(env, parent, res=None, overhead=None):
    cfg = env.pod_config(cgroup_parent=parent)
    if res is not None:
        cfg.linux.resources.CopyFrom(res)
    if overhead is not None:
        cfg.linux.overhead.CopyFrom(overhead)
    return cfg


def update(env, pod, res=None, overhead=None):
    req = env.pb2.UpdatePodSandboxResourcesRequest(pod_sandbox_id=pod)
    if res is not None:
        req.resources.CopyFrom(res)
    if overhead is not None:
        req.overhead.CopyFrom(overhead)
    return env.rt.UpdatePodSandboxResources(req, timeout=60)


def memory_available(env, pod):
    st = env.rt.PodSandboxStats(env.pb2.PodSandboxStatsRequest(pod_sandbox_id=pod), timeout=60).stats
    assert st.linux.memory.HasField("available_bytes"), st.linux.memory
    return st.linux.memory.available_bytes.value, st.linux.memory.working_set_bytes.value


def test_made_sized_resized_and_removed(res_env):
    env = res_env
    pb2 = env.pb2
    parent = f"/cleat-e2e-podres-{uuid.uuid4().hex[:12]}"
    huge = 2 * 2 * MiB if HUGE_2MB else 0
    res = resources(pb2, quota=50000, shares=512, memory=128 * MiB, huge=huge)
    overhead = resources(pb2, quota=10000, shares=10, memory=16 * MiB)
    assert not exists(parent)
    pod = env.run_pod(pod_with(env, parent, res, overhead))
    got = limits(parent)
    assert (got["quota"], got["period"], got["shares"], got["memory"]) == (60000, 100000, 522, 144 * MiB), got
    if huge:
        assert got.get("huge") == huge, got
    # The pod's containers run inside it.
    cid = env.run(pod, command=["sleep", "3600"])
    procs = os.path.join(hierarchy("memory"), parent.lstrip("/"), cid, "cgroup.procs")
    assert os.path.exists(procs)
    avail, ws = memory_available(env, pod)
    assert avail + ws == 144 * MiB

    # The new resources (the overhead stays as recorded): the limits change.
    update(env, pod, res=resources(pb2, quota=150000, period=50000, shares=1024, memory=256 * MiB, huge=huge // 2))
    got = limits(parent)
    assert (got["quota"], got["period"], got["shares"], got["memory"]) == (155000, 50000, 1034, 272 * MiB), got
    if huge:
        assert got.get("huge") == huge // 2, got
    avail, ws = memory_available(env, pod)
    assert avail + ws == 272 * MiB
    # A new overhead replaces the old one (no CPU in it now); no memory limit in the resources: none for the pod,
    # whatever the overhead says.
    update(env, pod, res=resources(pb2, quota=150000, period=50000, shares=1024), overhead=resources(pb2, memory=MiB))
    got = limits(parent)
    assert got["memory"] > 1 << 62 and (got["quota"], got["shares"]) == (150000, 1024), got

    env.stop_pod(pod)
    env.remove_pod(pod)
    env.pod_ids.remove(pod)
    assert not exists(parent)
    hdir, _ = hugetlb_dir(parent)
    assert not hdir or not os.path.exists(hdir)


def test_kubelets_cgroup_is_left_alone(res_env):
    env = res_env
    pb2 = env.pb2
    parent = f"/cleat-e2e-podres-{uuid.uuid4().hex[:12]}"
    for c in ("cpu", "memory"):  # as kubelet makes a pod's cgroup before RunPodSandbox
        os.makedirs(os.path.join(hierarchy(c), parent.lstrip("/")))
    env.cgroup_parents.add(parent)
    before = limits(parent)
    pod = env.run_pod(pod_with(env, parent, resources(pb2, quota=50000, memory=64 * MiB)))
    assert limits(parent) == before
    update(env, pod, res=resources(pb2, quota=20000, memory=32 * MiB))
    assert limits(parent) == before
    cfg = env.pod_status(pod, verbose=True)  # recorded all the same
    env.stop_pod(pod)
    env.remove_pod(pod)
    env.pod_ids.remove(pod)
    assert exists(parent) == ["cpu", "memory"]
    assert cfg


def test_refused_resources_leave_nothing(res_env):
    env = res_env
    pb2 = env.pb2
    parent = f"/cleat-e2e-podres-{uuid.uuid4().hex[:12]}"
    bad = resources(pb2, quota=50000, memory=64 * MiB)
    bad.hugepage_limits.add(page_size="3MB", limit=3 * MiB)
    msg = refused(env, INVALID, env.run_pod, pod_with(env, parent, bad))
    assert "3MB" in msg, msg
    assert not exists(parent)
    bad = resources(pb2, quota=50000)
    bad.cpuset_cpus = "0"
    msg = refused(env, INVALID, env.run_pod, pod_with(env, parent, overhead=bad))
    assert "linux.overhead.cpuset_cpus" in msg, msg
    assert not exists(parent)
    # The kernel's refusal (a quota under its 1 ms minimum) is FAILED_PRECONDITION naming the file.
    pod = env.run_pod(pod_with(env, parent, resources(pb2, quota=50000, memory=64 * MiB)))
    with pytest.raises(grpc.RpcError) as e:
        update(env, pod, res=resources(pb2, quota=100, memory=64 * MiB))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value.details()
    assert "cpu.cfs_quota_us" in e.value.details()
    assert limits(parent)["quota"] == 50000
    env.stop_pod(pod)
    env.remove_pod(pod)
    env.pod_ids.remove(pod)
    assert not exists(parent)
