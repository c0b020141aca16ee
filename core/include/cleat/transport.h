/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleat plugin SDK: the transport concern.
 *
 * A transport turns an image reference into a manifest descriptor and
 * fetches blobs by descriptor, like containerd's remotes.Resolver and
 * remotes.Fetcher.  The core picks the transport by the reference's scheme
 * (`oci:`, `oci-archive:`, none for a registry) as configured, parses
 * manifests and indexes itself, and writes every blob into its content store
 * through a host-owned writer that hashes and verifies while bytes arrive: a
 * transport never decides whether a blob is good.
 *
 * fetch() is called concurrently from several threads (layers are fetched in
 * parallel), also for one request; NULL ops answer UNIMPLEMENTED.
 */
#ifndef CLEAT_TRANSPORT_H
#define CLEAT_TRANSPORT_H

#include <stdint.h>

#include <cleat/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Credentials from the CRI AuthConfig; any field may be NULL. */
struct cleat_auth {
    uint64_t struct_size;
    const char *username;
    const char *password;
    const char *auth; /* base64 "user:password" */
    const char *server_address;
    const char *identity_token;
    const char *registry_token;
};

/* A content descriptor (OCI image spec). */
struct cleat_descriptor {
    const char *media_type;
    const char *digest; /* "sha256:<64 hex>" */
    int64_t size;
    const char *const *urls; /* NULL-terminated, may be NULL */
};

/* One pull, as the transport sees it.  Borrowed for the call. */
struct cleat_transport_request {
    uint64_t struct_size;
    /*
     * For registry transports (scheme ""), a normalised docker reference
     * ("docker.io/library/busybox:latest", "host:5000/x@sha256:...");
     * for a transport configured for schemes, the reference as the user gave
     * it, scheme included ("oci:/srv/images/busybox:1.0").
     */
    const char *reference;
    const struct cleat_auth *auth; /* may be NULL */
};

/* resolve() answers through this: the canonical name and the manifest or index descriptor. */
typedef int (*cleat_resolved_fn)(void *ctx, const char *name, const struct cleat_descriptor *desc);

/*
 * A transport keeps no state the core relies on across calls or restarts:
 * every pull starts with resolve(), and a fetch cut short by a crash is
 * resumed from the bytes the content store kept (blob_offset()).
 */
struct cleat_transport_ops {
    /*
     * Find what `request->reference` points to now and answer through fn,
     * exactly once on success: the canonical name and the descriptor of the
     * manifest or index (the core fetches it with fetch() and picks the
     * platform itself).  Return what fn returns when it fails.  Nothing is
     * cached by the core: every pull resolves again, so a tag that moved
     * gives the new manifest; resolving twice is harmless.  A reference that
     * names nothing (unknown tag, no such repository or file) is NOT_FOUND;
     * refused credentials PERMISSION_DENIED; a source that is unreachable
     * for now UNAVAILABLE.
     */
    int (*resolve)(void *instance, const struct cleat_transport_request *request, cleat_resolved_fn fn, void *ctx,
                   struct cleat_error **reterr);
    /*
     * Write the blob `desc` into `writer` with cleat_host.blob_write(),
     * starting at cleat_host.blob_offset(writer) (non-zero to resume).
     *
     * Write the blob's bytes in order and nothing else; the host verifies
     * size and digest, and refuses bytes past the size (stop at the first
     * failed blob_write() and return its error).  A source that cannot
     * start at a non-zero offset fails with errno ESPIPE (status
     * UNAVAILABLE): the core then drops what it had and the next pull starts
     * from zero.  A blob that is not there is NOT_FOUND.  The core calls it
     * again for the same blob after a failure or a restart, with the offset
     * of what was kept; a blob already complete is never fetched again.
     */
    int (*fetch)(void *instance, const struct cleat_transport_request *request, const struct cleat_descriptor *desc,
                 struct cleat_blob_writer *writer, struct cleat_error **reterr);

    /* --- ABI 1.4 ------------------------------------------------------- */

    /*
     * Optional (NULL: the instance's options need a restart to change).
     * Take new `options` for the instance, as init() would read them: cleatd
     * calls it from its main thread when a SIGHUP reload finds the
     * instance's `options:` changed, after validate() accepted them, while
     * resolve() and fetch() may run on other threads.  Calls that start
     * after it returns use the new options; calls in flight finish with
     * the ones they started with (a pull that resolved through a mirror
     * fetches from the mirror list it resolved with).  On failure the
     * instance keeps its old options unchanged, as if it had not been
     * called.  `options` is valid for the call only: copy what you keep.
     * Called twice with the same options: harmless.  Not called after a
     * restart (init() reads the file then).
     */
    int (*reconfigure)(void *instance, const struct cleat_config *options, struct cleat_error **reterr);
};

#ifdef __cplusplus
}
#endif

#endif /* CLEAT_TRANSPORT_H */
