# SPDX-License-Identifier: Apache-2.0
"""What only a shim v2 runtime has (runtime-kata driving Debian's
containerd-shim-runc-v2, the stand-in for Kata's shim): the pod's shim killed
with SIGKILL, cleatd killed in the middle of a container's life and of a
CreateContainer, and exits that happen while cleatd is away.  The suites for
pods, containers, streaming, stats, restart and bad input run with this
handler too (ALSO_SHIMV2 in them)."""

import glob
import json
import os
import signal
import subprocess
import threading
import time

import grpc
import pytest

from pod_fixture import log_messages, mounts_under, pid_alive, wait_for

HANDLERS = ("shimv2",)


def shim_record(env, pod):
    """The plugin's record of a pod's shim: {"bundle", "address", "shim_pid"}."""
    [path] = glob.glob(os.path.join(env.d.state_dir, "plugins", "*", "shimv2", "pods", pod + ".json"))
    with open(path) as f:
        return json.load(f)


def shim_processes():
    """Pids of every containerd-shim-runc-v2 on the machine."""
    pids = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError):
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2"):
            pids.append(int(d))
    return pids


def relays_under(state_dir):
    """Pids of the cleat-shim relays whose bundle is under state_dir."""
    pids = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except (OSError, ValueError):
            continue
        if "--relay" in argv and "--bundle" in argv and \
                argv[argv.index("--bundle") + 1].startswith(state_dir + "/"):
            pids.append(int(d))
    return pids


def runc_containers(state_dir):
    """The ids containerd-shim-runc-v2's runc knows in the k8s.io namespace (its default root) whose bundle is
    under state_dir (runc records it among its labels): other tests may run shims at the same time."""
    root = "/run/containerd/runc/k8s.io"
    ids = set()
    for cid in os.listdir(root) if os.path.isdir(root) else []:
        try:
            with open(os.path.join(root, cid, "state.json")) as f:
                if state_dir + "/" in f.read():
                    ids.add(cid)
        except OSError:
            pass
    return ids


def kill_cleatd(env):
    env.d.proc.send_signal(signal.SIGKILL)
    env.d.proc.wait()
    env.d.log.close()


def restart_cleatd(env):
    env.d.start()
    env.connect()


def test_shim_killed(own_pod_env):
    """kill -9 of a pod's shim: its containers are reported exited (255) with the reason in cleatd's log, their
    processes and relays end, its socket is gone, and the pod can be stopped and removed without leftovers."""
    env = own_pod_env
    pod = env.run_pod()
    runner = env.run(pod, name="runner", command=["sh", "-c", "echo up; exec sleep 3600"])
    created = env.create(pod, name="created", command=["sleep", "3600"])
    rec = shim_record(env, pod)
    pid, relay = env.pid(runner), env.shim_pid(runner)
    log = env.log_path(pod, runner)
    wait_for(lambda: os.path.exists(log) and log_messages(log) == ["up"], 10, "the runner's first line")
    seen = env.observe(pod)
    seen["pids"].append(rec["shim_pid"])

    os.kill(rec["shim_pid"], signal.SIGKILL)
    for cid in (runner, created):
        st = env.wait_exited(cid)
        assert st.exit_code == 255, st
    assert "its shim died; reported exited with 255" in env.d.read_log()
    # Nothing of the containers runs on: the shim's own cleanup killed them, the relays finished.
    wait_for(lambda: not pid_alive(pid) and not pid_alive(relay), 10, "the container and its relay to end")
    socket = rec["address"][len("unix://"):]
    assert not os.path.exists(socket)
    # The record of the exit stays as it was.
    assert env.status(runner).status.exit_code == 255

    for cid in (runner, created):
        env.remove(cid)
    env.stop_pod(pod)
    env.remove_pod(pod)
    env.check_gone(seen)
    assert rec["shim_pid"] not in shim_processes()


def test_cleatd_killed_mid_life(own_pod_env):
    """kill -9 of cleatd while a container logs: it runs on in its shim, the log keeps flowing, and after the
    restart its exec, stop (with its real code) and removal work; an exit that happened while cleatd was away
    keeps its own code and time."""
    env = own_pod_env
    pb2 = env.pb2
    baseline_mounts = mounts_under(env.base)
    pod = env.run_pod()
    ticker = env.run(pod, name="ticker",
                     command=["sh", "-c", "trap 'exit 42' TERM; i=0; while true; do echo tick-$i; i=$((i+1)); "
                                          "sleep 0.2; done"])
    quitter = env.run(pod, name="quitter", command=["sh", "-c", "sleep 2; exit 7"])
    started = env.status(quitter).status.started_at
    shim = shim_record(env, pod)["shim_pid"]
    ticker_pid = env.pid(ticker)
    log = env.log_path(pod, ticker)
    wait_for(lambda: os.path.exists(log) and log_messages(log), 10, "the ticker's first line")
    seen = env.observe(pod)

    kill_cleatd(env)
    n = len(log_messages(log))
    time.sleep(3)  # the quitter exits meanwhile
    assert pid_alive(shim) and pid_alive(ticker_pid)
    assert len(log_messages(log)) > n
    restarted_at = time.time_ns()
    restart_cleatd(env)

    states = {c.id: c.state for c in env.list_containers()}
    assert states == {ticker: pb2.CONTAINER_RUNNING, quitter: pb2.CONTAINER_EXITED}
    st = env.status(quitter).status
    assert (st.exit_code, st.reason) == (7, "Error")
    assert st.started_at == started
    assert started + 1.5e9 < st.finished_at < restarted_at
    assert env.pid(ticker) == ticker_pid
    n = len(log_messages(log))
    wait_for(lambda: len(log_messages(log)) > n, 10, "the ticker to log after the restart")
    assert env.sh(ticker, "echo from-exec") == "from-exec\n"

    env.stop(ticker, timeout=10)
    st = env.status(ticker).status
    assert st.state == pb2.CONTAINER_EXITED and st.exit_code == 42, st
    for cid in (ticker, quitter):
        env.remove(cid)
    env.stop_pod(pod)
    env.remove_pod(pod)
    env.check_gone(seen)
    assert shim not in shim_processes()
    assert mounts_under(env.base) == baseline_mounts


