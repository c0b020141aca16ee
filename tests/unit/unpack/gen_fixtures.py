#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Layer fixtures for tests/unit/test_unpack.c and test_unpack_limits.c.

  gen_fixtures.py all OUTDIR   write every fixture below into OUTDIR
  gen_fixtures.py bombs OUTDIR write only the decompression bombs (test_unpack_limits.c)
  gen_fixtures.py many N       write a gzip layer of N empty files to stdout

Tars are built entry by entry with tarfile so that hostile names, links and
types are written exactly as given (tarfile.addfile does not sanitise).
"""
import gzip
import io
import os
import random
import struct
import sys
import tarfile

MTIME = 1600000000


def entry(name, type=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, mtime=MTIME, linkname="", dev=(0, 0), pax=None):
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.mtime = mtime
    ti.linkname = linkname
    ti.devmajor, ti.devminor = dev
    if pax:
        ti.pax_headers = pax
    return ti


def write_tar(path, entries, fmt=tarfile.PAX_FORMAT):
    """entries: (TarInfo, data bytes or None)."""
    with open(path, "wb") as f:
        f.write(tar_bytes(entries, fmt))


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as t:
        for ti, data in entries:
            if data is not None:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return buf.getvalue()


def gz(data, mtime=0):
    return gzip.compress(data, compresslevel=6, mtime=mtime)


def put(out, name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def raw(b):
    """bytes → str the way tarfile's surrogateescape writes them back."""
    return b.decode("utf-8", "surrogateescape")


def basic_entries():
    rnd = random.Random(42)
    big = bytes(rnd.getrandbits(8) for _ in range(300 * 1024)) + b"compressible " * 20000
    # security.capability v2: effective, permitted = CAP_NET_RAW (13).
    caps = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)
    d, f, l, s = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE
    return [
        (entry("./", d, 0o755), None),
        (entry("etc/", d, 0o755, mtime=MTIME + 100), None),
        (entry("etc/hostname", f, 0o644, mtime=MTIME + 1), b"cleat\n"),
        (entry("etc/.wh.motd", f, 0o644), b""),
        (entry("home/", d, 0o755), None),
        (entry("home/user/", d, 0o700, 1000, 1000, MTIME + 2), None),
        (entry("home/user/notes.txt", f, 0o600, 1000, 1000, MTIME + 3), big),
        (entry("usr/", d, 0o755), None),
        (entry("usr/bin/", d, 0o755), None),
        (entry("usr/bin/su", f, 0o4755, mtime=MTIME + 4), b"#!/bin/su\n"),
        (entry("usr/bin/wall", f, 0o2755, 0, 5), b"wall\n"),
        (entry("usr/bin/su2", l, 0o4755, linkname="usr/bin/su"), None),
        (entry("usr/bin/sh", s, 0o777, 0, 0, MTIME + 5, linkname="/bin/busybox",
               pax={"SCHILY.xattr.trusted.cleat": "on a symlink", "SCHILY.xattr.user.denied": "EPERM"}), None),
        (entry("usr/bin/ping", f, 0o755, pax={"SCHILY.xattr.security.capability": raw(caps),
                                              "SCHILY.xattr.user.comment": "hello"}), b"ping\n"),
        (entry("tmp/", d, 0o1777), None),
        (entry("dev/", d, 0o755), None),
        (entry("dev/null", tarfile.CHRTYPE, 0o666, dev=(1, 3)), None),
        (entry("dev/loop0", tarfile.BLKTYPE, 0o660, 0, 6, dev=(7, 0)), None),
        (entry("run/fifo", tarfile.FIFOTYPE, 0o600), None),
        (entry("var/", d, 0o755), None),
        (entry("var/lib/", d, 0o755), None),
        (entry("var/lib/.wh..wh..opq", f, 0o644), b""),
        (entry("var/lib/fresh", f, 0o644), b"fresh\n"),
        (entry(".wh..wh.plnk/", d, 0o700), None),
        (entry("sneaky/", d, 0o755, pax={"SCHILY.xattr.trusted.overlay.opaque": "y"}), None),
        (entry(raw(b"names/bin\xff\xfename"), f, 0o644), b"raw\n"),
        (entry("names/caf\u00e9", f, 0o644), b"utf8\n"),
        (entry("implicit/deep/file", f, 0o644), b"implicit\n"),
    ]


