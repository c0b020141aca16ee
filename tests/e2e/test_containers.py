# SPDX-License-Identifier: Apache-2.0
"""Containers end to end, with real runc through runtime-runc and cleat-shim:
create/start/stop/remove, the CRI log, ExecSync, ContainerStatus and
ListContainers, the image's Entrypoint/Cmd, env and working dir, TTY and
stdin containers, UpdateContainerResources and ReopenContainerLog.

One cleatd and one pulled test image for the module (pod_fixture.py); every
test's pods are removed after it."""

import json
import os
import time
from datetime import datetime, timezone

import grpc
import pytest

from pod_fixture import (cgroup_hierarchies, log_messages, mounts_naming, parse_cri_log, pid_alive, wait_for)

# Run once with runtime-runc and once with runtime-kata (shimv2) as the default handler (conftest.py).
ALSO_SHIMV2 = True
ALSO_USERNS = True

MiB = 1024 * 1024


def rfc3339nano_to_ns(ts):
    """'2024-01-02T03:04:05.123456789Z' → ns since the epoch (Python's datetime stops at µs)."""
    head, frac = ts.rstrip("Z").split(".")
    secs = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return int(secs) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])


def wait_log(env, pod, cid, text, timeout=20):
    """Wait until a full line `text` is in the container's log; returns all messages."""
    path = env.log_path(pod, cid)
    return wait_for(lambda: (lambda m: m if text in m else None)(
        [x.rstrip("\r") for x in log_messages(path)] if os.path.exists(path) else []), timeout,
        f"{text!r} in {path}")


def controller_dir(controller, cgroups_path):
    for h in cgroup_hierarchies():
        if os.path.basename(h) == controller:
            return os.path.join(h, cgroups_path.lstrip("/"))
    pytest.skip(f"no {controller} cgroup v1 hierarchy")


