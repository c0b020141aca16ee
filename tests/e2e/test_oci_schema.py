# SPDX-License-Identifier: Apache-2.0
"""The OCI schema checks of the e2e suites (oci_schema.py) are real: the
schemas and python3-jsonschema are installed (scripts/deps.sh --test), a
document the schemas refuse is refused, and a container with much of what
CreateContainer can put in config.json (bind mounts with propagation and
recursive read-only, resources with hugepages, sysctls, capabilities,
seccomp, a user with groups, a shared PID namespace with its pause) passes.
Every other suite checks what it makes cleat write through the fixtures
(PodEnv.create and run_pod, the test layouts, the stored images)."""

import json
import os

import pytest

import oci_schema

ALSO_SHIMV2 = True


def test_schemas_are_installed():
    assert oci_schema.available(), "install the OCI schemas and python3-jsonschema: scripts/deps.sh --test"


def test_refused_documents(tmp_path):
    bad = {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
           "process": {"cwd": "/", "args": ["sh"], "user": {"uid": "zero", "gid": 0}},
           "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": "nosuid"}]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(AssertionError) as e:
        oci_schema.check_runtime_config(str(path))
    assert "/process/user/uid" in str(e.value) and "/mounts/0/options" in str(e.value), e.value
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2}, "layers": []}
    with pytest.raises(AssertionError) as e:
        oci_schema.check_image_document(json.dumps(manifest), manifest["mediaType"])
    assert "digest" in str(e.value), e.value
    with pytest.raises(AssertionError):
        oci_schema.check_image_document(b'{"architecture": 1, "os": "linux"}', "application/vnd.oci.image.config.v1+json")


def test_a_rich_container_passes(env, tmp_path):
    pb2 = env.pb2
    pod = env.run_pod(pid="POD", sysctls={"net.ipv4.ip_local_port_range": "20000 30000"})  # a pause: its config too
    (tmp_path / "data").mkdir()
    res = pb2.LinuxContainerResources(cpu_period=100000, cpu_quota=50000, cpu_shares=256,
                                      memory_limit_in_bytes=64 << 20)
    mounts = [pb2.Mount(container_path="/data", host_path=str(tmp_path / "data"),
                        propagation=pb2.PROPAGATION_HOST_TO_CONTAINER),
              pb2.Mount(container_path="/ro", host_path=str(tmp_path / "data"), readonly=True,
                        recursive_read_only=env.default_handler == "runc", propagation=pb2.PROPAGATION_PRIVATE)]
    cid = env.create(pod, command=["sleep", "3600"], mounts=mounts, resources=res, run_as_user=1000,
                     supplemental_groups=[4000], add_caps=["NET_ADMIN"], drop_caps=["CHOWN"],
                     seccomp="RuntimeDefault", masked_paths=["/proc/kcore"], readonly_paths=["/proc/sys"])
    # env.create checked config.json already; once more, by hand, so that this test says it.
    oci_schema.check_runtime_config(os.path.join(env.container_dir(cid), "config.json"))
    bundles = [os.path.join(env.pod_dir(pod), d, "config.json") for d in os.listdir(env.pod_dir(pod))]
    assert [b for b in bundles if os.path.exists(b)], "the pod's pause has a config.json"
