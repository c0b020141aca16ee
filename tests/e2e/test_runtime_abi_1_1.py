# SPDX-License-Identifier: Apache-2.0
"""Plugin ABI 1.1: what the core does for a runtime that works like a
containerd shim v2 (a VM runtime such as Kata).  The runtime here is
tests/plugins/test_wrap_runtime.c: real runc through runtime-runc, behind
the 1.1 behaviours of a shim v2, noting what the core hands it in JSON files
that these tests read.  The same things under the plain runc handler stay as
they were (checked alongside).

- ROOTFS_MOUNTS: the core does not leave the rootfs mounted; it passes the
  snapshotter's mounts, an empty <bundle>/rootfs and root.path "rootfs", and
  leaves unmounting to the runtime (also after a restart).
- SANDBOX_TASK: every pod's sandbox gets the pause spec; the pod's
  resources and overhead reach sandbox_create as OCI JSON, and
  UpdatePodSandboxResources reaches sandbox_update.
- stats: ContainerStats and PodSandboxStats come from the runtime's op.
- OOM: an OOM kill the runtime reports through state() is OOMKilled.
- Attach: resizing the terminal goes through the runtime's resize_pty.
"""

import json
import os
import signal

import grpc
import pytest

import stream_clients as sc
from pod_fixture import RUNC, RUNTIME_RUNC_DIR, SHIM, make_env, mounts_naming, mounts_under, pid_alive, wait_for
from conftest import Cleatd, _pod_env_teardown, pods_removed_after

HANDLER = "wrapped"
MiB = 1024 * 1024


def wrapped_handler():
    """A drop-in adding the `wrapped` handler: test-wrap-runtime around runtime-runc."""
    return f"""runtime:
  handlers:
    {HANDLER}:
      plugin: test-wrap-runtime
      options:
        plugin: {os.path.join(RUNTIME_RUNC_DIR, "runtime-runc.so")}
        options: {{binary: {RUNC}, shim: {SHIM}}}
"""


@pytest.fixture(scope="module")
def wrap_env(tmp_path_factory, cri, test_layout):
    # Stats measured in every call: the tests compare them with the runtime op's last answer.
    env = make_env(Cleatd, str(tmp_path_factory.mktemp("abi11")), cri, test_layout,
                   dropins={"50-wrapped.yaml": wrapped_handler(),
                            "60-stats.yaml": "stats: {collection_period_seconds: 0}\n"})
    yield env
    _pod_env_teardown(env)


@pytest.fixture
def env(wrap_env):
    with pods_removed_after(wrap_env):
        yield wrap_env


def note_path(env, what, ident, ext="json"):
    return os.path.join(env.d.state_dir, "plugins", "runtime", HANDLER, "wrap", f"{what}-{ident}.{ext}")


def note(env, what, ident, ext="json"):
    """A note test-wrap-runtime wrote (parsed JSON, or the text of a .log)."""
    with open(note_path(env, what, ident, ext)) as f:
        return json.load(f) if ext == "json" else f.read()


def pause_pid(env, pod):
    return int(json.loads(env.pod_status(pod, verbose=True).info["info"])["pid"])


def spec_of(env, cid):
    with open(os.path.join(env.container_dir(cid), "config.json")) as f:
        return json.load(f)


# --------------------------------------------------------------------------
# ROOTFS_MOUNTS


def test_runtime_mounts_the_rootfs_from_the_snapshotters_mounts(env):
    pod = env.run_pod(handler=HANDLER)
    # A user by name: the core still reads the image's /etc/passwd, though it leaves nothing mounted.
    cid = env.create(pod, command=["sleep", "3600"], run_as_username="app")
    handed = note(env, "create", cid)
    assert handed["mounts"], handed
    assert handed["mounts"][0]["type"] in ("overlay", "bind"), handed
    assert handed["rootfs_empty"] and not handed["rootfs_mounted"], handed
    assert handed["root_path"] == "rootfs" == spec_of(env, cid)["root"]["path"]
    assert spec_of(env, cid)["process"]["user"]["uid"] == 1000
    env.start(cid)
    rootfs = os.path.join(env.container_dir(cid), "rootfs")
    assert mounts_under(rootfs) == [os.path.realpath(rootfs)]  # the runtime's mount
    assert env.sh(cid, "id -u; head -1 /etc/passwd") == "1000\nroot:x:0:0:root:/root:/bin/sh\n"
    env.stop(cid)
    env.remove(cid)
    assert mounts_naming(cid) == []
    assert not os.path.exists(env.container_dir(cid))


