# SPDX-License-Identifier: Apache-2.0
"""The RuntimeDefault seccomp profile (config/seccomp-default.json, an
allowlist) with real runc: what it refuses, with which errno, what it still
lets ordinary programs do, its capability rules, and Localhost profiles
that name what libseccomp does not know, refused at CreateContainer with
nothing left behind.  Each syscall is made by cleat-testbin
(tests/helpers/cleat-testbin.c) in one container under RuntimeDefault and
one Unconfined, so a refusal is seccomp's and not the kernel's.

One cleatd and one pulled test image for the module (pod_fixture.py)."""

import json
import os

import pytest

from conftest import pods_removed_after
from test_bad_input import INVALID, refused

# (testbin arguments, RuntimeDefault's answer, Unconfined's answer or None where the kernel decides).
CASES = [
    (("io-uring",), "EPERM", "ok"),
    (("socket", "vsock"), "EPERM", "ok"),
    (("socket", "vsock-hi"), "EPERM", "ok"),  # AF_VSOCK with high bits the kernel drops
    (("socket", "alg"), "EPERM", "EAFNOSUPPORT"),  # this kernel has no AF_ALG: the filter answers first
    (("socket", "inet"), "ok", "ok"),
    (("socket", "unix"), "ok", "ok"),
    (("socket", "netlink"), "ok", "ok"),
    (("personality", "0xffffffff"), "ok", "ok"),  # the query
    (("personality", "0x8"), "ok", "ok"),  # PER_LINUX32
    (("personality", "0x40000"), "EPERM", "ok"),  # ADDR_NO_RANDOMIZE: turning off ASLR
    (("unshare", "user"), "EPERM", "ok"),
    (("unshare", "ns"), "EPERM", "EPERM"),  # without CAP_SYS_ADMIN the kernel refuses too
    (("clone", "none"), "ok", "ok"),
    (("clone", "user"), "EPERM", "ok"),
    (("clone3",), "ENOSYS", "ok"),  # so that libc falls back to clone(), whose flags are checked
    (("keyctl",), "EPERM", "ok"),
    (("kcmp",), "EPERM", "ok"),  # needs CAP_SYS_PTRACE under the profile
    (("syscall", "462"), "ENOSYS", None),  # mseal, newer than any syscall the profile names: runc's stub
]


@pytest.fixture(scope="module")
def pair(pod_env):
    """One container under RuntimeDefault and one Unconfined, in one pod kept for the module."""
    with pods_removed_after(pod_env) as env:
        pod = env.run_pod()
        yield (env.run(pod, command=["sleep", "3600"], seccomp="RuntimeDefault"),
               env.run(pod, command=["sleep", "3600"], seccomp="Unconfined"))


@pytest.mark.parametrize("args,confined,unconfined", CASES, ids=["-".join(c[0]) for c in CASES])
def test_runtime_default(env, pair, args, confined, unconfined):
    default, free = pair
    assert env.testbin(default, *args) == confined
    if unconfined is not None:
        assert env.testbin(free, *args) == unconfined


def test_filter_is_on(env, pair):
    default, free = pair
    assert env.sh(default, "grep ^Seccomp: /proc/self/status").split()[1] == "2"
    assert env.sh(free, "grep ^Seccomp: /proc/self/status").split()[1] == "0"


def test_ordinary_work_runs(env, pair):
    """busybox's shell and tools, as the e2e suites use them, are not caught by the allowlist."""
    default, _ = pair
    out = env.sh(default, "set -e; mkdir -p /tmp/w && cd /tmp/w; echo hello > a; cp a b; ln -s b c; "
                          "cat c | sort | uniq | wc -l; tar cf t.tar a b c; tar tf t.tar | wc -l; "
                          "chmod 600 a; ls -l a | cut -c1-10; date +%Y >/dev/null; ps >/dev/null; "
                          "sleep 0.1 & wait; (ulimit -n); id -u; hostname >/dev/null; echo end")
    assert out.split() == ["1", "3", "-rw-------", "1024", "0", "end"], out


@pytest.mark.parametrize("caps,args", [(["SYS_ADMIN"], ("unshare", "ns")), (["SYS_ADMIN"], ("clone3",)),
                                       (["SYS_PTRACE"], ("kcmp",))])
def test_capability_opens_its_rules(env, caps, args):
    pod = env.run_pod()
    cid = env.run(pod, command=["sleep", "3600"], seccomp="RuntimeDefault", add_caps=caps)
    assert env.testbin(cid, *args) == "ok"


def localhost_config(env, pod, path):
    cfg = env.container_config(pod, command=["sleep", "3600"])
    sp = cfg.linux.security_context.seccomp
    sp.profile_type = env.pb2.SecurityProfile.ProfileType.Localhost
    sp.localhost_ref = path
    return cfg


@pytest.mark.parametrize("profile,needle", [
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "reed"], "action": "SCMP_ACT_ALLOW"}]},
     'unknown syscall "reed"'),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["keyctl_typo"], "action": "SCMP_ACT_ERRNO"}]},
     'unknown syscall "keyctl_typo"'),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_PDP11"]},
     'unknown architecture "SCMP_ARCH_PDP11"'),
])
def test_localhost_unknown_names_refused(env, tmp_path, profile, needle):
    pod = env.run_pod()
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    msg = refused(env, INVALID, env.create, pod, config=localhost_config(env, pod, str(path)))
    assert needle in msg and str(path) in msg, msg


def test_localhost_profile_applies(env, tmp_path):
    """A Localhost allowlist of our own (the shipped one less socket()) is what the container gets."""
    shipped = json.load(open(os.path.join(os.environ["CLEAT_SOURCE_DIR"], "config", "seccomp-default.json")))
    shipped["syscalls"] = [r for r in shipped["syscalls"] if r["names"] != ["socket"]]
    path = tmp_path / "no-socket.json"
    path.write_text(json.dumps(shipped))
    pod = env.run_pod()
    cid = env.create(pod, config=localhost_config(env, pod, str(path)))
    env.start(cid)
    assert env.testbin(cid, "socket", "unix") == "EPERM"
    assert env.testbin(cid, "clone", "none") == "ok"


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_localhost_profile_not_a_file_refused(env, tmp_path, kind):
    """A Localhost path that is a FIFO (nobody writes it) or a directory is refused at once, not waited on."""
    path = tmp_path / "profile.json"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    pod = env.run_pod()
    # Before the fix CreateContainer blocked in open() on the FIFO until the RPC deadline (DEADLINE_EXCEEDED).
    msg = refused(env, INVALID, env.create, pod, config=localhost_config(env, pod, str(path)))
    assert "seccomp profile" in msg and str(path) in msg, msg
