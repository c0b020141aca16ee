# SPDX-License-Identifier: Apache-2.0
"""Decompression bombs and disk limits, end to end: layers built here (a
gzip of gigabytes of zeros, made without ever holding or writing the zeros),
pulled by cleatd from a real docker-registry or an OCI layout.

A pull that passes a limit (`images.max_layer_bytes`, `max_image_bytes`,
`max_compression_ratio` past `compression_ratio_min_bytes`, the free-space
reserve `min_free_bytes`) fails with RESOURCE_EXHAUSTED naming the layer and
the limit, and leaves no snapshot, content blob or ingest file behind; the
same pull succeeds once the limit is raised.  Real images (big layers at
ordinary ratios, small very compressible ones) pass the defaults."""

import hashlib
import json
import os
import random
import struct
import subprocess
import tarfile
import time
import zlib

import grpc
import pytest

import registry_fixture as rf
from test_images import HOST_ARCH, content_blobs, daemon_config, snapshot_fs_dirs, write_index

GiB, MiB = 1 << 30, 1 << 20
CHUNK = MiB


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_header(name, size):
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT)


def zeros_layer(size, name="zeros"):
    """A gzip'd tar of one file of `size` zero bytes: (blob, diff_id, tar size).

    One megabyte of zeros is deflated once, between full flushes (so it does
    not refer to anything before it), and repeated: the blob is about a
    thousandth of the tar, the zeros are never in memory at once, and the
    CRC-32, length and diff_id are those of the real tar."""
    header = tar_header(name, size)
    zeros = size + (-size) % 512 + 1024  # the file, its padding, the end-of-archive marker
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [c.compress(header), c.flush(zlib.Z_FULL_FLUSH)]
    chunk = bytes(CHUNK)
    chunk_z = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    n, rest = divmod(zeros, CHUNK)
    parts.append(chunk_z * n)  # the first copy is the compressor's own output
    parts.append(c.compress(bytes(rest)) + c.flush())
    tar_hash, crc = hashlib.sha256(header), zlib.crc32(header)
    for _ in range(n):
        tar_hash.update(chunk)
        crc = zlib.crc32(chunk, crc)
    tar_hash.update(bytes(rest))
    crc = zlib.crc32(bytes(rest), crc)
    total = len(header) + zeros
    blob = b"\x1f\x8b\x08\x00\0\0\0\0\x02\xff" + b"".join(parts) + struct.pack("<II", crc, total & 0xFFFFFFFF)
    assert len(blob) * 500 < total  # it is a bomb
    return blob, "sha256:" + tar_hash.hexdigest(), total


