/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI ImageService: PullImage, ListImages, StreamImages, ImageStatus, RemoveImage,
 * ImageFsInfo, on top of the image service.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clocks.h"
#include "api.pb-c.h"
#include "cri.h"
#include "cri_items.h"
#include "heap.h"
#include "image_service.h"
#include "strbuf.h"

static const char *image_of(const Runtime__V1__ImageSpec *spec) {
    return spec && spec->image ? spec->image : "";
}

/* `pinned`: the IDs images.pinned names now (image_service_pinned_ids). */
static Runtime__V1__Image *image_message(struct arena *a, const image_record *rec, char *const *pinned) {
    Runtime__V1__Image *img = ARENA_NEW(a, Runtime__V1__Image);
    Runtime__V1__ImageSpec *spec = ARENA_NEW(a, Runtime__V1__ImageSpec);
    runtime__v1__image__init(img);
    runtime__v1__image_spec__init(spec);
    img->id = arena_printf(a, "sha256:%s", rec->id);
    img->n_repo_tags = rec->n_repo_tags;
    img->repo_tags = arena_array(a, rec->n_repo_tags + 1, sizeof(char *));
    for (size_t i = 0; i < rec->n_repo_tags; i++)
        img->repo_tags[i] = arena_strdup(a, rec->repo_tags[i]);
    img->n_repo_digests = rec->n_repo_digests;
    img->repo_digests = arena_array(a, rec->n_repo_digests + 1, sizeof(char *));
    for (size_t i = 0; i < rec->n_repo_digests; i++)
        img->repo_digests[i] = arena_strdup(a, rec->repo_digests[i]);
    img->size = rec->size;
    if (rec->uid) {
        img->uid = ARENA_NEW(a, Runtime__V1__Int64Value);
        runtime__v1__int64_value__init(img->uid);
        img->uid->value = rec->uid->value;
    }
    img->username = arena_strdup(a, rec->username ? rec->username : "");
    spec->image = img->id;
    img->spec = spec;
    img->pinned = image_ids_contain(pinned, rec->id);
    return img;
}

static struct cleat_auth *auth_of(struct arena *a, const Runtime__V1__AuthConfig *in) {
    if (!in)
        return NULL;
    struct cleat_auth *auth = ARENA_NEW(a, struct cleat_auth);
    auth->struct_size = sizeof(*auth);
#define AUTH_FIELD(f) auth->f = in->f && *in->f ? in->f : NULL
    AUTH_FIELD(username);
    AUTH_FIELD(password);
    AUTH_FIELD(auth);
    AUTH_FIELD(server_address);
    AUTH_FIELD(identity_token);
    AUTH_FIELD(registry_token);
#undef AUTH_FIELD
    return auth;
}

/* The pull's monitor asks whether kubelet (or crictl) still waits for the answer. */
static int client_gone(void *ctx) {
    return rpc_call_cancelled(ctx);
}

int cri_pull_image(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                   struct cleat_error **reterr) {
    struct cri_context *d = ctx;
    const Runtime__V1__PullImageRequest *in = (const Runtime__V1__PullImageRequest *)req;
    const char *ref = image_of(in->image);
    char id[DIGEST_MAX];
    if (!*ref)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "PullImage needs an image reference");
    struct image_pull_client client = {.gone = client_gone, .ctx = call};
    int r = image_pull(d->images, ref, auth_of(call->arena, in->auth), &client, id, reterr);
    /* Unpacking a layer needs a few MiB of buffers, freed now but kept mapped: hand them back. */
    heap_give_back();
    if (r < 0)
        return r;
    Runtime__V1__PullImageResponse *resp = ARENA_NEW(call->arena, Runtime__V1__PullImageResponse);
    runtime__v1__pull_image_response__init(resp);
    /* The image ID: kubelet 1.36 requires image_ref to equal Image.id. */
    resp->image_ref = arena_strdup(call->arena, id);
    *ret = &resp->base;
    return 0;
}

