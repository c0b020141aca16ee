/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image side of the daemon: pulling (reference → transport → content
 * store → snapshots → image record), removing with garbage collection, and
 * disk usage.  The CRI ImageService handlers (cri_images.c) sit on top.
 *
 * Pull pipeline: the transport is chosen by the reference's scheme; the
 * manifest (or index, then the host platform's manifest), the config and
 * every layer go through the content store, which verifies digests while
 * bytes arrive; layers are fetched in parallel and unpacked, in order, each
 * into a snapshot on its parent named by its chain ID, so a layer shared by
 * images is unpacked once.  Two pulls of one reference share one download.
 * A failed pull removes what only it had made.
 */
#ifndef CLEAT_CORE_IMAGE_SERVICE_H
#define CLEAT_CORE_IMAGE_SERVICE_H

#include <cleat/transport.h>

#include "content_store.h"
#include "digest.h"
#include "error.h"
#include "image_manifest.h"
#include "image_store.h"
#include "plugin_loader.h"

struct image_service;

/*
 * What a pull may unpack (the images.* settings of the same names; 0: no
 * limit).  A pull past one fails with RESOURCE_EXHAUSTED naming the layer
 * and the setting, and its garbage collection removes what it made.
 */
struct image_unpack_limits {
    uint64_t max_layer_bytes;             /* a layer's tar; a blob bigger than this (and framing) is not even fetched */
    uint64_t max_image_bytes;             /* the layers one pull unpacks (those on the node already do not count) */
    uint32_t max_compression_ratio;       /* uncompressed per compressed byte ... */
    uint64_t compression_ratio_min_bytes; /* ... once a layer has unpacked this many */
    uint64_t min_free_bytes;              /* kept free on the snapshot filesystem */
};

struct image_service_options {
    const char *root_dir;
    uint32_t max_parallel_downloads; /* layers fetched at once per pull */
    /*
     * Layers unpacked at once per pull (0: 2), when the snapshotter can
     * prepare a layer before its parent is committed (prepare_ahead); one
     * after another otherwise.
     */
    uint32_t max_parallel_unpacks;
    /*
     * images.pull_progress_timeout_seconds: a pull that receives no byte
     * (and unpacks nothing) for this long is cancelled, DEADLINE_EXCEEDED
     * naming the setting; images.pull_progress_log_interval_seconds: how
     * often a running pull logs its progress.  0: never.
     */
    uint32_t pull_progress_timeout_seconds;
    uint32_t pull_progress_log_interval_seconds;
    struct image_unpack_limits limits;
    /*
     * The containers-policy.json(5) file every pull is checked against
     * (trust_policy.h), or NULL to accept every image; a file that is
     * missing or invalid fails image_service_open.  registries_d: the
     * containers-registries.d(5) directory saying where GPG signatures are
     * (read only with a policy; may be absent).
     */
    const char *signature_policy;
    const char *registries_d;
    /*
     * images.pinned: references (any form PullImage takes, or "sha256:"
     * IDs) of images reported as pinned; NULL-terminated, may be NULL.  A
     * malformed one fails image_service_open with INVALID_ARGUMENT.
     */
    const char *const *pinned;
};

int image_service_open(const struct image_service_options *o, struct plugins *plugins, struct registry *reg,
                       struct store *store, struct image_service **ret, struct cleat_error **reterr);
void image_service_free(struct image_service *svc);
/* Load and drop the signature policy and registries.d of `o`, as image_service_open would: for --check-config. */
int image_service_check_trust(const struct image_service_options *o, struct cleat_error **reterr);

/* Check images.pinned as image_service_open would: for --check-config. */
int image_service_check_pins(const char *const *pinned, struct cleat_error **reterr);

/*
 * The settings a reload may change without a restart: the signature policy
 * with its registries.d (signature_policy, registries_d) and the pins
 * (pinned) of `o`; the other fields of `o` are not read.
 *
 * image_settings_load() reads and checks them all, with no effect on any
 * service (the policy file is read again even when its path did not change:
 * its content is what an operator edits).  image_service_set_settings()
 * then puts them in force at once, taking ownership of `s`: pulls that
 * start afterwards use them, pulls already running finish with the policy
 * they started with, ListImages reports the new pins.  Calling it twice
 * with equal settings changes nothing visible.
 */
struct image_settings;
int image_settings_load(const struct image_service_options *o, struct image_settings **ret,
                        struct cleat_error **reterr);
void image_service_set_settings(struct image_service *svc, struct image_settings *s);
/*
 * What putting `s` in force would change, for the log: IMAGE_SETTINGS_POLICY
 * (no policy before or after, another file, or the file's bytes changed),
 * IMAGE_SETTINGS_PINS (other references or another order); 0 when nothing
 * would.  registries.d is read again with the policy but not compared.
 */
#define IMAGE_SETTINGS_POLICY 1u
#define IMAGE_SETTINGS_PINS 2u
unsigned image_service_settings_changes(struct image_service *svc, const struct image_settings *s);
/* Drop a reference (a snapshot nobody put in force, or one got from the service); NULL-safe. */
void image_settings_unref(struct image_settings *s);

/*
 * The IDs (64 hex, NULL-terminated, free with strv_free) of the images the
 * pins name right now: a pin names the image its reference resolves to at
 * the time of the call (a tag that moved takes its pin along), and nothing
 * while no such image is on the node.  NULL only when memory ran out.
 *
 * Pinning is a report to kubelet, whose image garbage collection keeps
 * pinned images; RemoveImage of a pinned image still removes it, as in
 * containerd (kubelet never asks to): an operator who asks for a removal
 * gets it.
 */
char **image_service_pinned_ids(struct image_service *svc);
/* Non-zero when `id` (64 hex) is in `ids` (as image_service_pinned_ids returns; NULL: none). */
int image_ids_contain(char *const *ids, const char *id);

/* Who waits for a pull: gone() says non-zero once that caller's client has left (NULL: it never leaves). */
struct image_pull_client {
    int (*gone)(void *ctx); /* called from the pull's monitor thread, about once a second */
    void *ctx;
};

/*
 * Pull `ref` and return the image ID ("sha256:<hex>", the config digest).
 * Callers pulling the same reference with the same credentials share one
 * pull; it is cancelled (CANCELLED, nothing left behind: partial downloads
 * and snapshots go, as after any failure) once every one of them has a
 * client that went away, and (DEADLINE_EXCEEDED) when it makes no progress
 * for pull_progress_timeout_seconds.  `client` may be NULL.
 */
int image_pull(struct image_service *svc, const char *ref, const struct cleat_auth *auth,
               const struct image_pull_client *client, char ret_id[DIGEST_MAX], struct cleat_error **reterr);

/* Remove what `ref` names (see image_store_remove), then collect garbage.  Absent → 0 (idempotent). */
int image_remove(struct image_service *svc, const char *ref, struct cleat_error **reterr);

/* Remove blobs and committed chain snapshots that no image needs. */
void image_gc(struct image_service *svc);
/*
 * image_gc without waiting: now if no pull runs, else when the running
 * pulls are done (the last one collects).  For callers that must not wait
 * for a download, such as the removal of a container whose image volume
 * kept the layers of a removed image.
 */
void image_gc_soon(struct image_service *svc);

struct image_fs_usage {
    char mountpoint[4096];
    int64_t bytes, inodes;
};

/* Disk use of content and snapshots, one entry per filesystem (at most 2). */
int image_fs_usage(struct image_service *svc, struct image_fs_usage ret[2], size_t *ret_n, struct cleat_error **reterr);

/* The parsed config of a stored image (read from the content store); free with image_config_free(). */
int image_service_config(struct image_service *svc, const image_record *rec, struct image_config **ret,
                         struct cleat_error **reterr);

struct image_store *image_service_store(struct image_service *svc);
/* The snapshotter instance images are unpacked with, or NULL if none is configured. */
struct plugin_instance *image_service_snapshotter(struct image_service *svc);

#endif
