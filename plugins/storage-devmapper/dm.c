/* SPDX-License-Identifier: Apache-2.0 */
/* Device-mapper through its ioctls (dm.h says why not libdevmapper). */
#include "dm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "plugin_strv.h"

#define CONTROL "/dev/mapper/control"
/* The status and list answers are small; a thousand devices' names fit in this, and a full buffer grows. */
#define FIRST_SIZE (16 * 1024)
#define MAX_SIZE (16 * 1024 * 1024)

void dm_node_path(const char *name, char *buf, size_t size) {
    snprintf(buf, size, "/dev/mapper/%s", name);
}

/* A zeroed request of `size` bytes (header and data) for device `name` (NULL: none). */
static struct dm_ioctl *request(const char *name, size_t size) {
    struct dm_ioctl *io = calloc(1, size);
    if (!io)
        return NULL;
    /* 4.0.0: every call here exists since the interface's first version 4, and the kernel takes any 4.x. */
    io->version[0] = DM_VERSION_MAJOR;
    io->data_size = (uint32_t)size;
    io->data_start = sizeof(*io);
    if (name)
        snprintf(io->name, sizeof(io->name), "%s", name);
    return io;
}

static int call(unsigned long cmd, struct dm_ioctl *io) {
    int fd = open(CONTROL, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ENODEV : -errno;
    int r = ioctl(fd, cmd, io) < 0 ? -errno : 0;
    close(fd);
    return r;
}

/* A call whose answer is data: repeated with a larger buffer while the kernel says it was too small. */
static int call_for_data(unsigned long cmd, const char *name, uint32_t flags, struct dm_ioctl **ret) {
    for (size_t size = FIRST_SIZE; size <= MAX_SIZE; size *= 4) {
        struct dm_ioctl *io = request(name, size);
        if (!io)
            return -ENOMEM;
        io->flags = flags;
        int r = call(cmd, io);
        if (r == 0 && !(io->flags & DM_BUFFER_FULL_FLAG)) {
            *ret = io;
            return 0;
        }
        free(io);
        if (r < 0)
            return r;
    }
    return -E2BIG;
}

static int target_line(const char *name, uint32_t flags, char **ret_type, char **ret_status);

static int name_ok(const char *name) {
    return name && *name && strlen(name) < DM_NAME_LEN && !strchr(name, '/') ? 0 : -EINVAL;
}

/* /dev/mapper/NAME as a block node of dev, unless it already is one (udev's, or ours from before). */
static int make_node(const char *name, dev_t dev) {
    char path[DM_NAME_LEN + 16];
    struct stat st;
    dm_node_path(name, path, sizeof(path));
    if (stat(path, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == dev)
        return 0;
    /* A stale node of a removed device of the same name would open the wrong device: replaced. */
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    if (mknod(path, S_IFBLK | 0600, dev) < 0 && errno != EEXIST)
        return -errno;
    return stat(path, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == dev ? 0 : -EIO;
}

/* Take away /dev/mapper/NAME when it is a block node of dev (never anything else someone made there). */
static void remove_node(const char *name, dev_t dev) {
    char path[DM_NAME_LEN + 16];
    struct stat st;
    dm_node_path(name, path, sizeof(path));
    if (lstat(path, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == dev)
        (void)unlink(path);
}

static int remove_device(const char *name) {
    int r = -EBUSY;
    /* Up to ~0.5 s: what libdevmapper's retries on a host with udev also wait out. */
    for (int attempt = 0; r == -EBUSY && attempt < 10; attempt++) {
        if (attempt)
            usleep(50000);
        struct dm_ioctl *io = request(name, sizeof(*io));
        if (!io)
            return -ENOMEM;
        r = call(DM_DEV_REMOVE, io);
        free(io);
    }
    return r;
}

static int load_table(const char *name, uint64_t sectors, const char *type, const char *params, int read_only) {
    size_t plen = strlen(params) + 1;
    size_t size = sizeof(struct dm_ioctl) + sizeof(struct dm_target_spec) + ((plen + 7) & ~(size_t)7);
    struct dm_ioctl *io = request(name, size);
    if (!io)
        return -ENOMEM;
    if (strlen(type) >= DM_MAX_TYPE_NAME) {
        free(io);
        return -EINVAL;
    }
    io->target_count = 1;
    io->flags = read_only ? DM_READONLY_FLAG : 0;
    struct dm_target_spec *spec = (struct dm_target_spec *)((char *)io + io->data_start);
    spec->sector_start = 0;
    spec->length = sectors;
    snprintf(spec->target_type, sizeof(spec->target_type), "%s", type);
    memcpy(spec + 1, params, plen);
    int r = call(DM_TABLE_LOAD, io);
    free(io);
    return r;
}

int dm_activate(const char *name, uint64_t sectors, const char *type, const char *params, int read_only) {
    if (name_ok(name) < 0)
        return -EINVAL;
    struct dm_ioctl *io = request(name, sizeof(*io));
    if (!io)
        return -ENOMEM;
    int r = call(DM_DEV_CREATE, io);
    free(io);
    if (r < 0)
        return r;
    r = load_table(name, sectors, type, params, read_only);
    /* Resume: DM_DEV_SUSPEND without the suspend flag makes the loaded table live; it answers the device. */
    if (r == 0 && !(io = request(name, sizeof(*io))))
        r = -ENOMEM;
    if (r == 0) {
        r = call(DM_DEV_SUSPEND, io);
        if (r == 0)
            r = make_node(name, (dev_t)io->dev);
        free(io);
    }
    if (r < 0)
        (void)dm_deactivate(name);
    return r;
}

int dm_make_node(const char *name) {
    struct dm_info info;
    int r = dm_status_info(name, &info);
    return r < 0 ? r : make_node(name, info.dev);
}

int dm_deactivate(const char *name) {
    struct dm_info info;
    int r = name_ok(name);
    if (r == 0)
        r = dm_status_info(name, &info);
    if (r == 0)
        r = remove_device(name);
    if (r == 0)
        remove_node(name, info.dev);
    return r;
}

int dm_status_info(const char *name, struct dm_info *ret) {
    if (name_ok(name) < 0)
        return -EINVAL;
    struct dm_ioctl *io = request(name, sizeof(*io));
    if (!io)
        return -ENOMEM;
    int r = call(DM_DEV_STATUS, io);
    if (r == 0)
        *ret = (struct dm_info){.dev = (dev_t)io->dev,
                                .open_count = io->open_count,
                                .active = !!(io->flags & DM_ACTIVE_PRESENT_FLAG),
                                .read_only = !!(io->flags & DM_READONLY_FLAG)};
    free(io);
    return r;
}

int dm_target_status(const char *name, char **ret_type, char **ret_status) {
    return target_line(name, 0, ret_type, ret_status);
}

int dm_target_table(const char *name, char **ret_type, char **ret_params) {
    return target_line(name, DM_STATUS_TABLE_FLAG, ret_type, ret_params);
}

static int target_line(const char *name, uint32_t flags, char **ret_type, char **ret_status) {
    if (name_ok(name) < 0)
        return -EINVAL;
    struct dm_ioctl *io = NULL;
    int r = call_for_data(DM_TABLE_STATUS, name, flags, &io);
    if (r < 0)
        return r;
    if (io->target_count < 1 || io->data_size < io->data_start + sizeof(struct dm_target_spec)) {
        free(io);
        return -ENODATA;
    }
    const struct dm_target_spec *spec = (const struct dm_target_spec *)((const char *)io + io->data_start);
    const char *text = (const char *)(spec + 1), *end = (const char *)io + io->data_size;
    *ret_type = strndup(spec->target_type, sizeof(spec->target_type));
    *ret_status = strndup(text, (size_t)(end - text));
    free(io);
    if (!*ret_type || !*ret_status) {
        free(*ret_type);
        free(*ret_status);
        return -ENOMEM;
    }
    return 0;
}

int dm_message(const char *name, const char *message) {
    if (name_ok(name) < 0)
        return -EINVAL;
    size_t mlen = strlen(message) + 1;
    size_t size = sizeof(struct dm_ioctl) + sizeof(struct dm_target_msg) + ((mlen + 7) & ~(size_t)7);
    struct dm_ioctl *io = request(name, size);
    if (!io)
        return -ENOMEM;
    struct dm_target_msg *msg = (struct dm_target_msg *)((char *)io + io->data_start);
    msg->sector = 0;
    memcpy(msg->message, message, mlen);
    int r = call(DM_TARGET_MSG, io);
    free(io);
    return r;
}

int dm_list(char ***ret) {
    struct dm_ioctl *io = NULL;
    int r = call_for_data(DM_LIST_DEVICES, NULL, 0, &io);
    if (r < 0)
        return r;
    char **names = calloc(1, sizeof(char *));
    size_t n = 0;
    const char *p = (const char *)io + io->data_start, *end = (const char *)io + io->data_size;
    /* An empty list is one record with dev 0; each record says where the next starts (0: the last). */
    while (names && p + sizeof(struct dm_name_list) <= end) {
        const struct dm_name_list *e = (const struct dm_name_list *)p;
        if (!e->dev)
            break;
        char **v = realloc(names, (n + 2) * sizeof(char *));
        if (!v || !(v[n] = strndup(e->name, (size_t)(end - e->name)))) {
            plugin_strv_free(v ? v : names);
            names = NULL;
            break;
        }
        names = v;
        names[++n] = NULL;
        if (!e->next)
            break;
        p += e->next;
    }
    free(io);
    if (!names)
        return -ENOMEM;
    *ret = names;
    return 0;
}
