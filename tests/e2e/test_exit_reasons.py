# SPDX-License-Identifier: Apache-2.0
"""Why a container ended, as kubelet reads it: the OOM killer (OOMKilled,
137) is told apart from a plain SIGKILL (Error, 137), from the cgroup's own
OOM counter read while the container's cgroup still exists."""

import pytest

# Also with every pod in a user namespace of its own (conftest.py): the OOM killer is told apart there too.
ALSO_USERNS = True


def test_oom_killed(env):
    pb2 = env.pb2
    pod = env.run_pod()
    limit = 32 << 20
    res = pb2.LinuxContainerResources(memory_limit_in_bytes=limit, memory_swap_limit_in_bytes=limit)
    cid = env.run(pod, command=["/bin/cleat-testbin", "alloc", "256"], resources=res)
    st = env.wait_exited(cid, timeout=60)
    assert (st.exit_code, st.reason) == (137, "OOMKilled"), st
    assert st.finished_at >= st.started_at


@pytest.mark.parametrize("timeout", [0, 1])
def test_sigkill_is_not_oom(env, timeout):
    pod = env.run_pod()
    cid = env.run(pod, command=["/bin/cleat-testbin", "ignore-term"])
    env.stop(cid, timeout=timeout)
    st = env.status(cid).status
    assert (st.exit_code, st.reason) == (137, "Error")
