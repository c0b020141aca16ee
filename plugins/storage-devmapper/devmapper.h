/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-devmapper: snapshots as thin devices of a device-mapper thin pool,
 * after containerd's devmapper snapshotter.  For VM runtimes that hand the
 * guest a block device, for per-container block quotas (every snapshot is a
 * filesystem of a fixed size), and for hosts whose filesystems overlayfs
 * cannot stack on.
 *
 * The pool: an existing thin pool named `pool_name`, or one this plugin
 * makes from `data_device` and `metadata_device` when no device of that name
 * exists (the metadata device must start with a zeroed 4 KiB block, so that
 * the kernel formats it: this plugin never wipes a device).  The pool is
 * this instance's alone: thin device ids are given by this plugin.
 *
 * Thin devices: id 0 is the base, made once (create_thin), formatted
 * (mkfs.ext4 or mkfs.xfs with the configured options) and kept; a snapshot
 * with the directory number N is thin device N, a thin snapshot
 * (create_snap) of its parent's device, or of the base when it has none.  A
 * device is live (a dm device "<pool>-snap-N" with a /dev/mapper node) only
 * while its snapshot is active or a view: commit deactivates it, since a
 * thin snapshot's origin must not change while it is live and committed
 * snapshots are only ever origins.  Views are live read-only.
 *
 * On disk, under the instance root (the layout plugin_snaps.h describes):
 *   pool               the pool's name, written at the first start: a root
 *                      is never used with another pool (its ids are not there)
 *   base               "<fs_type> <base MiB>", once thin device 0 is made
                     and formatted: neither can change under its snapshots
 *   snapshots/<N>/meta, tmp/<N>/meta, trash/<N>/meta
 *
 * Every change is ordered so that a crash at any point leaves records the
 * start-up sweep can finish or undo (ops.c says how for each op): a thin
 * device N is only made after tmp/N/meta is durable and only deleted after
 * its directory left snapshots/, so no device is ever without a record;
 * the sweep deletes the devices of tmp/ and trash/ entries, deactivates
 * live devices of snapshots that are neither active nor views, and
 * activates the active ones and views a reboot took down.
 *
 * One mutex serialises every op: a thin pool's metadata changes one message
 * at a time anyway.
 */
#ifndef DEVMAPPER_H
#define DEVMAPPER_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include <cleat/snapshotter.h>

#include "plugin_snaps.h"

/* Thin device ids are 24 bits in the pool's metadata. */
#define DMX_MAX_DEVICE_ID 0xffffff

struct dmx_options {
    const char *pool_name;
    const char *data_device, *metadata_device; /* both or neither */
    int64_t block_sectors;                     /* the data block size of a pool made here */
    int64_t base_sectors;                      /* every thin device's size */
    char base_pin[48];                         /* "<fs_type> <base MiB>": what the root's `base` records */
    const char *fs_type;                       /* "ext4" or "xfs" */
    char **mkfs_options;                       /* never NULL */
    int32_t discard_blocks;                    /* discard a device's blocks before deleting it */
};

struct dmx {
    const struct cleat_host *host;
    struct dmx_options opt;
    char root[PATH_MAX];
    int rootfd, lockfd;
    pthread_mutex_t lock; /* every op, whole */
    struct plugin_snaps t;
    int64_t pool_block_sectors; /* the pool's own data block size, from its table */
    char pool_dev[32];          /* the pool's "major:minor", as thin tables name it */
};

/* --- pool.c: the pool and its thin devices ----------------------------------------- */

/*
 * Find the pool, or make it from the configured devices; check that it is a
 * thin-pool.  Errors name the pool (FAILED_PRECONDITION when it is missing
 * and no devices are given, or is not a thin pool).
 */
int dmx_pool_open(struct dmx *x, struct cleat_error **reterr);
/* Thin device 0 made and formatted, once (the `base` marker).  A crash part-way is redone from scratch. */
int dmx_base_make(struct dmx *x, struct cleat_error **reterr);
/* The dm name of thin device id ("<pool>-snap-<id>"; "<pool>-base" for 0). */
void dmx_device_name(const struct dmx *x, uint64_t id, char *buf, size_t size);
/*
 * Make thin device id a snapshot of origin (0: the base), which must not be
 * live: its device is deactivated first, and -EBUSY when it is in use.
 */
int dmx_thin_snapshot(struct dmx *x, uint64_t id, uint64_t origin);
/* Delete thin device id from the pool (deactivated first); a device the pool does not have is done.  -errno. */
int dmx_thin_delete(struct dmx *x, uint64_t id);
/* Make thin device id live (read-only for a view); already live is done.  -errno. */
int dmx_thin_activate(struct dmx *x, uint64_t id, int read_only);
/*
 * Take thin device id's dm device away; gone already is done.  With
 * `discard` and discard_blocks configured its blocks are discarded first
 * (made live for that when it is not), unless someone holds it open.
 */
int dmx_thin_deactivate(struct dmx *x, uint64_t id, int discard);
/* Whether live dm device `name` is thin device id of this pool (its table says so). */
int dmx_is_our_thin(const struct dmx *x, const char *name, uint64_t id);
/* Sectors the live thin device id has mapped (its status), or -errno. */
int64_t dmx_thin_mapped_sectors(const struct dmx *x, uint64_t id);
/* Bytes of the pool's data in use (its status), or -errno. */
int64_t dmx_pool_used_bytes(const struct dmx *x);

/* --- fsinfo.c ------------------------------------------------------------------------ */

/*
 * Inodes in use on the ext4 or xfs filesystem of block device `path`, from
 * its superblock (as of its last sync or unmount).  -errno; -EINVAL when
 * the superblock is neither.
 */
int64_t dmx_fs_used_inodes(const char *path);

/* --- ops.c ----------------------------------------------------------------------------- */

extern const struct cleat_snapshotter_ops dmx_ops;
/* The start-up sweep (devmapper.h's first comment); also the cleanup op. */
int dmx_sweep(struct dmx *x, struct cleat_error **reterr);

#endif
