# SPDX-License-Identifier: Apache-2.0
"""Descriptor hygiene: no child of cleatd starts with a descriptor it was not
meant to have.

One cleatd for the module, started with a descriptor "leaked" to it by its
parent (fd 7, a marker file, not close-on-exec: what a sloppy library or
service manager leaves behind), that pulls the test image over TLS from a
real docker-registry (libcurl keeps the connection in its cache), runs pods
with a CNI network whose only plugin is a recording fake, and execs.  Then:

- cleatd's own descriptors are all close-on-exec (but the inherited stdio and
  the one the test injected);
- the shim, the container, the pause process and the runtime's exec child
  hold none of cleatd's sockets, no TCP connection, no file of the store, not
  the marker; the container's and the pause's processes have only 0, 1, 2;
- the CNI plugin sees only 0, 1, 2;
- an exec'd process (ExecSync, streaming exec with and without a TTY) sees
  only 0, 1, 2.
"""

import json
import os
import textwrap

import pytest

import pod_fixture
import registry_fixture as rf
import stream_clients as sc
from conftest import SHIPPED_PLUGIN_DIRS, Cleatd, pods_removed_after
from pod_fixture import PodEnv, fd_table, wait_exec

LEAKED_FD = 7
REPO = "test/fds"
O_CLOEXEC = 0o2000000

# A fake CNI plugin, clearly a fake: it records its descriptors (number -> what
# it is) and answers VERSION and ADD (one address) so that the pod gets made.
RECORDER = textwrap.dedent("""\
    #!/usr/bin/python3 -S
    import json, os, sys
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[name] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass  # the directory listdir() had open, closed by now
    cmd = os.environ.get("CNI_COMMAND", "")
    with open(os.path.join(RECORD_DIR, f"{cmd}.{os.getpid()}.json"), "w") as f:
        json.dump({"command": cmd, "fds": fds}, f)
    conf = json.load(sys.stdin) if cmd != "VERSION" else {}
    if cmd == "VERSION":
        print(json.dumps({"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0"]}))
    elif cmd == "ADD":
        print(json.dumps({"cniVersion": conf["cniVersion"], "ips": [{"address": "10.99.0.5/24"}]}))
    """)


def fd_flags(pid, fd):
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    return 0


