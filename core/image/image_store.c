/* SPDX-License-Identifier: Apache-2.0 */
#include "image_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "image_ref.h"

struct image_store {
    struct registry *reg;
    struct store *store;
    pthread_mutex_t lock; /* guards the array; held across store writes of images only (never a plugin call) */
    image_record **images;
    size_t n, cap;
};

image_record *image_record_copy(const image_record *rec) {
    size_t len = cleat__store__v1__image_record__get_packed_size(rec);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return NULL;
    cleat__store__v1__image_record__pack(rec, buf);
    image_record *copy = cleat__store__v1__image_record__unpack(NULL, len, buf);
    free(buf);
    return copy;
}

void image_record_free(image_record *rec) {
    if (rec)
        cleat__store__v1__image_record__free_unpacked(rec, NULL);
}

void image_records_free(image_record **recs, size_t n) {
    for (size_t i = 0; recs && i < n; i++)
        image_record_free(recs[i]);
    free(recs);
}

/* Take ownership of rec into the array. */
static int append(struct image_store *is, image_record *rec) {
    if (is->n == is->cap) {
        size_t cap = is->cap ? is->cap * 2 : 16;
        image_record **a = reallocarray(is->images, cap, sizeof(*a));
        if (!a)
            return -ENOMEM;
        is->images = a;
        is->cap = cap;
    }
    is->images[is->n++] = rec;
    return 0;
}

static int load_one(void *ctx, const char *id, const char *name_key, const void *data, size_t len) {
    image_record *rec = cleat__store__v1__image_record__unpack(NULL, len, data);
    if (!rec)
        return -EBADMSG;
    int r = append(ctx, rec);
    if (r < 0)
        image_record_free(rec);
    return r;
}

int image_store_open(struct registry *reg, struct store *store, struct image_store **ret, struct cleat_error **reterr) {
    struct image_store *is = calloc(1, sizeof(*is));
    if (!is)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    is->reg = reg;
    is->store = store;
    pthread_mutex_init(&is->lock, NULL);
    int r = store_foreach(store, STORE_IMAGE, load_one, is, reterr);
    if (r < 0) {
        if (r == -EBADMSG)
            error_set(reterr, CLEAT_STATUS_INTERNAL, EBADMSG, "an image record in the store is corrupt");
        else if (r == -ENOMEM)
            error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        image_store_free(is);
        return r;
    }
    *ret = is;
    return 0;
}

void image_store_free(struct image_store *is) {
    if (!is)
        return;
    image_records_free(is->images, is->n);
    pthread_mutex_destroy(&is->lock);
    free(is);
}

static ssize_t find_id(const struct image_store *is, const char *hex) {
    for (size_t i = 0; i < is->n; i++)
        if (strcmp(is->images[i]->id, hex) == 0)
            return (ssize_t)i;
    return -1;
}

