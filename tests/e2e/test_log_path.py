# SPDX-License-Identifier: Apache-2.0
"""The container log is written by cleat-shim, as root, in a directory a pod
may be able to write (a log collector mounts /var/log/pods).  Whatever is
planted at the log path, a symlink to a host file, a device node or a FIFO,
the shim never writes through it: CreateContainer fails naming it, and a
ReopenContainerLog (kubelet's rotation) fails, is logged, shows in
ContainerStatus, and the container's output goes on into the previous file."""

import os
import stat
import time

import grpc
import pytest

from pod_fixture import log_messages, wait_for

HOST_TEXT = "a host file the container must never write\n"
TICKER = ["sh", "-c", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done"]


def plant(kind, path, host_file):
    """Put a `kind` at `path`: a symlink to host_file, /dev/null's device node, or a FIFO."""
    if kind == "symlink":
        os.symlink(host_file, path)
    elif kind == "chardev":
        os.mknod(path, 0o666 | 0o020000, os.makedev(1, 3))
    else:
        os.mkfifo(path, 0o666)


WHAT = {"symlink": "a symbolic link", "chardev": "a character device", "fifo": "a FIFO"}


@pytest.fixture
def host_file(tmp_path):
    p = tmp_path / "host-file"
    p.write_text(HOST_TEXT)
    return str(p)


@pytest.mark.parametrize("kind", sorted(WHAT))
def test_create_refuses_what_is_planted_at_the_log_path(env, host_file, kind):
    pod = env.run_pod()
    cfg = env.container_config(pod, command=TICKER)
    log = os.path.join(env.configs[pod].log_directory, cfg.log_path)
    os.makedirs(os.path.dirname(log), exist_ok=True)
    plant(kind, log, host_file)
    with pytest.raises(grpc.RpcError) as e:
        env.create(pod, config=cfg)
    assert f"log file {log} is {WHAT[kind]}: refused" in e.value.details(), e.value.details()
    assert env.list_containers(pod_sandbox_id=pod) == []
    time.sleep(0.3)
    with open(host_file) as f:
        assert f.read() == HOST_TEXT
    assert stat.S_IFMT(os.lstat(log).st_mode) == {"symlink": stat.S_IFLNK, "chardev": stat.S_IFCHR,
                                                  "fifo": stat.S_IFIFO}[kind]


@pytest.mark.parametrize("kind", sorted(WHAT))
def test_reopen_refuses_what_is_planted_at_the_log_path(env, host_file, kind):
    pod = env.run_pod()
    cid = env.run(pod, command=TICKER)
    log = env.log_path(pod, cid)
    wait_for(lambda: os.path.exists(log) and log_messages(log), 10, "the first line")
    # kubelet's rotation: rename, then ReopenContainerLog; a pod plants something in between.
    os.rename(log, log + ".1")
    plant(kind, log, host_file)
    with pytest.raises(grpc.RpcError) as e:
        env.rt.ReopenContainerLog(env.pb2.ReopenContainerLogRequest(container_id=cid), timeout=60)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"log file {log} is {WHAT[kind]}: refused" in e.value.details(), e.value.details()
    # The output goes on into the previous file, nowhere else.
    n = len(log_messages(log + ".1"))
    wait_for(lambda: len(log_messages(log + ".1")) > n + 3, 10, "more output in the previous file")
    with open(host_file) as f:
        assert f.read() == HOST_TEXT
    st = env.status(cid).status
    assert st.state == env.pb2.CONTAINER_RUNNING
    assert st.message.startswith("ReopenContainerLog failed: ") and WHAT[kind] in st.message, st.message
    assert f"container {cid}: cannot reopen its log" in env.d.read_log()

    # Once the path is clear again, a reopen works and the message is gone.
    os.unlink(log)
    env.rt.ReopenContainerLog(env.pb2.ReopenContainerLogRequest(container_id=cid), timeout=60)
    wait_for(lambda: os.path.isfile(log) and log_messages(log), 10, "output in the reopened log")
    assert env.status(cid).status.message == ""
    assert os.stat(log).st_mode & 0o777 == 0o640