def test_lifecycle_log_exec_and_status(env, tmp_path):
    pb2 = env.pb2
    data = tmp_path / "data"
    data.mkdir()
    (data / "file").write_text("from the host\n")
    pod_cfg = env.pod_config(name="web", namespace="shop", uid="uid-lifecycle-1", attempt=1, hostname="web-0",
                             dns={"servers": ["10.96.0.10"], "searches": ["shop.svc.cluster.local"],
                                  "options": ["ndots:5"]})
    pod = env.run_pod(pod_cfg)
    before = time.time_ns()
    cid = env.create(pod, name="app", attempt=2, command=["sh", "-c", "echo hello; sleep 3600"],
                     log_path="app/2.log", labels={"tier": "web"}, annotations={"note": "e2e"},
                     mounts=[pb2.Mount(container_path="/data", host_path=str(data), readonly=True)])

    st = env.status(cid).status
    assert st.id == cid
    assert st.state == pb2.CONTAINER_CREATED
    assert st.metadata.name == "app" and st.metadata.attempt == 2
    assert before - 5e9 < st.created_at <= time.time_ns()
    assert st.started_at == 0 and st.finished_at == 0

    env.start(cid)
    st = env.status(cid).status
    assert st.state == pb2.CONTAINER_RUNNING
    assert st.started_at >= st.created_at and st.finished_at == 0

    # The CRI log: "<RFC3339Nano> stdout F hello", under the pod's log_directory.
    wait_log(env, pod, cid, "hello")
    path = os.path.join(pod_cfg.log_directory, "app", "2.log")
    assert env.log_path(pod, cid) == path
    recs = parse_cri_log(path)
    assert [(s, t, m) for _, s, t, m in recs] == [("stdout", "F", "hello")]
    assert abs(rfc3339nano_to_ns(recs[0][0]) - time.time_ns()) < 60e9

    # ExecSync: output, exit codes, the pod's hostname, the mount.
    r = env.exec(cid, ["id"])
    assert r.exit_code == 0 and r.stdout.decode().startswith("uid=0(root) gid=0(root)"), r
    assert env.exec(cid, ["cat", "/etc/hostname"]).stdout.decode().strip() == "web-0"
    assert env.exec(cid, ["hostname"]).stdout.decode().strip() == "web-0"
    r = env.exec(cid, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (r.exit_code, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
    assert env.exec(cid, ["cat", "/data/file"]).stdout == b"from the host\n"
    assert env.exec(cid, ["sh", "-c", "echo x > /data/new"]).exit_code != 0  # read-only mount
    assert not (data / "new").exists()

    # ContainerStatus fields.
    st = env.status(cid).status
    image_id = env.image_ids["app"]
    assert st.image.image in (image_id, env.image_refs["app"])
    assert st.image_ref == image_id  # no repo digest for an oci: layout image
    assert st.image_id == image_id
    assert st.log_path in (path, "app/2.log")
    assert dict(st.labels) == {"tier": "web"}
    assert dict(st.annotations) == {"note": "e2e"}
    assert [(m.container_path, m.host_path, m.readonly) for m in st.mounts] == [("/data", str(data), True)]

    # Verbose: the pid and the OCI spec.
    resp = env.status(cid, verbose=True)
    info = json.loads(resp.info["info"])
    pid = int(info["pid"])
    assert pid_alive(pid)
    assert info["runtimeSpec"]["process"]["args"] == ["sh", "-c", "echo hello; sleep 3600"]
    assert info["runtimeSpec"]["hostname"] == "web-0"
    with open(f"/proc/{pid}/cgroup") as f:
        assert pod_cfg.linux.cgroup_parent + "/" in f.read()  # the container's cgroup is under the pod's
    shim = env.shim_pid(cid)
    assert pid_alive(shim)

    # StopContainer: sh as PID 1 has no TERM handler, so the timeout runs out and it is killed.
    env.stop(cid, timeout=1)
    st = env.status(cid).status
    assert st.state == pb2.CONTAINER_EXITED
    assert st.exit_code == 137 and st.reason == "Error"
    assert st.finished_at >= st.started_at
    wait_for(lambda: not pid_alive(pid) and not pid_alive(shim), 10, "the container and its shim to end")

    env.remove(cid)
    with pytest.raises(grpc.RpcError) as e:
        env.status(cid)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert mounts_naming(cid) == []
    assert not os.path.exists(env.container_dir(cid))
    assert os.path.exists(path)  # the log belongs to kubelet: it stays


def test_exec_timeout_is_honoured(env):
    pod = env.run_pod()
    cid = env.run(pod, command=["sleep", "3600"])
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        env.exec(cid, ["sleep", "61"], timeout=1)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.value
    assert time.monotonic() - t0 < 30
    # The timed-out command is killed, not left behind.
    wait_for(lambda: "sleep 61" not in env.sh(cid, "ps -o args"), 10, "the timed-out exec to be killed")
    # A command within its timeout is fine.
    assert env.exec(cid, ["sh", "-c", "sleep 0.2; echo done"], timeout=10).stdout == b"done\n"


def test_stop_timeout_kills_a_container_ignoring_sigterm(env):
    pb2 = env.pb2
    pod = env.run_pod()
    cid = env.run(pod, command=["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done"])
    wait_log(env, pod, cid, "ready")
    pid = env.pid(cid)
    t0 = time.monotonic()
    env.stop(cid, timeout=2)
    elapsed = time.monotonic() - t0
    assert elapsed >= 1.5, f"StopContainer returned after {elapsed:.1f}s: SIGTERM must get its timeout"
    st = env.status(cid).status
    assert st.state == pb2.CONTAINER_EXITED
    assert (st.exit_code, st.reason) == (137, "Error")
    assert not pid_alive(pid)


def test_sigterm_stops_a_container_that_handles_it(env):
    pod = env.run_pod()
    cid = env.run(pod, command=["sh", "-c", "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done"])
    wait_log(env, pod, cid, "ready")
    env.stop(cid, timeout=60)
    st = env.status(cid).status
    assert (st.exit_code, st.reason) == (0, "Completed")
    assert "bye" in wait_log(env, pod, cid, "bye")


@pytest.mark.parametrize("script,code,reason", [("exit 0", 0, "Completed"), ("echo gone >&2; exit 3", 3, "Error")])
def test_exit_code_and_reason(env, script, code, reason):
    pb2 = env.pb2
    pod = env.run_pod()
    cid = env.run(pod, command=["sh", "-c", script])
    st = env.wait_exited(cid)
    assert st.state == pb2.CONTAINER_EXITED
    assert (st.exit_code, st.reason) == (code, reason)
    assert st.started_at <= st.finished_at <= time.time_ns()
    if code:
        assert [(s, m) for _, s, _, m in parse_cri_log(env.log_path(pod, cid))] == [("stderr", "gone")]
    # Stopping an exited container changes nothing.
    env.stop(cid, timeout=10)
    assert env.status(cid).status.exit_code == code


def test_list_containers_filters(env):
    pb2 = env.pb2
    pod_a = env.run_pod()
    pod_b = env.run_pod()
    running = env.run(pod_a, name="runner", command=["sleep", "3600"], labels={"app": "x", "role": "main"})
    created = env.create(pod_a, name="waiter", command=["sleep", "3600"], labels={"app": "x", "role": "side"})
    exited = env.run(pod_b, name="done", command=["true"], labels={"app": "y"})
    env.wait_exited(exited)
    mine = {running, created, exited}

    def ids(**f):
        return {c.id for c in env.list_containers(**f)} & mine

    assert ids() == mine
    assert ids(id=created) == {created}
    assert ids(state=pb2.CONTAINER_RUNNING) == {running}
    assert ids(state=pb2.CONTAINER_CREATED) == {created}
    assert ids(state=pb2.CONTAINER_EXITED) == {exited}
    assert ids(pod_sandbox_id=pod_a) == {running, created}
    assert ids(pod_sandbox_id=pod_b) == {exited}
    assert ids(label_selector={"app": "x"}) == {running, created}
    assert ids(label_selector={"app": "x", "role": "side"}) == {created}
    assert ids(label_selector={"app": "nope"}) == set()
    assert ids(pod_sandbox_id=pod_a, state=pb2.CONTAINER_RUNNING, label_selector={"role": "main"}) == {running}
    assert ids(pod_sandbox_id=pod_b, state=pb2.CONTAINER_RUNNING) == set()
    # IDs and pod IDs match as prefixes, as crictl sends them.
    assert ids(id=created[:12]) == {created}
    assert ids(pod_sandbox_id=pod_a[:12]) == {running, created}
    assert ids(id=running[:12], pod_sandbox_id=pod_b) == set()
    assert ids(id="not-hex") == set() and ids(pod_sandbox_id="not-hex") == set()
    c = [c for c in env.list_containers(id=running)][0]
    assert c.pod_sandbox_id == pod_a and c.metadata.name == "runner" and c.state == pb2.CONTAINER_RUNNING
    assert c.image_ref == env.image_ids["app"] and c.created_at > 0
    assert dict(c.labels) == {"app": "x", "role": "main"}


def test_image_entrypoint_cmd_env_and_workdir(env):
    pod = env.run_pod()
    from_image = env.run(pod, image="entry")  # Entrypoint sh -c, Cmd "echo from-image-cmd; sleep 3600"
    wait_log(env, pod, from_image, "from-image-cmd")
    args_only = env.run(pod, image="entry", args=["echo from-args"])  # args replace Cmd, keep Entrypoint
    env.wait_exited(args_only)
    assert log_messages(env.log_path(pod, args_only)) == ["from-args"]
    command = env.run(pod, image="entry", command=["echo", "from-command"])  # command drops both
    env.wait_exited(command)
    assert log_messages(env.log_path(pod, command)) == ["from-command"]
    # Env and working dir, for the container and for exec in it.
    cid = env.run(pod, command=["sh", "-c", "echo $FOO-$HOSTNAME; pwd; sleep 3600"], envs={"FOO": "bar"},
                  working_dir="/tmp")
    msgs = wait_log(env, pod, cid, "/tmp")
    assert msgs == [f"bar-{env.configs[pod].hostname}", "/tmp"]
    out = env.exec(cid, ["env"]).stdout.decode().split("\n")
    assert "FOO=bar" in out and any(line.startswith("PATH=") for line in out)


def test_tty_container(env):
    pod = env.run_pod()
    cid = env.run(pod, command=["sh", "-c", "echo tty-hello; [ -t 1 ] && echo is-a-tty; sleep 3600"], tty=True)
    wait_log(env, pod, cid, "is-a-tty")
    recs = parse_cri_log(env.log_path(pod, cid))
    assert {s for _, s, _, _ in recs} == {"stdout"}  # a terminal has one stream
    assert [m.rstrip("\r") for _, _, _, m in recs] == ["tty-hello", "is-a-tty"]
    assert env.status(cid).status.state == env.pb2.CONTAINER_RUNNING
    plain = env.run(pod, command=["sh", "-c", "[ -t 1 ] || echo not-a-tty"])
    env.wait_exited(plain)
    assert log_messages(env.log_path(pod, plain)) == ["not-a-tty"]


def test_stdin_container(env):
    """Without attach (not built yet): stdin=true keeps stdin open, so `cat` waits; without stdin it
    reads /dev/null's EOF at once."""
    pb2 = env.pb2
    pod = env.run_pod()
    with_stdin = env.run(pod, command=["sh", "-c", "echo stdin-ok; cat; echo eof"], stdin=True, stdin_once=True)
    without = env.run(pod, command=["sh", "-c", "echo no-stdin; cat; echo eof"])
    st = env.wait_exited(without)
    assert st.exit_code == 0 and st.reason == "Completed"
    assert log_messages(env.log_path(pod, without)) == ["no-stdin", "eof"]
    wait_log(env, pod, with_stdin, "stdin-ok")
    time.sleep(1)
    assert env.status(with_stdin).status.state == pb2.CONTAINER_RUNNING
    assert log_messages(env.log_path(pod, with_stdin)) == ["stdin-ok"]
    tty_stdin = env.run(pod, command=["sh", "-c", "echo both; sleep 3600"], stdin=True, tty=True)
    wait_log(env, pod, tty_stdin, "both")


def test_update_container_resources(env):
    pb2 = env.pb2
    pod = env.run_pod()
    cid = env.run(pod, command=["sleep", "3600"],
                  resources=pb2.LinuxContainerResources(memory_limit_in_bytes=128 * MiB, cpu_shares=256))
    cgroups_path = env.info(cid)["cgroupsPath"]
    mem = controller_dir("memory", cgroups_path)
    cpu = controller_dir("cpu", cgroups_path)

    def read(d, name):
        with open(os.path.join(d, name)) as f:
            return int(f.read())

    assert read(mem, "memory.limit_in_bytes") == 128 * MiB
    assert read(cpu, "cpu.shares") == 256
    env.rt.UpdateContainerResources(pb2.UpdateContainerResourcesRequest(
        container_id=cid, linux=pb2.LinuxContainerResources(memory_limit_in_bytes=64 * MiB, cpu_shares=512,
                                                            cpu_period=100000, cpu_quota=50000)), timeout=60)
    assert read(mem, "memory.limit_in_bytes") == 64 * MiB
    assert read(cpu, "cpu.shares") == 512
    assert read(cpu, "cpu.cfs_quota_us") == 50000
    res = env.status(cid).status.resources.linux
    assert (res.memory_limit_in_bytes, res.cpu_shares, res.cpu_quota) == (64 * MiB, 512, 50000)
    assert env.status(cid).status.state == pb2.CONTAINER_RUNNING


def test_reopen_container_log(env):
    pod = env.run_pod()
    cid = env.run(pod, command=["sh", "-c", "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.1; done"])
    wait_log(env, pod, cid, "line-1")
    path = env.log_path(pod, cid)
    os.rename(path, path + ".1")  # what kubelet's rotation does
    env.rt.ReopenContainerLog(env.pb2.ReopenContainerLogRequest(container_id=cid), timeout=60)
    wait_for(lambda: os.path.exists(path) and len(log_messages(path)) >= 2, 10, "lines in the reopened log")
    old, new = log_messages(path + ".1"), log_messages(path)
    n_old, n_new = int(old[-1].split("-")[1]), int(new[0].split("-")[1])
    assert n_new == n_old + 1, (old[-3:], new[:3])  # nothing lost, nothing twice
    env.stop(cid, timeout=0)
    with pytest.raises(grpc.RpcError) as e:
        env.rt.ReopenContainerLog(env.pb2.ReopenContainerLogRequest(container_id=cid), timeout=60)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_remove_running_container(env):
    pb2 = env.pb2
    pod = env.run_pod()
    cid = env.run(pod, command=["sleep", "3600"])
    pid, shim = env.pid(cid), env.shim_pid(cid)
    env.remove(cid)  # CRI: a running container is removed by force
    assert cid not in {c.id for c in env.list_containers()}
    wait_for(lambda: not pid_alive(pid) and not pid_alive(shim), 10, "the container and its shim to end")
    assert mounts_naming(cid) == []
    assert not os.path.exists(env.container_dir(cid))
    env.remove(cid)  # and again: idempotent
    # The pod is unaffected and a container of the same name can be made again.
    assert env.pod_status(pod).status.state == pb2.SANDBOX_READY
