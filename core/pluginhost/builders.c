/* SPDX-License-Identifier: Apache-2.0 */
#include "builders.h"

#include "netaddr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int oom(struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
}

/* Grow an array of `size`-byte items to hold one more; 0 or -ENOMEM. */
static int grow(void **items, size_t *cap, size_t n, size_t size) {
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *p = reallocarray(*items, ncap, size);
    if (!p)
        return -ENOMEM;
    *items = p;
    *cap = ncap;
    return 0;
}

struct cleat_mount_list *mount_list_new(void) {
    return calloc(1, sizeof(struct cleat_mount_list));
}

static void mount_clear(struct cleat_mount *m) {
    free((char *)m->type);
    free((char *)m->source);
    free((char *)m->target);
    if (m->options)
        for (const char *const *o = m->options; *o; o++)
            free((char *)*o);
    free((void *)m->options);
}

void mount_list_free(struct cleat_mount_list *l) {
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        mount_clear(&l->items[i]);
    free(l->items);
    free(l);
}

static char *dup_or_null(const char *s, int *failed) {
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = 1;
    return d;
}

int mount_list_add(struct cleat_mount_list *l, const char *type, const char *source, const char *target,
                   const char *const *options, struct cleat_error **reterr) {
    if (!l || !type || !*type)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "a mount needs a type");
    if (grow((void **)&l->items, &l->cap, l->n, sizeof(*l->items)) < 0)
        return oom(reterr);
    size_t n_opts = 0;
    while (options && options[n_opts])
        n_opts++;
    int failed = 0;
    struct cleat_mount m = {dup_or_null(type, &failed), dup_or_null(source, &failed), dup_or_null(target, &failed),
                            NULL};
    char **opts = calloc(n_opts + 1, sizeof(*opts));
    if (!opts)
        failed = 1;
    for (size_t i = 0; opts && i < n_opts; i++)
        opts[i] = dup_or_null(options[i], &failed);
    m.options = (const char *const *)opts;
    if (failed) {
        mount_clear(&m);
        return oom(reterr);
    }
    l->items[l->n++] = m;
    return 0;
}

int blob_writer_write(struct cleat_blob_writer *w, const void *data, uint64_t len, struct cleat_error **reterr) {
    if (!w || !w->sink)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "blob writer has no destination");
    if (blob_writer_cancelled(w))
        return error_set(reterr, CLEAT_STATUS_CANCELLED, ECANCELED, "the pull was cancelled");
    int r = w->sink(w->ctx, data, len, reterr);
    if (r < 0)
        return r;
    w->offset += len;
    return 0;
}

uint64_t blob_writer_offset(const struct cleat_blob_writer *w) {
    return w ? w->offset : 0;
}

int32_t blob_writer_cancelled(const struct cleat_blob_writer *w) {
    return w && w->cancel && atomic_load(w->cancel) != 0;
}

struct cleat_net_result *net_result_new(void) {
    return calloc(1, sizeof(struct cleat_net_result));
}

void net_result_free(struct cleat_net_result *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->ips[i].ifname);
        free(r->ips[i].address);
        free(r->ips[i].gateway);
    }
    free(r->ips);
    free(r);
}

int net_result_add_ip(struct cleat_net_result *r, const char *ifname, const char *address, const char *gateway,
                      struct cleat_error **reterr) {
    if (!r || !address || !netaddr_is_cidr(address, strlen(address)))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "network result address '%s' is not in CIDR notation", address ? address : "(null)");
    if (grow((void **)&r->ips, &r->cap, r->n, sizeof(*r->ips)) < 0)
        return oom(reterr);
    int failed = 0;
    struct net_ip ip = {dup_or_null(ifname, &failed), dup_or_null(address, &failed), dup_or_null(gateway, &failed)};
    if (failed) {
        free(ip.ifname);
        free(ip.address);
        free(ip.gateway);
        return oom(reterr);
    }
    r->ips[r->n++] = ip;
    return 0;
}
