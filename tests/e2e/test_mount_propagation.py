# SPDX-License-Identifier: Apache-2.0
"""Mount propagation of CRI mounts, with real runc: HostToContainer (a
mount the host makes below the volume after the container started shows
inside) and Bidirectional (a mount a privileged container makes shows on
the host); a private mount sees neither.  The volume is a tmpfs the test
makes shared (this machine's / is private, as a node's is not), so that
only the container's side is under test.

One cleatd and one pulled test image for the module (pod_fixture.py)."""

import os
import subprocess
import time

import pytest

import pod_fixture


@pytest.fixture
def shared_dir(tmp_path):
    d = tmp_path / "vol"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(d)], check=True)
    subprocess.run(["mount", "--make-shared", str(d)], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-R", "-l", str(d)], check=False)


def mount(env, host, propagation):
    return env.pb2.Mount(container_path="/data", host_path=str(host), propagation=propagation)


def test_host_to_container(env, shared_dir):
    pb2 = env.pb2
    pod = env.run_pod()
    slave = env.run(pod, command=["sleep", "3600"], mounts=[mount(env, shared_dir, pb2.PROPAGATION_HOST_TO_CONTAINER)])
    private = env.run(pod, command=["sleep", "3600"], mounts=[mount(env, shared_dir, pb2.PROPAGATION_PRIVATE)])
    (shared_dir / "sub").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(shared_dir / "sub")], check=True)
    (shared_dir / "sub" / "f").write_text("from the host\n")
    assert env.sh(slave, "cat /data/sub/f") == "from the host\n"
    assert env.exec(private, ["cat", "/data/sub/f"]).exit_code != 0


def test_bidirectional(env, shared_dir):
    pb2 = env.pb2
    pod = env.run_pod(privileged=True)
    ctr = env.run(pod, command=["sleep", "3600"], privileged=True,
                  mounts=[mount(env, shared_dir, pb2.PROPAGATION_BIDIRECTIONAL)])
    env.sh(ctr, "mkdir -p /data/sub && mount -t tmpfs none /data/sub && echo from the container > /data/sub/f")
    pod_fixture.wait_for(lambda: (shared_dir / "sub" / "f").exists(), 10, "the container's mount on the host")
    assert (shared_dir / "sub" / "f").read_text() == "from the container\n"
    env.sh(ctr, "umount /data/sub")
    deadline = time.time() + 10
    while (shared_dir / "sub" / "f").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert not (shared_dir / "sub" / "f").exists()
    assert os.path.isdir(shared_dir / "sub")
