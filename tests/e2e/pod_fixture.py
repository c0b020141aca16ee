# SPDX-License-Identifier: Apache-2.0
"""Pods and containers end to end: the test image, cleatd's runtime config,
and `PodEnv`, a thin layer over the CRI RuntimeService that remembers what a
test made, checks that nothing is left behind, and cleans up.

What this module gives:

- `build_test_layout(layout)`: an OCI image layout made by hand: busybox-static
  with every applet linked, the static `cleat-testbin` helper
  (tests/helpers/cleat-testbin.c), /etc/passwd and /etc/group with a user
  `app` (uid 1000, group `app` 1000, also a member of `extra` 2000), /tmp and
  /home/app.  One layer, several tags that differ only in the image config:
    app     Cmd ["/bin/sh"]
    entry   Entrypoint ["/bin/sh", "-c"], Cmd ["echo from-image-cmd; sleep 3600"]
    nocmd   neither Entrypoint nor Cmd
    user    Cmd ["/bin/sh"], User "app"
  Pulled with PullImage from `oci:<layout>:<tag>`.
- `runtime_config()`: the cleatd config body for runc through runtime-runc,
  with two handlers (`runc` and `runc-debug`).
- `PodEnv`: pod and container helpers with kubelet's defaults, ExecSync,
  waiting, CRI log parsing, leftover checks (mounts, pinned namespaces,
  cgroups, processes, state dirs, List records) and cleanup, including the
  unique test cgroup parents ("/cleat-e2e-<random>") in every hierarchy.
"""

import errno
import glob
import gzip
import hashlib
import io
import json
import os
import platform
import re
import signal
import subprocess
import tarfile
import time
import uuid

import grpc

import oci_schema

SOURCE_DIR = os.environ.get("CLEAT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("CLEAT_BUILD_DIR", "")
SHIM = os.environ.get("CLEAT_SHIM") or os.path.join(BUILD_DIR, "shim", "cleat-shim")
TESTBIN = os.environ.get("CLEAT_TESTBIN") or os.path.join(BUILD_DIR, "tests", "helpers", "cleat-testbin")
PAUSE = os.path.join(BUILD_DIR, "shim", "cleat-pause")
RUNTIME_RUNC_DIR = os.path.join(BUILD_DIR, "plugins", "runtime-runc")
RUNC = "/usr/bin/runc"
BUSYBOX = os.environ.get("BUSYBOX", "/bin/busybox")
SECCOMP_DEFAULT = os.path.join(SOURCE_DIR, "config", "seccomp-default.json")

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

# The CRI log format: "<RFC3339Nano> <stream> <P|F> <message>".
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) ([PF]) (.*)$", re.S)

# Verbose status info, as containerd fills it in (kubelet and crictl print it as JSON).
INFO_KEY = "info"

PASSWD = b"""root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = b"""root:x:0:
app:x:1000:
extra:x:2000:app
other:x:3000:
nogroup:x:65534:
"""

IMAGE_TAGS = {
    "app": {"Cmd": ["/bin/sh"]},
    "entry": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo from-image-cmd; sleep 3600"]},
    "nocmd": {},
    "user": {"Cmd": ["/bin/sh"], "User": "app"},
}


# The shim v2 the `shimv2` handler drives (runtime-kata): Debian's containerd-shim-runc-v2 stands in for Kata's.
SHIMV2 = "/usr/bin/containerd-shim-runc-v2"
RUNTIME_KATA_DIR = os.path.join(BUILD_DIR, "plugins", "runtime-kata")


def runtime_config(default_handler="runc"):
    """The config body for pods: runc through runtime-runc, two handlers, RuntimeDefault, the pause binary.
    With default_handler "shimv2", a third handler (runtime-kata driving containerd-shim-runc-v2) is the default,
    and "shimv2-guest" is the same shim set up as for a VM (port_forward: none)."""
    shimv2 = "" if default_handler != "shimv2" else f"""    shimv2:
      plugin: runtime-kata
      options: {{shim: {SHIMV2}, relay: {SHIM}}}
    shimv2-guest:
      plugin: runtime-kata
      options: {{shim: {SHIMV2}, relay: {SHIM}, port_forward: none}}