def replace_entries():
    d, f, s = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE
    return [
        (entry("r/", d, 0o755), None),
        (entry("r/f", f), b"first\n"),
        (entry("r/f", s, linkname="target"), None),          # symlink replaces a file
        (entry("r/s", s, linkname="/etc/passwd"), None),
        (entry("r/s", f, 0o600), b"not through the link\n"),  # file replaces a symlink, never writes through it
        (entry("r/d/", d, 0o755), None),
        (entry("r/d/inner", f), b"inner\n"),
        (entry("r/d/", d, 0o700, 7, 7), None),                # dir over dir: kept, metadata updated
        (entry("r/t/", d, 0o755), None),
        (entry("r/t/x/", d, 0o755), None),
        (entry("r/t/x/y", f), b"y\n"),
        (entry("r/t", f), b"now a file\n"),                  # file replaces a directory tree
        (entry("r/h", f), b"h\n"),
        (entry("r/h", tarfile.LNKTYPE, linkname="r/h"), None),  # hardlink to itself: no-op
        # One directory under two names: its metadata and times come from the last entry.
        (entry("r/real/", d, 0o755, mtime=MTIME + 10), None),
        (entry("r/alias", s, linkname="real"), None),
        (entry("r/alias/sub/", d, 0o700, mtime=MTIME + 20), None),
        (entry("r/real/sub/", d, 0o750, mtime=MTIME + 30), None),
        # A directory, a file in its place, a directory again: the new one gets the times.
        (entry("r/t2/", d, 0o755, mtime=MTIME + 40), None),
        (entry("r/t2", f), b""),
        (entry("r/t2/", d, 0o711, mtime=MTIME + 50), None),
    ] + [
        # Directories removed, then new ones that likely reuse their inode numbers.
        (entry("r/old/d%02d/" % i, d, 0o755), None) for i in range(50)
    ] + [(entry("r/old", f), b"")] + [
        (entry("r/new/d%02d/" % i, d, 0o755, mtime=MTIME + 60), None) for i in range(50)
    ]


def stack_entries():
    """Two layers, lower and upper, whose upper deletes and hides what the lower made: whiteouts of a file, a
    tree, a symlink (not what it points to) and one name of a hardlinked file; opaque directories with the marker
    before the layer's own entries and after them, with a directory of the lower merged below one; types that
    replace each other; a whiteout in a directory neither layer lists."""
    d, f, l, s = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE
    lower = [
        (entry("./", d, 0o755), None),
        (entry("etc/", d, 0o755), None),
        (entry("etc/motd", f), b"lower motd\n"),
        (entry("etc/keep", f, 0o600, 7, 8, MTIME + 3), b"keep\n"),
        (entry("etc/hostname", f), b"lower\n"),
        (entry("var/", d, 0o755), None),
        (entry("var/lib/", d, 0o755), None),
        (entry("var/lib/old", f), b"old\n"),
        (entry("var/lib/sub/", d, 0o750), None),
        (entry("var/lib/sub/deep", f), b"deep\n"),
        (entry("opq2/", d, 0o755), None),
        (entry("opq2/a", f), b"lower a\n"),
        (entry("opq2/c", f), b"lower c\n"),
        (entry("gone-dir/", d, 0o755), None),
        (entry("gone-dir/inner/", d, 0o700), None),
        (entry("gone-dir/inner/f", f), b"f\n"),
        (entry("link", s, 0o777, linkname="etc"), None),
        (entry("dir2file/", d, 0o755), None),
        (entry("dir2file/x", f), b"x\n"),
        (entry("file2dir", f), b"file\n"),
        (entry("hl-a", f, 0o640, 3, 4), b"hard\n"),
        (entry("hl-b", l, linkname="hl-a"), None),
        (entry("usr/", d, 0o755), None),
        (entry("usr/bin/", d, 0o755), None),
        (entry("usr/bin/tool", f, 0o4755, 1000, 1000, MTIME + 9), b"#!tool\n"),
    ]
    upper = [
        (entry("etc/", d, 0o755, mtime=MTIME + 200), None),
        (entry("etc/.wh.motd", f), b""),
        (entry("etc/hostname", f, 0o644, mtime=MTIME + 201), b"upper\n"),
        (entry("var/lib/", d, 0o755, mtime=MTIME + 202), None),
        (entry("var/lib/.wh..wh..opq", f), b""),
        (entry("var/lib/new", f), b"new\n"),
        (entry("var/lib/sub/", d, 0o755), None),
        (entry("var/lib/sub/added", f), b"added\n"),
        (entry("opq2/c", f), b"upper c\n"),
        (entry("opq2/.wh..wh..opq", f), b""),
        (entry(".wh.gone-dir", f), b""),
        (entry(".wh.link", f), b""),
        (entry("dir2file", f), b"now a file\n"),
        (entry("file2dir/", d, 0o711), None),
        (entry("file2dir/inside", f), b"in\n"),
        (entry(".wh.hl-a", f), b""),
        (entry("opt/.wh.nothing", f), b""),
        (entry("usr/bin/", d, 0o755), None),
        (entry("usr/bin/new", s, 0o777, linkname="tool"), None),
    ]
    return lower, upper


