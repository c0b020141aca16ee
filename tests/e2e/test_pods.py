# SPDX-License-Identifier: Apache-2.0
"""Pod sandboxes end to end, with real runc through runtime-runc: the pod
lifecycle (RunPodSandbox, PodSandboxStatus, ListPodSandbox, Stop and Remove,
nothing left behind), namespace options (host network, shared net/IPC/UTS,
shared or per-container PID namespace with the pause process, /dev/shm per
pod), the pod files (resolv.conf, hosts, hostname), sysctls, and runtime
handlers.

One cleatd and one pulled test image for the module (pod_fixture.py); every
test's pods are removed after it."""

import json
import os
import socket
import time

import grpc
import pytest

from pod_fixture import host_interfaces, interfaces_of, mountinfo, pid_alive

# Run once with runtime-runc and once with runtime-kata (shimv2) as the default handler (conftest.py).
ALSO_SHIMV2 = True
ALSO_USERNS = True


def ns_links(env, cid, names=("net", "ipc", "uts", "pid")):
    out = env.sh(cid, " ; ".join(f"readlink /proc/self/ns/{n}" for n in names)).split()
    return dict(zip(names, out))


def listdir(path):
    return set(os.listdir(path)) if os.path.isdir(path) else set()


def host_ns(name):
    return os.readlink(f"/proc/self/ns/{name}")


def pods_state(env, pod):
    return env.pod_status(pod).status.state


def test_pod_lifecycle_and_nothing_left_behind(env):
    pb2 = env.pb2
    cfg = env.pod_config(name="lifecycle", namespace="team-a", uid="uid-pod-lifecycle", attempt=3,
                         hostname="lifecycle-host", labels={"app": "life", "tier": "be"},
                         annotations={"owner": "e2e", "io.kubernetes.pod.terminationGracePeriod": "30"},
                         dns={"servers": ["10.96.0.10"], "searches": ["team-a.svc"], "options": ["ndots:2"]})
    before = time.time_ns()
    pod = env.run_pod(cfg)
    assert len(pod) == 64 and int(pod, 16) >= 0

    resp = env.pod_status(pod, verbose=True)
    st = resp.status
    assert st.id == pod
    assert st.state == pb2.SANDBOX_READY
    assert (st.metadata.name, st.metadata.namespace, st.metadata.uid, st.metadata.attempt) == \
        ("lifecycle", "team-a", "uid-pod-lifecycle", 3)
    assert before - 5e9 < st.created_at <= time.time_ns()
    assert dict(st.labels) == dict(cfg.labels)
    assert dict(st.annotations) == dict(cfg.annotations)
    assert st.runtime_handler == env.default_handler
    opts = st.linux.namespaces.options
    assert (opts.network, opts.pid, opts.ipc) == (pb2.POD, pb2.CONTAINER, pb2.POD)
    info = json.loads(resp.info["info"])
    assert info["runtimeHandler"] == env.default_handler
    assert info["cgroupParent"] == cfg.linux.cgroup_parent
    # The pinned namespaces are nsfs mounts under the pod's state dir.
    pins = info["namespaces"]
    assert set(pins) == {"net", "ipc", "uts"}
    nsfs = {p for p, fstype, _ in mountinfo() if fstype == "nsfs"}
    assert all(p.startswith(env.pod_dir(pod) + "/") and p in nsfs for p in pins.values()), (pins, nsfs)
    assert os.path.isdir(env.pod_dir(pod))

    # Three containers: running, exited and created-only.
    running = env.run(pod, name="running", command=["sleep", "3600"])
    exited = env.run(pod, name="exited", command=["true"])
    created = env.create(pod, name="created", command=["sleep", "3600"])
    env.wait_exited(exited)
    seen = env.observe(pod)
    assert set(seen["containers"]) == {running, exited, created}
    running_pid = env.pid(running)

    assert [p.id for p in env.list_pods(id=pod)] == [pod]
    item = env.list_pods(id=pod)[0]
    assert item.metadata.name == "lifecycle" and item.state == pb2.SANDBOX_READY
    assert item.runtime_handler == env.default_handler and dict(item.labels) == dict(cfg.labels)

    # Stop: every container stopped, the pod NOTREADY; stopping again is fine.
    env.stop_pod(pod)
    assert pods_state(env, pod) == pb2.SANDBOX_NOTREADY
    assert not pid_alive(running_pid)
    states = {c.id: c.state for c in env.list_containers(pod_sandbox_id=pod)}
    assert states[running] == pb2.CONTAINER_EXITED and states[exited] == pb2.CONTAINER_EXITED
    assert pb2.CONTAINER_RUNNING not in states.values()
    env.stop_pod(pod)
    assert pods_state(env, pod) == pb2.SANDBOX_NOTREADY

    # Remove: the pod and its containers are gone, and everything they had on the host.
    env.remove_pod(pod)
    env.check_gone(seen)
    with pytest.raises(grpc.RpcError) as e:
        env.pod_status(pod)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    for cid in seen["containers"]:
        with pytest.raises(grpc.RpcError) as e:
            env.status(cid)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    env.remove_pod(pod)  # idempotent


