/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inodes in use on a snapshot's filesystem, from its superblock: a read of
 * 4 KiB instead of a mount and a walk.  The counts are as of the last sync
 * or unmount (the core unmounts a layer before its commit, so a committed
 * layer's count is exact).  Layouts: ext4's struct ext4_super_block
 * (little-endian, at byte 1024) and xfs's struct xfs_dsb (big-endian, at 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "devmapper.h"

#define EXT4_SB 1024
#define EXT4_INODES_COUNT 0x00 /* __le32 */
#define EXT4_FREE_INODES 0x10  /* __le32 */
#define EXT4_MAGIC_AT 0x38     /* __le16 */
#define EXT4_MAGIC 0xEF53

#define XFS_MAGIC "XFSB"
#define XFS_ICOUNT 0x80 /* __be64 */
#define XFS_IFREE 0x88  /* __be64 */

static uint64_t le(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static uint64_t be(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int64_t dmx_fs_used_inodes(const char *path) {
    unsigned char sb[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = pread(fd, sb, sizeof(sb), 0);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    if (n < (ssize_t)sizeof(sb))
        return -EINVAL;
    if (le(sb + EXT4_SB + EXT4_MAGIC_AT, 2) == EXT4_MAGIC) {
        uint64_t count = le(sb + EXT4_SB + EXT4_INODES_COUNT, 4), free = le(sb + EXT4_SB + EXT4_FREE_INODES, 4);
        return count >= free ? (int64_t)(count - free) : 0;
    }
    if (memcmp(sb, XFS_MAGIC, 4) == 0) {
        uint64_t count = be(sb + XFS_ICOUNT, 8), free = be(sb + XFS_IFREE, 8);
        return count >= free ? (int64_t)(count - free) : 0;
    }
    return -EINVAL;
}
