# SPDX-License-Identifier: Apache-2.0
"""The features the CRI Status advertises are the ones that work, since
kubelet refuses a pod needing a feature the runtime does not advertise and
trusts one it does:

- recursive read-only mounts (runtime_handlers[].features): a bind of a host
  directory with a tmpfs below it is read-only inside, the tmpfs too, where
  the handler says so (runc, whose `runc features` lists "rro", on a kernel
  with mount_setattr); where it does not (the shim v2 handler: cleat cannot
  know what a shim does with the option), such a mount is refused;
- supplemental groups policy Strict (features.supplemental_groups_policy):
  the process has its own group and the ones asked for, none of the image's
  /etc/group, and ContainerStatus.user says so.

One cleatd per handler variant (runc, shimv2) for the module."""

import subprocess

import pytest

from test_bad_input import PRECONDITION, refused

ALSO_SHIMV2 = True


@pytest.fixture
def pod(env):
    return env.run_pod()


@pytest.fixture
def tree(tmp_path):
    """A host directory with a file, and a tmpfs mounted below it (sub/) with a file of its own."""
    top = tmp_path / "tree"
    (top / "sub").mkdir(parents=True)
    (top / "top-file").write_text("top\n")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(top / "sub")], check=True)
    try:
        (top / "sub" / "sub-file").write_text("sub\n")
        yield top
    finally:
        subprocess.run(["umount", "-l", str(top / "sub")], check=True)


def handler_features(env):
    resp = env.rt.Status(env.pb2.StatusRequest(), timeout=60)
    return {h.name: h.features for h in resp.runtime_handlers}, resp.features


def mount(env, host, rro):
    pb2 = env.pb2
    return pb2.Mount(container_path="/data", host_path=str(host), readonly=True, recursive_read_only=rro,
                     propagation=pb2.PROPAGATION_PRIVATE)


def test_recursive_read_only_where_advertised(env, pod, tree):
    handlers, _ = handler_features(env)
    advertised = handlers[env.default_handler].recursive_read_only_mounts
    assert handlers[""].recursive_read_only_mounts == advertised  # the default handler, under both names
    assert handlers["runc"].recursive_read_only_mounts  # runc 1.1 on Linux >= 5.12
    if not advertised:
        assert env.default_handler == "shimv2"
        msg = refused(env, PRECONDITION, env.create, pod, command=["sleep", "3600"], mounts=[mount(env, tree, True)])
        assert "/data" in msg and "recursive_read_only" in msg and "shimv2" in msg, msg
        return
    cid = env.run(pod, command=["sleep", "3600"], mounts=[mount(env, tree, True)])
    assert env.sh(cid, "cat /data/top-file /data/sub/sub-file") == "top\nsub\n"
    assert env.testbin(cid, "write", "/data/new") == "EROFS"
    assert env.testbin(cid, "write", "/data/sub/new") == "EROFS"
    # A plain read-only bind leaves the submount writable: what the recursive one is for.
    plain = env.run(pod, command=["sleep", "3600"], mounts=[mount(env, tree, False)])
    assert env.testbin(plain, "write", "/data/new") == "EROFS"
    assert env.testbin(plain, "write", "/data/sub/new") == "ok"


def test_supplemental_groups_strict(env, pod):
    _, features = handler_features(env)
    assert features.supplemental_groups_policy
    pb2 = env.pb2
    # uid 1000 is `app` in the image's /etc/passwd, a member of `extra` (2000) in its /etc/group.
    merge = env.run(pod, command=["sleep", "3600"], run_as_user=1000, supplemental_groups=[4000])
    strict = env.run(pod, command=["sleep", "3600"], run_as_user=1000, supplemental_groups=[4000],
                     supplemental_groups_policy=pb2.Strict)
    groups = {cid: {int(g) for g in env.sh(cid, "id -G").split()} for cid in (merge, strict)}
    assert groups[merge] == {1000, 2000, 4000}
    assert groups[strict] == {1000, 4000}
    for cid in (merge, strict):
        user = env.status(cid).status.user.linux
        assert (user.uid, user.gid) == (1000, 1000)
        assert set(user.supplemental_groups) == groups[cid]