/* The images ListImages and StreamImages answer, into `out`: one when the filter names one, else all. */
static int images_to(struct cri_context *d, const Runtime__V1__ImageFilter *filter, struct cri_items *out,
                     struct cleat_error **reterr) {
    const char *name = filter ? image_of(filter->image) : "";
    char **pinned = image_service_pinned_ids(d->images);
    if (!pinned)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    image_record **recs = NULL;
    size_t n = 0;
    int r = 0;
    if (*name) {
        /* A filter names one image (any reference form); none matching is an empty list. */
        image_record *one = NULL;
        struct cleat_error *err = NULL;
        if (image_store_lookup(image_service_store(d->images), name, &one, &err) == 0) {
            r = cri_items_add(out, &image_message(out->arena, one, pinned)->base, reterr);
            image_record_free(one);
        }
        error_free(err);
    } else if ((r = image_store_list(image_service_store(d->images), &recs, &n, reterr)) >= 0) {
        for (size_t i = 0; r >= 0 && i < n; i++)
            r = cri_items_add(out, &image_message(out->arena, recs[i], pinned)->base, reterr);
        image_records_free(recs, n);
    }
    strv_free(pinned);
    return r;
}

int cri_list_images(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                    struct cleat_error **reterr) {
    const Runtime__V1__ListImagesRequest *in = (const Runtime__V1__ListImagesRequest *)req;
    struct cri_items it;
    cri_items_for_list(&it, call->arena);
    int r = images_to(ctx, in->filter, &it, reterr);
    Runtime__V1__ListImagesResponse *resp = ARENA_NEW(call->arena, Runtime__V1__ListImagesResponse);
    runtime__v1__list_images_response__init(resp);
    if (r >= 0)
        cri_items_into(&it, &resp->base);
    if ((r = cri_items_end(&it, r, reterr)) >= 0)
        *ret = &resp->base;
    return r;
}

int cri_stream_images(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, struct rpc_stream *stream,
                      struct cleat_error **reterr) {
    const Runtime__V1__StreamImagesRequest *in = (const void *)req;
    struct cri_items it;
    cri_items_for_stream(&it, stream, &runtime__v1__stream_images_response__descriptor);
    return cri_items_end(&it, images_to(ctx, in->filter, &it, reterr), reterr);
}

static char *verbose_info(struct arena *a, const image_record *rec) {
    struct strbuf b = {0};
    strbuf_puts(&b, "{\"id\":");
    strbuf_json_string(&b, rec->id);
    strbuf_puts(&b, ",\"manifestDigest\":");
    strbuf_json_string(&b, rec->manifest_digest);
    strbuf_puts(&b, ",\"manifestMediaType\":");
    strbuf_json_string(&b, rec->manifest_media_type);
    strbuf_puts(&b, ",\"targetDigest\":");
    strbuf_json_string(&b, rec->target_digest);
    strbuf_puts(&b, ",\"platform\":");
    strbuf_json_string(&b, rec->platform);
    strbuf_puts(&b, ",\"snapshotter\":");
    strbuf_json_string(&b, rec->snapshotter);
    strbuf_puts(&b, ",\"chainIDs\":[");
    for (size_t i = 0; i < rec->n_chain_ids; i++) {
        strbuf_puts(&b, i ? "," : "");
        strbuf_json_string(&b, rec->chain_ids[i]);
    }
    strbuf_puts(&b, "],\"blobs\":[");
    for (size_t i = 0; i < rec->n_blobs; i++) {
        strbuf_puts(&b, i ? "," : "");
        strbuf_json_string(&b, rec->blobs[i]);
    }
    strbuf_printf(&b, "],\"pulledAtNs\":%lld}", (long long)rec->created_at_ns);
    return arena_adopt(a, strbuf_steal(&b), "{}");
}

