# SPDX-License-Identifier: Apache-2.0
"""Container security contexts end to end, with real runc: users and groups
(run_as_user, run_as_group, run_as_username, the image's USER,
supplemental groups), readonly_rootfs, capabilities, privileged containers,
seccomp (RuntimeDefault against Unconfined) and no_new_privs.  What the
process really gets is read inside the container by cleat-testbin
(tests/helpers/cleat-testbin.c).

One cleatd and one pulled test image for the module (pod_fixture.py)."""

import os

import pytest

CAP_CHOWN, CAP_NET_RAW, CAP_SYS_ADMIN, CAP_SYS_PTRACE = 0, 13, 21, 19


@pytest.fixture
def pod(env):
    return env.run_pod()


def ids(env, cid):
    """{"uid": 1000, "gid": 1000, "groups": {..}} of an exec'd process (same user as the container)."""
    fields = dict(kv.split("=", 1) for kv in env.testbin(cid, "ids").split())
    groups = {int(g) for g in fields["groups"].split(",") if g}
    return {"uid": int(fields["uid"]), "gid": int(fields["gid"]), "euid": int(fields["euid"]), "groups": groups}


def caps(env, cid):
    """{"CapEff": int, "CapBnd": int, ...} of an exec'd process."""
    return {k: int(v, 16) for k, v in (kv.split("=") for kv in env.testbin(cid, "caps").split())}


def own_ids(env, pod, cid):
    """The container's own process: `id -u`, `id -g`, `id -G` printed at start."""
    from test_containers import wait_log
    msgs = wait_log(env, pod, cid, "end")
    return {"uid": int(msgs[0]), "gid": int(msgs[1]), "groups": {int(g) for g in msgs[2].split()}}


ID_SCRIPT = "id -u; id -g; id -G; echo end; sleep 3600"


def test_run_as_user_and_group(env, pod):
    cid = env.run(pod, command=["sh", "-c", ID_SCRIPT], run_as_user=1000, run_as_group=3000)
    got = ids(env, cid)
    assert (got["uid"], got["euid"], got["gid"]) == (1000, 1000, 3000)
    # uid 1000 is `app` in the image's /etc/passwd, a member of `extra` (2000) in /etc/group.
    assert {2000, 3000} <= got["groups"], got
    own = own_ids(env, pod, cid)
    assert (own["uid"], own["gid"]) == (1000, 3000) and {2000, 3000} <= own["groups"]


def test_run_as_username(env, pod):
    cid = env.run(pod, command=["sh", "-c", ID_SCRIPT], run_as_username="app")
    got = ids(env, cid)
    assert (got["uid"], got["gid"]) == (1000, 1000)
    assert {1000, 2000} <= got["groups"]
    assert env.sh(cid, "id -un").strip() == "app"
    assert own_ids(env, pod, cid)["uid"] == 1000


def test_uid_without_passwd_entry(env, pod):
    cid = env.run(pod, command=["sleep", "3600"], run_as_user=4242)
    got = ids(env, cid)
    assert (got["uid"], got["gid"]) == (4242, 0)  # no passwd entry: gid 0, as runc/containerd do


def test_supplemental_groups(env, pod):
    cid = env.run(pod, command=["sleep", "3600"], run_as_user=1000, supplemental_groups=[4000, 5000])
    got = ids(env, cid)
    assert (got["uid"], got["gid"]) == (1000, 1000)
    assert {1000, 2000, 4000, 5000} <= got["groups"], got
    st = env.status(cid).status
    assert st.user.linux.uid == 1000 and st.user.linux.gid == 1000
    assert {1000, 2000, 4000, 5000} <= set(st.user.linux.supplemental_groups)


def test_image_user_and_override(env, pod):
    from_image = env.run(pod, image="user", command=["sleep", "3600"])  # image config User "app"
    assert ids(env, from_image)["uid"] == 1000
    as_root = env.run(pod, image="user", command=["sleep", "3600"], run_as_user=0)
    assert ids(env, as_root)["uid"] == 0