def hostile_cases():
    """name -> entries of a layer that tries to get out of its directory (or is otherwise refused)."""
    d, f, l, s = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE
    return {
        "dotdot": [(entry("../escape", f), b"x"), (entry("../../escape2", f), b"x")],
        "abs": [(entry("/abs/escape", f), b"x")],
        "symlink_root": [
            (entry("evil", s, linkname="/"), None), (entry("evil/escape", f), b"x"),
            (entry("evil2", s, linkname="../../"), None), (entry("evil2/escape2", f), b"x"),
            (entry("outside/", d), None),
            (entry("out", s, linkname="../outside"), None), (entry("out/newfile", f), b"x"),
            (entry("etc/", d), None),
            (entry("a", s, linkname="/etc"), None), (entry("a/passwd", f), b"pwned\n"),
        ],
        "symlink_hardlink": [(entry("out", s, linkname="../outside"), None),
                             (entry("h", l, linkname="out/file"), None)],
        "hardlink_dotdot": [(entry("h", l, linkname="../outside/file"), None)],
        "hardlink_etc": [(entry("h", l, linkname="/etc/passwd"), None)],
        "hardlink_etc_in_layer": [(entry("etc/passwd", f), b"fake\n"), (entry("h", l, linkname="/etc/passwd"), None)],
        "loop": [(entry("a", s, linkname="b"), None), (entry("b", s, linkname="a"), None),
                 (entry("a/x", f), b"x")],
        "device": [(entry("sda", tarfile.BLKTYPE, 0o666, dev=(8, 0)), None),
                   (entry("kmem", tarfile.CHRTYPE, 0o666, dev=(1, 2)), None)],
        "midotdot": [(entry("a/../../x", f), b"x")],
        "giant": [(entry("a/" * 3000 + "x", f), b"x")],
        "long_component": [(entry("n" * 300, f), b"x")],
        "symlink_file_over": [(entry("lnk", s, linkname="/etc/passwd"), None), (entry("lnk", f), b"pwned\n")],
        "symlink_parent_etc": [(entry("d", s, linkname="/etc"), None), (entry("d/passwd", f), b"pwned\n")],
        "symlink_opaque": [(entry("lnk", s, linkname="../outside"), None),
                           (entry("lnk/.wh..wh..opq", f), b"")],
        "symlink_whiteout": [(entry("lnk", s, linkname="../outside"), None), (entry("lnk/.wh.file", f), b"")],
        "whiteout_dotdot": [(entry(".wh...", f), b"")],
        "hardlink_dir": [(entry("dir/", d), None), (entry("h", l, linkname="dir"), None)],
    }


def hostile(out):
    for name, entries in hostile_cases().items():
        write_tar(os.path.join(out, name + ".tar"), entries)


