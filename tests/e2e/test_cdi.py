# SPDX-License-Identifier: Apache-2.0
"""CDI devices end to end: spec files written here into two spec
directories that a config drop-in names, containers asking for devices by
CRI CDI_devices and by cdi.k8s.io/ annotations, run by real runc.  The
container sees a host device node under another path (type and numbers
taken from the host node), the environment, a bind mount, what hooks did
(createRuntime on the host, startContainer inside) and the additional
groups; JSON and YAML specs, version 0.3.0 and 0.8.0 forms; a later
directory wins; a spec written while cleatd runs is used without a
restart, and so is a new list of directories after SIGHUP; an unknown device, a malformed name and conflicting edits are
INVALID_ARGUMENT naming the device, and leave nothing behind.

One cleatd and one pulled test image for the module (pod_fixture.py)."""

import json
import os
import re
import signal
import stat
import time
import uuid

import pytest

from conftest import module_pod_env, pods_removed_after
from test_bad_input import INVALID, refused


@pytest.fixture(scope="module")
def cdi_env(tmp_path_factory, cri, test_layout, default_handler):
    base = tmp_path_factory.mktemp("cdi-specs")
    dirs = [str(base / "etc"), str(base / "run")]
    for d in dirs:
        os.makedirs(d)
    dropin = "cdi:\n  spec_dirs: [" + ", ".join(dirs) + "]\n"
    with module_pod_env(tmp_path_factory, cri, test_layout, default_handler, name="cdi",
                        dropins={"50-cdi.yaml": dropin}) as env:
        env.cdi_dirs = dirs
        yield env


@pytest.fixture
def env(cdi_env):
    with pods_removed_after(cdi_env):
        yield cdi_env


def write_spec(path, text):
    """Write a spec file as an operator would (root's, 0644), atomically."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def rdev(path):
    st = os.stat(path)
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def ctr(env, pod, devices=(), annotations=None, **kw):
    cfg = env.container_config(pod, command=["sleep", "3600"], annotations=annotations, **kw)
    for name in devices:
        cfg.CDI_devices.add(name=name)
    return cfg


def test_device_env_mount_hooks_and_groups(env, tmp_path):
    """A YAML 0.8.0 spec: /dev/null as /dev/cdi-null, env, a read-only bind, two hooks, a group."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("from the host\n")
    hook_out = tmp_path / "hook-state.json"
    write_spec(os.path.join(env.cdi_dirs[0], "test.yaml"), f"""\
cdiVersion: 0.8.0
kind: vendor.example/test
devices:
  - name: devnull
    containerEdits:
      deviceNodes:
        - path: /dev/cdi-null
          hostPath: /dev/null
      env: [CDI_DEVICE=null]
      additionalGids: [4242]
      hooks:
        - hookName: startContainer
          path: /bin/sh
          args: [sh, -c, "echo started > /tmp/cdi-hook"]
containerEdits:
  env: [CDI_VENDOR=vendor.example]
  mounts:
    - hostPath: {data}
      containerPath: /cdi-data
      options: [ro, rbind]
  hooks:
    - hookName: createRuntime
      path: /bin/sh
      args: [sh, -c, "cat > {hook_out}"]
      env: [PATH=/usr/bin:/bin]
      timeout: 10
""")
    pod = env.run_pod()
    cid = env.create(pod, config=ctr(env, pod, devices=["vendor.example/test=devnull"]))
    env.start(cid)
    # The device: a character device with the host node's numbers, usable (the cgroup rule allows it).
    major, minor = rdev("/dev/null")
    out = env.sh(cid, "stat -c '%F %t %T' /dev/cdi-null; echo x > /dev/cdi-null && cat /dev/cdi-null && echo ok")
    assert out == f"character special file {major:x} {minor:x}\nok\n", out
    assert env.sh(cid, "echo $CDI_DEVICE $CDI_VENDOR") == "null vendor.example\n"
    assert env.sh(cid, "cat /cdi-data/f") == "from the host\n"
    assert env.exec(cid, ["sh", "-c", "touch /cdi-data/g"]).exit_code != 0  # read-only
    assert "4242" in env.sh(cid, "grep ^Groups: /proc/self/status").split()
    # createRuntime ran on the host, with the container's state on its stdin; startContainer inside it.
    assert json.loads(hook_out.read_text())["id"] == cid
    assert env.sh(cid, "cat /tmp/cdi-hook") == "started\n"


def test_json_030_by_annotation(env):
    """A JSON spec in the 0.3.0 form (no hostPath: the path is the host's), asked for by annotation."""
    write_spec(os.path.join(env.cdi_dirs[1], "zero.json"), json.dumps({
        "cdiVersion": "0.3.0", "kind": "vendor.example/json",
        "devices": [{"name": "zero", "containerEdits": {"deviceNodes": [{"path": "/dev/zero", "permissions": "r"}],
                                                         "env": ["CDI_JSON=1"]}}]}))
    pod = env.run_pod()
    cid = env.run(pod, config=ctr(env, pod, annotations={"cdi.k8s.io/plugin": "vendor.example/json=zero"}))
    major, minor = rdev("/dev/zero")
    assert env.sh(cid, "stat -c '%t %T' /dev/zero; head -c 3 /dev/zero | od -An -tx1") == \
        f"{major:x} {minor:x}\n 00 00 00\n"
    assert env.sh(cid, "echo $CDI_JSON") == "1\n"
    # Only "r": writing is refused by the device cgroup.
    assert env.exec(cid, ["sh", "-c", "echo x > /dev/zero"]).exit_code != 0


