/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host-owned objects that plugins fill in through the host table:
 * mount lists (snapshotters), blob writers (transports) and network results
 * (network plugins).  The core creates them, hands them to an op, then reads
 * what the plugin put in; no plugin-allocated array crosses the boundary.
 */
#ifndef CLEAT_CORE_BUILDERS_H
#define CLEAT_CORE_BUILDERS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cleat/mount.h>

#include "error.h"

struct cleat_mount_list {
    struct cleat_mount *items; /* every string and options array owned by the list */
    size_t n, cap;
};

struct cleat_mount_list *mount_list_new(void);
void mount_list_free(struct cleat_mount_list *l);
/* Backs cleat_host.mount_add: copies everything. */
int mount_list_add(struct cleat_mount_list *l, const char *type, const char *source, const char *target,
                   const char *const *options, struct cleat_error **reterr);

/* Where a blob writer sends bytes; the content store supplies this. */
typedef int (*blob_sink_fn)(void *ctx, const void *data, uint64_t len, struct cleat_error **reterr);

struct cleat_blob_writer {
    blob_sink_fn sink;
    void *ctx;
    uint64_t offset;          /* bytes accepted so far, including any resumed prefix */
    const atomic_int *cancel; /* non-zero: the bytes are not wanted any more (NULL: never) */
};

/* Backs cleat_host.blob_write / blob_offset / blob_cancelled; a cancelled writer refuses bytes (CANCELLED). */
int blob_writer_write(struct cleat_blob_writer *w, const void *data, uint64_t len, struct cleat_error **reterr);
uint64_t blob_writer_offset(const struct cleat_blob_writer *w);
int32_t blob_writer_cancelled(const struct cleat_blob_writer *w);

struct net_ip {
    char *ifname, *address, *gateway;
};

struct cleat_net_result {
    struct net_ip *ips; /* in the order the plugin reported them: primary first */
    size_t n, cap;
};

struct cleat_net_result *net_result_new(void);
void net_result_free(struct cleat_net_result *r);
/* Backs cleat_host.net_result_add_ip: checks the address is CIDR notation. */
int net_result_add_ip(struct cleat_net_result *r, const char *ifname, const char *address, const char *gateway,
                      struct cleat_error **reterr);

#endif