def all_fixtures(out):
    basic = tar_bytes(basic_entries())
    put(out, "basic.tar", basic)
    put(out, "basic.tar.gz", gz(basic))
    # Three members, split at odd places (inside headers and file data).
    cuts = [0, 777, len(basic) // 2 + 3, len(basic)]
    put(out, "basic-multi.tar.gz", b"".join(gz(basic[a:b], mtime=i) for i, (a, b) in enumerate(zip(cuts, cuts[1:]))))
    put(out, "basic-gnu.tar", tar_bytes(basic_entries(), tarfile.GNU_FORMAT))
    # Bytes after the end-of-archive marker belong to the diff_id too.
    trailing = basic + b"\0" * 4096 + b"trailing bytes"
    put(out, "trailing.tar", trailing)
    put(out, "trailing.tar.gz", gz(trailing))
    put(out, "replace.tar", tar_bytes(replace_entries()))
    small = tar_bytes([(entry("s/", tarfile.DIRTYPE), None)] +
                      [(entry("s/f%d" % i), (b"data %d\n" % i) * (i * 37 % 500)) for i in range(40)])
    put(out, "small.tar", small)
    put(out, "small-multi.tar.gz", gz(small[:5000], 1) + gz(small[5000:], 2))
    gzb = gz(basic)
    put(out, "truncated.tar.gz", gzb[: len(gzb) // 2])
    put(out, "trailing-junk.tar.gz", gzb + b"junk")
    bad_crc = bytearray(gzb)
    bad_crc[-8] ^= 0xFF
    put(out, "bad-crc.tar.gz", bytes(bad_crc))
    put(out, "gzip-garbage.gz", b"\x1f\x8b\x08\x00" + bytes(random.Random(1).getrandbits(8) for _ in range(5000)))
    put(out, "garbage.bin", b"GARB" + bytes(random.Random(2).getrandbits(8) for _ in range(5000)))
    put(out, "truncated.tar", basic[: len(basic) // 2])
    hostile(out)
    lower, upper = stack_entries()
    put(out, "stack-lower.tar", tar_bytes(lower))
    put(out, "stack-upper.tar", tar_bytes(upper))
    # 400 files, each in a new directory at the bottom of one chain 2000 deep (paths just under PATH_MAX).
    put(out, "deep.tar", tar_bytes([(entry("a/" * 2000 + "b%03d/f" % i), b"x") for i in range(400)]))


def bombs(out):
    """Small decompression bombs: 16 MiB of zeros (~16 KiB as gzip), and the same followed, in a second gzip
    member, by 900 KiB of noise that a ratio over the bytes *read* (rather than decoded) would average away."""
    zeros = (entry("zeros", tarfile.REGTYPE), bytes(16 << 20))
    noise = (entry("noise", tarfile.REGTYPE), random.Random(3).randbytes(900 << 10))
    put(out, "zeros.tar", tar_bytes([zeros]))
    put(out, "zeros.tar.gz", gz(tar_bytes([zeros])))
    both = tar_bytes([zeros, noise])
    cut = 512 + (16 << 20)  # after the first file: its header, then its data
    assert both[cut:cut + 5] != b"\0" * 5  # the second file's header starts here
    put(out, "zeros-then-noise.tar.gz", gz(both[:cut]) + gz(both[cut:], mtime=1))
    # A tiny tar, then 8 MiB of zeros after its end marker: read (and hashed) all the same.
    put(out, "trailing-zeros.tar.gz", gz(tar_bytes([(entry("small"), b"small\n")]) + bytes(8 << 20)))


def many(n):
    """n entries, mostly ones that create no inode (the file system is the slow part, not us):
    directories listed again, aufs metadata, with a few files, symlinks and whiteouts
    that replace each other."""
    d, f, s = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE
    with gzip.GzipFile(fileobj=sys.stdout.buffer, mode="wb", compresslevel=1, mtime=0) as g:
        with tarfile.open(fileobj=g, mode="w|", format=tarfile.USTAR_FORMAT) as t:
            for i in range(100):
                t.addfile(entry("d%02d/" % i, d, 0o755))
            for i in range(n - 100):
                k, p = i % 50, "d%02d/" % (i // 50 % 100)  # blocks of 50 entries per directory
                if k == 0:
                    t.addfile(entry(p + "f%06d" % i, f, 0o644, i % 7, i % 5), io.BytesIO())
                elif k == 1:
                    t.addfile(entry(p + "link", s, linkname="f%06d" % i))
                elif k == 2:
                    t.addfile(entry(p + ".wh.gone"))
                elif k < 30:
                    t.addfile(entry(p, d, 0o755, mtime=MTIME + i))
                else:
                    t.addfile(entry(p + ".wh..wh.plnk/", d, 0o700))


if __name__ == "__main__":
    if sys.argv[1] == "all":
        all_fixtures(sys.argv[2])
    elif sys.argv[1] == "bombs":
        bombs(sys.argv[2])
    elif sys.argv[1] == "many":
        many(int(sys.argv[2]))
    else:
        sys.exit("usage: gen_fixtures.py all OUTDIR | bombs OUTDIR | many N")
