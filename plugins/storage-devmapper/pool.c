/* SPDX-License-Identifier: Apache-2.0 */
/* storage-devmapper: the thin pool, its base device and its thin devices (devmapper.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "devmapper.h"
#include "dm.h"
#include "plugin_error.h"
#include "plugin_fs.h"
#include "plugin_spawn.h"

/* --- names and status ------------------------------------------------------------------- */

void dmx_device_name(const struct dmx *x, uint64_t id, char *buf, size_t size) {
    if (id == 0)
        snprintf(buf, size, "%s-base", x->opt.pool_name);
    else
        snprintf(buf, size, "%s-snap-%" PRIu64, x->opt.pool_name, id);
}

/* The first target's status of `name` when its type is `type`.  -EMEDIUMTYPE for another type. */
static int status_of(const char *name, const char *type, char **ret) {
    char *t = NULL;
    int r = dm_target_status(name, &t, ret);
    if (r == 0 && strcmp(t, type) != 0) {
        free(*ret);
        r = -EMEDIUMTYPE;
    }
    free(t);
    return r;
}

int64_t dmx_pool_used_bytes(const struct dmx *x) {
    char *status = NULL;
    int r = status_of(x->opt.pool_name, "thin-pool", &status);
    if (r < 0)
        return r;
    /* "<transaction id> <used meta>/<total meta> <used data>/<total data> ..." (Documentation/admin-guide/device-mapper/thin-provisioning.rst) */
    unsigned long long tid, mu, mt, du, dt;
    int n = sscanf(status, "%llu %llu/%llu %llu/%llu", &tid, &mu, &mt, &du, &dt);
    free(status);
    return n == 5 ? (int64_t)du * x->pool_block_sectors * 512 : -EIO;
}

int64_t dmx_thin_mapped_sectors(const struct dmx *x, uint64_t id) {
    char name[DM_NAME_MAX], *status = NULL;
    dmx_device_name(x, id, name, sizeof(name));
    int r = status_of(name, "thin", &status);
    if (r < 0)
        return r;
    /* "<nr mapped sectors> <highest mapped sector>", or "Fail". */
    unsigned long long mapped;
    int n = sscanf(status, "%llu", &mapped);
    free(status);
    return n == 1 ? (int64_t)mapped : -EIO;
}

/* --- the pool ---------------------------------------------------------------------------- */

static int64_t device_sectors(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint64_t bytes = 0;
    int r = ioctl(fd, BLKGETSIZE64, &bytes) < 0 ? -errno : 0;
    close(fd);
    return r < 0 ? r : (int64_t)(bytes / 512);
}

static int dev_numbers(const char *path, char *buf, size_t size) {
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    if (!S_ISBLK(st.st_mode))
        return -ENOTBLK;
    snprintf(buf, size, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
    return 0;
}

/* The pool from the configured data and metadata devices: the data device's whole size, the configured block size. */
static int make_pool(struct dmx *x, struct cleat_error **reterr) {
    char meta[32], data[32], params[128];
    int r = dev_numbers(x->opt.metadata_device, meta, sizeof(meta));
    const char *bad = x->opt.metadata_device;
    if (r == 0) {
        bad = x->opt.data_device;
        r = dev_numbers(x->opt.data_device, data, sizeof(data));
    }
    int64_t sectors = r == 0 ? device_sectors(x->opt.data_device) : r;
    if (sectors < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, (int)-sectors,
                               "storage-devmapper: %s is not a usable block device: %s", bad, strerror((int)-sectors));
    sectors -= sectors % x->opt.block_sectors;
    /*
     * Low water mark 0: no event is wanted (nothing here extends a pool).
     * Block zeroing stays on: a new thin block is zeroed before it is
     * mapped, so a snapshot never reads what a removed one left there.
     */
    snprintf(params, sizeof(params), "%s %s %" PRId64 " 0", meta, data, x->opt.block_sectors);
    r = dm_activate(x->opt.pool_name, (uint64_t)sectors, "thin-pool", params, 0);
    if (r < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, -r,
                               "storage-devmapper: cannot make thin pool '%s' on %s (data) and %s (metadata, which "
                               "must start zeroed): %s",
                               x->opt.pool_name, x->opt.data_device, x->opt.metadata_device, strerror(-r));
    cleat_log(x->host, CLEAT_LOG_INFO, "storage-devmapper: made thin pool '%s' (%" PRId64 " MiB of %s)",
              x->opt.pool_name, sectors / 2048, x->opt.data_device);
    return 0;
}

/* The pool's device numbers and its own block size (an existing pool's may not be the configured one). */
static int pool_facts(struct dmx *x) {
    struct dm_info info;
    char *type = NULL, *params = NULL;
    int r = dm_status_info(x->opt.pool_name, &info);
    if (r == 0)
        r = dm_target_table(x->opt.pool_name, &type, &params);
    if (r < 0)
        return r;
    /* "<metadata dev> <data dev> <data block size> <low water mark> [features]" */
    long long block = 0;
    if (strcmp(type, "thin-pool") != 0)
        r = -EMEDIUMTYPE;
    else if (sscanf(params, "%*s %*s %lld", &block) != 1 || block <= 0)
        r = -EIO;
    free(type);
    free(params);
    x->pool_block_sectors = block;
    snprintf(x->pool_dev, sizeof(x->pool_dev), "%u:%u", major(info.dev), minor(info.dev));
    return r;
}

int dmx_pool_open(struct dmx *x, struct cleat_error **reterr) {
    struct dm_info info;
    int r = dm_status_info(x->opt.pool_name, &info);
    if (r == -ENXIO && x->opt.data_device && (r = make_pool(x, reterr)) < 0)
        return r;
    if (r == -ENXIO)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENXIO,
                               "storage-devmapper: thin pool '%s' does not exist, and no data_device and "
                               "metadata_device are configured to make it from",
                               x->opt.pool_name);
    if (r == -ENODEV)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENODEV,
                               "storage-devmapper: no /dev/mapper/control: this kernel has no device-mapper "
                               "(modprobe dm-thin-pool)");
    if (r == 0)
        r = pool_facts(x);
    if (r == -EMEDIUMTYPE)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                               "storage-devmapper: device '%s' is not a thin pool", x->opt.pool_name);
    if (r < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, -r,
                               "storage-devmapper: cannot read thin pool '%s': %s", x->opt.pool_name, strerror(-r));
    return 0;
}