def tcp_sockets(remote_port=None):
    """The TCP sockets of the host's network namespace (those connected to `remote_port`), as fd links read."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if remote_port is None or cols[2].endswith(f":{remote_port:04X}"):
                    found.add(f"socket:[{cols[9]}]")
    return found


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")


def shim_of(ident):
    """The pid of the cleat-shim running container `ident`."""
    for d in os.listdir("/proc"):
        try:
            args = cmdline(d) if d.isdigit() else []
        except OSError:
            continue
        if args and args[0].endswith(b"cleat-shim") and b"--id" in args and \
                args[args.index(b"--id") + 1] == ident.encode():
            return int(d)
    raise AssertionError(f"no shim of {ident}")


class LeakyCleatd(Cleatd):
    """cleatd started with LEAKED_FD open on `marker`, not close-on-exec (sh opens it, then execs cleatd)."""

    def __init__(self, base, config_text, marker):
        super().__init__(base, config_text)
        self.marker = marker

    def args(self):
        return ["/bin/sh", "-c", f'exec {LEAKED_FD}<"$0"; exec "$@"', self.marker] + super().args()


class FdEnv:
    def __init__(self, base, cri):
        self.base = base
        pki = rf.Pki(os.path.join(base, "pki"))
        layout = os.path.join(base, "layout")
        pod_fixture.build_test_layout(layout)
        self.registry = rf.Registry(os.path.join(base, "registry"), os.path.join(base, "storage"), pki=pki).start()
        self.registry.push(layout, "app", REPO)
        self.cni_bin = os.path.join(base, "cni-bin")
        self.records = os.path.join(base, "cni-records")
        self.conf_dir = os.path.join(base, "net.d")
        for d in (self.cni_bin, self.records, self.conf_dir):
            os.makedirs(d)
        plugin = os.path.join(self.cni_bin, "fd-recorder")
        with open(plugin, "w") as f:
            f.write(RECORDER.replace("RECORD_DIR", repr(self.records), 1))
        os.chmod(plugin, 0o755)
        with open(os.path.join(self.conf_dir, "10-fds.conflist"), "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": "fds", "plugins": [{"type": "fd-recorder"}]}, f)
        self.marker = os.path.join(base, "leaked-marker")
        open(self.marker, "w").close()
        config = pod_fixture.runtime_config() + textwrap.dedent(f"""\
            plugin_dirs: [{", ".join(SHIPPED_PLUGIN_DIRS)}]
            transports:
              registry:
                plugin: image-docker
                schemes: [""]
                options:
                  registries:
                    "{self.registry.hostport}": {{ca_file: {pki.ca_cert}}}
            network:
              plugin: net-cni
              options: {{conf_dir: {self.conf_dir}, bin_dirs: [{self.cni_bin}]}}
            """)
        self.d = LeakyCleatd(base, config, self.marker).start()
        try:
            pb2, pb2_grpc = cri
            self.ref = f"{self.registry.hostport}/{REPO}:app"
            images = pb2_grpc.ImageServiceStub(self.d.channel())
            image_id = images.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=self.ref)),
                                        timeout=120).image_ref
            self.env = PodEnv(self.d, cri, {"app": image_id}, {"app": self.ref}, base)
        except BaseException:
            self.d.stop()
            self.registry.stop()
            raise

    def close(self):
        try:
            self.env.remove_all()
            rc = self.d.stop()
            self.env.remove_cgroups()
            assert rc == 0, f"cleatd exited with {rc} on SIGTERM:\n{self.d.read_log()}"
        finally:
            self.registry.stop()

    def registry_connections(self, pid):
        """The fds of `pid` that are TCP connections to the registry."""
        conns = tcp_sockets(self.registry.port)
        return {fd: t for fd, t in fd_table(pid).items() if t in conns}

    def foreign(self, pid):
        """What `pid` holds that it must not: above its stdio, one of cleatd's sockets, pipes or files
        (anonymous inodes all read alike and are left out); anywhere, a TCP socket, a file of the store,
        the marker."""
        daemon = {t for fd, t in fd_table(self.d.proc.pid).items()
                  if fd > 2 and not t.startswith(("anon_inode:", "/dev/"))}
        tcp = tcp_sockets()
        return {fd: t for fd, t in fd_table(pid).items()
                if (fd > 2 and t in daemon) or t in tcp or t == self.marker or t.startswith(self.d.root_dir + "/")}

    def cni_records(self):
        """{file name: record} of the fake plugin's runs so far."""
        out = {}
        for name in os.listdir(self.records):
            with open(os.path.join(self.records, name)) as f:
                out[name] = json.load(f)
        return out


@pytest.fixture(scope="module")
def fds(tmp_path_factory, cri, test_layout):
    missing = pod_fixture.missing_prerequisites()
    if missing:
        pytest.skip("; ".join(missing))
    e = FdEnv(str(tmp_path_factory.mktemp("fds")), cri)
    yield e
    e.close()


@pytest.fixture
def env(fds):
    with pods_removed_after(fds.env):
        yield fds.env


def listed_fds(text):
    """The fd numbers in `ls /proc/$$/fd` output (a TTY's CRs and blank lines dropped)."""
    return sorted(int(w) for w in text.split())


# `ls` as a child of the shell: it lists the shell's fds, not its own directory fd.
LIST_FDS = ["sh", "-c", "ls /proc/$$/fd; true"]


