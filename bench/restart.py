#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""How long is the node without a runtime when cleatd dies?  One cleatd of
the build dir's own (runtime-runc, host network) runs `-n` pods of one
`sleep` container each; it is then killed with SIGKILL and started again on
the same dirs.  Timed from the new cleatd's exec: the first Version answered
(on a new connection: a client's reconnect backoff is not cleatd's), and the
first ListContainers that shows every container RUNNING and ListPodSandbox
every pod READY.  For scale, in the same run: `runc state` of the same
containers one after another, which is what asking the OCI runtime about
each would cost.

    /usr/bin/python3 bench/restart.py [--build-dir DIR] [-n 500] [--quick] [--json FILE]

(as root, after a Release build.)  The issue that asked for it wants
serving in 1 s or less with 500 running pods.  --quick: 5 pods (what CI
runs: it must complete).
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE, "tests", "e2e"))
import registry_fixture as rf  # noqa: E402

import pods  # noqa: E402
from cri_client import cri_modules, save_figures  # noqa: E402


def kill_and_restart(cleat, pb2, pb2_grpc):
    """SIGKILL, then the same command again: (seconds to the first Version, seconds until all is as before)."""
    cmd = cleat.proc.args
    cleat.proc.send_signal(signal.SIGKILL)
    cleat.proc.wait()
    cleat.channel.close()
    n_ctr = len([c for _, c in cleat.pods if c])
    t0 = time.monotonic()
    cleat.proc = subprocess.Popen(cmd, stdout=cleat.log, stderr=subprocess.STDOUT)
    while True:
        channel = grpc.insecure_channel(f"unix://{cleat.socket_path}")
        try:
            pb2_grpc.RuntimeServiceStub(channel).Version(pb2.VersionRequest(), timeout=1)
            break
        except grpc.RpcError:
            channel.close()
            if cleat.proc.poll() is not None:
                raise RuntimeError("cleatd exited at restart")
            time.sleep(0.001)
    serving = time.monotonic() - t0
    cleat.channel = channel
    cleat.rt = pb2_grpc.RuntimeServiceStub(channel)
    cleat.img = pb2_grpc.ImageServiceStub(channel)
    while True:
        ctrs = cleat.rt.ListContainers(pb2.ListContainersRequest(), timeout=30).containers
        pods_ = cleat.rt.ListPodSandbox(pb2.ListPodSandboxRequest(), timeout=30).items
        if (sum(c.state == pb2.CONTAINER_RUNNING for c in ctrs) == n_ctr and
                sum(p.state == pb2.SANDBOX_READY for p in pods_) == len(cleat.pods)):
            break
        if time.monotonic() - t0 > 120:
            raise RuntimeError("the containers were not all RUNNING again within 120 s")
        time.sleep(0.001)
    return serving, time.monotonic() - t0


def runc_state_each(cleat, runc):
    """`runc state` of every container of the bench, one after another: seconds."""
    root = os.path.join(cleat.state, "plugins", "runtime", "runc", "root")
    t0 = time.monotonic()
    for _, cid in cleat.pods:
        subprocess.run([runc, "--root", root, "state", cid], check=True, capture_output=True)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(SOURCE, "build"))
    ap.add_argument("-n", type=int, default=500, help="running pods (default 500)")
    ap.add_argument("--quick", action="store_true", help="5 pods (what CI runs: it must complete)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures to FILE (bench/all.py reads it)")
    args = ap.parse_args()
    if args.quick:
        args.n = 5
    args.build_dir = os.path.abspath(args.build_dir)
    if os.geteuid() != 0:
        sys.exit("restart.py needs root")
    tmp = tempfile.mkdtemp(prefix="cleat-bench-restart-")
    cleat = None
    try:
        rf.build_busybox_layout(os.path.join(tmp, "busybox"), "bench")
        pb2, pb2_grpc = cri_modules(tmp)
        opts = argparse.Namespace(build_dir=args.build_dir, cleatd=os.path.join(args.build_dir, "core", "cleatd"),
                                  runc=pods.RUNC, cni=False)
        cleat = pods.Cleat(opts, tmp, pb2, pb2_grpc, "runc")
        image = cleat.pull(f"oci:{os.path.join(tmp, 'busybox')}:bench")
        t0 = time.monotonic()
        cleat.run_all(args.n, image)
        print(f"{args.n} pods of one running container each, made in {time.monotonic() - t0:.1f} s", flush=True)
        serving, whole = kill_and_restart(cleat, pb2, pb2_grpc)
        each = runc_state_each(cleat, pods.RUNC)
        print(f"after kill -9, cleatd started again: Version answered after {serving:.3f} s, "
              f"every container RUNNING and pod READY after {whole:.3f} s")
        print(f"for scale: `runc state` of the {args.n} containers one after another: {each:.3f} s")
        figures = {"restart_pods": args.n, "restart_serving_s": serving, "restart_all_running_s": whole,
                   "restart_runc_state_each_s": each}
        cleat.stop_remove_all()
        save_figures(args.json, figures)
    finally:
        if cleat:
            cleat.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
