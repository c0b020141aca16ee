#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Any CRI runtime, measured through its socket alone, as kubelet would see
it: cleatd, containerd or cri-o, so that their figures can stand side by
side (bench/all.py prints them as one table).

    /usr/bin/python3 bench/cri.py --socket PATH --image REF [--pull REF] [-n 20] [--calls 50] [--quick]
                                  [--json FILE]

(as root.)  --image: the image of the `sleep 3600` containers (pulled first
when the runtime lacks it; it needs sleep).  --pull: an image whose
PullImage is timed (removed first when present, and again after).  Figures:

- pod lifecycle: RunPodSandbox + StopPodSandbox + RemovePodSandbox of an
  empty pod, host network, N times;
- container lifecycle: CreateContainer, StartContainer, ContainerStatus,
  StopContainer (timeout 0) and RemoveContainer in one pod, N times, each
  step and the whole;
- N pods of one running container each: the daemon's VmRSS and RssAnon
  (the process serving the socket), the helpers' PSS (the parents of the
  containers' processes: shims, conmons), and p50/p99 of the calls kubelet
  makes every few seconds (--calls times each);
- the timed pull.

--quick: 2 pods, 3 calls (what CI runs).  Everything it made is removed at
the end; the pods are named bench-N in the namespace `bench`.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

from cri_client import CriBench, bench_cgroup_parent, cri_modules, pct, save_figures


def measure(bench, image, n, calls, pull_ref=None, say=print):
    """The figures of one runtime, as {name: value} (times in ms, memory in kB)."""
    f = {"runtime": bench.version()}
    if pull_ref:
        f["pull_s"] = bench.timed_pull(pull_ref)
        say(f"  PullImage {pull_ref}: {f['pull_s']:.2f} s")
    image = bench.pull(image)
    pods = bench.pod_lifecycle(n)
    f["pod_lifecycle_ms"] = statistics.median(pods) * 1e3
    life = bench.lifecycle(n, image)
    for step in ("create", "start", "status", "stop", "remove", "all"):
        f[f"container_{step}_ms"] = statistics.median(life[step]) * 1e3
    run = bench.run_all(n, image)
    f["run_create_start_ms"] = statistics.median(run["all"]) * 1e3
    st = bench.daemon_memory()
    f["daemon_vmrss_kb"], f["daemon_rssanon_kb"] = st["VmRSS"], st["RssAnon"]
    helpers = bench.helper_memory()
    f["helpers"] = len(helpers)
    f["helpers_pss_kb"] = sum(h["Pss"] for h in helpers.values())
    for name, (times, parsing) in bench.hot_calls(calls).items() if calls > 0 else ():
        f[f"{name} p50 ms"] = pct(times, 50) * 1e3
        f[f"{name} p99 ms"] = pct(times, 99) * 1e3
        f[f"{name} client parse p50 ms"] = pct(parsing, 50) * 1e3
    bench.stop_remove_all()
    say(f"  pod lifecycle (Run+Stop+Remove) p50      {f['pod_lifecycle_ms']:8.1f} ms")
    say(f"  container lifecycle p50                   {f['container_all_ms']:8.1f} ms "
        f"(create {f['container_create_ms']:.1f}, start {f['container_start_ms']:.1f}, "
        f"status {f['container_status_ms']:.2f}, stop {f['container_stop_ms']:.1f}, "
        f"remove {f['container_remove_ms']:.1f})")
    say(f"  Run+Create+Start p50                      {f['run_create_start_ms']:8.1f} ms")
    say(f"  with {n} pods running: daemon VmRSS {st['VmRSS']} kB, RssAnon {st['RssAnon']} kB; "
        f"{len(helpers)} helpers, PSS {f['helpers_pss_kb']} kB in all")
    for k, v in f.items():
        if k.endswith(" p50 ms") and not k.endswith(" client parse p50 ms"):
            name = k[:-len(" p50 ms")]
            say(f"  {name:<40} p50 {v:7.2f} ms   p99 {f[name + ' p99 ms']:7.2f} ms   "
                f"(then this client's parse p50 {f[name + ' client parse p50 ms']:.2f} ms)")
    return f


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", required=True, help="the runtime's CRI socket (a path)")
    ap.add_argument("--image", required=True, help="the containers' image (it needs `sleep`)")
    ap.add_argument("--pull", metavar="REF", help="an image whose pull is timed")
    ap.add_argument("-n", type=int, default=20, help="pods (default 20)")
    ap.add_argument("--calls", type=int, default=50, help="times each hot kubelet call is timed (default 50)")
    ap.add_argument("--cgroup-parent", help="the pods' cgroup parent (default: a cgroupfs path of the bench's "
                                            "own; '' lets the runtime choose; a runtime with the systemd cgroup "
                                            "driver wants a slice)")
    ap.add_argument("--quick", action="store_true", help="2 pods, 3 calls (what CI runs)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = ap.parse_args()
    if args.quick:
        args.n, args.calls = 2, 3
    if os.geteuid() != 0:
        sys.exit("cri.py needs root (it reads the daemon's /proc files)")
    tmp = tempfile.mkdtemp(prefix="cleat-bench-cri-")
    bench = None
    try:
        pb2, pb2_grpc = cri_modules(tmp)
        parent = bench_cgroup_parent() if args.cgroup_parent is None else args.cgroup_parent
        bench = CriBench(args.socket, pb2, pb2_grpc, os.path.join(tmp, "logs"), parent or None)
        print(f"{bench.version()} at {args.socket}: {args.n} pods", flush=True)
        figures = measure(bench, args.image, args.n, args.calls, args.pull)
        save_figures(args.json, figures)
    finally:
        if bench:
            bench.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