def test_unknown_and_malformed_refused(env):
    pod = env.run_pod()
    msg = refused(env, INVALID, env.create, pod, config=ctr(env, pod, devices=["vendor.example/nothing=0"]))
    assert "vendor.example/nothing=0" in msg and "unknown" in msg, msg
    msg = refused(env, INVALID, env.create, pod, config=ctr(env, pod, annotations={"cdi.k8s.io/x": "gpu0"}))
    assert "cdi.k8s.io/x" in msg and "gpu0" in msg, msg


def test_conflicting_edits_refused(env):
    write_spec(os.path.join(env.cdi_dirs[0], "clash.json"), json.dumps({
        "cdiVersion": "0.5.0", "kind": "vendor.example/clash",
        "devices": [
            {"name": "a", "containerEdits": {"deviceNodes": [{"path": "/dev/clash", "hostPath": "/dev/null"}]}},
            {"name": "b", "containerEdits": {"deviceNodes": [{"path": "/dev/clash", "hostPath": "/dev/zero"}]}},
        ]}))
    pod = env.run_pod()
    cfg = ctr(env, pod, devices=["vendor.example/clash=a", "vendor.example/clash=b"])
    msg = refused(env, INVALID, env.create, pod, config=cfg)
    assert "vendor.example/clash=a" in msg and "vendor.example/clash=b" in msg and "/dev/clash" in msg, msg


def test_spec_added_at_run_time_and_later_dir_wins(env):
    """No restart: a spec written now is used by the next container; one in the later directory wins."""
    kind = f"vendor.example/live{uuid.uuid4().hex[:6]}"
    pod = env.run_pod()
    msg = refused(env, INVALID, env.create, pod, config=ctr(env, pod, devices=[f"{kind}=x"]))
    assert f"{kind}=x" in msg, msg
    spec = {"cdiVersion": "0.8.0", "kind": kind, "devices": [{"name": "x", "containerEdits": {"env": ["WHO=etc"]}}]}
    write_spec(os.path.join(env.cdi_dirs[0], "live.json"), json.dumps(spec))
    cid = env.run(pod, config=ctr(env, pod, devices=[f"{kind}=x"]))
    assert env.sh(cid, "echo $WHO") == "etc\n"
    spec["devices"][0]["containerEdits"]["env"] = ["WHO=run"]
    write_spec(os.path.join(env.cdi_dirs[1], "live.json"), json.dumps(spec))
    cid = env.run(pod, config=ctr(env, pod, devices=[f"{kind}=x"]))
    assert env.sh(cid, "echo $WHO") == "run\n"


def test_untrusted_spec_not_used(env):
    """A spec others may write is not used (its hooks would run as root), and the refusal says why."""
    path = os.path.join(env.cdi_dirs[0], "loose.json")
    write_spec(path, json.dumps({"cdiVersion": "0.8.0", "kind": "vendor.example/loose",
                                 "devices": [{"name": "x", "containerEdits": {"env": ["A=1"]}}]}))
    os.chmod(path, 0o666)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666
    pod = env.run_pod()
    msg = refused(env, INVALID, env.create, pod, config=ctr(env, pod, devices=["vendor.example/loose=x"]))
    assert "loose.json" in msg and "group or others may write it" in msg, msg


def sighup(d):
    """SIGHUP by pid; wait for the reload's summary line and return what the reload logged."""
    before = len(d.read_log())
    os.kill(d.proc.pid, signal.SIGHUP)
    deadline = time.time() + 20
    while time.time() < deadline:
        log = d.read_log()[before:]
        if re.search(r"SIGHUP: configuration (reloaded|not reloaded)", log):
            return log
        assert d.proc.poll() is None, "cleatd exited on SIGHUP"
        time.sleep(0.05)
    raise AssertionError("no end of the reload in the log")


def test_spec_dirs_reloaded_on_sighup(env, tmp_path):
    """cdi.spec_dirs changed in the drop-in and SIGHUP: the next container sees the new directory's devices."""
    extra = tmp_path / "extra"
    extra.mkdir()
    kind = f"vendor.example/hup{uuid.uuid4().hex[:6]}"
    write_spec(str(extra / "hup.json"), json.dumps({
        "cdiVersion": "0.8.0", "kind": kind, "devices": [{"name": "x", "containerEdits": {"env": ["HUP=yes"]}}]}))
    pod = env.run_pod()
    msg = refused(env, INVALID, env.create, pod, config=ctr(env, pod, devices=[f"{kind}=x"]))
    assert f"{kind}=x" in msg, msg
    dropin = os.path.join(env.d.dropin_dir, "50-cdi.yaml")
    with open(dropin) as f:
        original = f.read()
    try:
        with open(dropin, "w") as f:
            f.write("cdi:\n  spec_dirs: [" + ", ".join(env.cdi_dirs + [str(extra)]) + "]\n")
        log = sighup(env.d)
        assert "cdi.spec_dirs: now [" in log and str(extra) in log, log
        assert "needs a restart" not in log, log
        cid = env.run(pod, config=ctr(env, pod, devices=[f"{kind}=x"]))
        assert env.sh(cid, "echo $HUP") == "yes\n"
    finally:
        with open(dropin, "w") as f:
            f.write(original)
        log = sighup(env.d)
    assert "cdi.spec_dirs: now [" in log, log
    msg = refused(env, INVALID, env.create, pod, config=ctr(env, pod, devices=[f"{kind}=x"]))
    assert f"{kind}=x" in msg, msg