def test_plain_runc_still_gets_a_mounted_rootfs(env):
    pod = env.run_pod()
    cid = env.create(pod, command=["sleep", "3600"])
    rootfs = os.path.join(env.container_dir(cid), "rootfs")
    assert spec_of(env, cid)["root"]["path"] == rootfs
    assert mounts_under(rootfs) == [os.path.realpath(rootfs)]
    env.remove(cid)
    assert mounts_naming(cid) == []


def test_runtime_unmounts_the_rootfs_after_a_restart(env):
    pod = env.run_pod(handler=HANDLER)
    cid = env.run(pod, command=["sleep", "3600"])
    pid = env.pid(cid)
    env.d.proc.send_signal(signal.SIGKILL)
    env.d.proc.wait()
    env.d.log.close()
    env.d.start()
    env.connect()
    assert env.status(cid).status.state == env.pb2.CONTAINER_RUNNING
    assert pid_alive(pid)
    env.stop(cid)
    env.remove(cid)
    assert mounts_naming(cid) == []
    assert not os.path.exists(env.container_dir(cid))


# --------------------------------------------------------------------------
# SANDBOX_TASK, pod resources


def pod_with_resources(env):
    cfg = env.pod_config()
    cfg.linux.resources.CopyFrom(env.pb2.LinuxContainerResources(cpu_shares=512, memory_limit_in_bytes=256 * MiB))
    cfg.linux.overhead.CopyFrom(env.pb2.LinuxContainerResources(cpu_shares=128))
    return cfg


def test_every_pod_gets_a_sandbox_task_with_its_resources(env):
    pod = env.run_pod(config=pod_with_resources(env), handler=HANDLER)  # its own PID namespace per container
    made = note(env, "sandbox", pod)
    assert made["spec"] is True
    assert made["resources"] == {"cpu": {"shares": 512}, "memory": {"limit": 256 * MiB}}
    assert made["overhead"] == {"cpu": {"shares": 128}, "memory": {}}
    assert pid_alive(pause_pid(env, pod))
    # runc's handler: no pause for such a pod, as before.
    plain = env.run_pod(config=pod_with_resources(env))
    assert pause_pid(env, plain) == 0


def test_a_pod_without_resources_gets_none(env):
    pod = env.run_pod(handler=HANDLER)
    made = note(env, "sandbox", pod)
    assert made["resources"] is None and made["overhead"] is None


def test_update_pod_sandbox_resources_reaches_the_runtime(env):
    pod = env.run_pod(config=pod_with_resources(env), handler=HANDLER)
    new = env.pb2.LinuxContainerResources(cpu_shares=1024, memory_limit_in_bytes=512 * MiB)
    env.rt.UpdatePodSandboxResources(env.pb2.UpdatePodSandboxResourcesRequest(pod_sandbox_id=pod, resources=new),
                                     timeout=30)
    assert note(env, "sandbox-update", pod)["resources"] == {"cpu": {"shares": 1024}, "memory": {"limit": 512 * MiB}}


def test_a_runtime_that_refuses_the_update_fails_it(env):
    pod = env.run_pod(handler=HANDLER)
    os.unlink(note_path(env, "sandbox", pod))  # test-wrap-runtime now answers NOT_FOUND for the pod
    new = env.pb2.LinuxContainerResources(cpu_shares=1024)
    with pytest.raises(grpc.RpcError) as e:
        env.rt.UpdatePodSandboxResources(env.pb2.UpdatePodSandboxResourcesRequest(pod_sandbox_id=pod, resources=new),
                                         timeout=30)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert f"runtime '{HANDLER}'" in e.value.details() and pod in e.value.details()
    # Only the overhead: nothing for the runtime to resize, so it is not asked.
    env.rt.UpdatePodSandboxResources(env.pb2.UpdatePodSandboxResourcesRequest(pod_sandbox_id=pod, overhead=new),
                                     timeout=30)


