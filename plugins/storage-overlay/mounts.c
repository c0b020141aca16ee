/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage-overlay: the mounts of a snapshot, as containerd's overlayfs
 * snapshotter makes them.
 *
 *   no parent            bind <root>/snapshots/<id>/fs, rw (view: ro), rbind
 *   view on one parent   bind of the parent's fs, ro, rbind
 *   active with parents  overlay: workdir=, upperdir=, lowerdir=<parent>:...:<base>
 *   view on 2+ parents   overlay: lowerdir= only (read-only by construction)
 *
 * Lower layers are named by their short links <root>/l/<id>.  The options may
 * be longer than a page; the host mounts those with the new mount API (see
 * OVL_MAX_LOWERS in overlay.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "overlay.h"
#include "plugin_strv.h"

static size_t chain_length(const struct snap *p) {
    size_t n = 0;
    for (; p; p = p->parent)
        n++;
    return n;
}

/* "lowerdir=<root>/l/<id>:..." from p down to the base. */
static char *lowerdir_option(const struct ovl *o, const struct snap *p) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    fputs("lowerdir=", f);
    for (; p; p = p->parent)
        fprintf(f, "%s/l/%" PRIu64 "%s", o->root, p->id, p->parent ? ":" : "");
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Fill m->options with `own` (taken, freed on failure) followed by the configured extras. */
static int set_options(const struct ovl *o, struct mspec *m, char **own, size_t nown) {
    size_t nextra = plugin_strv_len((const char *const *)o->extra);
    int ok = 1;
    for (size_t i = 0; i < nown; i++)
        ok = ok && own[i];
    if (ok)
        m->options = calloc(nown + nextra + 1, sizeof(char *));
    if (!m->options) {
        for (size_t i = 0; i < nown; i++)
            free(own[i]);
        return -ENOMEM;
    }
    memcpy(m->options, own, nown * sizeof(char *));
    for (size_t i = 0; i < nextra; i++)
        if (!(m->options[nown + i] = strdup(o->extra[i])))
            return -ENOMEM;
    return 0;
}

static int build_bind(const struct ovl *o, uint64_t id, const char *mode, struct mspec *m) {
    m->type = "bind";
    if (asprintf(&m->source, "%s/snapshots/%" PRIu64 "/fs", o->root, id) < 0)
        m->source = NULL;
    m->options = plugin_strv_dup((const char *const[]){mode, "rbind", NULL});
    return m->source && m->options ? 0 : -ENOMEM;
}

static int build_overlay(const struct ovl *o, const struct snap *s, struct mspec *m) {
    char *own[3] = {NULL, NULL, NULL};
    size_t n = 0;
    m->type = "overlay";
    m->source = strdup("overlay");
    if (s->kind == CLEAT_SNAPSHOT_ACTIVE) {
        if (asprintf(&own[n++], "workdir=%s/snapshots/%" PRIu64 "/work", o->root, s->id) < 0)
            own[n - 1] = NULL;
        if (asprintf(&own[n++], "upperdir=%s/snapshots/%" PRIu64 "/fs", o->root, s->id) < 0)
            own[n - 1] = NULL;
    }
    own[n++] = lowerdir_option(o, s->parent);
    int r = set_options(o, m, own, n);
    return r == 0 && !m->source ? -ENOMEM : r;
}

/* Refuse what overlayfs would refuse at mount time, with the reason. */
static int check_limits(const struct ovl *o, const struct snap *s, size_t layers, struct cleat_error **reterr) {
    if (layers > OVL_MAX_LOWERS)
        return cleat_error_set(
            o->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, E2BIG,
            "snapshot '%s': its %zu parent layers are more than the %d lower layers overlayfs can stack", s->key,
            layers, OVL_MAX_LOWERS);
    return 0;
}

int mspec_build(const struct ovl *o, const struct snap *s, struct mspec *ret, struct cleat_error **reterr) {
    struct mspec m = {0};
    size_t layers = chain_length(s->parent);
    int r = check_limits(o, s, layers, reterr);
    if (r < 0)
        return r;
    if (layers == 0)
        r = build_bind(o, s->id, s->kind == CLEAT_SNAPSHOT_VIEW ? "ro" : "rw", &m);
    else if (layers == 1 && s->kind == CLEAT_SNAPSHOT_VIEW)
        r = build_bind(o, s->parent->id, "ro", &m);
    else
        r = build_overlay(o, s, &m);
    if (r < 0) {
        mspec_done(&m);
        return cleat_error_set(o->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    *ret = m;
    return 0;
}

int mspec_emit(const struct ovl *o, const struct mspec *m, struct cleat_mount_list *ml, struct cleat_error **reterr) {
    return o->host->mount_add(ml, m->type, m->source, NULL, (const char *const *)m->options, reterr);
}

void mspec_done(struct mspec *m) {
    free(m->source);
    plugin_strv_free(m->options);
    *m = (struct mspec){0};
}
