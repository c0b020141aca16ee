/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-devmapper: the plugin descriptor, options, init and fini
 * (devmapper.h says what the plugin is and keeps).
 *
 * Options:
 *   pool_name: cleat-thinpool     the thin pool (required)
 *   data_device: /dev/sdb1        with metadata_device: make the pool when it
 *   metadata_device: /dev/sdb2    does not exist (the metadata device must
 *                                 start zeroed); both or neither
 *   block_size_kib: 64            the pool's data block size when made here
 *                                 (64 KiB to 1 GiB, a multiple of 64 KiB)
 *   base_size_mib: 10240          every snapshot's filesystem size (thin:
 *                                 only what is written takes space)
 *   fs_type: ext4                 ext4 or xfs; fixed once the base is made
 *   mkfs_options: []              extra arguments for mkfs.<fs_type>
 *   discard_blocks: false         discard a device's blocks before deleting
 *                                 it (frees them in the pool's data device)
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "devmapper.h"
#include "plugin_config.h"
#include "plugin_error.h"
#include "plugin_fs.h"
#include "plugin_strv.h"

static const char *const dmx_keys[] = {"pool_name",      "data_device",    "metadata_device",
                                       "block_size_kib", "base_size_mib",  "fs_type",
                                       "mkfs_options",   "discard_blocks", NULL};

/* A pool name becomes part of every device's dm name and of /dev/mapper paths: kept to a safe alphabet. */
static int pool_name_ok(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
            return 0;
    return name[0] != '.';
}

static void options_done(struct dmx_options *o) {
    plugin_strv_free(o->mkfs_options);
    o->mkfs_options = NULL;
}

static int read_options(const struct cleat_host *host, const struct cleat_config *options, struct dmx_options *o,
                        struct cleat_error **reterr) {
    int64_t block_kib, size_mib;
    int r = host->config_check_keys(options, dmx_keys, reterr);
    if (r == 0)
        r = host->config_get_string(options, "pool_name", NULL, &o->pool_name, reterr);
    if (r == 0 && !o->pool_name)
        return cleat_config_error(host, options, reterr, "storage-devmapper needs '%s' (the thin pool's name)",
                                  "pool_name");
    if (r == 0 && !pool_name_ok(o->pool_name))
        return cleat_config_error(host, host->config_get0(options, "pool_name"), reterr,
                                  "'pool_name' must be 1 to 64 of [A-Za-z0-9._-], not '%s'", o->pool_name);
    if (r == 0)
        r = plugin_config_path(host, options, "data_device", NULL, &o->data_device, reterr);
    if (r == 0)
        r = plugin_config_path(host, options, "metadata_device", NULL, &o->metadata_device, reterr);
    if (r == 0 && !o->data_device != !o->metadata_device)
        return cleat_config_error(host, options, reterr, "'data_device' and 'metadata_device' go together%s", "");
    if (r == 0)
        r = host->config_get_int(options, "block_size_kib", 64, 64, 1 << 20, &block_kib, reterr);
    if (r == 0 && block_kib % 64)
        return cleat_config_error(host, host->config_get0(options, "block_size_kib"), reterr,
                                  "'block_size_kib' must be a multiple of 64, not %lld", (long long)block_kib);
    if (r == 0)
        r = host->config_get_int(options, "base_size_mib", 10240, 16, 1 << 24, &size_mib, reterr);
    if (r == 0)
        r = host->config_get_string(options, "fs_type", "ext4", &o->fs_type, reterr);
    if (r == 0 && strcmp(o->fs_type, "ext4") != 0 && strcmp(o->fs_type, "xfs") != 0)
        return cleat_config_error(host, host->config_get0(options, "fs_type"), reterr,
                                  "'fs_type' must be ext4 or xfs, not '%s'", o->fs_type);
    if (r == 0)
        r = host->config_get_bool(options, "discard_blocks", 0, &o->discard_blocks, reterr);
    if (r == 0)
        r = plugin_config_strings(host, options, "mkfs_options", &o->mkfs_options, reterr);
    if (r < 0)
        return r;
    o->block_sectors = block_kib * 2;
    o->base_sectors = size_mib * 2048;
    snprintf(o->base_pin, sizeof(o->base_pin), "%s %lld", o->fs_type, (long long)size_mib);
    return 0;
}

static int dmx_validate(const struct cleat_host *host, const struct cleat_config *options,
                        struct cleat_error **reterr) {
    struct dmx_options o = {0};
    int r = read_options(host, options, &o, reterr);
    options_done(&o);
    return r;
}

static void dmx_fini(void *instance) {
    struct dmx *x = instance;
    if (!x)
        return;
    /* Live devices stay: running containers' root filesystems are on them. */
    plugin_snaps_clear(&x->t);
    options_done(&x->opt);
    if (x->rootfd >= 0)
        close(x->rootfd);
    if (x->lockfd >= 0)
        close(x->lockfd);
    pthread_mutex_destroy(&x->lock);
    free(x);
}

/*
 * `file` in the root says `value`, or is absent (then written with it when
 * `record`): the pool's name and the base's filesystem cannot change under
 * existing snapshots (their device ids and filesystems are the old pool's).
 * Recorded only once the pool is there: a start that fails on a missing
 * pool must not tie the root to it.
 */
static int pin_setting(struct dmx *x, const char *file, const char *what, const char *value, int record,
                       struct cleat_error **reterr) {
    char path[PATH_MAX + 16], *text = NULL;
    snprintf(path, sizeof(path), "%s/%s", x->root, file);
    int r = plugin_read_file(path, 4096, &text, NULL);
    if (r == -ENOENT && !record)
        return 0;
    if (r == -ENOENT) {
        char tmp[64];
        snprintf(tmp, sizeof(tmp), "%s.tmp", file);
        r = plugin_write_atomic(x->rootfd, tmp, file, value, strlen(value));
        if (r == 0)
            r = plugin_fsync_dir(x->rootfd, ".");
        return r < 0 ? cleat_error_set(x->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot write %s: %s", path,
                                       strerror(-r))
                     : 0;
    }
    if (r < 0)
        return cleat_error_set(x->host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot read %s: %s", path, strerror(-r));
    if (strcmp(text, value) != 0)
        r = cleat_error_set(x->host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EINVAL,
                            "storage-devmapper: %s holds snapshots of %s '%s', not '%s': remove them (or the "
                            "directory) before changing it",
                            x->root, what, text, value);
    free(text);
    return r;
}

static int dmx_init(const struct cleat_host *host, const struct cleat_config *options, void **ret_instance,
                    struct cleat_error **reterr) {
    struct dmx *x = calloc(1, sizeof(*x));
    if (!x)
        return plugin_oom(host, reterr);
    x->host = host;
    x->rootfd = x->lockfd = -1;
    pthread_mutex_init(&x->lock, NULL);
    int r = read_options(host, options, &x->opt, reterr);
    if (r == 0)
        r = plugin_snaps_open_root(host, x->root, sizeof(x->root), &x->rootfd, &x->lockfd, reterr);
    if (r == 0)
        r = pin_setting(x, "pool", "thin pool", x->opt.pool_name, 0, reterr);
    if (r == 0)
        r = pin_setting(x, "base", "base filesystem (type and MiB)", x->opt.base_pin, 0, reterr);
    if (r == 0)
        r = dmx_pool_open(x, reterr);
    if (r == 0)
        r = pin_setting(x, "pool", "thin pool", x->opt.pool_name, 1, reterr);
    if (r == 0 && (r = plugin_snaps_load(&x->t, x->rootfd)) < 0)
        r = cleat_error_set(host, reterr, CLEAT_STATUS_INTERNAL, -r, "cannot read the snapshots in %s: %s", x->root,
                            strerror(-r));
    if (r == 0)
        r = dmx_base_make(x, reterr);
    if (r == 0)
        r = dmx_sweep(x, reterr);
    if (r < 0) {
        dmx_fini(x);
        return r;
    }
    *ret_instance = x;
    return 0;
}

CLEAT_PLUGIN_DEFINE(CLEAT_CONCERN_SNAPSHOTTER, "storage-devmapper", "1.0",
                    "snapshots as thin devices of a device-mapper thin pool (ext4 or xfs on each)", dmx_validate,
                    dmx_init, dmx_fini, dmx_ops);