"""
    return f"""runtime:
  default_handler: {default_handler}
  seccomp_default_profile: {SECCOMP_DEFAULT}
  pause_binary: {PAUSE}
  handlers:
    runc:
      plugin: runtime-runc
      options: {{binary: {RUNC}, shim: {SHIM}}}
    runc-debug:
      plugin: runtime-runc
      options: {{binary: {RUNC}, shim: {SHIM}, runtime_args: ["--debug"]}}
{shimv2}"""


def missing_prerequisites():
    """Why pod tests cannot run here (a list of reasons), or []."""
    why = []
    if os.geteuid() != 0:
        why.append("needs root")
    for path, what in ((RUNC, "runc"), (SHIM, "cleat-shim"), (TESTBIN, "cleat-testbin"),
                       (PAUSE, "cleat-pause"), (os.path.join(RUNTIME_RUNC_DIR, "runtime-runc.so"), "runtime-runc.so")):
        if not os.path.exists(path):
            why.append(f"no {what} at {path}")
    return why


# --------------------------------------------------------------------------
# the image

def _sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _info(name, kind=tarfile.REGTYPE, mode=0o644, uid=0, gid=0):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, 0
    info.uid, info.gid = uid, gid
    info.uname = info.gname = ""
    return info


def _applets():
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    return sorted(a for a in out if a != "busybox" and "/" not in a)


def _layer():
    """The one layer every tag shares (uncompressed tar bytes)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add_file(name, data, mode=0o644):
            info = _info(name, mode=mode)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for d, mode, owner in (("bin", 0o755, 0), ("etc", 0o755, 0), ("tmp", 0o1777, 0), ("home", 0o755, 0),
                               ("home/app", 0o755, 1000), ("root", 0o700, 0), ("proc", 0o755, 0),
                               ("sys", 0o755, 0), ("dev", 0o755, 0), ("var", 0o755, 0)):
            tar.addfile(_info(d, tarfile.DIRTYPE, mode, owner, owner))
        with open(BUSYBOX, "rb") as f:
            add_file("bin/busybox", f.read(), 0o755)
        for applet in _applets():
            link = _info(f"bin/{applet}", tarfile.SYMTYPE, 0o777)
            link.linkname = "busybox"
            tar.addfile(link)
        with open(TESTBIN, "rb") as f:
            add_file("bin/cleat-testbin", f.read(), 0o755)
        add_file("etc/passwd", PASSWD)
        add_file("etc/group", GROUP)
    return raw.getvalue()


def layer_tar(members):
    """An uncompressed layer tar of (TarInfo, data or None) pairs (see tar_info)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return raw.getvalue()


def tar_info(name, kind=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, devmajor=0, devminor=0):
    """A TarInfo for layer_tar(): mtime 0, owner by number only."""
    info = _info(name, kind, mode, uid, gid)
    info.devmajor, info.devminor = devmajor, devminor
    return info


def _put(layout, data):
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    with open(os.path.join(blobs, hashlib.sha256(data).hexdigest()), "wb") as f:
        f.write(data)
    return {"digest": _sha256(data), "size": len(data)}


def _write_image(layout, tag, layer_tars, extra):
    """Blobs of one image (gzip'd layers, config with `extra` fields, manifest); its index entry."""
    layers = [_put(layout, gzip.compress(t, mtime=0)) for t in layer_tars]
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    cfg = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
           "Labels": {"org.cleat.test": tag}}
    cfg.update(extra)
    config = json.dumps({"architecture": arch, "os": "linux", "config": cfg,
                         "rootfs": {"type": "layers", "diff_ids": [_sha256(t) for t in layer_tars]},
                         "history": [{"created_by": f"cleat pod_fixture.py: {tag}"}]}, sort_keys=True).encode()
    c = _put(layout, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
                           "config": dict(mediaType=MT_OCI_CONFIG, **c),
                           "layers": [dict(mediaType=MT_OCI_LAYER_GZIP, **l) for l in layers]},
                          sort_keys=True).encode()
    m = _put(layout, manifest)
    entry = dict(mediaType=MT_OCI_MANIFEST, **m, annotations={"org.opencontainers.image.ref.name": tag})
    return entry, {"manifest_digest": m["digest"], "config_digest": c["digest"]}


def _write_index(layout, manifests):
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": manifests}, f)


def build_test_layout(layout):
    """Write the OCI layout; returns {tag: {"manifest_digest", "config_digest"}}."""
    base = _layer()
    tags, manifests = {}, []
    for tag, extra in IMAGE_TAGS.items():
        entry, tags[tag] = _write_image(layout, tag, [base], extra)
        manifests.append(entry)
    _write_index(layout, manifests)
    oci_schema.check_image_layout(layout)
    return tags


