#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Every benchmark, and one table: cleat beside any other CRI runtime.

    /usr/bin/python3 bench/all.py [--build-dir DIR] [--socket NAME=PATH ...] [--image REF] [--pull REF]
                                  [-n 20] [--calls 50] [--quick]

(as root.)  It starts a docker-registry on 127.0.0.1 holding the bench's
images (a busybox for the containers, an 8-layer image for the pull), a
cleatd of the build dir's own, and measures it through its socket with
bench/cri.py; then each runtime named with --socket (containerd, cri-o:
any CRI socket) the same way, with the same images from the same registry
(containerd and cri-o pull from 127.0.0.1 over plain HTTP as they would
from any localhost registry; --image and --pull name other references
when a runtime cannot).  Then the machine's floors, each script as it runs
alone: bench/pods.py (cleat's Run+Create+Start against bare runc),
bench/pull.py (cleat's pull against `curl | tar -xzf` and `igzip -dc | tar -x`),
bench/stream_flood.py, bench/churn.py (cleatd's memory after churn) and
bench/restart.py (serving again after kill -9 with 500 running pods).
Last it prints the table: one column per runtime, and the ratio of cleat
to each.

--quick: 2 pods, 3 calls, a small pull image and the scripts' quick modes
(what CI runs, so that none of them rots).  Nothing it made is left.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE, "tests", "e2e"))
import registry_fixture as rf  # noqa: E402

import cri  # noqa: E402
import pods  # noqa: E402
import pull  # noqa: E402
from cri_client import CriBench, bench_cgroup_parent, cri_modules  # noqa: E402

import grpc  # noqa: E402

# (figure, label, unit, scale): the table's rows, in the order of the issue that asked for them.
ROWS = [
    ("container_all_ms", "container lifecycle p50 (create, start, status, stop, remove)", "ms", 1),
    ("pod_lifecycle_ms", "pod lifecycle p50 (run, stop, remove; host network)", "ms", 1),
    ("container_create_ms", "CreateContainer p50", "ms", 1),
    ("container_remove_ms", "RemoveContainer p50", "ms", 1),
    ("run_create_start_ms", "Run+Create+Start p50", "ms", 1),
    ("pull_s", "pull of the bench image", "s", 1),
    ("daemon_vmrss_kb", "daemon VmRSS with N running pods", "MiB", 1 / 1024),
    ("daemon_rssanon_kb", "daemon RssAnon with N running pods", "MiB", 1 / 1024),
    ("helpers_pss_kb", "helpers' PSS with N running pods", "MiB", 1 / 1024),
    ("ListPodSandbox p50 ms", "ListPodSandbox p50", "ms", 1),
    ("ListContainers p50 ms", "ListContainers p50", "ms", 1),
    ("ListContainers (one pod's) p50 ms", "ListContainers, one pod's, p50", "ms", 1),
    ("ListContainerStats p50 ms", "ListContainerStats p50", "ms", 1),
    ("ListPodSandboxStats p50 ms", "ListPodSandboxStats p50", "ms", 1),
]


def run_script(args, name, extra, out_json):
    """bench/NAME with its own options, its output passed through; its --json figures, or {} when it failed."""
    cmd = [sys.executable, os.path.join(HERE, name)] + extra + ["--json", out_json]
    print(f"\n=== {' '.join(cmd)}", flush=True)
    r = subprocess.run(cmd)
    if r.returncode != 0:
        print(f"bench/{name} failed (exit {r.returncode})", file=sys.stderr)
        args.failed.append(name)
        return {}
    with open(out_json) as f:
        return json.load(f)


def measure_socket(args, label, bench, image, pull_ref):
    print(f"\n=== {label}: {bench.version()}", flush=True)
    try:
        return cri.measure(bench, image, args.n, args.calls, pull_ref, say=lambda s: print(s, flush=True))
    except grpc.RpcError as e:
        print(f"{label}: {e.code()}: {e.details()}", file=sys.stderr)
        args.failed.append(label)
        return {}
    finally:
        bench.close()


def table(columns, n):
    names = list(columns)
    w = [max(14, len(c) + 2) for c in names] + [len(f"cleat/{c}") + 2 for c in names[1:]]
    head = f"{'':<64}" + "".join(f"{c:>{w[i]}}" for i, c in enumerate(names)) + \
        "".join(f"{'cleat/' + c:>{w[len(names) + i]}}" for i, c in enumerate(names[1:]))
    lines = [head]
    for key, label, unit, scale in ROWS:
        vals = [columns[c].get(key) for c in names]
        if all(v is None for v in vals):
            continue
        cells = "".join(f"{v * scale:>{w[i] - 4}.2f} {unit:<3}" if v is not None else f"{'-':>{w[i]}}"
                        for i, v in enumerate(vals))
        ratios = "".join(f"{vals[0] / v:>{w[len(names) + i]}.2f}" if v and vals[0] is not None
                         else f"{'-':>{w[len(names) + i]}}" for i, v in enumerate(vals[1:]))
        lines.append(f"{label.replace('N running', f'{n} running'):<64}{cells}{ratios}")
    lines.append("(List* p50: until the whole response is in as bytes; this client's parse of it is apart)")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--socket", action="append", default=[], metavar="NAME=PATH",
                    help="another runtime's CRI socket, measured the same way (repeatable)")
    ap.add_argument("--image", help="the containers' image for the other runtimes (default: the bench registry's)")
    ap.add_argument("--pull", metavar="REF", help="the timed pull for the other runtimes (default: the bench "
                                                  "registry's image)")
    ap.add_argument("--cgroup-parent", help="the other runtimes' pod cgroup parent (default: a cgroupfs path of "
                                            "the bench's own; '' lets each choose; the systemd driver wants a "
                                            "slice)")
    ap.add_argument("-n", type=int, default=20, help="pods (default 20)")
    ap.add_argument("--calls", type=int, default=50, help="times each hot kubelet call is timed (default 50)")
    ap.add_argument("--quick", action="store_true", help="small sizes everywhere (what CI runs)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.calls = 2, 3
        pull.LAYERS, pull.SCALE = 2, 0.05
    args.build_dir = os.path.abspath(args.build_dir)
    args.failed = []
    others = []
    for s in args.socket:
        name, sep, path = s.partition("=")
        if not sep or not name or not path:
            sys.exit(f"--socket {s}: NAME=PATH")
        others.append((name, path))
    if os.geteuid() != 0:
        sys.exit("all.py needs root")

    tmp = tempfile.mkdtemp(prefix="cleat-bench-all-")
    reg = None
    columns = {}
    try:
        print("building the images ...", flush=True)
        rf.build_busybox_layout(os.path.join(tmp, "busybox"), "bench")
        pull.build_layout(os.path.join(tmp, "big"))
        reg = rf.Registry(os.path.join(tmp, "registry"), os.path.join(tmp, "storage")).start()
        reg.push(os.path.join(tmp, "busybox"), "bench", "bench/busybox", dest_tag="latest")
        reg.push(os.path.join(tmp, "big"), "big", pull.REPO)
        image, pull_ref = f"{reg.hostport}/bench/busybox:latest", f"{reg.hostport}/{pull.REPO}:big"
        pb2, pb2_grpc = cri_modules(tmp)

        opts = argparse.Namespace(build_dir=args.build_dir, cleatd=os.path.join(args.build_dir, "core", "cleatd"),
                                  runc=pods.RUNC, cni=False)
        cleat = pods.Cleat(opts, tmp, pb2, pb2_grpc, "runc", registries={reg.hostport: {"insecure": True}})
        try:
            columns["cleat"] = measure_socket(args, "cleat", cleat, image, pull_ref)
        finally:
            cleat.stop_daemon()
        for name, path in others:
            parent = bench_cgroup_parent() if args.cgroup_parent is None else args.cgroup_parent
            bench = CriBench(path, pb2, pb2_grpc, os.path.join(tmp, f"logs-{name}"), parent or None)
            columns[name] = measure_socket(args, name, bench, args.image or image, args.pull or pull_ref)

        quick = ["--quick"] if args.quick else []
        floors = {}
        floors.update(run_script(args, "pods.py", ["--build-dir", args.build_dir, "--calls", "0"] +
                                 (quick or ["-n", str(args.n)]), os.path.join(tmp, "pods.json")))
        floors.update(run_script(args, "pull.py", quick + [args.build_dir], os.path.join(tmp, "pull.json")))
        floors.update(run_script(args, "stream_flood.py", quick + ["--build-dir", args.build_dir],
                                 os.path.join(tmp, "flood.json")))
        churn = run_script(args, "churn.py", quick + ["--build-dir", args.build_dir], os.path.join(tmp, "churn.json"))
        floors.update(run_script(args, "restart.py", quick + ["--build-dir", args.build_dir],
                                 os.path.join(tmp, "restart.json")))

        print(f"\n=== the table: {args.n} pods, one `sleep` container each, host network; times are medians "
              f"unless named\n")
        print(table(columns, args.n))
        print("\nagainst the machine's floors (same run):")
        if "run_create_start_over_floor_runc" in floors:
            print(f"  cleat Run+Create+Start / bare runc create+start ({floors['runc_create_start_ms']:.1f} ms)"
                  f"{floors['run_create_start_over_floor_runc']:>10.2f}")
        if "pull_over_floor" in floors:
            print(f"  cleat pull / curl | tar -xzf of the same layers ({floors['pull_floor_s']:.2f} s)"
                  f"{floors['pull_over_floor']:>10.2f}")
        if "pull_over_igzip_floor" in floors:
            print(f"  cleat pull / igzip -dc | tar -x of the same layers ({floors['pull_igzip_floor_s']:.2f} s)"
                  f"{floors['pull_over_igzip_floor']:>6.2f}")
        if "restart_serving_s" in floors:
            print(f"  restart after kill -9 with {floors['restart_pods']} running pods: serving after "
                  f"{floors['restart_serving_s']:.3f} s, all RUNNING after {floors['restart_all_running_s']:.3f} s "
                  f"(runc state of each: {floors['restart_runc_state_each_s']:.3f} s)")
        for k, v in floors.items():
            if k.startswith(("exec_ms_under_", "rss_anon_growth_")):
                print(f"  stream flood: {k.replace('_', ' ')}: {v:.1f}")
        if churn:
            print("cleatd's RssAnon through churn (bench/churn.py):")
            for k, v in churn.items():
                print(f"  {k:<44} {v / 1024:7.2f} MiB")
    finally:
        if reg:
            reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.failed:
        sys.exit(f"failed: {', '.join(args.failed)}")


if __name__ == "__main__":
    main()
