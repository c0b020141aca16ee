# SPDX-License-Identifier: Apache-2.0
"""cleatd killed with SIGKILL while containers run, and started again on the
same dirs: running containers keep running (same pid, their shims keep
writing the logs), an exit that happened while cleatd was away is reported
with its real status and time, and everything can then be stopped and
removed without leftovers.  Its own cleatd (own_pod_env)."""

import json
import os
import signal
import time

from pod_fixture import log_messages, mountinfo, mounts_under, pid_alive, wait_for

# Run once with runtime-runc and once with runtime-kata (shimv2) as the default handler (conftest.py).
ALSO_SHIMV2 = True
ALSO_USERNS = True  # and with pods in user namespaces of their own (conftest.py)


def test_kill_9_and_restart(own_pod_env):
    env = own_pod_env
    pb2 = env.pb2
    baseline_mounts = mounts_under(env.base)

    shared = env.run_pod(pid="POD")  # with a pause process
    plain = env.run_pod()
    ticker = env.run(shared, name="ticker",
                     command=["sh", "-c", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"])
    waiter = env.create(shared, name="waiter", command=["sleep", "3600"])  # created, never started
    t_start = time.time_ns()
    quitter = env.run(plain, name="quitter", command=["sh", "-c", "sleep 2; exit 5"])
    quitter_started = env.status(quitter).status.started_at
    unmarked = env.run(plain, name="unmarked", command=["sleep", "3600"])
    unmarked_pid = env.pid(unmarked)
    ticker_pid, ticker_shim = env.pid(ticker), env.shim_pid(ticker)
    quitter_shim = env.shim_pid(quitter)
    seen = [env.observe(shared), env.observe(plain)]
    pause = [p for p in seen[0]["pids"] if p != ticker_pid]
    assert len(pause) == 1
    log = env.log_path(shared, ticker)
    wait_for(lambda: os.path.exists(log) and log_messages(log), 10, "the ticker's first line")

    env.d.proc.send_signal(signal.SIGKILL)
    env.d.proc.wait()
    env.d.log.close()
    killed_at = time.time_ns()
    # Nothing of the pods depends on cleatd: the containers run, the shims log.
    n = len(log_messages(log))
    time.sleep(3)  # the quitter exits meanwhile
    assert pid_alive(ticker_pid) and pid_alive(ticker_shim) and pid_alive(pause[0])
    assert len(log_messages(log)) > n
    wait_for(lambda: not pid_alive(quitter_shim), 10, "the quitter's shim to finish")
    if env.default_handler == "runc":
        # runtime-runc answers RUNNING from its own mark, made once `runc start` succeeded, and asks runc only
        # without it: a created container, or a start cleatd was killed in (the mark taken away here).
        marks = {c: os.path.exists(os.path.join(env.d.state_dir, "containers", c, "started"))
                 for c in (ticker, waiter, unmarked)}
        assert marks == {ticker: True, waiter: False, unmarked: True}
        os.unlink(os.path.join(env.d.state_dir, "containers", unmarked, "started"))
    restarted_at = time.time_ns()

    env.d.start()
    env.connect()
    pods = {p.id: p.state for p in env.list_pods()}
    assert pods == {shared: pb2.SANDBOX_READY, plain: pb2.SANDBOX_READY}
    states = {c.id: c.state for c in env.list_containers()}
    assert states == {ticker: pb2.CONTAINER_RUNNING, waiter: pb2.CONTAINER_CREATED,
                      quitter: pb2.CONTAINER_EXITED, unmarked: pb2.CONTAINER_RUNNING}
    assert env.pid(unmarked) == unmarked_pid
    # Each pod still finds its own containers (the index of a container's pod is rebuilt at start-up).
    assert {c.id for c in env.list_containers(pod_sandbox_id=shared)} == {ticker, waiter}
    assert {c.id for c in env.list_containers(pod_sandbox_id=plain)} == {quitter, unmarked}

    # The running one: same process, still logging, exec works, the pause is still its pod's.
    assert env.pid(ticker) == ticker_pid
    n = len(log_messages(log))
    wait_for(lambda: len(log_messages(log)) > n, 10, "the ticker to log after the restart")
    assert "tick-" in env.sh(ticker, "ps -o args")
    assert "pause" in env.sh(ticker, "cat /proc/1/comm")
    assert int(json.loads(env.pod_status(shared, verbose=True).info["info"])["pid"]) == pause[0]

    # The one that exited while cleatd was away: its own status and time, not the restart's.
    st = env.status(quitter).status
    assert (st.exit_code, st.reason) == (5, "Error")
    assert st.started_at == quitter_started
    assert st.finished_at > st.started_at + 1.5e9  # it slept 2 s
    assert t_start < st.finished_at < restarted_at

    # The created one can still be started.
    env.start(waiter)
    assert env.status(waiter).status.state == pb2.CONTAINER_RUNNING

    # Stop the running one, then remove everything: nothing left.
    env.stop(unmarked, timeout=1)
    env.stop(ticker, timeout=1)
    st = env.status(ticker).status
    assert st.state == pb2.CONTAINER_EXITED and st.exit_code == 143  # not PID 1 (the pause is): TERM kills it
    assert not pid_alive(ticker_pid)
    seen[0]["pids"].append(env.pid(waiter))
    seen[0]["shims"].append(env.shim_pid(waiter))
    for pod, s in zip((shared, plain), seen):
        env.stop_pod(pod)
        env.remove_pod(pod)
        env.check_gone(s)
    assert env.list_pods() == [] and env.list_containers() == []
    assert mounts_under(env.base) == baseline_mounts
    assert not [p for p, fstype, _ in mountinfo() if fstype == "nsfs" and p.startswith(env.base)]
    for sub in ("pods", "containers"):
        d = os.path.join(env.d.state_dir, sub)
        assert not os.path.isdir(d) or os.listdir(d) == [], os.listdir(d)
    assert killed_at < restarted_at


def test_restart_after_everything_was_removed(own_pod_env):
    """A daemon that had pods, all removed, starts again with nothing listed."""
    env = own_pod_env
    pod = env.run_pod()
    env.run(pod, command=["sleep", "3600"])
    seen = env.observe(pod)
    env.remove_pod(pod)
    env.check_gone(seen)
    env.d.proc.send_signal(signal.SIGKILL)
    env.d.proc.wait()
    env.d.log.close()
    env.d.start()
    env.connect()
    assert env.list_pods() == [] and env.list_containers() == []
