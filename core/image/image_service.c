/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image service's life cycle, the image record a pull writes, removal
 * with garbage collection, and disk usage for ImageFsInfo.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "plugin_calls.h"
#include "clocks.h"
#include "image_internal.h"
#include "keyed_lock.h"
#include "log.h"
#include "strlist.h"

/*
 * Why the image of `rec` cannot run here, or NULL when it can: its layers
 * are in another snapshotter instance (the config's `snapshotter:` changed)
 * or its top layer is not in this one (NOT_FOUND; any other error of the
 * snapshotter says nothing and keeps the image).
 */
static const char *not_unpacked_here(struct image_service *svc, const image_record *rec, char *why, size_t size) {
    struct plugin_instance *sn = svc->snapshotter;
    if (!sn || !plugin_has_op(sn, "stat") || rec->n_chain_ids == 0)
        return NULL;
    if (rec->snapshotter && *rec->snapshotter && strcmp(rec->snapshotter, sn->name) != 0) {
        snprintf(why, size, "its layers are in snapshotter '%s', not '%s'", rec->snapshotter, sn->name);
        return why;
    }
    const char *top = rec->chain_ids[rec->n_chain_ids - 1];
    if (image_snapshot_lookup(sn, top) != 0)
        return NULL;
    snprintf(why, size, "its top layer %s is not in snapshotter '%s'", top, sn->name);
    return why;
}

/*
 * Images whose layers are not in the snapshotter cleatd runs with are
 * forgotten at start, with a warning: kubelet (which would otherwise see
 * them present and never pull them) pulls them again, and the pull unpacks
 * them into this snapshotter from the blobs still in the content store.
 */
