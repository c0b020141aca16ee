/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A container's CDI edits, merged from the edits of each device it asked
 * for (and of their specs), conflicts refused; see cdi_edits_append in
 * cdi_spec.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cdi_spec.h"
#include "cdi_spec_internal.h"
#include "error.h"

static int oom(struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
}

static char **strv_dup(char *const *v) {
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = calloc(n + 1, sizeof(*out));
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(v[i]))) {
            strv_free(out);
            return NULL;
        }
    return out;
}

/* Grow an array of `size`-byte entries by one zeroed entry; NULL on ENOMEM. */
static void *grow(void **v, size_t *n, size_t size) {
    char *nv = realloc(*v, (*n + 1) * size);
    if (!nv)
        return NULL;
    *v = nv;
    memset(nv + *n * size, 0, size);
    return nv + (*n)++ * size;
}

/* The index of `origin` in e->origins, added if new; -1 on ENOMEM. */
static long origin_index(struct cdi_edits *e, const char *origin) {
    for (size_t i = 0; i < e->n_origins; i++)
        if (strcmp(e->origins[i], origin) == 0)
            return (long)i;
    char *copy = strdup(origin);
    char **slot = copy ? grow((void **)&e->origins, &e->n_origins, sizeof(char *)) : NULL;
    if (!slot) {
        free(copy);
        return -1;
    }
    *slot = copy;
    return (long)e->n_origins - 1;
}

static int conflict(const struct cdi_edits *e, uint32_t other, const char *origin, struct cleat_error **reterr,
                    const char *what, const char *detail) {
    const char *o = e->origins[other];
    if (strcmp(o, origin) == 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "CDI device \"%s\": %s is set twice (%s)",
                         origin, what, detail);
    return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                     "CDI devices \"%s\" and \"%s\" conflict: both set %s (%s)", o, origin, what, detail);
}

static int add_env(struct cdi_edits *dst, const struct cdi_env *src, uint32_t origin, struct cleat_error **reterr) {
    size_t nlen = (size_t)(strchr(src->kv, '=') - src->kv);
    for (size_t i = 0; i < dst->n_env; i++) {
        const char *kv = dst->env[i].kv;
        if (strncmp(kv, src->kv, nlen) != 0 || kv[nlen] != '=')
            continue;
        if (strcmp(kv, src->kv) == 0)
            return 0;
        char what[128];
        snprintf(what, sizeof(what), "the environment variable %.*s", (int)(nlen > 64 ? 64 : nlen), src->kv);
        return conflict(dst, dst->env[i].origin, dst->origins[origin], reterr, what, "to different values");
    }
    struct cdi_env *e = grow((void **)&dst->env, &dst->n_env, sizeof(*e));
    if (!e || !(e->kv = strdup(src->kv)))
        return oom(reterr);
    e->origin = origin;
    return 0;
}

static char node_type(mode_t mode) {
    return S_ISBLK(mode) ? 'b' : S_ISCHR(mode) ? 'c' : S_ISFIFO(mode) ? 'p' : 0;
}

/*
 * What a device node leaves out, from the host node: the CDI library's
 * rules.  A node given with its type and major (or as a FIFO) needs no host
 * node; any other needs one, of the type given if one is.
 */
static int fill_node(struct cdi_device_node *d, const char *origin, struct cleat_error **reterr) {
    int minimal = d->type && (d->major != 0 || d->type == 'p');
    struct stat st;
    int e = stat(d->host_path, &st) < 0 ? errno : node_type(st.st_mode) ? 0 : ENODEV;
    if (e && minimal)
        return 0;
    if (e)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, e, "CDI device \"%s\": host device %s: %s", origin,
                         d->host_path, e == ENODEV ? "not a device node" : strerror(e));
    if (!d->has_file_mode) {
        d->has_file_mode = 1;
        d->file_mode = st.st_mode & 07777;
    }
    if (minimal)
        return 0;
    char host = node_type(st.st_mode);
    /* 'u' (unbuffered) is a character device too. */
    if (d->type && d->type != host && !(d->type == 'u' && host == 'c'))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "CDI device \"%s\": %s is of type %c, the spec says %c", origin, d->host_path, host, d->type);
    if (!d->type)
        d->type = host;
    if (d->type != 'p' && d->major == 0) {
        d->major = major(st.st_rdev);
        d->minor = minor(st.st_rdev);
    }
    return 0;
}

static int same_node(const struct cdi_device_node *a, const struct cdi_device_node *b) {
    return a->type == b->type && a->major == b->major && a->minor == b->minor;
}

static int same_settings(const struct cdi_device_node *a, const struct cdi_device_node *b) {
    return str_equal(a->permissions, b->permissions) && a->has_file_mode == b->has_file_mode &&
           a->file_mode == b->file_mode && a->has_uid == b->has_uid && a->uid == b->uid && a->has_gid == b->has_gid &&
           a->gid == b->gid;
}