def build_layered_layout(layout, tag, members, extra=None):
    """An OCI layout with one image `tag`: the test image's layer, then a layer of `members`
    ((TarInfo, data) pairs, see tar_info), and `extra` config fields (default Cmd ["/bin/sh"])."""
    entry, _ = _write_image(layout, tag, [_layer(), layer_tar(members)], extra or {"Cmd": ["/bin/sh"]})
    _write_index(layout, [entry])
    oci_schema.check_image_layout(layout)


def build_stacked_layout(layout, tag, layers, extra=None):
    """An OCI layout with one image `tag`: the test image's layer, then one layer per element of `layers` (each a
    list of (TarInfo, data) pairs, see tar_info), and `extra` config fields (default Cmd ["/bin/sh"])."""
    entry, _ = _write_image(layout, tag, [_layer()] + [layer_tar(m) for m in layers], extra or {"Cmd": ["/bin/sh"]})
    _write_index(layout, [entry])
    oci_schema.check_image_layout(layout)


def pull_test_images(daemon, pb2, pb2_grpc, layout, tags=IMAGE_TAGS):
    """PullImage every tag of the layout; returns {tag: image id} and {tag: reference}."""
    stub = pb2_grpc.ImageServiceStub(daemon.channel())
    ids, refs = {}, {}
    for tag in tags:
        refs[tag] = f"oci:{layout}:{tag}"
        ids[tag] = stub.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=refs[tag])), timeout=120).image_ref
        # What cleat stored passes the image spec's schemas (oci_schema.py).
        st = stub.ImageStatus(pb2.ImageStatusRequest(image=pb2.ImageSpec(image=ids[tag]), verbose=True), timeout=60)
        oci_schema.check_stored_image(daemon.root_dir, json.loads(st.info["info"]))
    return ids, refs


# --------------------------------------------------------------------------
# host-side observations

def mountinfo():
    """[(mount point, fs type, source)] of /proc/self/mountinfo, unescaped."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            point = left.split()[4]
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point)
            fstype, source = right.split()[:2]
            out.append((point, fstype, source))
    return out


def mounts_under(prefix):
    prefix = os.path.realpath(prefix)
    return sorted(p for p, _, _ in mountinfo() if p == prefix or p.startswith(prefix + "/"))


def mounts_naming(ident):
    """Mount points with `ident` (a pod or container ID) in their path."""
    return sorted(p for p, _, _ in mountinfo() if ident in p)


def pid_alive(pid):
    """True while the process exists and is not a zombie."""
    if not pid or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def cgroup_hierarchies():
    """Mount points of every cgroup (v1) and cgroup2 hierarchy, one per hierarchy."""
    seen, out = set(), []
    for point, fstype, _ in mountinfo():
        if fstype in ("cgroup", "cgroup2") and point.startswith("/sys/fs/cgroup"):
            real = os.path.realpath(point)
            if real not in seen:
                seen.add(real)
                out.append(real)
    return out


def cgroup_dirs(parent):
    """Existing directories of cgroup `parent` (e.g. "/cleat-e2e-ab12") and below, in every hierarchy."""
    out = []
    for h in cgroup_hierarchies():
        top = os.path.join(h, parent.lstrip("/"))
        for root, dirs, _ in os.walk(top):
            out.append(root)
    return out


def remove_cgroup(parent):
    """Remove cgroup `parent` and everything below, in every hierarchy (children first).  A test
    cgroup that still holds processes (a test that failed half-way) has them killed first: they
    are processes of our own test containers, found by the unique cgroup."""
    for h in cgroup_hierarchies():
        top = os.path.join(h, parent.lstrip("/"))
        if not os.path.isdir(top):
            continue
        for root, dirs, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            for attempt in range(50):
                try:
                    os.rmdir(root)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY:
                        raise
                    try:
                        with open(os.path.join(root, "cgroup.procs")) as f:
                            for pid in f.read().split():
                                try:
                                    os.kill(int(pid), signal.SIGKILL)
                                except ProcessLookupError:
                                    pass
                    except FileNotFoundError:
                        pass
                    time.sleep(0.1)


def read_proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(re.findall(r"^(\w+):\s+(.*)$", f.read(), re.M))


def fd_table(pid):
    """{fd number: readlink target} of a process (an fd closed meanwhile left out)."""
    d = f"/proc/{pid}/fd"
    out = {}
    for name in os.listdir(d):
        try:
            out[int(name)] = os.readlink(os.path.join(d, name))
        except FileNotFoundError:
            pass
    return out


def wait_exec(pid, argv0, timeout=20.0):
    """Wait until `pid` runs `argv0`: until then a container's process is still the runtime's init, which
    has fds of its own."""
    def runs():
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0] == argv0.encode()
    wait_for(runs, timeout, f"process {pid} to run {argv0}")


def host_interfaces():
    with open("/proc/net/dev") as f:
        return interfaces_of(f.read())


def interfaces_of(proc_net_dev):
    return sorted(line.split(":", 1)[0].strip() for line in proc_net_dev.splitlines()[2:] if ":" in line)


def wait_for(pred, timeout=20.0, what="condition"):
    end = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def parse_cri_log(path):
    """[(time, stream, tag, message)] of a CRI log file; every line must match the format."""
    with open(path, "rb") as f:
        data = f.read().decode()
    out = []
    for line in data.split("\n")[:-1]:
        m = LOG_LINE.match(line)
        assert m, f"not a CRI log line: {line!r}"
        out.append(m.groups())
    assert data == "" or data.endswith("\n"), data
    return out


def log_messages(path, stream=None):
    """The messages of full (F) lines, partial lines joined, optionally of one stream."""
    out, partial = [], {}
    for _, s, tag, msg in parse_cri_log(path):
        partial[s] = partial.get(s, "") + msg
        if tag == "F":
            if stream in (None, s):
                out.append(partial[s])
            partial[s] = ""
    return out


# --------------------------------------------------------------------------
# the CRI

def key_value(pb2, key, value):
    """A KeyValue (an env var).  Upstream's value is a string; core/proto/api.proto has bytes."""
    field = pb2.KeyValue.DESCRIPTOR.fields_by_name["value"]
    return pb2.KeyValue(key=key, value=value.encode() if field.type == field.TYPE_BYTES else value)


