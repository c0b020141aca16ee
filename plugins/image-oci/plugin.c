/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image-oci: the descriptor, instances, and the two transport ops, which
 * parse the reference and hand it to the layout (directory) or archive
 * (tarball) implementation.
 *
 * The core passes the whole reference, scheme included ("oci:/srv/img:1.0",
 * "oci-archive:/tmp/img.tar"), so one instance serves both schemes.  A bare
 * absolute path is accepted too (a directory is a layout, a regular file an
 * archive), so that the plugin works whether or not the core strips the
 * scheme first.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "oci.h"

static int oci_validate(const struct cleat_host *host, const struct cleat_config *options,
                        struct cleat_error **reterr) {
    static const char *const keys[] = {NULL}; /* no options yet: every key is unknown */
    return host->config_check_keys(options, keys, reterr);
}

static int oci_init(const struct cleat_host *host, const struct cleat_config *options, void **ret_instance,
                    struct cleat_error **reterr) {
    int r = oci_validate(host, options, reterr);
    if (r < 0)
        return r;
    struct oci *oci = calloc(1, sizeof(*oci));
    if (!oci)
        return plugin_oom(host, reterr);
    oci->host = host;
    r = pthread_mutex_init(&oci->lock, NULL);
    if (r != 0) {
        free(oci);
        return cleat_error_set(host, reterr, CLEAT_STATUS_INTERNAL, r, "cannot create a mutex: %s", strerror(r));
    }
    *ret_instance = oci;
    return 0;
}

static void oci_fini(void *instance) {
    struct oci *oci = instance;
    if (!oci)
        return;
    oci_archive_cache_free(oci);
    pthread_mutex_destroy(&oci->lock);
    free(oci);
}

/* Parse the request's reference; an unknown kind becomes layout or archive by what PATH is. */
static int oci_request_ref(struct oci *oci, const struct cleat_transport_request *request, struct oci_ref *ret,
                           struct cleat_error **reterr) {
    if (!request || !request->reference)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "no image reference given");
    int r = oci_ref_parse(oci, request->reference, ret, reterr);
    if (r < 0 || ret->kind != OCI_KIND_UNKNOWN)
        return r;
    struct stat st;
    if (stat(ret->path, &st) < 0) {
        r = errno;
        cleat_error_set(oci->host, reterr, plugin_errno_status(r), r, "image reference '%s': %s: %s",
                        request->reference, ret->path, strerror(r));
        oci_ref_done(ret);
        return -r;
    }
    ret->kind = S_ISDIR(st.st_mode) ? OCI_KIND_LAYOUT : OCI_KIND_ARCHIVE;
    return 0;
}

static int oci_resolve(void *instance, const struct cleat_transport_request *request, cleat_resolved_fn fn, void *ctx,
                       struct cleat_error **reterr) {
    struct oci *oci = instance;
    struct oci_ref ref;
    int r = oci_request_ref(oci, request, &ref, reterr);
    if (r < 0)
        return r;
    if (ref.kind == OCI_KIND_LAYOUT)
        r = oci_layout_resolve(oci, &ref, fn, ctx, reterr);
    else
        r = oci_archive_resolve(oci, &ref, fn, ctx, reterr);
    oci_ref_done(&ref);
    return r;
}

static int oci_fetch(void *instance, const struct cleat_transport_request *request, const struct cleat_descriptor *desc,
                     struct cleat_blob_writer *writer, struct cleat_error **reterr) {
    struct oci *oci = instance;
    if (!desc || !desc->digest)
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "fetch: no blob digest given");
    /* Digests come from manifests, outside input: only well-formed ones may become a path. */
    if (!oci_digest_valid(desc->digest))
        return cleat_error_set(oci->host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                               "invalid blob digest '%s': expected sha256:<64 hex digits> or sha512:<128 hex digits>",
                               desc->digest);
    struct oci_ref ref;
    int r = oci_request_ref(oci, request, &ref, reterr);
    if (r < 0)
        return r;
    if (ref.kind == OCI_KIND_LAYOUT)
        r = oci_layout_fetch(oci, &ref, desc, writer, reterr);
    else
        r = oci_archive_fetch(oci, &ref, desc, writer, reterr);
    oci_ref_done(&ref);
    return r;
}

static const struct cleat_transport_ops oci_ops = {
    .resolve = oci_resolve,
    .fetch = oci_fetch,
};

CLEAT_PLUGIN_DEFINE(CLEAT_CONCERN_TRANSPORT, "image-oci", "0.1.0",
                    "local images: OCI image layouts (oci:) and oci-archive tarballs (oci-archive:)", oci_validate,
                    oci_init, oci_fini, oci_ops);