static int strv_has(char **v, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

/* Remove `s` from a protobuf-c repeated string field (which owns its strings). */
static int strv_drop(char **v, size_t *n, const char *s) {
    for (size_t i = 0; i < *n; i++)
        if (strcmp(v[i], s) == 0) {
            free(v[i]);
            memmove(v + i, v + i + 1, (--*n - i) * sizeof(*v));
            return 1;
        }
    return 0;
}

static int strv_add(char ***v, size_t *n, const char *s) {
    char *dup = strdup(s);
    char **a = dup ? reallocarray(*v, *n + 1, sizeof(**v)) : NULL;
    if (!a) {
        free(dup);
        return -ENOMEM;
    }
    a[(*n)++] = dup;
    *v = a;
    return 0;
}

static int persist(struct image_store *is, const image_record *rec, int is_new, struct cleat_error **reterr) {
    size_t len = cleat__store__v1__image_record__get_packed_size(rec);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    cleat__store__v1__image_record__pack(rec, buf);
    int r = is_new ? registry_add(is->reg, STORE_IMAGE, rec->id, NULL, NULL, buf, len, reterr)
                   : registry_update(is->reg, STORE_IMAGE, rec->id, buf, len, reterr);
    free(buf);
    return r;
}

/* Take reference `ref` away from every image but `keep_id` (a reference names one image). */
static int steal_ref(struct image_store *is, const char *ref, int digest, const char *keep_id,
                     struct cleat_error **reterr) {
    for (size_t i = 0; i < is->n; i++) {
        image_record *o = is->images[i];
        if (strcmp(o->id, keep_id) == 0)
            continue;
        int dropped = digest ? strv_drop(o->repo_digests, &o->n_repo_digests, ref)
                             : strv_drop(o->repo_tags, &o->n_repo_tags, ref);
        if (dropped) {
            int r = persist(is, o, 0, reterr);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int add_ref(struct image_store *is, image_record *rec, const char *ref, int digest,
                   struct cleat_error **reterr) {
    if (!ref)
        return 0;
    int r = steal_ref(is, ref, digest, rec->id, reterr);
    if (r < 0)
        return r;
    if (digest ? strv_has(rec->repo_digests, rec->n_repo_digests, ref)
               : strv_has(rec->repo_tags, rec->n_repo_tags, ref))
        return 0;
    r = digest ? strv_add(&rec->repo_digests, &rec->n_repo_digests, ref)
               : strv_add(&rec->repo_tags, &rec->n_repo_tags, ref);
    return r < 0 ? error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory") : 0;
}

int image_store_put(struct image_store *is, const image_record *in, const char *repo_tag, const char *repo_digest,
                    struct cleat_error **reterr) {
    image_record *rec = image_record_copy(in);
    if (!rec)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    pthread_mutex_lock(&is->lock);
    ssize_t at = find_id(is, rec->id);
    if (at >= 0) {
        /* Same image again: keep the references it had, take the new layout. */
        image_record *old = is->images[at];
        int r = 0;
        for (size_t i = 0; r == 0 && i < old->n_repo_tags; i++)
            if (!strv_has(rec->repo_tags, rec->n_repo_tags, old->repo_tags[i]))
                r = strv_add(&rec->repo_tags, &rec->n_repo_tags, old->repo_tags[i]);
        for (size_t i = 0; r == 0 && i < old->n_repo_digests; i++)
            if (!strv_has(rec->repo_digests, rec->n_repo_digests, old->repo_digests[i]))
                r = strv_add(&rec->repo_digests, &rec->n_repo_digests, old->repo_digests[i]);
        if (r < 0) {
            pthread_mutex_unlock(&is->lock);
            image_record_free(rec);
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        }
    }
    int r = add_ref(is, rec, repo_tag, 0, reterr);
    if (r >= 0)
        r = add_ref(is, rec, repo_digest, 1, reterr);
    if (r >= 0)
        r = persist(is, rec, at < 0, reterr);
    if (r >= 0 && at >= 0) {
        image_record_free(is->images[at]);
        is->images[at] = rec;
        rec = NULL;
    } else if (r >= 0) {
        if (append(is, rec) < 0) {
            /* Persisted but not indexed: the next start will see it; say so rather than lie. */
            r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory indexing image %s", rec->id);
        } else {
            rec = NULL;
        }
    }
    pthread_mutex_unlock(&is->lock);
    image_record_free(rec);
    return r;
}

/* How a parsed reference is recorded: "name@digest" when it has a digest, else "name:tag" (malloc'd). */
static char *recorded_form(const struct image_ref *parsed) {
    return parsed->digest ? image_ref_digested(parsed, parsed->digest) : image_ref_tagged(parsed);
}

/* The index of the image `ref` names; -1 when none.  Called with the lock held. */
static ssize_t find_ref(struct image_store *is, const char *ref, struct cleat_error **reterr) {
    struct image_ref *parsed = NULL;
    struct cleat_error *parse_err = NULL;
    ssize_t found = -1;
    if (strncmp(ref, "sha256:", 7) == 0 && id_is_valid(ref + 7)) {
        found = find_id(is, ref + 7);
        if (found < 0 && reterr)
            *reterr = error_new(CLEAT_STATUS_NOT_FOUND, ENOENT, "image '%s' not found", ref);
        return found;
    }
    /* As recorded: local transports' references ("oci:/srv/img:1.0") are kept verbatim. */
    for (size_t i = 0; i < is->n; i++)
        if (strv_has(is->images[i]->repo_tags, is->images[i]->n_repo_tags, ref) ||
            strv_has(is->images[i]->repo_digests, is->images[i]->n_repo_digests, ref))
            return (ssize_t)i;
    if (image_ref_parse(ref, &parsed, &parse_err) == 0) {
        char *want = recorded_form(parsed);
        for (size_t i = 0; want && found < 0 && i < is->n; i++) {
            image_record *rec = is->images[i];
            if (parsed->digest ? strv_has(rec->repo_digests, rec->n_repo_digests, want)
                               : strv_has(rec->repo_tags, rec->n_repo_tags, want))
                found = (ssize_t)i;
        }
        free(want);
        image_ref_free(parsed);
    }
    /* Not a known reference: maybe a short image ID, as crictl users type them. */
    if (found < 0 && id_is_valid_prefix(ref)) {
        char id[ID_HEX_LEN + 1];
        struct cleat_error *e = NULL;
        if (registry_resolve(is->reg, STORE_IMAGE, ref, id, &e) == 0)
            found = find_id(is, id);
        else if (error_status(e) != CLEAT_STATUS_NOT_FOUND && reterr) {
            error_free(*reterr);
            *reterr = e; /* ambiguous prefix: say so */
            e = NULL;
        }
        error_free(e);
    }
    if (found < 0 && reterr && !*reterr)
        *reterr = parse_err ? error_wrap(parse_err, "image '%s'", ref)
                            : error_new(CLEAT_STATUS_NOT_FOUND, ENOENT, "image '%s' not found", ref);
    else
        error_free(parse_err);
    return found;
}

int image_store_lookup(struct image_store *is, const char *ref, image_record **ret, struct cleat_error **reterr) {
    struct cleat_error *err = NULL;
    pthread_mutex_lock(&is->lock);
    ssize_t at = find_ref(is, ref, &err);
    image_record *copy = at >= 0 ? image_record_copy(is->images[at]) : NULL;
    pthread_mutex_unlock(&is->lock);
    if (at < 0) {
        if (reterr)
            *reterr = err;
        else
            error_free(err);
        return -ENOENT;
    }
    if (!copy)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    *ret = copy;
    return 0;
}

int image_store_resolve(struct image_store *is, const char *ref, char ret_id[ID_HEX_LEN + 1],
                        struct cleat_error **reterr) {
    struct cleat_error *err = NULL;
    pthread_mutex_lock(&is->lock);
    ssize_t at = find_ref(is, ref, &err);
    if (at >= 0)
        snprintf(ret_id, ID_HEX_LEN + 1, "%s", is->images[at]->id);
    pthread_mutex_unlock(&is->lock);
    if (at >= 0)
        return 0;
    if (reterr)
        *reterr = err;
    else
        error_free(err);
    return -ENOENT;
}

static int by_id(const void *a, const void *b) {
    return strcmp((*(image_record *const *)a)->id, (*(image_record *const *)b)->id);
}

int image_store_list(struct image_store *is, image_record ***ret, size_t *ret_n, struct cleat_error **reterr) {
    pthread_mutex_lock(&is->lock);
    image_record **out = calloc(is->n + 1, sizeof(*out));
    size_t n = 0;
    for (size_t i = 0; out && i < is->n; i++, n++)
        if (!(out[i] = image_record_copy(is->images[i])))
            break;
    int complete = out && n == is->n;
    pthread_mutex_unlock(&is->lock);
    if (!complete) {
        image_records_free(out, n);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    qsort(out, n, sizeof(*out), by_id);
    *ret = out;
    *ret_n = n;
    return 0;
}

int image_store_remove(struct image_store *is, const char *ref, char ret_removed_id[ID_HEX_LEN + 1],
                       struct cleat_error **reterr) {
    struct cleat_error *err = NULL;
    int r = 0;
    if (ret_removed_id)
        ret_removed_id[0] = '\0';
    pthread_mutex_lock(&is->lock);
    ssize_t at = find_ref(is, ref, &err);
    if (at < 0) {
        pthread_mutex_unlock(&is->lock);
        if (reterr)
            *reterr = err;
        else
            error_free(err);
        return -ENOENT;
    }
    image_record *rec = is->images[at];
    /* A reference by name goes alone while others still name the image. */
    int dropped =
        strv_drop(rec->repo_tags, &rec->n_repo_tags, ref) || strv_drop(rec->repo_digests, &rec->n_repo_digests, ref);
    if (!dropped) {
        struct image_ref *parsed = NULL;
        if (image_ref_parse(ref, &parsed, NULL) == 0) {
            char *norm = recorded_form(parsed);
            dropped = norm && (strv_drop(rec->repo_tags, &rec->n_repo_tags, norm) ||
                               strv_drop(rec->repo_digests, &rec->n_repo_digests, norm));
            free(norm);
            image_ref_free(parsed);
        }
    }
    /*
     * As docker does: once no tag names the image, its repo digests (which
     * pulls add by themselves) do not keep it alive.
     */
    if (dropped && rec->n_repo_tags > 0) {
        r = persist(is, rec, 0, reterr);
    } else {
        r = registry_remove(is->reg, STORE_IMAGE, rec->id, reterr);
        if (r >= 0) {
            if (ret_removed_id)
                snprintf(ret_removed_id, ID_HEX_LEN + 1, "%s", rec->id);
            image_record_free(rec);
            memmove(is->images + at, is->images + at + 1, (--is->n - (size_t)at) * sizeof(*is->images));
        }
    }
    pthread_mutex_unlock(&is->lock);
    return r;
}

int image_store_uses_blob(struct image_store *is, const char *digest) {
    int used = 0;
    pthread_mutex_lock(&is->lock);
    for (size_t i = 0; !used && i < is->n; i++)
        used = strv_has(is->images[i]->blobs, is->images[i]->n_blobs, digest);
    pthread_mutex_unlock(&is->lock);
    return used;
}

int image_store_uses_chain(struct image_store *is, const char *chain_id) {
    int used = 0;
    pthread_mutex_lock(&is->lock);
    for (size_t i = 0; !used && i < is->n; i++)
        used = strv_has(is->images[i]->chain_ids, is->images[i]->n_chain_ids, chain_id);
    pthread_mutex_unlock(&is->lock);
    return used;
}