# --------------------------------------------------------------------------
# stats


def test_container_and_pod_stats_come_from_the_runtime(env):
    pod = env.run_pod(handler=HANDLER)
    cid = env.run(pod, command=["sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 3600"])
    st = env.rt.ContainerStats(env.pb2.ContainerStatsRequest(container_id=cid), timeout=30).stats
    said = note(env, "stats", cid)
    assert st.cpu.usage_core_nano_seconds.value == said["cpu_usage_ns"]
    assert st.cpu.timestamp == said["timestamp_ns"]
    assert st.memory.usage_bytes.value == said["memory_usage_bytes"] > 0
    assert st.memory.working_set_bytes.value == said["memory_working_set_bytes"]
    assert st.memory.rss_bytes.value == said["memory_rss_bytes"]
    assert st.memory.page_faults.value == said["memory_page_faults"]
    assert st.memory.major_page_faults.value == said["memory_major_page_faults"]
    ps = env.rt.PodSandboxStats(env.pb2.PodSandboxStatsRequest(pod_sandbox_id=pod), timeout=30).stats.linux
    said = note(env, "stats", pod)  # the pod's own figures: its sandbox task's
    assert ps.cpu.usage_core_nano_seconds.value == said["cpu_usage_ns"]
    assert ps.memory.working_set_bytes.value == said["memory_working_set_bytes"]
    assert ps.process.process_count.value == said["pids"] == 1
    assert [c.attributes.id for c in ps.containers] == [cid]


def test_stats_of_a_stopped_container_ask_nothing(env):
    pod = env.run_pod(handler=HANDLER)
    cid = env.run(pod, command=["true"])
    env.wait_exited(cid)
    st = env.rt.ContainerStats(env.pb2.ContainerStatsRequest(container_id=cid), timeout=30).stats
    assert not st.HasField("cpu") and not st.HasField("memory")
    with pytest.raises(FileNotFoundError):
        note(env, "stats", cid)


# --------------------------------------------------------------------------
# OOM


def test_oom_kill_reported_by_the_runtime_is_oomkilled(env):
    pod = env.run_pod(handler=HANDLER)
    oom = env.run(pod, command=["sleep", "3600"], annotations={"cleat.test/vm-oom": "true"})
    plain = env.run(pod, command=["sleep", "3600"])
    for cid in (oom, plain):
        env.stop(cid, timeout=0)  # SIGKILL: what an OOM kill looks like from outside
    st = env.wait_exited(oom)
    assert (st.exit_code, st.reason) == (137, "OOMKilled")
    st = env.wait_exited(plain)
    assert (st.exit_code, st.reason) == (137, "Error")


def test_oom_kill_while_cleatd_was_down_is_oomkilled(env):
    pod = env.run_pod(handler=HANDLER)
    cid = env.run(pod, command=["sleep", "3600"], annotations={"cleat.test/vm-oom": "true"})
    pid = env.pid(cid)
    env.d.proc.send_signal(signal.SIGKILL)
    env.d.proc.wait()
    env.d.log.close()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), 20, "the container's init to die")
    env.d.start()
    env.connect()
    st = env.wait_exited(cid)
    assert (st.exit_code, st.reason) == (137, "OOMKilled")


# --------------------------------------------------------------------------
# attach


def test_attach_resize_goes_through_the_runtime(env):
    pod = env.run_pod(handler=HANDLER)
    cid = env.run(pod, command=["sh", "-c", "while true; do read x; stty size; done"], stdin=True, tty=True)
    url = env.rt.Attach(env.pb2.AttachRequest(container_id=cid, stdin=True, tty=True, stdout=True),
                        timeout=30).url
    s = sc.open_session("spdy", url, protocol=sc.V4, stdin=True, tty=True)
    s.resize(91, 17)
    wait_for(lambda: os.path.exists(os.path.join(env.d.state_dir, "plugins", "runtime", HANDLER, "wrap",
                                                 f"resize-{cid}.log")), 20, "the resize to reach the runtime")
    s.write_stdin(b"\n")
    s.read_until("stdout", b"17 91", timeout=20)
    s.finish()
    assert note(env, "resize", cid, "log").splitlines()[-1] == "- 91 17"
