#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Pull benchmark: an image of 8 layers (~200 MB compressed) from a local
docker-registry into a fresh root dir, 3 runs, against the machine's own
floors measured in the same run: `curl` of each blob piped into `tar -xzf`,
one layer after another; and `igzip -dc | tar -x` of each blob from a local
file, one layer after another (igzip, from the isal package, inflates as
fast as this machine can: no network and no gzip(1)).

    /usr/bin/python3 bench/pull.py [--quick] [--scale S] [--snapshotter overlayfs|loopext4|devmapper]
                                   [--unpacks N[,N...]] [--json FILE] [BUILD_DIR]
                                   (as root; BUILD_DIR defaults to ./build)

--quick: 2 small layers, 1 run (what CI runs, so that the script cannot rot).
--snapshotter: storage-overlay (overlayfs, the default: layers go straight
into upper directories) or the test snapshotter test-loop-ext4 (loopext4:
every layer goes onto an ext4 on a loop device, mounted and applied as for
any snapshotter whose mounts are not directories).  test-loop-ext4 copies
the parent's image at each prepare, so its figures include copies a thin
pool would not make: compare the unpack paths, not the snapshotters.
devmapper: storage-devmapper on a thin pool it makes from two loop devices
over sparse files in the run's temporary dir (one pool per run), for a
kernel with device-mapper (the guest of tests/guest/: ctest's
devmapper.bench_pull runs this there, beside overlayfs, in quick mode).
--scale: the files per layer as a fraction of the full image (default 1).
--unpacks: pull once per value in each run, with images.max_parallel_unpacks
set to it (layers unpacked at once; 1 is one after another), and print each
one's median and its ratio to the first; the figures for the floors are the
first value's.  Default: cleat's own setting only.

Prints, per run and as medians: pull seconds, MB/s (compressed bytes per
second), and pull / floor for each floor.  The issue's targets: at or below
0.5 of the curl | tar -xzf floor, 1.2 of the igzip one.
"""

import argparse
import glob
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE, "tests", "e2e"))
import registry_fixture as rf  # noqa: E402
import thin_pool  # noqa: E402
from cri_client import cri_modules, save_figures  # noqa: E402

import grpc  # noqa: E402

LAYERS = 8
RUNS = 3
SCALE = 1  # files per layer, as a fraction of the full size: --quick makes it small
REPO = "bench/big"
SNAPSHOTTERS = {
    "overlayfs": "",
    # Big enough for the full image unpacked (the images are sparse: unused space costs nothing).
    "loopext4": "snapshotter: {name: loopext4, plugin: test-loop-ext4, options: {size_mib: 4096}}\n",
    "devmapper": None,  # devmapper_config(): a pool per run
}


def devmapper_config(base, run):
    """storage-devmapper on a fresh pool per run (tests/e2e/thin_pool.py), big enough for the full image."""
    return thin_pool.snapshotter_yaml(base, f"cleat-bench-{os.getpid()}-{run}", 16 << 30, 256 << 20, 4096)


def make_layer(i, rnd):
    """~20 MB random + ~35 MB compressible text per layer: about 25 MB gzip'd."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
        for f in range(max(1, int(4 * SCALE))):
            add(f"layer{i}/random{f}.bin", rnd.randbytes(int((5 << 20) * SCALE)))
        words = [b"kubelet", b"container", b"runtime", b"snapshot", b"overlay", b"layer", b"digest", b"pod"]
        for f in range(max(1, int(200 * SCALE))):
            add(f"layer{i}/text/{f}.txt", b" ".join(rnd.choice(words) for _ in range(25000)))
    tar_bytes = raw.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, compresslevel=6, mtime=0)


def build_layout(layout):
    rnd = random.Random(42)
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, d), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + d, "size": len(data)}

    diff_ids, layers = [], []
    for i in range(LAYERS):
        tar_bytes, gz = make_layer(i, rnd)
        diff_ids.append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
        layers.append(dict(mediaType=rf.MT_OCI_LAYER_GZIP, **put(gz)))
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    config = json.dumps({"architecture": arch, "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": rf.MT_OCI_MANIFEST,
                           "config": dict(mediaType=rf.MT_OCI_CONFIG, **put(config)), "layers": layers}).encode()
    m = put(manifest)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [dict(mediaType=rf.MT_OCI_MANIFEST, **m,
                   annotations={"org.opencontainers.image.ref.name": "big"})]}, f)
    return layers


def floor(reg, layers, tmp):
    """curl | tar -xzf, one layer after another: the machine's sequential floor."""
    dest = os.path.join(tmp, "floor")
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    t0 = time.monotonic()
    for layer in layers:
        url = f"http://{reg.hostport}/v2/{REPO}/blobs/{layer['digest']}"
        subprocess.run(f"curl -sSf {url} | tar -xzf - -C {dest}", shell=True, check=True)
    return time.monotonic() - t0


def floor_igzip(layout, layers, tmp):
    """igzip -dc BLOB | tar -x, one layer after another, from local files; None without igzip."""
    igzip = shutil.which("igzip")
    if not igzip:
        return None
    dest = os.path.join(tmp, "floor-igzip")
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    t0 = time.monotonic()
    for layer in layers:
        blob = os.path.join(layout, "blobs", "sha256", layer["digest"].split(":", 1)[1])
        subprocess.run(f"{igzip} -dc < {blob} | tar -xf - -C {dest}", shell=True, check=True)
    return time.monotonic() - t0