/* --- thin devices ------------------------------------------------------------------------ */

/* A pool message about thin device `id` (and `origin` for create_snap). */
static int pool_message(const struct dmx *x, const char *verb, uint64_t id, uint64_t origin) {
    char msg[96];
    if (strcmp(verb, "create_snap") == 0)
        snprintf(msg, sizeof(msg), "%s %" PRIu64 " %" PRIu64, verb, id, origin);
    else
        snprintf(msg, sizeof(msg), "%s %" PRIu64, verb, id);
    return dm_message(x->opt.pool_name, msg);
}

int dmx_is_our_thin(const struct dmx *x, const char *name, uint64_t id) {
    char *type = NULL, *params = NULL, want[64];
    if (dm_target_table(name, &type, &params) < 0)
        return 0;
    snprintf(want, sizeof(want), "%s %" PRIu64, x->pool_dev, id);
    int ours = strcmp(type, "thin") == 0 && strcmp(params, want) == 0;
    free(type);
    free(params);
    return ours;
}

int dmx_thin_activate(struct dmx *x, uint64_t id, int read_only) {
    char name[DM_NAME_MAX], params[64];
    struct dm_info info;
    dmx_device_name(x, id, name, sizeof(name));
    if (dm_status_info(name, &info) == 0) {
        if (!dmx_is_our_thin(x, name, id)) {
            /* A name of ours with no live table (a crash between create and resume) is made again; another is not ours. */
            if (info.active)
                return -EEXIST;
            int r = dm_deactivate(name);
            if (r < 0)
                return r;
        } else {
            /* Live already (cleatd restarted); its node may have gone with a /dev made again. */
            return info.read_only != !!read_only ? -EROFS : dm_make_node(name);
        }
    }
    snprintf(params, sizeof(params), "%s %" PRIu64, x->pool_dev, id);
    return dm_activate(name, (uint64_t)x->opt.base_sectors, "thin", params, read_only);
}

/*
 * Discard every block of live device `name` (BLKDISCARD), so that the pool
 * frees them at once.  O_EXCL: never under a filesystem still mounted on it
 * (EBUSY), whose metadata the discard would wipe.
 */