int cri_image_status(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                     struct cleat_error **reterr) {
    struct cri_context *d = ctx;
    const Runtime__V1__ImageStatusRequest *in = (const Runtime__V1__ImageStatusRequest *)req;
    const char *ref = image_of(in->image);
    if (!*ref)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "ImageStatus needs an image");
    Runtime__V1__ImageStatusResponse *resp = ARENA_NEW(call->arena, Runtime__V1__ImageStatusResponse);
    runtime__v1__image_status_response__init(resp);
    image_record *rec = NULL;
    struct cleat_error *err = NULL;
    /* An absent image is an empty answer, not an error: kubelet asks to decide whether to pull. */
    if (image_store_lookup(image_service_store(d->images), ref, &rec, &err) == 0) {
        char **pinned = image_service_pinned_ids(d->images);
        if (!pinned) {
            image_record_free(rec);
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        }
        resp->image = image_message(call->arena, rec, pinned);
        strv_free(pinned);
        if (in->verbose) {
            resp->info = arena_array(call->arena, 1, sizeof(*resp->info));
            Runtime__V1__ImageStatusResponse__InfoEntry *e =
                ARENA_NEW(call->arena, Runtime__V1__ImageStatusResponse__InfoEntry);
            runtime__v1__image_status_response__info_entry__init(e);
            e->key = "info";
            e->value = verbose_info(call->arena, rec);
            resp->info[resp->n_info++] = e;
        }
        image_record_free(rec);
    } else if (error_status(err) != CLEAT_STATUS_NOT_FOUND) {
        *reterr = err;
        return -EINVAL;
    }
    error_free(err);
    *ret = &resp->base;
    return 0;
}

int cri_remove_image(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                     struct cleat_error **reterr) {
    struct cri_context *d = ctx;
    const Runtime__V1__RemoveImageRequest *in = (const Runtime__V1__RemoveImageRequest *)req;
    const char *ref = image_of(in->image);
    if (!*ref)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "RemoveImage needs an image");
    int r = image_remove(d->images, ref, reterr);
    if (r < 0)
        return r;
    Runtime__V1__RemoveImageResponse *resp = ARENA_NEW(call->arena, Runtime__V1__RemoveImageResponse);
    runtime__v1__remove_image_response__init(resp);
    *ret = &resp->base;
    return 0;
}

static Runtime__V1__FilesystemUsage *fs_usage_message(struct arena *a, const struct image_fs_usage *u, int64_t now) {
    Runtime__V1__FilesystemUsage *m = ARENA_NEW(a, Runtime__V1__FilesystemUsage);
    runtime__v1__filesystem_usage__init(m);
    m->timestamp = now;
    m->fs_id = ARENA_NEW(a, Runtime__V1__FilesystemIdentifier);
    runtime__v1__filesystem_identifier__init(m->fs_id);
    m->fs_id->mountpoint = arena_strdup(a, u->mountpoint);
    m->used_bytes = ARENA_NEW(a, Runtime__V1__UInt64Value);
    runtime__v1__uint64_value__init(m->used_bytes);
    m->used_bytes->value = (uint64_t)(u->bytes > 0 ? u->bytes : 0);
    m->inodes_used = ARENA_NEW(a, Runtime__V1__UInt64Value);
    runtime__v1__uint64_value__init(m->inodes_used);
    m->inodes_used->value = (uint64_t)(u->inodes > 0 ? u->inodes : 0);
    return m;
}

int cri_image_fs_info(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **ret,
                      struct cleat_error **reterr) {
    struct cri_context *d = ctx;
    struct image_fs_usage usage[2];
    size_t n = 0;
    int r = image_fs_usage(d->images, usage, &n, reterr);
    if (r < 0)
        return r;
    int64_t now = now_ns();
    Runtime__V1__ImageFsInfoResponse *resp = ARENA_NEW(call->arena, Runtime__V1__ImageFsInfoResponse);
    runtime__v1__image_fs_info_response__init(resp);
    resp->image_filesystems = arena_array(call->arena, n + 1, sizeof(*resp->image_filesystems));
    for (size_t i = 0; i < n; i++)
        resp->image_filesystems[resp->n_image_filesystems++] = fs_usage_message(call->arena, &usage[i], now);
    /*
     * Writable layers live in the same snapshotter: kubelet's split-filesystem
     * support reads container_filesystems, so report the snapshotter's entry there.
     */
    if (n > 0) {
        resp->container_filesystems = arena_array(call->arena, 1, sizeof(*resp->container_filesystems));
        resp->container_filesystems[resp->n_container_filesystems++] =
            fs_usage_message(call->arena, &usage[n - 1], now);
    }
    *ret = &resp->base;
    return 0;
}