def cleat_pull(build, reg, tmp, pb2, pb2_grpc, run, snapshotter="overlayfs", unpacks=None):
    base = os.path.join(tmp, f"cleat{run}-{unpacks}")
    os.makedirs(base)
    cfg = os.path.join(base, "cleat.yaml")
    # Every plugin the build made: the embedded defaults name a runtime and a network plugin too.
    dirs = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(build, "plugins", "*", "*.so")))
    plugins = ", ".join(dirs + [os.path.join(build, "tests", "plugins")])
    sn_config = SNAPSHOTTERS[snapshotter]
    if sn_config is None:
        sn_config = devmapper_config(base, run)
    with open(cfg, "w") as f:
        f.write(f"socket: {base}/cleat.sock\nroot_dir: {base}/root\nstate_dir: {base}/run\n"
                f"plugin_dirs: [{plugins}]\n{sn_config}"
                + ("" if unpacks is None else f"images: {{max_parallel_unpacks: {unpacks}}}\n") +
                f"transports:\n  registry:\n    options:\n      registries:\n"
                f"        \"{reg.hostport}\": {{insecure: true}}\n")
    log = open(os.path.join(base, "cleatd.log"), "wb")
    proc = subprocess.Popen([os.path.join(build, "core", "cleatd"), "--config", cfg, "--dropin-dir",
                             os.path.join(base, "none")], stdout=log, stderr=subprocess.STDOUT)
    try:
        ch = grpc.insecure_channel(f"unix://{base}/cleat.sock")
        grpc.channel_ready_future(ch).result(timeout=20)
        stub = pb2_grpc.ImageServiceStub(ch)
        t0 = time.monotonic()
        stub.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=f"{reg.hostport}/{REPO}:big")), timeout=600)
        elapsed = time.monotonic() - t0
        ch.close()
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    shutil.rmtree(base, ignore_errors=True)
    return elapsed


def main():
    global LAYERS, RUNS, SCALE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir", nargs="?", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--quick", action="store_true", help="2 small layers, 1 run (what CI runs)")
    ap.add_argument("--snapshotter", choices=sorted(SNAPSHOTTERS), default="overlayfs")
    ap.add_argument("--scale", type=float, help="files per layer, as a fraction of the full image")
    ap.add_argument("--unpacks", help="images.max_parallel_unpacks values to pull with, e.g. 2,1")
    ap.add_argument("--json", metavar="FILE", help="also write the medians to FILE (bench/all.py reads it)")
    args = ap.parse_args()
    if args.quick:
        LAYERS, RUNS, SCALE = 2, 1, 0.05
    if args.scale:
        SCALE = args.scale
    build, snapshotter = os.path.abspath(args.build_dir), args.snapshotter
    variants = [int(v) for v in args.unpacks.split(",")] if args.unpacks else [None]
    tmp = tempfile.mkdtemp(prefix="cleat-bench-pull-")
    reg = None
    try:
        print("building the image ...", flush=True)
        layout = os.path.join(tmp, "layout")
        layers = build_layout(layout)
        total = sum(l["size"] for l in layers)
        print(f"image: {LAYERS} layers, {total / 1e6:.1f} MB compressed; snapshotter {snapshotter}", flush=True)
        reg = rf.Registry(os.path.join(tmp, "registry"), os.path.join(tmp, "storage")).start()
        reg.push(layout, "big", REPO)
        pb2, pb2_grpc = cri_modules(tmp)
        pulls, floors, igzips = [], [], []
        others = {v: [] for v in variants[1:]}
        for run in range(1, RUNS + 1):
            f = floor(reg, layers, tmp)
            g = floor_igzip(layout, layers, tmp)
            p = cleat_pull(build, reg, tmp, pb2, pb2_grpc, run, snapshotter, variants[0])
            for v in others:
                others[v].append(cleat_pull(build, reg, tmp, pb2, pb2_grpc, run, snapshotter, v))
                print(f"run {run}: cleat pull with max_parallel_unpacks {v}: {others[v][-1]:.2f} s", flush=True)
            floors.append(f)
            pulls.append(p)
            igzip = "" if g is None else f"; igzip|tar -x floor {g:.2f} s, ratio {p / g:.2f}"
            if g is not None:
                igzips.append(g)
            unp = "" if variants[0] is None else f" (max_parallel_unpacks {variants[0]})"
            print(f"run {run}: cleat pull{unp} {p:.2f} s ({total / 1e6 / p:.1f} MB/s), "
                  f"curl|tar -xzf floor {f:.2f} s ({total / 1e6 / f:.1f} MB/s), ratio {p / f:.2f}{igzip}", flush=True)
        p, f = statistics.median(pulls), statistics.median(floors)
        figures = {"pull_s": p, "pull_floor_s": f, "pull_over_floor": p / f,
                   "compressed_mb": total / 1e6, "layers": LAYERS}
        print(f"median: cleat pull {p:.2f} s, {total / 1e6 / p:.1f} MB/s; floor {f:.2f} s; "
              f"ratio {p / f:.2f} (target <= 0.5)")
        if igzips:
            g = statistics.median(igzips)
            figures.update(pull_igzip_floor_s=g, pull_over_igzip_floor=p / g)
            print(f"median: igzip|tar -x floor {g:.2f} s; ratio {p / g:.2f} (target <= 1.2)")
        else:
            print("igzip|tar -x floor: not measured (no igzip: install isal)")
        for v, times in others.items():
            m = statistics.median(times)
            figures[f"pull_s_unpacks_{v}"] = m
            print(f"median: cleat pull with max_parallel_unpacks {v}: {m:.2f} s; "
                  f"{variants[0]} against it: {p / m:.2f}")
        save_figures(args.json, figures)
    finally:
        if reg:
            reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
