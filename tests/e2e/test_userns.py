# SPDX-License-Identifier: Apache-2.0
"""Pods with a user namespace of their own (kubelet's hostUsers: false): the
pod's root is an unprivileged user of the host with exactly the ids kubelet
mapped, its network/IPC/UTS namespaces belong to that user namespace, its
rootfs and volumes are idmapped, and nothing of it stays after removal.
Real runc and the test image; cleatd's dirs under a base dir others may
traverse (conftest.open_pod_env), as on a node: the pod's root reaches its
rootfs from inside its user namespace."""

import os
import stat
import subprocess

import grpc
import pytest

import pod_fixture
from conftest import open_pod_env, pods_removed_after
from pod_fixture import mounts_under, user_namespace, wait_for

RANGE = [(0, 100000, 65536)]
OTHER_RANGE = [(0, 200000, 65536)]


@pytest.fixture(scope="module")
def open_env(cri, test_layout):
    with open_pod_env(cri, test_layout, "cleat-userns-") as env:
        yield env


@pytest.fixture
def env(open_env):
    with pods_removed_after(open_env):
        yield open_env


def userns_pod(env, ranges=RANGE, **kw):
    """A pod with its own user namespace and a running `sleep` container: (pod, container)."""
    pod = env.run_pod(userns=ranges, **kw)
    return pod, env.run(pod, command=["sleep", "3600"])


def host_ids(pid):
    """(real uid, real gid) of a host process, from /proc/<pid>/status."""
    st = pod_fixture.read_proc_status(pid)
    return int(st["Uid"].split()[0]), int(st["Gid"].split()[0])


def userns_entries(env):
    d = os.path.join(env.d.state_dir, "userns")
    return sorted(e for e in os.listdir(d) if not e.startswith(".")) if os.path.isdir(d) else []


def leftovers(env, ident):
    """What still names a pod or container: mounts (idmapped rootfs, volumes, namespace pins), userns dirs."""
    return pod_fixture.mounts_naming(ident) + [e for e in userns_entries(env) if e == ident]


def test_status_says_user_namespaces(env):
    """Advertised for the runc handlers (idmapped overlay layers work on this kernel); not with host network."""
    resp = env.rt.Status(env.pb2.StatusRequest(), timeout=30)
    handlers = {h.name: h.features for h in resp.runtime_handlers}
    assert handlers["runc"].user_namespaces and handlers[""].user_namespaces, env.d.read_log()
    assert not resp.features.user_namespaces_host_network
    assert "user namespaces: pods may have their own" in env.d.read_log()


def test_root_inside_is_an_unprivileged_user_outside(env):
    pod = env.run_pod(userns=RANGE)
    cid = env.run(pod, command=["sleep", "3600"], add_caps=["NET_ADMIN"])
    assert env.sh(cid, "cat /proc/self/uid_map").split() == ["0", "100000", "65536"]
    assert env.sh(cid, "cat /proc/self/gid_map").split() == ["0", "100000", "65536"]
    assert env.sh(cid, "id -u; id -g").split() == ["0", "0"]
    # The image's files, the host root's on disk, are root's inside (the rootfs is idmapped) ...
    assert env.sh(cid, "stat -c '%u:%g' /bin/busybox /etc/passwd").split() == ["0:0", "0:0"]
    # ... and the root can write its rootfs: in /, and in an image directory (copied up).
    env.sh(cid, "echo new > /new-file && echo more > /etc/new-file && mkdir /new-dir")
    assert env.sh(cid, "stat -c '%u:%g' /new-file /etc/new-file /new-dir").split() == ["0:0"] * 3
    # On the host it is uid 100000.
    assert host_ids(env.pid(cid)) == (100000, 100000)
    # The pod's network namespace is its user namespace's: a capability there applies to it.
    env.sh(cid, "ifconfig lo mtu 1500")
    assert env.sh(cid, "hostname").strip() == env.configs[pod].hostname
    # The pod's files cleat wrote work from inside: its hostname, hosts, resolv.conf, /dev/shm (root's).
    assert env.sh(cid, "cat /etc/hostname").strip() == env.configs[pod].hostname
    assert "localhost" in env.sh(cid, "cat /etc/hosts")
    assert env.sh(cid, "stat -c '%u:%g' /etc/hostname /etc/hosts /etc/resolv.conf /dev/shm").split() == ["0:0"] * 4
    env.sh(cid, "echo x > /dev/shm/f && cat /dev/shm/f")


def test_setuid_binary_it_writes_gives_no_host_privilege(env):
    """A setuid-root binary the pod's root makes is setuid to 100000 on the host: run by nobody, it is 100000."""
    pod, cid = userns_pod(env)
    env.sh(cid, "cp /bin/cleat-testbin /suid && chmod 4755 /suid && stat -c '%u %a' /suid")
    upper = upper_dir(env, cid)
    path = os.path.join(upper, "suid")
    st = os.stat(path)
    assert st.st_uid == 100000 and st.st_mode & stat.S_ISUID, (st.st_uid, oct(st.st_mode))
    # Run it as nobody through a descriptor (nobody cannot walk the snapshot dirs): euid 100000, not 0.
    fd = os.open(path, os.O_RDONLY)
    try:
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", f"/proc/self/fd/{fd}",
                            "ids"], capture_output=True, text=True, timeout=30, pass_fds=(fd,))
    finally:
        os.close(fd)
    assert r.returncode == 0, r
    assert "euid=100000" in r.stdout and "uid=65534" in r.stdout, r.stdout