static void forget_images_not_unpacked(struct image_service *svc) {
    image_record **recs = NULL;
    size_t n = 0;
    struct cleat_error *err = NULL;
    if (image_store_list(svc->images, &recs, &n, &err) < 0) {
        log_warning("cannot list images to check their layers: %s", error_message(err));
        error_free(err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char why[512];
        if (!not_unpacked_here(svc, recs[i], why, sizeof(why)))
            continue;
        if (image_store_remove(svc->images, recs[i]->id, NULL, &err) < 0) {
            log_warning("image sha256:%s: %s, and it cannot be forgotten: %s", recs[i]->id, why, error_message(err));
            error_free(err);
            err = NULL;
            continue;
        }
        log_warning("forgot image sha256:%s%s%s: %s; a pull makes it again", recs[i]->id,
                    recs[i]->n_repo_tags ? " " : "", recs[i]->n_repo_tags ? recs[i]->repo_tags[0] : "", why);
    }
    image_records_free(recs, n);
}

int image_service_open(const struct image_service_options *o, struct plugins *plugins, struct registry *reg,
                       struct store *store, struct image_service **ret, struct cleat_error **reterr) {
    struct image_service *svc = calloc(1, sizeof(*svc));
    if (!svc)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    svc->plugins = plugins;
    svc->reg = reg;
    svc->store = store;
    svc->snapshotter = plugins_first(plugins, CLEAT_CONCERN_SNAPSHOTTER);
    svc->max_parallel = o->max_parallel_downloads ? o->max_parallel_downloads : 3;
    svc->max_unpacks = o->max_parallel_unpacks ? o->max_parallel_unpacks : 2;
    svc->progress_timeout_s = o->pull_progress_timeout_seconds;
    svc->progress_log_interval_s = o->pull_progress_log_interval_seconds;
    svc->limits = o->limits;
    if (platform_host(&svc->platform) < 0) {
        free(svc);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&svc->gc_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&svc->inflight_lock, NULL);
    pthread_cond_init(&svc->inflight_done, NULL);
    pthread_mutex_init(&svc->settings_lock, NULL);
    int r = (svc->chain_locks = keyed_locks_new())
                ? 0
                : error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if (r >= 0)
        r = image_settings_load(o, &svc->settings, reterr);
    if (r >= 0)
        r = content_store_open(o->root_dir, &svc->content, reterr);
    if (r >= 0)
        r = image_store_open(reg, store, &svc->images, reterr);
    if (r < 0) {
        image_service_free(svc);
        return r;
    }
    forget_images_not_unpacked(svc);
    /* Partial downloads older than a day will not be resumed. */
    content_cleanup_ingest(svc->content, 24 * 3600);
    if (svc->settings->policy)
        log_info("image signature policy: %s", svc->settings->policy->path);
    *ret = svc;
    return 0;
}

void image_service_free(struct image_service *svc) {
    if (!svc)
        return;
    image_store_free(svc->images);
    content_store_close(svc->content);
    image_settings_unref(svc->settings);
    pthread_mutex_destroy(&svc->settings_lock);
    platform_clear(&svc->platform);
    pthread_rwlock_destroy(&svc->gc_lock);
    pthread_mutex_destroy(&svc->inflight_lock);
    pthread_cond_destroy(&svc->inflight_done);
    keyed_locks_free(svc->chain_locks);
    free(svc);
}

struct image_store *image_service_store(struct image_service *svc) {
    return svc->images;
}

struct plugin_instance *image_service_snapshotter(struct image_service *svc) {
    return svc->snapshotter;
}

void pull_clear(struct pull *p) {
    image_settings_unref(p->settings);
    free(p->reference);
    free(p->repo_tag);
    free(p->name);
    free(p->target.media_type);
    free(p->manifest_desc.media_type);
    image_manifest_free(p->manifest);
    image_config_free(p->config);
    strv_free(p->chain_ids);
    memset(p, 0, sizeof(*p));
}

/* USER "1000", "1000:1000" → uid; "app" or "app:grp" → username (malloc'd into *ret_name). */
static void set_user(image_record *rec, const char *user, Cleat__Store__V1__Int64Value *uid, char **ret_name) {
    *ret_name = NULL;
    if (!user || !*user)
        return;
    char *end;
    long long v = strtoll(user, &end, 10);
    if (end != user && (*end == '\0' || *end == ':') && v >= 0) {
        uid->value = v;
        rec->uid = uid;
    } else if ((*ret_name = strndup(user, strcspn(user, ":")))) {
        rec->username = *ret_name;
    }
}

static char *platform_string(const struct platform *pl) {
    char *s = NULL;
    if (asprintf(&s, "%s/%s%s%s", pl->os ? pl->os : "linux", pl->architecture ? pl->architecture : "",
                 pl->variant && *pl->variant ? "/" : "", pl->variant ? pl->variant : "") < 0)
        return NULL;
    return s;
}

int pull_record(struct pull *p, struct cleat_error **reterr) {
    image_record rec = CLEAT__STORE__V1__IMAGE_RECORD__INIT;
    Cleat__Store__V1__Int64Value uid = CLEAT__STORE__V1__INT64_VALUE__INIT;
    struct image_manifest *m = p->manifest;
    size_t n_blobs = 0;
    char **blobs = calloc(m->n_layers + 3, sizeof(*blobs));
    char *repo_digest = NULL, *platform = platform_string(&p->svc->platform);
    if (!blobs || !platform) {
        free(blobs);
        free(platform);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    rec.id = m->config.digest + strlen("sha256:");
    rec.size = (uint64_t)(m->config.size > 0 ? m->config.size : 0);
    for (size_t i = 0; i < m->n_layers; i++)
        rec.size += (uint64_t)(m->layers[i].size > 0 ? m->layers[i].size : 0);
    char *username = NULL;
    set_user(&rec, p->config->user, &uid, &username);
    rec.manifest_digest = p->manifest_desc.digest;
    rec.manifest_media_type = p->manifest_desc.media_type;
    rec.target_digest = p->target.digest;
    rec.created_at_ns = now_ns();
    if (strcmp(p->target.digest, p->manifest_desc.digest) != 0)
        blobs[n_blobs++] = p->target.digest;
    blobs[n_blobs++] = p->manifest_desc.digest;
    blobs[n_blobs++] = m->config.digest;
    for (size_t i = 0; i < m->n_layers; i++)
        blobs[n_blobs++] = m->layers[i].digest;
    rec.blobs = blobs;
    rec.n_blobs = n_blobs;
    rec.chain_ids = p->chain_ids;
    rec.n_chain_ids = m->n_layers;
    rec.platform = platform;
    rec.snapshotter = (char *)p->svc->snapshotter->name;
    if (p->name && asprintf(&repo_digest, "%s@%s", p->name, p->target.digest) < 0)
        repo_digest = NULL;
    int r = image_store_put(p->svc->images, &rec, p->repo_tag, repo_digest, reterr);
    free(username); /* rec.username may be protobuf-c's static empty string */
    free(repo_digest);
    free(platform);
    free(blobs);
    return r;
}

/* --- garbage collection --------------------------------------------------------- */

static int gc_blob(void *ctx, const char *digest, int64_t size) {
    struct image_service *svc = ctx;
    if (image_store_uses_blob(svc->images, digest))
        return 0;
    struct cleat_error *err = NULL;
    if (content_delete(svc->content, digest, &err) < 0)
        log_warning("gc: %s", error_message(err));
    else
        log_debug("gc: removed blob %s (%lld bytes)", digest, (long long)size);
    error_free(err);
    return 0;
}

/* Committed chain snapshots no image needs, and unpack leftovers of crashed pulls. */
static int collect_snapshot(void *ctx, const struct cleat_snapshot_info *info) {
    struct image_service *svc = ((void **)ctx)[0];
    struct strlist *l = ((void **)ctx)[1];
    int chain = info->kind == CLEAT_SNAPSHOT_COMMITTED && strncmp(info->key, "sha256:", 7) == 0 &&
                !image_store_uses_chain(svc->images, info->key);
    int leftover = info->kind != CLEAT_SNAPSHOT_COMMITTED && strncmp(info->key, "extract-", 8) == 0;
    if (!chain && !leftover)
        return 0;
    return strlist_add(l, info->key) < 0;
}

static void gc_snapshots(struct image_service *svc) {
    struct plugin_instance *sn = svc->snapshotter;
    struct strlist l = {0};
    struct cleat_error *err = NULL;
    void *ctx[2] = {svc, &l};
    if (!sn || !plugin_has_op(sn, "walk") || !plugin_has_op(sn, "remove"))
        return;
    if (plugin_snapshotter_walk(sn, collect_snapshot, ctx, &err) < 0) {
        log_warning("gc: listing snapshots: %s", error_message(err));
        error_free(err);
    }
    /* Children before parents: retry while something goes; a parent of a live snapshot stays. */
    for (int progress = 1; progress;) {
        progress = 0;
        for (size_t i = 0; i < l.n; i++) {
            if (!l.v[i])
                continue;
            err = NULL;
            if (plugin_snapshotter_remove(sn, l.v[i], &err) == 0) {
                log_debug("gc: removed snapshot %s", l.v[i]);
                free(l.v[i]);
                l.v[i] = NULL; /* strlist_free frees what is left */
                progress = 1;
            }
            error_free(err);
        }
    }
    strlist_free(&l);
}

/* Collect with gc_lock held exclusively. */
static void gc_locked(struct image_service *svc) {
    struct cleat_error *err = NULL;
    atomic_store(&svc->gc_wanted, 0);
    gc_snapshots(svc);
    if (content_walk(svc->content, gc_blob, svc, &err) < 0) {
        log_warning("gc: listing blobs: %s", error_message(err));
        error_free(err);
    }
}

void image_gc(struct image_service *svc) {
    pthread_rwlock_wrlock(&svc->gc_lock);
    gc_locked(svc);
    pthread_rwlock_unlock(&svc->gc_lock);
    /* Asked for (image_gc_soon) while this one ran, maybe after it had walked: once more. */
    if (atomic_load(&svc->gc_wanted))
        image_gc_soon(svc);
}

void image_gc_soon(struct image_service *svc) {
    /* Set first: a pull that ends between a failed trylock and this store would miss it. */
    atomic_store(&svc->gc_wanted, 1);
    if (pthread_rwlock_trywrlock(&svc->gc_lock) != 0)
        return; /* a pull holds it: image_pull collects when it is done */
    gc_locked(svc);
    pthread_rwlock_unlock(&svc->gc_lock);
}

/* Whether `ref` names a pinned image now (for the log line of its removal). */
static int names_pinned(struct image_service *svc, const char *ref) {
    char id[ID_HEX_LEN + 1];
    if (image_store_resolve(svc->images, ref, id, NULL) < 0)
        return 0;
    char **ids = image_service_pinned_ids(svc);
    int pinned = image_ids_contain(ids, id);
    strv_free(ids);
    return pinned;
}

int image_remove(struct image_service *svc, const char *ref, struct cleat_error **reterr) {
    char removed[ID_HEX_LEN + 1];
    struct cleat_error *err = NULL;
    /* A pinned image goes too when asked, as in containerd: pinning tells kubelet's GC, which never asks. */
    int pinned = names_pinned(svc, ref);
    int r = image_store_remove(svc->images, ref, removed, &err);
    if (r < 0 && error_status(err) == CLEAT_STATUS_NOT_FOUND) {
        error_free(err); /* removing what is gone is not an error (kubelet retries) */
        return 0;
    }
    if (r < 0) {
        *reterr = err;
        return r;
    }
    if (*removed) {
        log_info("removed image sha256:%s%s", removed, pinned ? " (pinned in images.pinned, removed on request)" : "");
        image_gc(svc);
    }
    return 0;
}

/* --- disk usage ----------------------------------------------------------------- */

static void add_usage(struct image_fs_usage *out, size_t *n, dev_t *devs, const char *path, int64_t bytes,
                      int64_t inodes) {
    struct stat st;
    dev_t dev = stat(path, &st) == 0 ? st.st_dev : 0;
    for (size_t i = 0; i < *n; i++)
        if (devs[i] == dev) {
            out[i].bytes += bytes;
            out[i].inodes += inodes;
            return;
        }
    devs[*n] = dev;
    snprintf(out[*n].mountpoint, sizeof(out[*n].mountpoint), "%s", path);
    out[*n].bytes = bytes;
    out[*n].inodes = inodes;
    (*n)++;
}

int image_fs_usage(struct image_service *svc, struct image_fs_usage ret[2], size_t *ret_n,
                   struct cleat_error **reterr) {
    int64_t bytes = 0, inodes = 0;
    dev_t devs[2];
    size_t n = 0;
    int r = content_usage(svc->content, &bytes, &inodes, reterr);
    if (r < 0)
        return r;
    add_usage(ret, &n, devs, content_store_path(svc->content), bytes, inodes);
    struct plugin_instance *sn = svc->snapshotter;
    if (sn && plugin_has_op(sn, "fs_usage")) {
        struct cleat_usage u = {0};
        r = plugin_snapshotter_fs_usage(sn, &u, reterr);
        if (r < 0)
            return error_prefix(r, reterr, "snapshotter '%s'", sn->name);
        add_usage(ret, &n, devs, sn->root_dir, u.bytes, u.inodes);
    }
    *ret_n = n;
    return 0;
}

int image_service_config(struct image_service *svc, const image_record *rec, struct image_config **ret,
                         struct cleat_error **reterr) {
    char digest[DIGEST_MAX], *json = NULL;
    size_t len = 0;
    snprintf(digest, sizeof(digest), "sha256:%s", rec->id);
    int r = content_read_small(svc->content, digest, 8 << 20, &json, &len, reterr);
    if (r < 0)
        return error_prefix(r, reterr, "the config of image %s", digest);
    r = image_config_parse(json, len, ret, reterr);
    free(json);
    return r;
}