def test_cleatd_killed_mid_create(own_pod_env):
    """kill -9 of cleatd while CreateContainer runs, at several moments: after the restart the pod's containers
    can all be removed, and nothing is left of them (no relay, no task in the shim, no mount)."""
    env = own_pod_env
    baseline_mounts = mounts_under(env.base)
    pod = env.run_pod()
    seen = env.observe(pod)
    seen["pids"].append(shim_record(env, pod)["shim_pid"])
    for delay in (0.0, 0.02, 0.05, 0.1, 0.2):
        done = threading.Event()

        def create():
            try:
                env.create(pod, command=["sleep", "3600"])
            except grpc.RpcError:
                pass  # cut off by the kill
            done.set()

        threading.Thread(target=create, daemon=True).start()
        time.sleep(delay)
        kill_cleatd(env)
        done.wait(30)
        restart_cleatd(env)
        for c in env.list_containers(pod_sandbox_id=pod):
            seen["containers"].append(c.id)
            try:
                seen["shims"].append(env.shim_pid(c.id))
            except FileNotFoundError:
                pass
            env.remove(c.id)
        assert env.list_containers(pod_sandbox_id=pod) == []
    # The pod still works after all that.
    cid = env.run(pod, command=["sh", "-c", "exit 3"])
    assert env.wait_exited(cid).exit_code == 3
    env.remove(cid)
    env.stop_pod(pod)
    env.remove_pod(pod)
    env.check_gone(seen)
    assert mounts_under(env.base) == baseline_mounts
    assert relays_under(env.d.state_dir) == []
    assert runc_containers(env.d.state_dir) == set()


def test_port_forward_into_a_guest_refused(own_pod_env):
    """A handler whose pods' network is in a guest (port_forward: none, the default for every shim but
    containerd-shim-runc-*) answers PortForward with UNIMPLEMENTED naming it, instead of connecting into the host
    side of the pod's network where a VM's processes are not; the same shim with netns forwards."""
    env = own_pod_env
    guest = env.run_pod(handler="shimv2-guest")
    with pytest.raises(grpc.RpcError) as e:
        env.rt.PortForward(env.pb2.PortForwardRequest(pod_sandbox_id=guest, port=[8080]), timeout=30)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED, e.value
    assert "shimv2-guest" in e.value.details() and guest in e.value.details(), e.value.details()
    host = env.run_pod()
    url = env.rt.PortForward(env.pb2.PortForwardRequest(pod_sandbox_id=host, port=[8080]), timeout=30).url
    assert "/portforward/" in url


def test_exec_stdin_reaches_a_shim_that_opens_it_late(env):
    """The shim opens an exec's stdin without waiting for the open (containerd's fifo package, in a goroutine),
    so its reader may come after Start answered.  Here every open of the shim's own threads is made 300 ms slow
    (strace's delay injection; the processes it starts are not traced): the exec's input must still all reach
    `cat`.  It was lost when cleatd gave up its own reader as Start answered: the stdin pump's first write found
    no reader (EPIPE), and `cat` read an empty input and exited 0."""
    import stream_clients as sc
    pod = env.run_pod()
    cid = env.run(pod, command=["sleep", "3600"])
    shim = shim_record(env, pod)["shim_pid"]
    threads = [int(t) for t in os.listdir(f"/proc/{shim}/task")]
    # Only the opens through the shim's own handles (/proc/self/fd/N: its fifo package's second step) wait.
    paths = [a for n in range(256) for a in ("-P", f"/proc/self/fd/{n}")]
    tracer = subprocess.Popen(["strace", "-qq", "-o", "/dev/null", "-e", "trace=openat",
                               "-e", "inject=openat:delay_enter=300000"] + paths +
                              [a for t in threads for a in ("-p", str(t))])
    try:
        def traced():
            with open(f"/proc/{threads[0]}/status") as f:
                return any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in f)
        wait_for(traced, timeout=10, what="strace attached to the shim")
        data = b"".join(b"line %d\n" % i for i in range(2000))
        url = env.rt.Exec(env.pb2.ExecRequest(container_id=cid, cmd=["cat"], stdin=True, stdout=True,
                                              stderr=True), timeout=60).url
        r = sc.run("spdy", url, stdin=data, timeout=60)
    finally:
        tracer.terminate()
        tracer.wait()
    assert r.exit_code == 0, r
    assert r.stdout == data, (len(r.stdout), r.stdout[:200])