def test_the_pull_left_a_connection_to_the_registry(fds):
    # What makes the rest meaningful: libcurl keeps its connection to the registry open in cleatd.
    assert fds.registry_connections(fds.d.proc.pid), fd_table(fds.d.proc.pid)


def test_cleatd_descriptors_are_close_on_exec(fds, env):
    pod = env.run_pod(pid="POD")
    cid = env.run(pod, command=["sleep", "3600"])
    env.sh(cid, "true")
    pid = fds.d.proc.pid
    table = fd_table(pid)
    assert table[LEAKED_FD] == fds.marker
    inherited_on_exec = {fd: t for fd, t in table.items()
                         if fd > 2 and fd != LEAKED_FD and not fd_flags(pid, fd) & O_CLOEXEC}
    assert inherited_on_exec == {}


def test_shim_and_container_hold_only_their_own(fds, env):
    pod = env.run_pod()
    cid = env.run(pod, command=["sleep", "3600"])
    shim = env.shim_pid(cid)
    table = fd_table(shim)
    assert fds.foreign(shim) == {}, table
    # stdio on /dev/null, the log, and the shim's own pipes, sockets and anonymous inodes
    log = env.log_path(pod, cid)
    assert {table[0], table[1], table[2]} == {"/dev/null"}, table
    odd = {fd: t for fd, t in table.items() if fd > 2 and t != log and
           not t.startswith(("pipe:", "socket:", "anon_inode:"))}
    assert odd == {}, table
    wait_exec(env.pid(cid), "sleep")
    assert sorted(fd_table(env.pid(cid))) == [0, 1, 2]


def test_cni_plugin_sees_only_stdio(fds, env):
    before = fds.cni_records()
    pod = env.run_pod()
    env.stop_pod(pod)
    records = [r for name, r in fds.cni_records().items() if name not in before]
    assert {r["command"] for r in records} >= {"ADD", "DEL"}, records
    for r in records:
        assert sorted(map(int, r["fds"])) == [0, 1, 2], r


def test_exec_sync_sees_only_stdio(fds, env):
    pod = env.run_pod()
    cid = env.run(pod, command=["sleep", "3600"])
    r = env.exec(cid, LIST_FDS)
    assert r.exit_code == 0, r
    assert listed_fds(r.stdout.decode()) == [0, 1, 2]


@pytest.mark.parametrize("tty", [False, True], ids=["pipes", "tty"])
def test_streaming_exec_and_its_runtime_child(fds, env, tty):
    pod = env.run_pod()
    cid = env.run(pod, command=["sleep", "3600"])
    url = env.rt.Exec(env.pb2.ExecRequest(container_id=cid, cmd=["sh", "-c", "ls /proc/$$/fd; echo end; sleep 30"],
                                          stdout=True, stderr=not tty, tty=tty), timeout=30).url
    session = sc.open_session("ws", url, protocol=sc.V5, stdout=True, stderr=not tty, tty=tty)
    try:
        out = session.read_until("stdout", b"end", timeout=30)
        assert listed_fds(out.decode().replace("end", "")) == [0, 1, 2]
        # The runtime's `exec` child of cleatd lives as long as the process: none of cleatd's fds.
        runtime = [p for p in children_of(fds.d.proc.pid) if b"exec" in cmdline(p)]
        assert runtime, children_of(fds.d.proc.pid)
        for p in runtime:
            assert fds.foreign(p) == {}, (cmdline(p), fd_table(p))
    finally:
        session.abort()


def test_pause_process_has_only_stdio(fds, env):
    pod = env.run_pod(pid="POD")
    info = json.loads(env.pod_status(pod, verbose=True).info[pod_fixture.INFO_KEY])
    pause = int(info["pid"])
    wait_exec(pause, "/pause")
    assert sorted(fd_table(pause)) == [0, 1, 2]
    shim = shim_of(pod)  # the pause runs as a container named by the pod's id
    assert fds.foreign(shim) == {}, fd_table(shim)
