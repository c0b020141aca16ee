/* SPDX-License-Identifier: Apache-2.0 */
/* test-loop-ext4: image files and loop devices (loop_ext4.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loop_ext4.h"

static int copy_range(int in, int out, off_t from, off_t to) {
    while (from < to) {
        off_t o_in = from, o_out = from;
        ssize_t n = copy_file_range(in, &o_in, out, &o_out, (size_t)(to - from), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        from += n;
    }
    return 0;
}

int lx_copy_sparse(int dirfd, const char *src, const char *dst) {
    int in = openat(dirfd, src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = openat(dirfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    struct stat st;
    int r = out < 0 || fstat(in, &st) < 0 ? -errno : 0;
    /* The holes stay holes: an empty 64 MiB image costs what mkfs wrote, not 64 MiB. */
    for (off_t data = 0; r == 0 && data < st.st_size;) {
        data = lseek(in, data, SEEK_DATA);
        if (data < 0) {
            r = errno == ENXIO ? 0 : -errno; /* ENXIO: no data past here */
            break;
        }
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            r = -errno;
        else
            r = copy_range(in, out, data, hole);
        data = hole;
    }
    if (r == 0 && ftruncate(out, st.st_size) < 0)
        r = -errno;
    if (r == 0 && fsync(out) < 0)
        r = -errno;
    if (out >= 0)
        close(out);
    close(in);
    if (r < 0 && out >= 0)
        unlinkat(dirfd, dst, 0);
    return r;
}

/* Whether loop device n is bound to the file (dev, ino). */
static int loop_is(int n, dev_t dev, ino_t ino) {
    char path[64];
    snprintf(path, sizeof(path), "/dev/loop%d", n);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct loop_info64 info;
    int r = ioctl(fd, LOOP_GET_STATUS64, &info) == 0 && info.lo_device == (uint64_t)dev && info.lo_inode == ino;
    close(fd);
    return r;
}

/* The loop devices that are bound to something: /sys/block/loopN/loop exists.  Calls fn(n) until it returns != 0. */
static int each_bound_loop(int (*fn)(int n, void *ctx), void *ctx) {
    DIR *d = opendir("/sys/block");
    if (!d)
        return -errno;
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d))) {
        int n;
        char rest[8], sys[300];
        if (sscanf(de->d_name, "loop%d%7s", &n, rest) != 1)
            continue;
        snprintf(sys, sizeof(sys), "/sys/block/%s/loop", de->d_name);
        if (access(sys, F_OK) == 0)
            r = fn(n, ctx);
    }
    closedir(d);
    return r;
}

struct find_ctx {
    struct stat st;
    int found;
};

static int find_one(int n, void *ctx) {
    struct find_ctx *f = ctx;
    if (!loop_is(n, f->st.st_dev, f->st.st_ino))
        return 0;
    f->found = n;
    return 1;
}

int lx_loop_find(int dirfd, const char *path, int *ret_n) {
    struct find_ctx f = {.found = -1};
    if (fstatat(dirfd, path, &f.st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    int r = each_bound_loop(find_one, &f);
    if (r < 0)
        return r;
    if (f.found < 0)
        return 0;
    *ret_n = f.found;
    return 1;
}

int lx_loop_attach(int dirfd, const char *path, int ro, int *ret_n) {
    int backing = openat(dirfd, path, (ro ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC);
    if (backing < 0)
        return -errno;
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    int r = ctl < 0 ? -errno : -EBUSY;
    /* Another process may take the free device between GET_FREE and CONFIGURE: EBUSY, try the next one. */
    for (int tries = 0; ctl >= 0 && r == -EBUSY && tries < 64; tries++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0) {
            r = -errno;
            break;
        }
        char dev[64];
        snprintf(dev, sizeof(dev), "/dev/loop%d", n);
        int fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            r = -errno;
            break;
        }
        struct loop_config cfg = {.fd = (uint32_t)backing};
        cfg.info.lo_flags = ro ? LO_FLAGS_READ_ONLY : 0;
        snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", path);
        r = ioctl(fd, LOOP_CONFIGURE, &cfg) < 0 ? -errno : 0;
        close(fd);
        if (r == 0)
            *ret_n = n;
    }
    if (ctl >= 0)
        close(ctl);
    close(backing);
    return r;
}

int lx_loop_detach(int n) {
    char dev[64];
    snprintf(dev, sizeof(dev), "/dev/loop%d", n);
    int fd = open(dev, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = ioctl(fd, LOOP_CLR_FD, 0) < 0 ? -errno : 0;
    close(fd);
    return r;
}

struct unkept_ctx {
    const char *dir;
    int (*keep)(void *ctx, const char *backing);
    void *ctx;
};

static int detach_if_unkept(int n, void *ctx) {
    struct unkept_ctx *u = ctx;
    char sys[64], backing[PATH_MAX];
    snprintf(sys, sizeof(sys), "/sys/block/loop%d/loop/backing_file", n);
    FILE *f = fopen(sys, "re");
    if (!f)
        return 0;
    int got = fgets(backing, sizeof(backing), f) != NULL;
    fclose(f);
    if (!got)
        return 0;
    backing[strcspn(backing, "\n")] = '\0';
    size_t len = strlen(u->dir);
    if (strncmp(backing, u->dir, len) == 0 && backing[len] == '/' && !u->keep(u->ctx, backing + len + 1))
        lx_loop_detach(n);
    return 0;
}

void lx_loop_detach_unkept(const char *dir, int (*keep)(void *ctx, const char *backing), void *ctx) {
    struct unkept_ctx u = {dir, keep, ctx};
    each_bound_loop(detach_if_unkept, &u);
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int lx_ext4_used(int dirfd, const char *path, int64_t *ret_bytes, int64_t *ret_inodes) {
    unsigned char sb[1024];
    int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = pread(fd, sb, sizeof(sb), 1024);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    if (n != (ssize_t)sizeof(sb) || sb[0x38] != 0x53 || sb[0x39] != 0xEF)
        return -EINVAL;
    uint64_t block = 1024u << le32(sb + 0x18);
    uint64_t blocks = le32(sb + 0x4) | (uint64_t)le32(sb + 0x150) << 32;
    uint64_t free_blocks = le32(sb + 0xC) | (uint64_t)le32(sb + 0x158) << 32;
    *ret_bytes = (int64_t)((blocks - free_blocks) * block);
    *ret_inodes = (int64_t)le32(sb + 0x0) - (int64_t)le32(sb + 0x10);
    return 0;
}
