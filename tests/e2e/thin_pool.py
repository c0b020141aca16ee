# SPDX-License-Identifier: Apache-2.0
"""storage-devmapper on a thin pool made for a test or a benchmark, in a kernel with device-mapper (the guest
of tests/guest/).  The plugin makes the pool itself from two loop devices over sparse files: the metadata
file's zeros let the kernel format it.  Pools and loop devices stay until the machine goes (the guest does
at the end of its run): nothing here can take a device-mapper device down without dmsetup."""

import os
import subprocess


def snapshotter_yaml(base, pool, data_bytes=2 << 30, meta_bytes=64 << 20, base_size_mib=256, name="devmapper"):
    """The `snapshotter:` section of a cleatd config that uses a new pool `pool` on files in `base`."""
    loops = []
    for file, size in (("dm-data", data_bytes), ("dm-meta", meta_bytes)):
        path = os.path.join(base, file)
        with open(path, "wb") as f:
            f.truncate(size)
        loops.append(subprocess.run(["losetup", "--find", "--show", path], capture_output=True, text=True,
                                    check=True).stdout.strip())
    return (f"snapshotter: {{name: {name}, plugin: storage-devmapper, options: "
            f"{{pool_name: {pool}, data_device: {loops[0]}, metadata_device: {loops[1]}, "
            f"base_size_mib: {base_size_mib}}}}}\n")