def data_layer(files, level=6):
    """A gzip'd tar of files [(name, size, make(i) -> the i-th MiB)]: (blob, diff_id, tar size)."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    tar_hash, out, total = hashlib.sha256(), [], 0

    def put(data):
        nonlocal total
        tar_hash.update(data)
        total += len(data)
        out.append(c.compress(data))

    for name, size, make in files:
        put(tar_header(name, size))
        for i in range(0, size, CHUNK):
            put(make(i // CHUNK)[:size - i])
        put(bytes((-size) % 512))
    put(bytes(1024))
    out.append(c.flush())
    return b"".join(out), "sha256:" + tar_hash.hexdigest(), total


def random_mib(seed):
    return lambda i: random.Random(seed * 1000003 + i).randbytes(CHUNK)


ORDINARY = bytes(b & 0x19 for b in range(256))  # 3 random bits per byte, spread out


def ordinary_mib(seed):
    """About 3:1 under gzip, as typical binaries and libraries are: random bytes with 2 to 3 bits each of entropy."""
    def make(i):
        return random.Random(seed * 1000003 + i).randbytes(CHUNK).translate(ORDINARY)
    return make


def text_mib(seed):
    """Text-like: words from a small vocabulary (about 4:1)."""
    words = [("w%03d" % k).encode() for k in range(400)]

    def make(i):
        rnd = random.Random(seed * 1000003 + i)
        out = b" ".join(rnd.choice(words) for _ in range(CHUNK // 4))
        return out[:CHUNK].ljust(CHUNK, b".")
    return make


def write_blob(layout, data):
    d = os.path.join(layout, "blobs", "sha256")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha256(data).hexdigest()), "wb") as f:
        f.write(data)
    return {"digest": digest(data), "size": len(data)}


def write_image(layout, tag, layers):
    """layers: [(blob, diff_id, tar size)]; writes an OCI image into the layout, returns its descriptors."""
    config = json.dumps({"architecture": HOST_ARCH, "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [l[1] for l in layers]}}, sort_keys=True).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": rf.MT_OCI_MANIFEST,
                           "config": dict(mediaType=rf.MT_OCI_CONFIG, **write_blob(layout, config)),
                           "layers": [dict(mediaType=rf.MT_OCI_LAYER_GZIP, **write_blob(layout, l[0]))
                                      for l in layers]}, sort_keys=True).encode()
    desc = dict(mediaType=rf.MT_OCI_MANIFEST, **write_blob(layout, manifest))
    return {"tag": tag, "desc": desc, "config": digest(config), "layers": [digest(l[0]) for l in layers]}


def publish(layout, images):
    write_index(layout, [(i["tag"], i["desc"]) for i in images])
    return {i["tag"]: i for i in images}


def start(cleatd_factory, cri, base, images_section="", registry=None):
    pb2, pb2_grpc = cri
    text = daemon_config(registry.hostport if registry else "127.0.0.1:1")
    if images_section:
        text += "images:\n" + "".join(f"  {line}\n" for line in images_section.strip().splitlines())
    d = cleatd_factory(text, base=base).start()
    d.images = pb2_grpc.ImageServiceStub(d.channel())
    return d


def pull(d, pb2, ref):
    return d.images.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=ref)), timeout=300).image_ref


def refused(d, pb2, ref):
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        pull(d, pb2, ref)
    return e.value, time.monotonic() - t0


def disk_use(path):
    """Bytes allocated under path (du), hard links once."""
    return int(subprocess.run(["du", "-sxB1", path], check=True, capture_output=True, text=True).stdout.split()[0])


def assert_nothing_left(d, pb2):
    assert len(d.images.ListImages(pb2.ListImagesRequest()).images) == 0
    assert snapshot_fs_dirs(d) == []
    assert content_blobs(d) == set()
    assert os.listdir(os.path.join(d.root_dir, "content", "ingest")) == []
    assert disk_use(d.root_dir) < 16 * MiB, subprocess.run(["du", "-ah", d.root_dir], capture_output=True,
                                                           text=True).stdout[-3000:]


# ---------------------------------------------------------------------------
# the 2.5 GiB bomb from the issue, through a real registry, with the defaults


@pytest.fixture(scope="module")
def bomb_registry(tmp_path_factory):
    base = tmp_path_factory.mktemp("bomb")
    layout = str(base / "layout")
    bomb = zeros_layer(5 * GiB // 2)
    images = publish(layout, [write_image(layout, "bomb", [bomb])])
    reg = rf.Registry(str(base / "registry"), str(base / "storage")).start()
    try:
        reg.push(layout, "bomb", "test/bomb")
        yield {"registry": reg, "images": images, "blob_size": len(bomb[0]), "tar_size": bomb[2]}
    finally:
        reg.stop()


def test_gzip_bomb_is_refused_by_the_defaults(cleatd_factory, cri, bomb_registry, tmp_path):
    """2.5 GiB of zeros in a ~2.5 MB gzip layer: refused early, by the ratio guard, with nothing left on disk."""
    pb2, _ = cri
    reg = bomb_registry["registry"]
    d = start(cleatd_factory, cri, tmp_path / "d", registry=reg)
    layer = bomb_registry["images"]["bomb"]["layers"][0]
    err, took = refused(d, pb2, f"{reg.hostport}/test/bomb:bomb")
    print(f"bomb of {bomb_registry['blob_size']} bytes ({bomb_registry['tar_size']} unpacked) refused "
          f"after {took:.2f} s: {err.details()}")
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert layer in err.details()
    assert "images.max_compression_ratio" in err.details()
    assert_nothing_left(d, pb2)


# ---------------------------------------------------------------------------
# smaller layers with lowered limits, from OCI layouts


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """One OCI layout with every test image."""
    path = str(tmp_path_factory.mktemp("layouts") / "layout")
    small_bomb = zeros_layer(64 * MiB)
    ordinary = data_layer([("lib/big.so", 6 * MiB, ordinary_mib(1))])
    text = data_layer([("share/doc.txt", 3 * MiB, text_mib(2))])
    incompressible = data_layer([("blob.bin", 6 * MiB, random_mib(3))], level=1)
    images = publish(path, [
        write_image(path, "small-bomb", [small_bomb]),
        write_image(path, "ordinary", [ordinary]),
        write_image(path, "random", [incompressible]),
        write_image(path, "two", [text, data_layer([("share/more.txt", 3 * MiB, text_mib(4))])]),
    ])
    return {"path": path, "images": images,
            "sizes": {"small-bomb": small_bomb[2], "ordinary": ordinary[2], "text": text[2]}}


def test_ratio_guard_then_retry_with_a_higher_limit(cleatd_factory, cri, layout, tmp_path):
    pb2, _ = cri
    ref = f"oci:{layout['path']}:small-bomb"
    img = layout["images"]["small-bomb"]
    d = start(cleatd_factory, cri, tmp_path / "d", "max_compression_ratio: 100\ncompression_ratio_min_bytes: 8388608")
    err, _ = refused(d, pb2, ref)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert img["layers"][0] in err.details()
    assert "images.max_compression_ratio (100)" in err.details()
    assert_nothing_left(d, pb2)
    d.stop()
    # Raised (or floor above the layer's size): the same pull succeeds on the same root.
    for section in ("max_compression_ratio: 2000\ncompression_ratio_min_bytes: 8388608",
                    "max_compression_ratio: 100\ncompression_ratio_min_bytes: 134217728"):
        d = start(cleatd_factory, cri, tmp_path / "d", section)
        assert pull(d, pb2, ref) == img["config"]
        assert len(snapshot_fs_dirs(d)) == 1
        d.images.RemoveImage(pb2.RemoveImageRequest(image=pb2.ImageSpec(image=ref)))
        d.stop()


def test_small_very_compressible_layer_passes_the_defaults(cleatd_factory, cri, layout, tmp_path):
    """64 MiB of zeros (1000:1) is below the floor where the ratio guard starts: pulled."""
    pb2, _ = cri
    d = start(cleatd_factory, cri, tmp_path / "d")
    img = layout["images"]["small-bomb"]
    assert pull(d, pb2, f"oci:{layout['path']}:small-bomb") == img["config"]


def test_layer_size_limit(cleatd_factory, cri, layout, tmp_path):
    pb2, _ = cri
    d = start(cleatd_factory, cri, tmp_path / "d", "max_layer_bytes: 4194304")
    # Compressed below the limit, unpacked above it: refused while unpacking.
    img = layout["images"]["ordinary"]
    err, _ = refused(d, pb2, f"oci:{layout['path']}:ordinary")
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert img["layers"][0] in err.details()
    assert "images.max_layer_bytes (4194304 bytes)" in err.details()
    assert_nothing_left(d, pb2)
    # Compressed above the limit already: refused before anything is fetched.
    img = layout["images"]["random"]
    err, _ = refused(d, pb2, f"oci:{layout['path']}:random")
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert img["layers"][0] in err.details()
    assert "images.max_layer_bytes (4194304 bytes)" in err.details()
    assert_nothing_left(d, pb2)


def test_image_size_limit(cleatd_factory, cri, layout, tmp_path):
    """Two layers of ~3 MiB under a 5 MiB image limit: refused, and nothing is left of either layer.  They are
    unpacked at once, drawing on one budget: the one that passes the limit is named, whichever it is."""
    pb2, _ = cri
    img = layout["images"]["two"]
    ref = f"oci:{layout['path']}:two"
    d = start(cleatd_factory, cri, tmp_path / "d", "max_image_bytes: 5242880")
    err, _ = refused(d, pb2, ref)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert any(layer in err.details() for layer in img["layers"]), err.details()
    assert "images.max_image_bytes (5242880 bytes" in err.details()
    assert_nothing_left(d, pb2)
    d.stop()
    d = start(cleatd_factory, cri, tmp_path / "d", "max_image_bytes: 8388608")
    assert pull(d, pb2, ref) == img["config"]


def test_free_space_reserve(cleatd_factory, cri, layout, tmp_path):
    pb2, _ = cri
    d = start(cleatd_factory, cri, tmp_path / "d", f"min_free_bytes: {1 << 62}")
    img = layout["images"]["ordinary"]
    err, _ = refused(d, pb2, f"oci:{layout['path']}:ordinary")
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert "cannot start unpacking" in err.details() and "images.min_free_bytes" in err.details()
    assert img["layers"][0] in err.details()
    assert_nothing_left(d, pb2)


def test_free_space_reserve_while_unpacking(cleatd_factory, cri, tmp_path):
    """The root dir on a 160 MiB tmpfs, a 100 MiB reserve, a layer of 80 MiB (~36 MiB compressed): enough room
    to start, so it is stopped part-way, once the free space falls under the reserve, long before the disk is full."""
    pb2, _ = cri
    root = tmp_path / "d"
    root.mkdir()
    path = str(tmp_path / "layout")
    big = data_layer([("a.bin", 40 * MiB, ordinary_mib(5)), ("b.bin", 40 * MiB, ordinary_mib(6))], level=1)
    img = publish(path, [write_image(path, "big", [big])])["big"]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m,mode=0700", "tmpfs", str(root)], check=True)
    try:
        d = start(cleatd_factory, cri, root, "min_free_bytes: 104857600")
        err, _ = refused(d, pb2, f"oci:{path}:big")
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
        assert img["layers"][0] in err.details()
        assert "stopped unpacking after" in err.details(), err.details()
        assert "images.min_free_bytes (104857600 bytes)" in err.details(), err.details()
        assert_nothing_left(d, pb2)
        assert os.statvfs(root).f_bavail * os.statvfs(root).f_frsize > 150 * MiB
        d.stop()
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


def test_ordinary_image_passes_the_defaults(cleatd_factory, cri, tmp_path):
    """A 320 MiB layer at an ordinary ~3:1 ratio, past the ratio guard's floor: pulled, unpacked whole."""
    pb2, _ = cri
    path = str(tmp_path / "layout")
    size = 320 * MiB
    big = data_layer([("usr/lib/libbig.so", size, ordinary_mib(7))], level=1)
    ratio = big[2] / len(big[0])
    assert 2 < ratio < 6, ratio
    img = publish(path, [write_image(path, "big", [big])])["big"]
    d = start(cleatd_factory, cri, tmp_path / "d")
    assert pull(d, pb2, f"oci:{path}:big") == img["config"]
    (fs,) = snapshot_fs_dirs(d)
    assert os.path.getsize(os.path.join(fs, "usr", "lib", "libbig.so")) == size