def user_namespace(pb2, ranges, mode="POD"):
    """A UserNamespace with the same (container_id, host_id, length) ranges for uids and gids."""
    maps = [pb2.IDMapping(container_id=c, host_id=h, length=n) for c, h, n in ranges]
    return pb2.UserNamespace(mode=getattr(pb2, mode), uids=maps, gids=maps)


class PodEnv:
    """One cleatd, its stubs and the pulled test images; remembers every pod it made."""

    def __init__(self, daemon, cri, image_ids, image_refs, base):
        self.d = daemon
        self.pb2, self.pb2_grpc = cri
        self.image_ids = image_ids
        self.image_refs = image_refs
        self.base = base
        self.logs = os.path.join(base, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.cgroup_parents = set()
        self.pod_ids = []
        self.configs = {}  # pod id -> PodSandboxConfig
        self.default_handler = "runc"  # the handler pods run with when a test names none (conftest sets it)
        self.userns = None  # ranges every pod gets a user namespace with, unless a test says otherwise (conftest)
        self.connect()

    def connect(self):
        self.channel = self.d.channel()
        self.rt = self.pb2_grpc.RuntimeServiceStub(self.channel)
        self.img = self.pb2_grpc.ImageServiceStub(self.channel)

    # -- pods

    def pod_config(self, name=None, namespace="cleat-e2e", uid=None, attempt=0, hostname=None, host_network=False,
                   pid="CONTAINER", ipc="POD", dns=None, sysctls=None, labels=None, annotations=None,
                   privileged=False, seccomp=None, cgroup_parent=None, log_directory=None, userns=None):
        """A PodSandboxConfig as kubelet builds it (pid namespace CONTAINER unless asked).  `userns`: a pod with
        its own user namespace (hostUsers: false), as kubelet asks for one: mode POD with the same maps for uids
        and gids, [(container_id, host_id, length), ...], or a pb2.UserNamespace as it is."""
        pb2 = self.pb2
        name = name or f"pod-{uuid.uuid4().hex[:8]}"
        uid = uid or str(uuid.uuid4())
        if log_directory is None:
            log_directory = os.path.join(self.logs, f"{namespace}_{name}_{uid}")
            os.makedirs(log_directory, exist_ok=True)  # kubelet makes it before RunPodSandbox
        if cgroup_parent is None:
            cgroup_parent = f"/cleat-e2e-{uuid.uuid4().hex[:12]}"
        if cgroup_parent:
            self.cgroup_parents.add(cgroup_parent)
        ns = pb2.NamespaceOption(network=pb2.NODE if host_network else pb2.POD,
                                 pid=getattr(pb2, pid), ipc=getattr(pb2, ipc))
        if userns is None and self.userns and not host_network and pid != "NODE" and ipc != "NODE":
            userns = self.userns
        if userns is not None:
            ns.userns_options.CopyFrom(userns if isinstance(userns, pb2.UserNamespace) else user_namespace(pb2, userns))
        sc = pb2.LinuxSandboxSecurityContext(namespace_options=ns, privileged=privileged)
        if seccomp:
            sc.seccomp.CopyFrom(pb2.SecurityProfile(profile_type=getattr(pb2.SecurityProfile.ProfileType, seccomp)))
        cfg = pb2.PodSandboxConfig(
            metadata=pb2.PodSandboxMetadata(name=name, namespace=namespace, uid=uid, attempt=attempt),
            hostname="" if host_network else (hostname if hostname is not None else name),
            log_directory=log_directory,
            labels=labels or {"io.kubernetes.pod.name": name},
            annotations=annotations or {},
            linux=pb2.LinuxPodSandboxConfig(cgroup_parent=cgroup_parent, security_context=sc,
                                            sysctls=sysctls or {}))
        if dns is not None:
            cfg.dns_config.CopyFrom(pb2.DNSConfig(**dns))
        return cfg

    def run_pod(self, config=None, handler="", **kw):
        """RunPodSandbox; returns the pod ID (the config is remembered for containers)."""
        config = config or self.pod_config(**kw)
        pod_id = self.rt.RunPodSandbox(self.pb2.RunPodSandboxRequest(config=config, runtime_handler=handler),
                                       timeout=120).pod_sandbox_id
        self.pod_ids.append(pod_id)
        self.configs[pod_id] = config
        # A pause's (or a shim's sandbox) config.json, where the pod has one, passes the runtime spec's schema.
        for bundle in glob.glob(os.path.join(self.pod_dir(pod_id), "*", "config.json")):
            oci_schema.check_runtime_config(bundle)
        return pod_id

    def pod_status(self, pod_id, verbose=False):
        return self.rt.PodSandboxStatus(self.pb2.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=verbose),
                                        timeout=60)

    def list_pods(self, **filt):
        f = self.pb2.PodSandboxFilter(**{k: v for k, v in filt.items() if k != "state"})
        if "state" in filt:
            f.state.CopyFrom(self.pb2.PodSandboxStateValue(state=filt["state"]))
        return list(self.rt.ListPodSandbox(self.pb2.ListPodSandboxRequest(filter=f), timeout=60).items)

    def stop_pod(self, pod_id):
        return self.rt.StopPodSandbox(self.pb2.StopPodSandboxRequest(pod_sandbox_id=pod_id), timeout=120)

    def remove_pod(self, pod_id):
        return self.rt.RemovePodSandbox(self.pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=120)

    def pod_dir(self, pod_id):
        return os.path.join(self.d.state_dir, "pods", pod_id)

    # -- containers

    def container_config(self, pod_id=None, name=None, command=None, args=None, image="app", log_path=None,
                         labels=None, annotations=None, envs=None, mounts=None, tty=False, stdin=False,
                         stdin_once=False, working_dir="", resources=None, attempt=0, namespace_options=None,
                         **security):
        """A ContainerConfig.  `image` is a tag of the test image (or any other string, used as is).
        Security-context keywords: run_as_user, run_as_group, run_as_username, supplemental_groups,
        readonly_rootfs, privileged, add_caps, drop_caps, seccomp ("RuntimeDefault", "Unconfined"; unset:
        $CLEAT_E2E_SECCOMP if set, else none), no_new_privs, masked_paths, readonly_paths.  The namespace options are the pod's, as kubelet
        sets them, unless given."""
        pb2 = self.pb2
        name = name or f"ctr-{uuid.uuid4().hex[:8]}"
        sc = pb2.LinuxContainerSecurityContext()
        if namespace_options is not None:
            sc.namespace_options.CopyFrom(namespace_options)
        elif pod_id in self.configs:
            sc.namespace_options.CopyFrom(self.configs[pod_id].linux.security_context.namespace_options)
        for key in ("run_as_user", "run_as_group"):
            if security.get(key) is not None:
                getattr(sc, key).value = security.pop(key)
            security.pop(key, None)
        if "add_caps" in security or "drop_caps" in security:
            sc.capabilities.CopyFrom(pb2.Capability(add_capabilities=security.pop("add_caps", []),
                                                    drop_capabilities=security.pop("drop_caps", [])))
        if "seccomp" not in security and os.environ.get("CLEAT_E2E_SECCOMP"):
            # The whole suite under one profile: CLEAT_E2E_SECCOMP=RuntimeDefault ctest -R e2e
            security["seccomp"] = os.environ["CLEAT_E2E_SECCOMP"]
        if "seccomp" in security:
            sc.seccomp.CopyFrom(pb2.SecurityProfile(
                profile_type=getattr(pb2.SecurityProfile.ProfileType, security.pop("seccomp"))))
        for key, value in security.items():
            if isinstance(value, (list, tuple)):
                getattr(sc, key).extend(value)
            else:
                setattr(sc, key, value)
        cfg = pb2.ContainerConfig(
            metadata=pb2.ContainerMetadata(name=name, attempt=attempt),
            image=pb2.ImageSpec(image=self.image_ids.get(image, image)),
            command=command or [], args=args or [], working_dir=working_dir,
            envs=[key_value(pb2, k, v) for k, v in (envs or {}).items()],
            mounts=mounts or [],
            labels=labels or {"io.kubernetes.container.name": name},
            annotations=annotations or {},
            log_path=log_path if log_path is not None else f"{name}/{attempt}.log",
            stdin=stdin, stdin_once=stdin_once, tty=tty,
            linux=pb2.LinuxContainerConfig(security_context=sc))
        if resources is not None:
            cfg.linux.resources.CopyFrom(resources)
        return cfg

    def create(self, pod_id, config=None, pod_config=None, **kw):
        """CreateContainer; the config.json cleat wrote for it must pass the runtime spec's schema."""
        config = config or self.container_config(pod_id, **kw)
        cid = self.rt.CreateContainer(self.pb2.CreateContainerRequest(
            pod_sandbox_id=pod_id, config=config,
            sandbox_config=pod_config or self.configs.get(pod_id) or self.pb2.PodSandboxConfig()),
            timeout=120).container_id
        oci_schema.check_runtime_config(os.path.join(self.container_dir(cid), "config.json"))
        return cid

    def start(self, cid):
        return self.rt.StartContainer(self.pb2.StartContainerRequest(container_id=cid), timeout=120)

    def run(self, pod_id, **kw):
        """CreateContainer + StartContainer; returns the container ID."""
        cid = self.create(pod_id, **kw)
        self.start(cid)
        return cid

    def stop(self, cid, timeout=0, rpc_timeout=120):
        return self.rt.StopContainer(self.pb2.StopContainerRequest(container_id=cid, timeout=timeout),
                                     timeout=rpc_timeout)

    def remove(self, cid):
        return self.rt.RemoveContainer(self.pb2.RemoveContainerRequest(container_id=cid), timeout=120)

    def status(self, cid, verbose=False):
        return self.rt.ContainerStatus(self.pb2.ContainerStatusRequest(container_id=cid, verbose=verbose),
                                       timeout=60)

    def list_containers(self, **filt):
        f = self.pb2.ContainerFilter(**{k: v for k, v in filt.items() if k != "state"})
        if "state" in filt:
            f.state.CopyFrom(self.pb2.ContainerStateValue(state=filt["state"]))
        return list(self.rt.ListContainers(self.pb2.ListContainersRequest(filter=f), timeout=60).containers)

    def exec(self, cid, cmd, timeout=30):
        """ExecSync; returns the response (stdout, stderr, exit_code)."""
        return self.rt.ExecSync(self.pb2.ExecSyncRequest(container_id=cid, cmd=list(cmd), timeout=timeout),
                                timeout=timeout + 60 if timeout else 120)

    def sh(self, cid, script, timeout=30):
        """`sh -c script` in the container: its stdout (text), asserting exit code 0."""
        r = self.exec(cid, ["sh", "-c", script], timeout)
        assert r.exit_code == 0, f"{script!r} exited {r.exit_code}: {r.stdout!r} {r.stderr!r}"
        return r.stdout.decode()

    def testbin(self, cid, *args):
        """cleat-testbin's one line of output."""
        r = self.exec(cid, ["/bin/cleat-testbin", *args])
        assert r.exit_code == 0, (args, r)
        return r.stdout.decode().strip()

    def wait_state(self, cid, state, timeout=30):
        return wait_for(lambda: (lambda s: s if s.state == state else None)(self.status(cid).status),
                        timeout, f"container {cid} in state {state}")

    def wait_exited(self, cid, timeout=30):
        return self.wait_state(cid, self.pb2.CONTAINER_EXITED, timeout)

    def log_path(self, pod_id, cid):
        """The container's log file on the host: the pod's log_directory + the container's log_path."""
        st = self.status(cid).status
        return os.path.join(self.configs[pod_id].log_directory, st.log_path) if not os.path.isabs(st.log_path) \
            else st.log_path

    def container_dir(self, cid):
        return os.path.join(self.d.state_dir, "containers", cid)

    def info(self, cid):
        """The verbose ContainerStatus info, parsed."""
        return json.loads(self.status(cid, verbose=True).info[INFO_KEY])

    def pid(self, cid):
        return int(self.info(cid)["pid"])

    def shim_pid(self, cid):
        with open(os.path.join(self.container_dir(cid), "shim.pid")) as f:
            return int(f.read().strip())

    # -- leftovers

    def observe(self, pod_id):
        """What a pod has on the host right now, for check_gone() after it is removed."""
        seen = {"pod": pod_id, "containers": [], "pids": [], "shims": [],
                "cgroup_parent": self.configs[pod_id].linux.cgroup_parent if pod_id in self.configs else ""}
        try:
            info = json.loads(self.pod_status(pod_id, verbose=True).info.get(INFO_KEY, "{}"))
            if int(info.get("pid", 0) or 0) > 0:
                seen["pids"].append(int(info["pid"]))
        except (grpc.RpcError, ValueError):
            pass
        for c in self.list_containers(pod_sandbox_id=pod_id):
            seen["containers"].append(c.id)
            if c.state == self.pb2.CONTAINER_RUNNING:
                seen["pids"].append(self.pid(c.id))
            try:
                seen["shims"].append(self.shim_pid(c.id))
            except FileNotFoundError:
                pass
        return seen

    def check_gone(self, seen, timeout=10):
        """Nothing of an observed (and removed) pod is left: no record, no mount, no pinned namespace,
        no container cgroup, no process, no state dir."""
        pod_id = seen["pod"]
        assert pod_id not in [p.id for p in self.list_pods()]
        listed = {c.id for c in self.list_containers()}
        assert not listed & set(seen["containers"]), listed & set(seen["containers"])
        for ident in [pod_id] + seen["containers"]:
            assert mounts_naming(ident) == [], mounts_naming(ident)
        assert not os.path.exists(self.pod_dir(pod_id))
        for cid in seen["containers"]:
            assert not os.path.exists(self.container_dir(cid)), os.listdir(self.container_dir(cid))
        wait_for(lambda: not [p for p in seen["pids"] + seen["shims"] if pid_alive(p)], timeout,
                 f"processes {seen['pids'] + seen['shims']} to end")
        if seen["cgroup_parent"]:
            # Only the pod's own cgroup (kubelet's) may remain; nothing the runtime made below it.
            tops = {os.path.join(h, seen["cgroup_parent"].lstrip("/")) for h in cgroup_hierarchies()}
            below = [d for d in cgroup_dirs(seen["cgroup_parent"]) if d not in tops]
            assert below == [], below

    def remove_all(self):
        """Stop and remove every pod this env made (errors ignored), then the test cgroups."""
        for pod_id in self.pod_ids:
            for call in (self.stop_pod, self.remove_pod):
                try:
                    call(pod_id)
                except grpc.RpcError:
                    pass
        self.pod_ids = []

    def remove_cgroups(self):
        for parent in self.cgroup_parents:
            remove_cgroup(parent)
        self.cgroup_parents = set()


def make_env(cleatd_cls, base, cri, layout, config_extra="", dropins=None, default_handler="runc"):
    """Start cleatd with the runtime config in `base` (and `dropins`, {file name: YAML text}, in its
    drop-in dir: more runtime handlers, say), pull the test images; returns the PodEnv."""
    d = cleatd_cls(base, runtime_config(default_handler) + config_extra)
    for name, text in (dropins or {}).items():
        with open(os.path.join(d.dropin_dir, name), "w") as f:
            f.write(text)
    d.start()
    ids, refs = pull_test_images(d, cri[0], cri[1], layout)
    return PodEnv(d, cri, ids, refs, base)