def test_readonly_rootfs(env, pod):
    ro = env.run(pod, command=["sleep", "3600"], readonly_rootfs=True)
    assert env.testbin(ro, "write", "/newfile") == "EROFS"
    assert env.testbin(ro, "write", "/tmp/newfile") == "EROFS"  # /tmp is part of the image's rootfs
    assert env.testbin(ro, "write", "/etc/hostname") == "EROFS"  # so are the pod's files
    assert env.testbin(ro, "write", "/dev/shm/ok") == "ok"  # the pod's shm stays writable
    rw = env.run(pod, command=["sleep", "3600"])
    assert env.testbin(rw, "write", "/newfile") == "ok"
    assert env.testbin(rw, "write", "/tmp/newfile") == "ok"


def test_capabilities_dropped_and_added(env, pod):
    default = env.run(pod, command=["sleep", "3600"])
    c = caps(env, default)
    assert c["CapEff"] & (1 << CAP_NET_RAW) and c["CapEff"] & (1 << CAP_CHOWN)
    assert not c["CapEff"] & (1 << CAP_SYS_ADMIN)
    tuned = env.run(pod, command=["sleep", "3600"], drop_caps=["NET_RAW", "CAP_CHOWN"], add_caps=["SYS_PTRACE"])
    c = caps(env, tuned)
    for name, bit in (("NET_RAW", CAP_NET_RAW), ("CHOWN", CAP_CHOWN)):
        assert not c["CapEff"] & (1 << bit), f"{name} still effective: {c['CapEff']:x}"
        assert not c["CapBnd"] & (1 << bit), f"{name} still in the bounding set: {c['CapBnd']:x}"
    assert c["CapEff"] & (1 << CAP_SYS_PTRACE)
    # Really dropped: chown as root fails without CAP_CHOWN.
    r = env.exec(tuned, ["sh", "-c", "touch /tmp/f && chown 1000 /tmp/f"])
    assert r.exit_code != 0, r
    assert env.exec(default, ["sh", "-c", "touch /tmp/f && chown 1000 /tmp/f"]).exit_code == 0
    none = env.run(pod, command=["sleep", "3600"], drop_caps=["ALL"])
    assert caps(env, none)["CapEff"] == 0


def test_privileged_container(env):
    pod = env.run_pod(privileged=True)
    priv = env.run(pod, command=["sleep", "3600"], privileged=True)
    plain = env.run(pod, command=["sleep", "3600"])
    host_only = [d for d in ("kvm", "loop0", "loop-control", "fuse", "vda") if os.path.exists(f"/dev/{d}")]
    assert host_only, "this host has none of the device nodes looked for"
    priv_devs = set(env.sh(priv, "ls /dev").split())
    plain_devs = set(env.sh(plain, "ls /dev").split())
    assert set(host_only) <= priv_devs, priv_devs
    assert not set(host_only) & plain_devs, plain_devs
    assert len(priv_devs) > len(plain_devs)
    c = caps(env, priv)
    assert c["CapEff"] & (1 << CAP_SYS_ADMIN)
    # No seccomp, every capability: namespaces can be made; not so unprivileged.
    assert env.testbin(priv, "unshare-uts") == "ok"
    assert env.testbin(plain, "unshare-uts") == "EPERM"
    assert "rw" in env.sh(priv, "grep ' /sys ' /proc/self/mounts").split()[3].split(",")


@pytest.mark.parametrize("profile,expected", [("RuntimeDefault", "EPERM"), ("Unconfined", "ok"), (None, "ok")])
def test_seccomp(env, pod, profile, expected):
    if profile is None and os.environ.get("CLEAT_E2E_SECCOMP"):
        pytest.skip("CLEAT_E2E_SECCOMP gives containers without a profile one")
    kw = {"seccomp": profile} if profile else {}
    cid = env.run(pod, command=["sleep", "3600"], **kw)
    assert env.testbin(cid, "keyctl") == expected  # RuntimeDefault denies the kernel keyring
    mode = env.sh(cid, "grep ^Seccomp: /proc/self/status").split()[1]
    assert mode == ("2" if expected == "EPERM" else "0")


def test_no_new_privs(env, pod):
    nnp = env.run(pod, command=["sh", "-c", "grep NoNewPrivs /proc/self/status; sleep 3600"], no_new_privs=True)
    plain = env.run(pod, command=["sh", "-c", "grep NoNewPrivs /proc/self/status; sleep 3600"])
    from test_containers import wait_log
    assert wait_log(env, pod, nnp, "NoNewPrivs:\t1")
    assert wait_log(env, pod, plain, "NoNewPrivs:\t0")