static int add_node(struct cdi_edits *dst, const struct cdi_device_node *src, uint32_t origin,
                    struct cleat_error **reterr) {
    struct cdi_device_node n = *src;
    const char *name = dst->origins[origin];
    int r = fill_node(&n, name, reterr);
    if (r < 0)
        return r;
    for (size_t i = 0; i < dst->n_nodes; i++) {
        const struct cdi_device_node *d = &dst->nodes[i];
        if (strcmp(d->path, n.path) != 0)
            continue;
        if (same_node(d, &n) && same_settings(d, &n))
            return 0;
        char what[4200];
        snprintf(what, sizeof(what), "the device node %s", n.path);
        return conflict(dst, d->origin, name, reterr, what,
                        same_node(d, &n) ? "with different permissions, mode or owner" : "to different host devices");
    }
    struct cdi_device_node *d = grow((void **)&dst->nodes, &dst->n_nodes, sizeof(*d));
    if (!d)
        return oom(reterr);
    *d = n;
    d->path = strdup(n.path);
    d->host_path = strdup(n.host_path);
    d->permissions = n.permissions ? strdup(n.permissions) : NULL;
    d->origin = origin;
    return !d->path || !d->host_path || (n.permissions && !d->permissions) ? oom(reterr) : 0;
}

static int add_mount(struct cdi_edits *dst, const struct cdi_mount *src, uint32_t origin, struct cleat_error **reterr) {
    for (size_t i = 0; i < dst->n_mounts; i++) {
        const struct cdi_mount *m = &dst->mounts[i];
        if (strcmp(m->container_path, src->container_path) != 0)
            continue;
        if (strcmp(m->host_path, src->host_path) == 0 && str_equal(m->type, src->type) &&
            strv_equal(m->options, src->options))
            return 0;
        char what[4200];
        snprintf(what, sizeof(what), "the mount at %s", src->container_path);
        return conflict(dst, m->origin, dst->origins[origin], reterr, what, "from different sources or options");
    }
    struct cdi_mount *m = grow((void **)&dst->mounts, &dst->n_mounts, sizeof(*m));
    if (!m)
        return oom(reterr);
    m->origin = origin;
    m->host_path = strdup(src->host_path);
    m->container_path = strdup(src->container_path);
    m->type = src->type ? strdup(src->type) : NULL;
    m->options = strv_dup(src->options);
    return !m->host_path || !m->container_path || (src->type && !m->type) || !m->options ? oom(reterr) : 0;
}

static int add_hook(struct cdi_edits *dst, const struct cdi_hook *src, uint32_t origin, struct cleat_error **reterr) {
    struct cdi_hook *h = grow((void **)&dst->hooks, &dst->n_hooks, sizeof(*h));
    if (!h)
        return oom(reterr);
    *h = (struct cdi_hook){.point = src->point, .timeout = src->timeout, .origin = origin};
    h->path = strdup(src->path);
    h->args = strv_dup(src->args);
    h->env = strv_dup(src->env);
    return !h->path || !h->args || !h->env ? oom(reterr) : 0;
}

static int add_gid(struct cdi_edits *dst, uint32_t gid, struct cleat_error **reterr) {
    for (size_t i = 0; i < dst->n_gids; i++)
        if (dst->gids[i] == gid)
            return 0;
    uint32_t *g = grow((void **)&dst->gids, &dst->n_gids, sizeof(*g));
    if (!g)
        return oom(reterr);
    *g = gid;
    return 0;
}

int cdi_edits_append(struct cdi_edits *dst, const struct cdi_edits *src, const char *origin,
                     struct cleat_error **reterr) {
    if (src->unsupported)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                         "CDI device \"%s\": its spec's %s edits cannot be applied: cleat does not support them",
                         origin, src->unsupported);
    long o = origin_index(dst, origin);
    if (o < 0)
        return oom(reterr);
    int r = 0;
    for (size_t i = 0; r >= 0 && i < src->n_env; i++)
        r = add_env(dst, &src->env[i], (uint32_t)o, reterr);
    for (size_t i = 0; r >= 0 && i < src->n_nodes; i++)
        r = add_node(dst, &src->nodes[i], (uint32_t)o, reterr);
    for (size_t i = 0; r >= 0 && i < src->n_mounts; i++)
        r = add_mount(dst, &src->mounts[i], (uint32_t)o, reterr);
    for (size_t i = 0; r >= 0 && i < src->n_hooks; i++)
        r = add_hook(dst, &src->hooks[i], (uint32_t)o, reterr);
    for (size_t i = 0; r >= 0 && i < src->n_gids; i++)
        r = add_gid(dst, src->gids[i], reterr);
    return r;
}

void cdi_edits_clear(struct cdi_edits *e) {
    if (!e)
        return;
    for (size_t i = 0; i < e->n_env; i++)
        free(e->env[i].kv);
    for (size_t i = 0; i < e->n_nodes; i++) {
        free(e->nodes[i].path);
        free(e->nodes[i].host_path);
        free(e->nodes[i].permissions);
    }
    for (size_t i = 0; i < e->n_mounts; i++) {
        free(e->mounts[i].host_path);
        free(e->mounts[i].container_path);
        free(e->mounts[i].type);
        strv_free(e->mounts[i].options);
    }
    for (size_t i = 0; i < e->n_hooks; i++) {
        free(e->hooks[i].path);
        strv_free(e->hooks[i].args);
        strv_free(e->hooks[i].env);
    }
    for (size_t i = 0; i < e->n_origins; i++)
        free(e->origins[i]);
    free(e->env);
    free(e->nodes);
    free(e->mounts);
    free(e->hooks);
    free(e->gids);
    free(e->origins);
    memset(e, 0, sizeof(*e));
}

void cdi_edits_free(struct cdi_edits *e) {
    cdi_edits_clear(e);
    free(e);
}
