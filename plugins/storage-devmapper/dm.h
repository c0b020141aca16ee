/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device-mapper calls storage-devmapper makes, straight through the DM
 * ioctls of /dev/mapper/control (linux/dm-ioctl.h), not through
 * libdevmapper.  Why: the dozen calls a thin snapshotter needs are short;
 * libdevmapper's process-global state (its udev cookies and semaphores,
 * its node-creation queue, its log hooks) is not something a plugin inside
 * a multi-threaded daemon should share with whatever else the process
 * links; and it would wait on udev, which container hosts and our test
 * guest do not run.  Without udev the node /dev/mapper/NAME is made here,
 * as libdevmapper does in its own fallback.
 *
 * Every function returns 0 or a negative errno (the kernel's): -ENXIO for
 * a device that is not there, -EBUSY for one that is open (mounted),
 * -EEXIST for a name in use.  Each opens and closes the control node
 * (O_CLOEXEC), so any thread may call any of them.
 */
#ifndef DEVMAPPER_DM_H
#define DEVMAPPER_DM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The longest dm name, its NUL included (the kernel's DM_NAME_LEN). */
#define DM_NAME_MAX 128

/* What DM_DEV_STATUS says of a device. */
struct dm_info {
    dev_t dev;
    int open_count;
    int active;    /* a live table is loaded */
    int read_only; /* the table was loaded read-only */
};

/*
 * Make device `name` with one target (`type` over [0, sectors), its
 * parameter string `params`), resume it, and make /dev/mapper/NAME.
 * read_only: the block device refuses writes.  A failure removes what it
 * made.  -EEXIST when the name is taken.
 */
int dm_activate(const char *name, uint64_t sectors, const char *type, const char *params, int read_only);
/*
 * Remove device `name` and its /dev/mapper node.  -ENXIO when it is not
 * there (callers that want it gone take that as done), -EBUSY while it is
 * open.  A device someone opened for a moment (udev's blkid after a
 * change, say) is waited for a little before EBUSY is believed.
 */
int dm_deactivate(const char *name);
/* The state of device `name`.  -ENXIO when there is none. */
int dm_status_info(const char *name, struct dm_info *ret);
/*
 * The status line of the device's first target (`type` and its status
 * text), e.g. "thin-pool" "1 10/4096 0/819 - rw ...".  Freed by the caller.
 */
int dm_target_status(const char *name, char **ret_type, char **ret_status);
/* The same for the live table's line: the target's type and parameters, e.g. "thin" "253:0 7". */
int dm_target_table(const char *name, char **ret_type, char **ret_params);
/* Send `message` to the device's target at sector 0 (a thin pool's "create_thin 1"). */
int dm_message(const char *name, const char *message);
/* The names of every device-mapper device, NULL-terminated (plugin_strv_free). */
int dm_list(char ***ret);

/* Make /dev/mapper/NAME for live device `name` when it is missing or stale (a /dev that was made again). */
int dm_make_node(const char *name);

/* "/dev/mapper/NAME" into buf. */
void dm_node_path(const char *name, char *buf, size_t size);

#endif
