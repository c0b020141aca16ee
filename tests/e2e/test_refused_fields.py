# SPDX-License-Identifier: Apache-2.0
"""CRI fields cleat cannot apply are refused, not dropped: SELinux labels,
user namespaces (mode POD), idmapped mounts, and a named
AppArmor profile on a host without AppArmor.  Each refusal is a gRPC
FAILED_PRECONDITION (or INVALID_ARGUMENT for a malformed request) naming
the field, and leaves nothing behind: no pod or container in the lists, no
state dir, no mount, no snapshot (test_bad_input.refused).  What kubelet
sends on every pod stays accepted: empty SELinux options, user namespace
mode NODE, selinux_relabel on a host without SELinux, RuntimeDefault and
Unconfined AppArmor.

One cleatd and one pulled test image for the module (pod_fixture.py)."""

import os

import pytest

import pod_fixture
from test_bad_input import INVALID, PRECONDITION, refused

HAS_APPARMOR = os.path.isdir("/sys/kernel/security/apparmor")
HAS_SELINUX = os.path.isdir("/sys/fs/selinux")


def pod_with(env, **security):
    """A PodSandboxConfig whose linux.security_context has the given fields set."""
    cfg = env.pod_config()
    sc = cfg.linux.security_context
    for key, value in security.items():
        getattr(sc, key).CopyFrom(value)
    return cfg


def ctr_with(env, pod, **fields):
    """A ContainerConfig whose linux.security_context has the given fields (messages or strings) set."""
    cfg = env.container_config(pod, command=["sleep", "3600"])
    sc = cfg.linux.security_context
    for key, value in fields.items():
        if isinstance(value, str):
            setattr(sc, key, value)
        else:
            getattr(sc, key).CopyFrom(value)
    return cfg


def test_pod_selinux_label_refused(env):
    pb2 = env.pb2
    msg = refused(env, PRECONDITION, env.run_pod, pod_with(env, selinux_options=pb2.SELinuxOption(type="spc_t")))
    assert "linux.security_context.selinux_options" in msg and "spc_t" in msg, msg


def test_pod_user_namespace_without_maps_refused(env):
    """Mode POD is built (test_userns.py); without the maps kubelet always sends it is a bad request."""
    pb2 = env.pb2
    ns = pb2.NamespaceOption(network=pb2.POD, pid=pb2.CONTAINER, ipc=pb2.POD,
                             userns_options=pb2.UserNamespace(mode=pb2.POD))
    msg = refused(env, INVALID, env.run_pod, pod_with(env, namespace_options=ns))
    assert "userns_options.uids: no mapping given" in msg, msg


def test_kubelet_defaults_accepted(env):
    """Empty SELinux options and user namespace mode NODE, on the pod and the container."""
    pb2 = env.pb2
    ns = pb2.NamespaceOption(network=pb2.POD, pid=pb2.CONTAINER, ipc=pb2.POD,
                             userns_options=pb2.UserNamespace(mode=pb2.NODE))
    pod = env.run_pod(pod_with(env, selinux_options=pb2.SELinuxOption(), namespace_options=ns))
    cid = env.create(pod, config=ctr_with(env, pod, selinux_options=pb2.SELinuxOption(), namespace_options=ns))
    env.start(cid)
    assert env.sh(cid, "echo up").strip() == "up"


@pytest.fixture
def pod(env):
    return env.run_pod()


def test_container_selinux_label_refused(env, pod):
    cfg = ctr_with(env, pod, selinux_options=env.pb2.SELinuxOption(user="system_u", level="s0:c1,c2"))
    msg = refused(env, PRECONDITION, env.create, pod, config=cfg)
    assert "linux.security_context.selinux_options" in msg and "system_u" in msg, msg


def test_container_user_namespace_refused(env, pod):
    """A container of a pod on the node's user namespace cannot ask for the pod's, nor for one of its own."""
    pb2 = env.pb2
    ns = pb2.NamespaceOption(network=pb2.POD, pid=pb2.CONTAINER, ipc=pb2.POD,
                             userns_options=pod_fixture.user_namespace(pb2, [(0, 100000, 65536)]))
    msg = refused(env, INVALID, env.create, pod, config=ctr_with(env, pod, namespace_options=ns))
    assert "namespace_options.userns_options" in msg and "without a user namespace of its own" in msg, msg
    ns.userns_options.mode = pb2.CONTAINER
    msg = refused(env, INVALID, env.create, pod, config=ctr_with(env, pod, namespace_options=ns))
    assert "mode CONTAINER" in msg, msg


def test_idmapped_mount_refused(env, pod, tmp_path):
    pb2 = env.pb2
    mount = pb2.Mount(container_path="/data", host_path=str(tmp_path),
                      uidMappings=[pb2.IDMapping(host_id=100000, container_id=0, length=65536)])
    msg = refused(env, PRECONDITION, env.create, pod, config=env.container_config(pod, mounts=[mount]))
    assert "mounts[0] (/data)" in msg and "uidMappings" in msg, msg


@pytest.mark.skipif(HAS_SELINUX, reason="the host runs SELinux: a relabel would be refused")
def test_selinux_relabel_accepted_without_selinux(env, pod, tmp_path):
    (tmp_path / "f").write_text("data\n")
    mount = env.pb2.Mount(container_path="/data", host_path=str(tmp_path), selinux_relabel=True)
    cid = env.run(pod, command=["sleep", "3600"], mounts=[mount])
    assert env.sh(cid, "cat /data/f") == "data\n"


@pytest.mark.skipif(HAS_APPARMOR, reason="the host has AppArmor")
def test_apparmor_without_apparmor(env, pod):
    """RuntimeDefault and Unconfined: nothing to apply, accepted; a named profile: refused."""
    pb2 = env.pb2
    Type = pb2.SecurityProfile.ProfileType
    for t in (Type.RuntimeDefault, Type.Unconfined):
        cid = env.create(pod, config=ctr_with(env, pod, apparmor=pb2.SecurityProfile(profile_type=t)))
        env.start(cid)
        assert env.sh(cid, "echo up").strip() == "up"
    local = pb2.SecurityProfile(profile_type=Type.Localhost, localhost_ref="my-profile")
    msg = refused(env, PRECONDITION, env.create, pod, config=ctr_with(env, pod, apparmor=local))
    assert "linux.security_context.apparmor" in msg and "my-profile" in msg and "no AppArmor" in msg, msg
    msg = refused(env, PRECONDITION, env.create, pod, config=ctr_with(env, pod, apparmor_profile="localhost/old"))
    assert "\"old\"" in msg and "no AppArmor" in msg, msg
    msg = refused(env, PRECONDITION, env.run_pod, pod_with(env, apparmor=local))
    assert "linux.security_context.apparmor" in msg, msg