static void discard_all(const struct dmx *x, const char *name) {
    char path[DM_NAME_MAX + 16];
    dm_node_path(name, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_EXCL | O_CLOEXEC);
    uint64_t range[2] = {0, (uint64_t)x->opt.base_sectors * 512};
    if (fd < 0 || ioctl(fd, BLKDISCARD, range) < 0)
        cleat_log(x->host, CLEAT_LOG_WARNING, "storage-devmapper: cannot discard %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

int dmx_thin_deactivate(struct dmx *x, uint64_t id, int discard) {
    char name[DM_NAME_MAX];
    struct dm_info info;
    dmx_device_name(x, id, name, sizeof(name));
    /* A committed layer's device is not live: made so, for the discard alone. */
    if (discard && x->opt.discard_blocks && (dm_status_info(name, &info) == 0 || dmx_thin_activate(x, id, 0) == 0))
        discard_all(x, name);
    int r = dm_deactivate(name);
    return r == -ENXIO ? 0 : r;
}

int dmx_thin_snapshot(struct dmx *x, uint64_t id, uint64_t origin) {
    /* The kernel wants a thin snapshot's origin suspended or not live: a leftover live one goes first. */
    int r = dmx_thin_deactivate(x, origin, 0);
    if (r < 0)
        return r;
    r = pool_message(x, "create_snap", id, origin);
    if (r == -EEXIST) {
        /*
         * A device the pool has and no record names: only a crash between
         * the pool's commit and our records' can leave one (tmp/ is durable
         * before the message, so the sweep normally deletes it).  Ours, by
         * the instance's ownership of the pool: replaced.
         */
        r = dmx_thin_delete(x, id);
        if (r == 0)
            r = pool_message(x, "create_snap", id, origin);
    }
    return r;
}

int dmx_thin_delete(struct dmx *x, uint64_t id) {
    int r = dmx_thin_deactivate(x, id, 1);
    if (r == 0)
        r = pool_message(x, "delete", id, 0);
    /* -ENODATA: the pool has no such device (deleted before a crash). */
    return r == -ENODATA ? 0 : r;
}

/* --- the base ------------------------------------------------------------------------------ */

static int run_mkfs(struct dmx *x, const char *device, struct cleat_error **reterr) {
    char prog[64];
    snprintf(prog, sizeof(prog), "/usr/sbin/mkfs.%s", x->opt.fs_type);
    if (access(prog, X_OK) < 0)
        snprintf(prog, sizeof(prog), "/sbin/mkfs.%s", x->opt.fs_type);
    size_t n = 0;
    while (x->opt.mkfs_options[n])
        n++;
    const char **argv = calloc(n + 6, sizeof(char *));
    if (!argv)
        return plugin_oom(x->host, reterr);
    size_t a = 0;
    argv[a++] = prog;
    /* ext4 and xfs differ in how they take "no questions" (-F / -f). */
    int ext4 = strcmp(x->opt.fs_type, "ext4") == 0;
    argv[a++] = ext4 ? "-F" : "-f";
    if (ext4) {
        /*
         * Inode tables and journal written now, once, in the base: left lazy,
         * ext4lazyinit would zero them in every snapshot mounted read-write,
         * taking pool space and counting as each container's own use.
         */
        argv[a++] = "-E";
        argv[a++] = "lazy_itable_init=0,lazy_journal_init=0";
    }
    for (size_t i = 0; i < n; i++)
        argv[a++] = x->opt.mkfs_options[i];
    argv[a++] = device;
    struct plugin_run run = {.argv = argv, .timeout_ms = 600000, .stderr_max = 4096};
    struct plugin_output out;
    int r = plugin_run(&run, -1, &out);
    free(argv);
    if (r < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, -r,
                               "storage-devmapper: cannot run %s (Debian package %s): %s", prog,
                               strcmp(x->opt.fs_type, "xfs") == 0 ? "xfsprogs" : "e2fsprogs", strerror(-r));
    if (out.exit_status != 0)
        r = cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO,
                            "storage-devmapper: %s %s failed (%d): %s", prog, device, out.exit_status,
                            out.err ? out.err : "");
    plugin_output_done(&out);
    if (r < 0 || strcmp(x->opt.fs_type, "ext4") != 0)
        return r;
    /* An empty snapshot holds nothing, not even mkfs.ext4's lost+found: images would show it in every rootfs. */
    const char *debugfs = access("/usr/sbin/debugfs", X_OK) == 0 ? "/usr/sbin/debugfs" : "/sbin/debugfs";
    const char *const rmdir_argv[] = {debugfs, "-w", "-R", "rmdir lost+found", device, NULL};
    struct plugin_run rm = {.argv = rmdir_argv, .timeout_ms = 60000, .stderr_max = 4096};
    if ((r = plugin_run(&rm, -1, &out)) < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, -r,
                               "storage-devmapper: cannot run %s (Debian package e2fsprogs): %s", debugfs,
                               strerror(-r));
    if (out.exit_status != 0)
        r = cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EIO,
                            "storage-devmapper: %s rmdir lost+found on %s failed (%d): %s", debugfs, device,
                            out.exit_status, out.err ? out.err : "");
    plugin_output_done(&out);
    return r;
}

int dmx_base_make(struct dmx *x, struct cleat_error **reterr) {
    if (faccessat(x->rootfd, "base", F_OK, 0) == 0)
        return 0;
    /* Whatever a crash left of an earlier try: the device is made again from nothing. */
    char name[DM_NAME_MAX], path[DM_NAME_MAX + 16];
    dmx_device_name(x, 0, name, sizeof(name));
    dm_node_path(name, path, sizeof(path));
    int r = dmx_thin_delete(x, 0);
    if (r == 0)
        r = pool_message(x, "create_thin", 0, 0);
    if (r == 0)
        r = dmx_thin_activate(x, 0, 0);
    if (r < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, -r,
                               "storage-devmapper: cannot make the base device %s: %s", path, strerror(-r));
    r = run_mkfs(x, path, reterr);
    int d = dmx_thin_deactivate(x, 0, 0);
    if (r < 0)
        return r;
    if (d < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_INTERNAL, -d,
                               "storage-devmapper: cannot deactivate %s: %s", path, strerror(-d));
    /* The marker says which filesystem the base has: a later change of fs_type or size is refused at start. */
    if ((r = plugin_write_atomic(x->rootfd, "base.tmp", "base", x->opt.base_pin, strlen(x->opt.base_pin))) == 0)
        r = plugin_fsync_dir(x->rootfd, ".");
    if (r < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_INTERNAL, -r,
                               "storage-devmapper: cannot record %s/base: %s", x->root, strerror(-r));
    return 0;
}