def upper_dir(env, cid):
    """The upper dir of the container's idmapped rootfs, from mountinfo's super options."""
    target = os.path.join(env.d.state_dir, "userns", cid, "rootfs")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            if left.split()[4] == target:
                opts = right.split()[2].split(",")
                return next(o.split("=", 1)[1] for o in opts if o.startswith("upperdir="))
    raise AssertionError(f"{target} is not mounted")


def test_two_pods_two_ranges(env):
    a, ca = userns_pod(env, RANGE)
    b, cb = userns_pod(env, OTHER_RANGE)
    assert env.sh(cb, "cat /proc/self/uid_map").split() == ["0", "200000", "65536"]
    assert host_ids(env.pid(ca)) == (100000, 100000)
    assert host_ids(env.pid(cb)) == (200000, 200000)
    assert env.sh(cb, "stat -c %u /bin/busybox").strip() == "0"
    # Each pod's user namespace is its own, also where the ranges are the same.
    c, cc = userns_pod(env, RANGE)
    ns = {os.readlink(f"/proc/{env.pid(x)}/ns/user") for x in (ca, cb, cc)}
    assert len(ns) == 3, ns


def test_containers_of_a_pod_share_its_user_namespace(env):
    pod = env.run_pod(userns=RANGE, pid="POD")  # one PID namespace: the pause joins the user namespace too
    c1 = env.run(pod, command=["sleep", "3600"])
    c2 = env.run(pod, command=["sleep", "3600"])
    assert os.readlink(f"/proc/{env.pid(c1)}/ns/user") == os.readlink(f"/proc/{env.pid(c2)}/ns/user")
    pause = [p for p in env.sh(c1, "ps -o pid,args").splitlines() if "pause" in p]
    assert pause and pause[0].split()[0] == "1", pause
    assert env.sh(c1, "cat /proc/self/uid_map").split() == ["0", "100000", "65536"]
    # The pinned network, IPC and UTS namespaces are owned by the pinned user namespace, which the containers run in.
    ns = os.path.join(env.pod_dir(pod), "ns")
    user = os.stat(os.path.join(ns, "user")).st_ino
    assert os.stat(f"/proc/{env.pid(c1)}/ns/user").st_ino == user
    for kind in ("net", "ipc", "uts"):
        assert owner_of(os.path.join(ns, kind)) == user, kind


def owner_of(ns_path):
    """The inode of the user namespace owning a namespace (ioctl NS_GET_USERNS)."""
    import fcntl
    fd = os.open(ns_path, os.O_RDONLY)
    try:
        owner = fcntl.ioctl(fd, 0xb701)
        try:
            return os.fstat(owner).st_ino
        finally:
            os.close(owner)
    finally:
        os.close(fd)


def test_host_path_volume_is_idmapped(env, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "root-file").write_text("r")
    (vol / "app-file").write_text("a")
    os.chown(vol / "app-file", 1000, 1000)
    os.chmod(vol, 0o777)
    mount = env.pb2.Mount(container_path="/vol", host_path=str(vol))
    pod = env.run_pod(userns=RANGE)
    cid = env.run(pod, command=["sleep", "3600"], mounts=[mount])
    # Inside, the files have the owners they have on disk ...
    assert env.sh(cid, "stat -c '%n %u:%g' /vol/root-file /vol/app-file").split() == \
        ["/vol/root-file", "0:0", "/vol/app-file", "1000:1000"]
    # ... and what the pod's root writes there is root's, inside and on the disk.
    env.sh(cid, "echo w > /vol/written")
    assert env.sh(cid, "stat -c '%u:%g' /vol/written").strip() == "0:0"
    st = os.stat(vol / "written")
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_volume_that_cannot_be_idmapped_is_refused(env):
    """/proc cannot be idmapped: CreateContainer says which volume and why, and leaves nothing."""
    pod = env.run_pod(userns=RANGE)
    mount = env.pb2.Mount(container_path="/hostproc", host_path="/proc/sys")
    before = set(userns_entries(env))
    with pytest.raises(grpc.RpcError) as e:
        env.create(pod, command=["sleep", "3600"], mounts=[mount])
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value
    assert "/hostproc" in e.value.details() and "idmapped" in e.value.details(), e.value.details()
    assert set(userns_entries(env)) == before
    assert not env.list_containers(pod_sandbox_id=pod)


