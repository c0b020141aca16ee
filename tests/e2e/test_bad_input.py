# SPDX-License-Identifier: Apache-2.0
"""Bad requests to the pod and container RPCs: each gets a clear gRPC status
code and leaves nothing behind (no record in List, no state dir, no mount,
no snapshot).  And the idempotent ones (RemoveContainer, RemovePodSandbox of
an unknown ID, StopContainer of an exited one) succeed, as the CRI says.

One cleatd and one pulled test image for the module (pod_fixture.py)."""

import glob
import os

import grpc
import pytest

from pod_fixture import mounts_under

# Run once with runtime-runc and once with runtime-kata (shimv2) as the default handler (conftest.py).
ALSO_SHIMV2 = True

UNKNOWN = "0123456789abcdef" * 4
NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
EXISTS = grpc.StatusCode.ALREADY_EXISTS


def listdir(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def world(env):
    """Everything a failed request must leave as it was."""
    return {
        "pods": sorted(p.id for p in env.list_pods()),
        "containers": sorted(c.id for c in env.list_containers()),
        "pod dirs": listdir(os.path.join(env.d.state_dir, "pods")),
        "container dirs": listdir(os.path.join(env.d.state_dir, "containers")),
        "mounts": mounts_under(env.base),
        "snapshots": sorted(glob.glob(os.path.join(env.d.root_dir, "plugins", "snapshotter", "*", "snapshots", "*"))),
    }


def refused(env, code, call, *args, **kw):
    """call(*args) must fail with `code` and change nothing; returns the error's message."""
    before = world(env)
    with pytest.raises(grpc.RpcError) as e:
        call(*args, **kw)
    assert e.value.code() == code, f"{e.value.code()}: {e.value.details()}"
    assert e.value.details(), "an error needs a message"
    assert world(env) == before
    return e.value.details()


def test_unknown_pod(env):
    assert refused(env, NOT_FOUND, env.pod_status, UNKNOWN)
    refused(env, NOT_FOUND, env.create, UNKNOWN, pod_config=env.pod_config(), command=["true"])
    env.remove_pod(UNKNOWN)  # idempotent: success
    env.stop_pod(UNKNOWN)  # nothing left to reclaim: success too (kubelet and critest stop removed pods)


def test_unknown_container(env):
    refused(env, NOT_FOUND, env.start, UNKNOWN)
    refused(env, NOT_FOUND, env.stop, UNKNOWN, 1)
    refused(env, NOT_FOUND, env.status, UNKNOWN)
    refused(env, NOT_FOUND, env.exec, UNKNOWN, ["true"])
    env.remove(UNKNOWN)  # idempotent: success


def test_duplicate_pod_name(env):
    pb2 = env.pb2
    cfg = env.pod_config(name="dup", uid="uid-dup")
    pod = env.run_pod(cfg)
    msg = refused(env, EXISTS, env.run_pod, cfg)
    assert "dup" in msg or pod in msg
    assert [p.id for p in env.list_pods() if p.metadata.name == "dup"] == [pod]
    assert env.pod_status(pod).status.state == pb2.SANDBOX_READY
    # Another attempt is another pod (kubelet's way to recreate a sandbox).
    again = env.pod_config(name="dup", uid="uid-dup", attempt=1)
    assert env.run_pod(again) != pod


def test_duplicate_container_name(env):
    pod = env.run_pod()
    first = env.create(pod, name="twin", command=["sleep", "3600"])
    refused(env, EXISTS, env.create, pod, name="twin", command=["sleep", "3600"])
    assert env.create(pod, name="twin", attempt=1, command=["true"]) != first
    # The same name in another pod is fine.
    other = env.run_pod()
    env.create(other, name="twin", command=["true"])


def test_container_in_a_stopped_pod(env):
    pod = env.run_pod()
    env.stop_pod(pod)
    refused(env, PRECONDITION, env.create, pod, command=["true"])


def test_missing_image(env):
    pod = env.run_pod()
    refused(env, NOT_FOUND, env.create, pod, image="example.invalid/not/pulled:1", command=["true"])
    refused(env, NOT_FOUND, env.create, pod, image="sha256:" + "ab" * 32, command=["true"])


def test_missing_host_path(env, tmp_path):
    pb2 = env.pb2
    pod = env.run_pod()
    missing = tmp_path / "missing"
    refused(env, INVALID, env.create, pod, command=["true"],
            mounts=[pb2.Mount(container_path="/data", host_path=str(missing / "ro"), readonly=True)])
    assert not missing.exists()
    # Not read-only: the missing host path is made a directory (as the big runtimes do).
    cid = env.run(pod, command=["sleep", "3600"],
                  mounts=[pb2.Mount(container_path="/data", host_path=str(missing / "rw"))])
    assert (missing / "rw").is_dir()
    env.sh(cid, "echo written > /data/f")
    assert (missing / "rw" / "f").read_text() == "written\n"


def test_missing_metadata_and_empty_names(env):
    pb2 = env.pb2
    cfg = env.pod_config()
    cfg.ClearField("metadata")
    refused(env, INVALID, env.run_pod, cfg)
    cfg = env.pod_config()
    cfg.metadata.name = ""
    refused(env, INVALID, env.run_pod, cfg)
    cfg = env.pod_config()
    cfg.metadata.uid = ""
    refused(env, INVALID, env.run_pod, cfg)
    cfg = env.pod_config()
    cfg.metadata.namespace = ""
    refused(env, INVALID, env.run_pod, cfg)
    before = world(env)
    with pytest.raises(grpc.RpcError) as e:
        env.rt.RunPodSandbox(pb2.RunPodSandboxRequest(), timeout=60)  # no config at all
    assert e.value.code() == INVALID and world(env) == before

    pod = env.run_pod()
    ccfg = env.container_config(pod, command=["true"])
    ccfg.ClearField("metadata")
    refused(env, INVALID, env.create, pod, ccfg)
    ccfg = env.container_config(pod, command=["true"])
    ccfg.metadata.name = ""
    refused(env, INVALID, env.create, pod, ccfg)
    before = world(env)
    with pytest.raises(grpc.RpcError) as e:
        env.rt.CreateContainer(pb2.CreateContainerRequest(pod_sandbox_id=pod), timeout=60)  # no config
    assert e.value.code() == INVALID and world(env) == before


def test_no_command(env):
    pod = env.run_pod()
    msg = refused(env, INVALID, env.create, pod, image="nocmd")  # no Entrypoint, no Cmd, no command
    assert "command" in msg.lower()
    # With a command the same image is fine.
    env.create(pod, image="nocmd", command=["true"])


def test_unknown_user_or_group_name(env):
    pod = env.run_pod()
    msg = refused(env, INVALID, env.create, pod, command=["true"], run_as_username="nosuchuser")
    assert "nosuchuser" in msg


def test_start_twice(env):
    pb2 = env.pb2
    pod = env.run_pod()
    cid = env.run(pod, command=["sleep", "3600"])
    pid = env.pid(cid)
    refused(env, PRECONDITION, env.start, cid)
    assert env.status(cid).status.state == pb2.CONTAINER_RUNNING and env.pid(cid) == pid
    env.stop(cid, timeout=0)
    refused(env, PRECONDITION, env.start, cid)  # an exited container does not start again
    assert env.status(cid).status.state == pb2.CONTAINER_EXITED


def test_exec_in_a_container_that_does_not_run(env):
    pod = env.run_pod()
    cid = env.create(pod, command=["sleep", "3600"])
    refused(env, PRECONDITION, env.exec, cid, ["true"])
    env.start(cid)
    env.stop(cid, timeout=0)
    refused(env, PRECONDITION, env.exec, cid, ["true"])


def test_stop_exited_container_and_remove_twice(env):
    pb2 = env.pb2
    pod = env.run_pod()
    cid = env.run(pod, command=["sh", "-c", "exit 4"])
    env.wait_exited(cid)
    finished = env.status(cid).status.finished_at
    env.stop(cid, timeout=10)
    env.stop(cid, timeout=0)
    st = env.status(cid).status
    assert (st.state, st.exit_code, st.finished_at) == (pb2.CONTAINER_EXITED, 4, finished)
    env.remove(cid)
    env.remove(cid)
    assert cid not in [c.id for c in env.list_containers()]


def test_empty_and_malformed_ids(env):
    """An ID that cannot be one (empty, a path, too long) is INVALID_ARGUMENT, never a path lookup."""
    for bad in ("", "../../etc", "a/b", "f" * 65, "x" * 300):
        refused(env, INVALID, env.status, bad)
        refused(env, INVALID, env.pod_status, bad)
        refused(env, INVALID, env.start, bad)