def test_remove_ready_pod_with_running_containers(env):
    """CRI: RemovePodSandbox forcibly stops what still runs; no StopPodSandbox first."""
    pod = env.run_pod(pid="POD")
    cids = [env.run(pod, command=["sleep", "3600"]) for _ in range(2)]
    seen = env.observe(pod)
    assert len(seen["pids"]) == 3, seen  # the pause and two containers
    assert all(pid_alive(p) for p in seen["pids"] + seen["shims"])
    env.remove_pod(pod)
    env.check_gone(seen)
    assert not {c.id for c in env.list_containers()} & set(cids)


def test_list_pod_sandbox_filters(env):
    pb2 = env.pb2
    a = env.run_pod(labels={"app": "a", "env": "prod"})
    b = env.run_pod(labels={"app": "b", "env": "prod"})
    c = env.run_pod(labels={"app": "a", "env": "dev"})
    env.stop_pod(c)
    mine = {a, b, c}

    def ids(**f):
        return {p.id for p in env.list_pods(**f)} & mine

    assert ids() == mine
    assert ids(id=b) == {b}
    assert [p.id for p in env.list_pods(id=b)] == [b]
    assert ids(state=pb2.SANDBOX_READY) == {a, b}
    assert ids(state=pb2.SANDBOX_NOTREADY) == {c}
    assert ids(label_selector={"app": "a"}) == {a, c}
    assert ids(label_selector={"app": "a", "env": "prod"}) == {a}
    assert ids(label_selector={"app": "a"}, state=pb2.SANDBOX_READY) == {a}
    assert ids(label_selector={"env": "qa"}) == set()
    assert ids(id=c, state=pb2.SANDBOX_READY) == set()
    assert env.list_pods(id="0" * 64) == []
    assert ids(id=b[:12]) == {b}  # a prefix, as crictl sends it
    assert env.list_pods(id="not-hex") == []


def test_host_network_pod(env):
    pb2 = env.pb2
    pod = env.run_pod(host_network=True)
    st = env.pod_status(pod).status
    assert st.linux.namespaces.options.network == pb2.NODE
    cid = env.run(pod, command=["sleep", "3600"])
    assert interfaces_of(env.sh(cid, "cat /proc/net/dev")) == host_interfaces()
    links = ns_links(env, cid)
    assert links["net"] == host_ns("net") and links["uts"] == host_ns("uts")
    assert links["ipc"] != host_ns("ipc")
    assert env.sh(cid, "hostname").strip() == socket.gethostname()


def test_pod_network_has_only_lo(env):
    pod = env.run_pod()
    cid = env.run(pod, command=["sleep", "3600"])
    assert interfaces_of(env.sh(cid, "cat /proc/net/dev")) == ["lo"]
    assert ns_links(env, cid)["net"] != host_ns("net")
    assert "UP" in env.sh(cid, "ip link show lo")


def test_containers_of_a_pod_share_net_ipc_uts_and_shm(env):
    pod = env.run_pod(hostname="shared-host")
    other = env.run_pod(hostname="other-host")
    c1 = env.run(pod, command=["sleep", "3600"])
    c2 = env.run(pod, command=["sleep", "3600"])
    c3 = env.run(other, command=["sleep", "3600"])
    l1, l2, l3 = ns_links(env, c1), ns_links(env, c2), ns_links(env, c3)
    for ns in ("net", "ipc", "uts"):
        assert l1[ns] == l2[ns], ns
        assert l1[ns] != l3[ns] and l1[ns] != host_ns(ns), ns
    assert env.sh(c2, "hostname").strip() == "shared-host"
    assert env.sh(c3, "hostname").strip() == "other-host"
    # IPC: a SysV segment made in one container is seen by its pod mate only.
    assert env.testbin(c1, "shm-create", "4711") == "ok"
    assert env.testbin(c2, "shm-find", "4711") == "ok"
    assert env.testbin(c3, "shm-find", "4711") == "ENOENT"
    # /dev/shm is the pod's: shared inside the pod, not with another pod.
    env.sh(c1, "echo pod-shm > /dev/shm/marker")
    assert env.sh(c2, "cat /dev/shm/marker") == "pod-shm\n"
    assert env.exec(c3, ["cat", "/dev/shm/marker"]).exit_code != 0
    assert "tmpfs" in env.sh(c1, "grep ' /dev/shm ' /proc/self/mounts")


def test_shared_pid_namespace_with_pause(env):
    pb2 = env.pb2
    pod = env.run_pod(pid="POD")
    resp = env.pod_status(pod, verbose=True)
    assert resp.status.linux.namespaces.options.pid == pb2.POD
    info = json.loads(resp.info["info"])
    pause = int(info["pid"])
    assert info["sharedPid"] is True and pid_alive(pause)
    c1 = env.run(pod, command=["sleep", "3601"])
    c2 = env.run(pod, command=["sleep", "3602"])
    assert "pause" in env.sh(c1, "cat /proc/1/comm")
    procs = env.sh(c2, "ps -o args")
    assert "sleep 3601" in procs and "sleep 3602" in procs
    assert ns_links(env, c1)["pid"] == ns_links(env, c2)["pid"] != host_ns("pid")
    with open(f"/proc/{pause}/comm") as f:
        assert "pause" in f.read()


