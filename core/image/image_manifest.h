/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image manifests, indexes and configs: Docker schema 2 and OCI, parsed with
 * jansson into plain structs; platform selection; chain IDs.
 *
 * Everything here parses outside input (registries, archives), so every
 * parser bounds what it accepts: documents of at most MANIFEST_MAX_BYTES,
 * at most MANIFEST_MAX_ENTRIES layers, manifests or diff_ids, duplicate JSON
 * keys refused, every digest validated, sizes non-negative.
 */
#ifndef CLEAT_CORE_IMAGE_MANIFEST_H
#define CLEAT_CORE_IMAGE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "strlist.h" /* strv_free, for the arrays made here */

struct cleat_error;

#define MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
/* Schema 1: recognised only to be refused with a helpful message. */
#define MEDIA_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MEDIA_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

#define MEDIA_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MEDIA_OCI_CONFIG "application/vnd.oci.image.config.v1+json"

#define MEDIA_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define MEDIA_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MEDIA_DOCKER_LAYER_ZSTD "application/vnd.docker.image.rootfs.diff.tar.zstd"
#define MEDIA_DOCKER_LAYER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define MEDIA_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MEDIA_OCI_LAYER_ND "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define MEDIA_OCI_LAYER_ND_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define MEDIA_OCI_LAYER_ND_ZSTD "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

#define MANIFEST_MAX_BYTES ((size_t)4 << 20)
#define MANIFEST_MAX_ENTRIES 10000

#define MANIFEST_KIND_MANIFEST 1
#define MANIFEST_KIND_INDEX 2

/* How a layer blob is compressed. */
#define LAYER_COMPRESSION_NONE 0
#define LAYER_COMPRESSION_GZIP 1
#define LAYER_COMPRESSION_ZSTD 2

struct platform {
    char *os, *architecture, *variant, *os_version; /* variant, os_version may be NULL */
};

struct descriptor {
    char *media_type;
    char digest[DIGEST_MAX];
    int64_t size;
    char **urls; /* NULL-terminated, or NULL */
    struct platform platform;
    int has_platform;
    char **annotations; /* k, v, ..., NULL; or NULL */
};

struct image_index {
    struct descriptor *manifests;
    size_t n;
    char *media_type; /* the document's own mediaType, NULL if it has none */
};

struct image_manifest {
    char *media_type; /* the document's own mediaType, NULL if it has none */
    struct descriptor config;
    struct descriptor *layers;
    size_t n_layers;
};

/*
 * String arrays are NULL-terminated; entrypoint and cmd are NULL when the
 * config does not set them (an empty array when it sets them empty), the
 * others are NULL when absent or empty.
 */
struct image_config {
    char *os, *architecture, *variant;
    char *user;
    char **env, **entrypoint, **cmd;
    char *working_dir, *stop_signal;
    char **labels;        /* k, v, ... */
    char **exposed_ports; /* "80/tcp", ... */
    char **volumes;       /* "/data", ... */
    char **diff_ids;
    size_t n_diff_ids;
    int64_t created_ns; /* since the epoch; 0 when absent or outside int64 nanoseconds */
    char *author;
};

/*
 * What a manifest document is.  The media type comes from the hint (the
 * registry's Content-Type or the descriptor's mediaType; NULL, "" or a
 * generic type such as application/json are ignored), else from the
 * document's mediaType, else from its structure ("manifests" → OCI index,
 * "config"/"layers" → OCI manifest).  A hint and a document mediaType of
 * different kinds (manifest vs index) are refused.
 * Schema 1 (schemaVersion 1 or the v1 media types, signed or not) is
 * INVALID_ARGUMENT "schema 1 manifests are not supported ..."; an unknown
 * media type is INVALID_ARGUMENT naming it; malformed JSON is INVALID_ARGUMENT.
 * *ret_media_type is malloc'd.
 */
int manifest_kind(const char *media_type_hint, const char *json, size_t len, int *ret_kind, char **ret_media_type,
                  struct cleat_error **reterr);

/* Parse an OCI index or Docker manifest list.  Entries of any media type are kept (see image_index_select). */
int image_index_parse(const char *json, size_t len, struct image_index **ret, struct cleat_error **reterr);
/*
 * Parse a Docker schema 2 or OCI manifest: validates every descriptor's digest
 * and size >= 0, refuses a config that is not a container image config and
 * layers of unknown (or encrypted) media types; zero layers is allowed.
 */
int image_manifest_parse(const char *json, size_t len, struct image_manifest **ret, struct cleat_error **reterr);
/* Parse an image config (Docker or OCI; the same JSON). */
int image_config_parse(const char *json, size_t len, struct image_config **ret, struct cleat_error **reterr);

/*
 * The platform this build runs: "linux" and the GOARCH-style architecture
 * (amd64, arm64 with variant v8, arm with its variant from /proc/cpuinfo,
 * else v7, 386, ppc64le, s390x, riscv64...).  0, or -ENOMEM (*ret cleared).
 * Free the fields with platform_clear.
 */
int platform_host(struct platform *ret);
/* Free the fields and zero the struct.  NULL-safe. */
void platform_clear(struct platform *p);
/* "os/arch[/variant]" (malloc'd; NULL if out of memory). */
char *platform_format(const struct platform *p);

/*
 * Pick the best manifest for `want` from an index, as containerd's platform
 * matcher does.  OS and architecture must match after normalisation
 * (x86_64 → amd64, aarch64 → arm64, armhf → arm/v7...).  Among those, an
 * exact variant is preferred (arm64 with no variant ≈ v8, arm with none ≈
 * v7), then an entry without a variant, then, for arm and amd64, the nearest
 * lower variant (an arm/v7 host runs arm/v6).  Ties go to the first entry.
 * Entries without a platform, and entries that are not image manifests or
 * indexes (attestations and other artifacts), are skipped.
 * NOT_FOUND: "no manifest for linux/amd64 in index (available: linux/arm64, ...)".
 * *ret points into idx.
 */
int image_index_select(const struct image_index *idx, const struct platform *want, const struct descriptor **ret,
                       struct cleat_error **reterr);

/*
 * Chain IDs per the OCI image spec: chain[0] = diff[0],
 * chain[i] = sha256(chain[i-1] + " " + diff[i]).  A NULL-terminated malloc'd
 * array (free with strv_free); n = 0 gives an empty array.  Every diff_id
 * must be a valid sha256 digest.
 */
int image_chain_ids(char *const *diff_ids, size_t n, char ***ret, struct cleat_error **reterr);

/* 1 if media_type is a known image layer type, 0 if not. */
int layer_media_known(const char *media_type);
/* LAYER_COMPRESSION_* for a known layer media type, -1 for an unknown one. */
int layer_media_compression(const char *media_type);
/* 1 for foreign / non-distributable layers (fetched from their urls, if at all). */
int layer_media_foreign(const char *media_type);
/* 1 for the manifest and index media types, 0 otherwise. */
int media_is_manifest(const char *media_type);
int media_is_index(const char *media_type);

/* All NULL-safe. */
void image_index_free(struct image_index *idx);
void image_manifest_free(struct image_manifest *m);
void image_config_free(struct image_config *c);
/* Free a descriptor's fields and zero it. */
void descriptor_clear(struct descriptor *d);

#endif