def test_exec_attach_and_stdout_from_inside(env):
    import stream_clients as sc
    pod = env.run_pod(userns=RANGE)
    # /dev/stdout is the shim's pipe: the pod's root may open it again (it is given to 100000).
    cid = env.run(pod, command=["sh", "-c", "echo via-dev-stdout > /dev/stdout; echo via-dev-stderr > /dev/stderr; "
                                             "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"])
    log = env.log_path(pod, cid)
    wait_for(lambda: "via-dev-stderr" in pod_fixture.log_messages(log), what="the log")
    msgs = pod_fixture.log_messages(log)
    assert "via-dev-stdout" in msgs, msgs
    # ExecSync joins the pod's user namespace.
    r = env.exec(cid, ["sh", "-c", "cat /proc/self/uid_map; echo to-stderr > /dev/stderr"])
    assert r.exit_code == 0 and r.stdout.split() == [b"0", b"100000", b"65536"], r
    assert r.stderr == b"to-stderr\n", r
    # Exec through the streaming server.
    url = env.rt.Exec(env.pb2.ExecRequest(container_id=cid, cmd=["id", "-u"], stdout=True, stderr=True),
                      timeout=30).url
    res = sc.open_session("spdy", url).wait()
    assert res.stdout.strip() == b"0", res
    # Attach sees the container's output.
    url = env.rt.Attach(env.pb2.AttachRequest(container_id=cid, stdout=True, stderr=True), timeout=30).url
    s = sc.open_session("spdy", url)
    s.read_until("stdout", b"tick", timeout=20)
    s.abort()


def test_stop_remove_leaves_nothing(env):
    pod = env.run_pod(userns=RANGE, pid="POD")
    cid = env.run(pod, command=["sleep", "3600"])
    assert cid in userns_entries(env) and pod in userns_entries(env)
    assert os.path.exists(os.path.join(env.pod_dir(pod), "ns", "user"))
    env.stop(cid)
    env.remove(cid)
    assert not leftovers(env, cid)
    env.stop_pod(pod)
    env.remove_pod(pod)
    assert not leftovers(env, pod), leftovers(env, pod)
    assert not [m for m in mounts_under(env.d.state_dir) if "userns" in m or m.endswith("/user")]


BAD = {
    "overlapping": (user_namespace, [(0, 100000, 65536), (1000, 300000, 10)], "overlap"),
    "root unmapped": (user_namespace, [(1, 100000, 65536)], "container id 0 is not mapped"),
    "host root mapped": (user_namespace, [(0, 0, 65536)], "host's id 0"),
    "wraps": (user_namespace, [(0, 4294967000, 65536)], "run past"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_mappings_are_refused_leaving_nothing(env, case):
    make, ranges, why = BAD[case]
    check_refused(env, make(env.pb2, ranges), why)


def test_mode_container_is_refused(env):
    check_refused(env, user_namespace(env.pb2, RANGE, mode="CONTAINER"), "CONTAINER")


def test_userns_with_host_network_is_refused(env):
    check_refused(env, user_namespace(env.pb2, RANGE), "network", host_network=True)


def check_refused(env, userns, why, **kw):
    before_entries, before_mounts = set(userns_entries(env)), set(mounts_under(env.d.state_dir))
    before_pods = set(os.listdir(os.path.join(env.d.state_dir, "pods")))
    cfg = env.pod_config(userns=userns, **kw)
    with pytest.raises(grpc.RpcError) as e:
        env.run_pod(cfg)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value
    assert "userns_options" in e.value.details() and why in e.value.details(), e.value.details()
    assert not [p for p in env.list_pods() if p.metadata.name == cfg.metadata.name]
    assert set(os.listdir(os.path.join(env.d.state_dir, "pods"))) == before_pods
    assert set(userns_entries(env)) == before_entries
    assert set(mounts_under(env.d.state_dir)) == before_mounts


def test_container_cannot_leave_the_pods_user_namespace(env):
    pod = env.run_pod(userns=RANGE)
    node = env.pb2.NamespaceOption(network=env.pb2.POD, pid=env.pb2.CONTAINER, ipc=env.pb2.POD,
                                   userns_options=env.pb2.UserNamespace(mode=env.pb2.NODE))
    with pytest.raises(grpc.RpcError) as e:
        env.create(pod, command=["sleep", "3600"], namespace_options=node)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "mode must be POD" in e.value.details(), e.value


def test_kill_9_and_restart(cri, test_layout):
    """The pod keeps running through a kill -9 of cleatd; the new cleatd execs into it, stops and removes it."""
    with open_pod_env(cri, test_layout, "cleat-userns-restart-") as env:
        pod, cid = userns_pod(env)
        pid = env.pid(cid)
        env.d.stop(sig=9)
        env.d.start()
        env.connect()
        assert env.pid(cid) == pid and host_ids(pid) == (100000, 100000)
        assert env.sh(cid, "cat /proc/self/uid_map").split() == ["0", "100000", "65536"]
        env.stop_pod(pod)
        env.remove_pod(pod)
        assert not leftovers(env, cid) and not leftovers(env, pod)