def test_container_pid_namespaces(env):
    pod = env.run_pod(pid="CONTAINER")
    c1 = env.run(pod, command=["sleep", "3601"])
    c2 = env.run(pod, command=["sleep", "3602"])
    assert env.sh(c1, "cat /proc/1/cmdline | tr '\\0' ' '").strip() == "sleep 3601"
    assert env.sh(c2, "cat /proc/1/cmdline | tr '\\0' ' '").strip() == "sleep 3602"
    assert "sleep 3601" not in env.sh(c2, "ps -o args")
    assert ns_links(env, c1)["pid"] != ns_links(env, c2)["pid"]
    info = json.loads(env.pod_status(pod, verbose=True).info["info"])
    assert info["sharedPid"] is False
    # runtime-runc needs no process for a pod without a shared PID namespace; a shim v2 runs a sandbox task always.
    assert (int(info["pid"]) > 0) == (env.default_handler == "shimv2")


def test_host_pid_namespace(env):
    pod = env.run_pod(pid="NODE")
    cid = env.run(pod, command=["sleep", "3600"])
    assert ns_links(env, cid)["pid"] == host_ns("pid")
    assert env.pod_status(pod).status.linux.namespaces.options.pid == env.pb2.NODE


def test_pod_files_dns_hosts_hostname(env):
    pod = env.run_pod(hostname="files-host", dns={"servers": ["10.96.0.10", "10.96.0.11"],
                                                  "searches": ["ns.svc.cluster.local", "svc.cluster.local"],
                                                  "options": ["ndots:5", "timeout:2"]})
    cid = env.run(pod, command=["sleep", "3600"])
    resolv = env.sh(cid, "cat /etc/resolv.conf").splitlines()
    assert "nameserver 10.96.0.10" in resolv and "nameserver 10.96.0.11" in resolv
    assert "search ns.svc.cluster.local svc.cluster.local" in resolv
    assert any(line.startswith("options") and "ndots:5" in line and "timeout:2" in line for line in resolv)
    hosts = [line.split() for line in env.sh(cid, "cat /etc/hosts").splitlines()]
    assert ["127.0.0.1", "localhost"] in [h[:2] for h in hosts]
    assert env.sh(cid, "cat /etc/hostname").strip() == "files-host"
    # The same files for every container of the pod.
    c2 = env.run(pod, command=["sleep", "3600"])
    assert env.sh(c2, "cat /etc/resolv.conf").splitlines() == resolv


def test_sysctls(env):
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        host_port_start = f.read()
    with open("/proc/sys/kernel/shm_rmid_forced") as f:
        host_rmid = f.read()
    pod = env.run_pod(sysctls={"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shm_rmid_forced": "1"})
    cid = env.run(pod, command=["sleep", "3600"])
    assert env.sh(cid, "cat /proc/sys/net/ipv4/ip_unprivileged_port_start").strip() == "80"
    assert env.sh(cid, "cat /proc/sys/kernel/shm_rmid_forced").strip() == "1"
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        assert f.read() == host_port_start
    with open("/proc/sys/kernel/shm_rmid_forced") as f:
        assert f.read() == host_rmid


def test_second_runtime_handler(env):
    pb2 = env.pb2
    pod = env.run_pod(handler="runc-debug")
    st = env.pod_status(pod).status
    assert st.runtime_handler == "runc-debug"
    assert env.list_pods(id=pod)[0].runtime_handler == "runc-debug"
    cid = env.run(pod, command=["sleep", "3600"])
    assert env.sh(cid, "echo via-debug") == "via-debug\n"
    # The instance's options are its own: this shim runs runc with --debug, the default one does not.
    with open(f"/proc/{env.shim_pid(cid)}/cmdline", "rb") as f:
        assert b"--debug" in f.read()  # --runtime-arg=--debug
    plain_pod = env.run_pod()
    plain = env.run(plain_pod, command=["sleep", "3600"])
    with open(f"/proc/{env.shim_pid(plain)}/cmdline", "rb") as f:
        assert b"--debug" not in f.read()
    env.stop(cid, timeout=0)
    assert env.status(cid).status.state == pb2.CONTAINER_EXITED


def test_unknown_runtime_handler_is_refused(env):
    before = listdir(os.path.join(env.d.state_dir, "pods"))
    cfg = env.pod_config()
    with pytest.raises(grpc.RpcError) as e:
        env.run_pod(cfg, handler="no-such-handler")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value
    assert "no-such-handler" in e.value.details()
    assert not [p for p in env.list_pods() if p.metadata.name == cfg.metadata.name]
    assert listdir(os.path.join(env.d.state_dir, "pods")) == before
