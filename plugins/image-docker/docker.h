/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image-docker: the registry transport (Docker Registry HTTP API v2 / OCI
 * distribution spec) over libcurl, with OpenSSL for TLS, sha256 and base64.
 *
 * The pieces, one file each:
 *   registry_config.c  the `options:` map, per-registry settings, endpoints;
 *   registry_ref.c     parsing a normalised reference into its parts;
 *   registry_http.c    one HTTP exchange: curl handle set-up, header capture,
 *                      body into a buffer or a blob writer, error mapping;
 *   registry_auth.c    WWW-Authenticate, credentials, Basic, the token cache;
 *   registry_token.c   the bearer token flow (docker token spec, OAuth2 refresh);
 *   registry_client.c  a request against one endpoint: auth, retries, back-off;
 *   plugin.c           the descriptor, init/fini, resolve() and fetch().
 *
 * Internal to the plugin; nothing here is exported (-fvisibility=hidden).
 */
#ifndef IMAGE_DOCKER_H
#define IMAGE_DOCKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cleat/transport.h>

#include "plugin_cleanup.h"
#include "plugin_error.h"

/* The media types the plugin asks for, and recognises as manifests. */
#define DK_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DK_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define DK_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define DK_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"

/* Manifests are small; a bigger answer is refused rather than buffered (as containerd does). */
#define DK_MANIFEST_MAX (4u << 20)
/* Error bodies and token responses: keep only this much. */
#define DK_SMALL_BODY_MAX (64u << 10)

/* ------------------------------------------------------------------------- */
/* registry_config.c                                                         */

/* Every string is the config's own copy: the options tree is not kept (reconfigure hands it for the call only). */
struct dk_registry {
    char *host;       /* the key: "host[:port]" */
    int32_t insecure; /* plain http to this host */
    char *ca_file, *cert_file, *key_file;
    char **mirrors; /* NULL-terminated base URLs */
};

struct dk_config {
    int64_t max_concurrent_downloads;
    int64_t stall_timeout_seconds;
    int64_t connect_timeout_seconds;
    int64_t retries;
    struct dk_registry *registries;
    size_t n_registries;
};

/* The option keys and their defaults, for the docs and the tests. */
#define DK_DEFAULT_MAX_CONCURRENT 3
#define DK_DEFAULT_STALL_TIMEOUT 30
#define DK_DEFAULT_CONNECT_TIMEOUT 10
#define DK_DEFAULT_RETRIES 3

/* Read and check `options` (NULL: defaults).  Fills *cfg (copying what it keeps); free with dk_config_done(). */
int dk_config_parse(const struct cleat_host *host, const struct cleat_config *options, struct dk_config *cfg,
                    struct cleat_error **reterr);
void dk_config_done(struct dk_config *cfg);
/* The settings for `hostport` ("127.0.0.1:5000", "docker.io"), or NULL. */
const struct dk_registry *dk_config_find(const struct dk_config *cfg, const char *hostport);

/* One place to send a request to: a mirror or the registry itself. */
struct dk_endpoint {
    char *base; /* "https://registry-1.docker.io", "http://127.0.0.1:5000", a mirror's URL; no trailing '/' */
    char *host; /* host[:port] of `base`, to find its TLS settings and key the token cache */
    int32_t mirror;
    const struct dk_registry *tls; /* settings for `host`, or NULL */
};

/* Mirrors first (in order), then the registry; free with dk_endpoints_free(). */
int dk_endpoints(const struct cleat_host *host, const struct dk_config *cfg, const char *domain,
                 struct dk_endpoint **ret, size_t *ret_n, struct cleat_error **reterr);
void dk_endpoints_free(struct dk_endpoint *e, size_t n);
/* host[:port] of an http(s) URL, malloc'd; NULL if it is not one. */
char *dk_url_hostport(const char *url);

/* ------------------------------------------------------------------------- */
/* registry_ref.c                                                            */

struct dk_ref {
    char *domain; /* "docker.io", "127.0.0.1:5000" */
    char *name;   /* the repository: "library/busybox" */
    char *tag;    /* NULL when absent */
    char *digest; /* NULL when absent */
};

/* Parse and check a normalised reference; INVALID_ARGUMENT names what is wrong. */
int dk_ref_parse(const struct cleat_host *host, const char *reference, struct dk_ref *ref, struct cleat_error **reterr);
void dk_ref_done(struct dk_ref *ref);
/* 1 when `d` is "sha256:<64 lowercase hex>" or "sha512:<128 lowercase hex>". */
int dk_digest_valid(const char *d);
/* "sha256:<hex>" of `data`, malloc'd. */
char *dk_sha256_digest(const void *data, size_t len);

/* ------------------------------------------------------------------------- */
/* registry_http.c                                                           */

/* A growable byte buffer that refuses to grow past `max`. */
struct dk_buf {
    char *data;
    size_t len, cap, max;
    int32_t truncated; /* a write went past `max` */
};
void dk_buf_done(struct dk_buf *b);

/* What a request asks for. */
struct dk_http_req {
    const char *method; /* "GET", "HEAD", "POST" */
    const char *url;
    const char *accept;        /* or NULL */
    const char *authorization; /* the whole header value, or NULL; never logged */
    const char *post_body;     /* form body for POST, or NULL */
    uint64_t range_from;       /* non-zero: ask for bytes from here on */
    const struct dk_registry *tls;
    const struct dk_config *cfg; /* the timeouts; the settings the request's pull started with */
    int32_t follow;              /* follow redirects (blobs: to storage) */
    int32_t plain_redirects;     /* redirects may go to http:// (the endpoint itself is http) */
    /* Streaming: when `writer` is set, a 200/206 body goes there instead of `body`. */
    struct cleat_blob_writer *writer;
    size_t body_max; /* cap on the buffered body */
};

/* What came back. */
struct dk_http_resp {
    long status;            /* 0 when no HTTP answer arrived */
    int curl_code;          /* CURLcode */
    char curl_msg[256];     /* libcurl's detailed message when curl_code != 0 */
    char *content_type;     /* without parameters; NULL when absent */
    char *docker_digest;    /* Docker-Content-Digest */
    char *www_authenticate; /* the first challenge header of the final response */
    char *content_range;
    int64_t content_length;        /* -1 when absent */
    int32_t range_ignored;         /* asked for a range, got 200: nothing was written */
    int32_t range_wrong;           /* a 206 that does not start where asked */
    uint64_t written;              /* bytes handed to the writer */
    struct cleat_error *write_err; /* the writer's own error, if it refused bytes */
    struct dk_buf body;
};
void dk_http_resp_done(const struct cleat_host *host, struct dk_http_resp *r);

struct dk_http; /* the shared connection cache, DNS cache and TLS sessions */

int dk_http_new(const struct cleat_host *host, struct dk_http **ret, struct cleat_error **reterr);
void dk_http_free(struct dk_http *h);
/* Run one exchange (no retries, no auth).  Fails only for local errors (memory); see resp for the rest. */
int dk_http_do(struct dk_http *h, const struct dk_http_req *req, struct dk_http_resp *resp,
               struct cleat_error **reterr);
/* 1 when the exchange failed in a way worth retrying (connect failure, stall, 429, 5xx). */
int dk_http_transient(const struct dk_http_resp *resp);
/* The registry's own words from an error body ({"errors":[{"message":...}]}), malloc'd, or NULL. */
char *dk_http_error_message(const struct dk_http_resp *resp);
/* A short description of a failed exchange, malloc'd ("HTTP 503: ...", "connection refused"). */
char *dk_http_describe(const struct dk_http_resp *resp);
/* Sleep for the back-off before retry number `attempt` (0-based) of a transient failure: 200 ms << attempt, at most 10 s. */
void dk_backoff(uint32_t attempt);

/* ------------------------------------------------------------------------- */
/* registry_auth.c and registry_token.c                                      */

struct dk_challenge {
    char *scheme; /* "basic" or "bearer", lower case */
    char *realm, *service, *scope, *error;
};
/* Parse the first challenge of a WWW-Authenticate value. */
int dk_challenge_parse(const char *value, struct dk_challenge *ret);
void dk_challenge_done(struct dk_challenge *c);

/*
 * A token server's JSON answer: *ret_header "Bearer <token or access_token>"
 * (malloc'd) and *ret_lifetime, the seconds to cache it (0.9 * expires_in,
 * 60 s by default).  -EBADMSG without a usable token (or with CR/LF in it).
 */
int dk_token_parse(const char *body, size_t len, char **ret_header, double *ret_lifetime);

struct dk_token_cache;
struct dk_token_cache *dk_token_cache_new(void);
void dk_token_cache_free(struct dk_token_cache *c);

/* What credentials a request carries, decoded once from the CRI AuthConfig. */
struct dk_creds {
    char *username, *password; /* both set or both NULL */
    const char *identity_token, *registry_token;
    char key[65]; /* hex sha256 of all of them: tokens are cached per identity, never across */
};
int dk_creds_init(const struct cleat_host *host, const struct cleat_auth *auth, struct dk_creds *ret,
                  struct cleat_error **reterr);
void dk_creds_done(struct dk_creds *c);
/* "Basic <base64 user:pass>", malloc'd; NULL without credentials. */
char *dk_basic_header(const struct dk_creds *creds);

/* A cached "Bearer ..." header for (host, scope, identity), malloc'd, or NULL. */
char *dk_token_lookup(struct dk_token_cache *c, const char *host, const char *scope, const struct dk_creds *creds);
/* Cache a "Bearer ..." header for `lifetime` seconds. */
void dk_token_store(struct dk_token_cache *c, const char *host, const char *scope, const struct dk_creds *creds,
                    const char *header, double lifetime);
void dk_token_forget(struct dk_token_cache *c, const char *host, const char *scope, const struct dk_creds *creds);

struct dk_auth_ctx {
    const struct cleat_host *host;
    struct dk_http *http;
    const struct dk_config *cfg;
    struct dk_token_cache *cache;
    const struct dk_endpoint *ep;
    const struct dk_creds *creds;
    const char *scope; /* "repository:<name>:pull" */
};
/*
 * Answer a 401 challenge: returns the Authorization header value to retry
 * with (malloc'd).  PERMISSION_DENIED with errno EKEYREJECTED when there are
 * no usable credentials or the token server refuses them (asking the
 * registry again, another way, cannot help); UNAVAILABLE when the token
 * server cannot be reached.
 */
int dk_auth_answer(const struct dk_auth_ctx *a, const struct dk_challenge *ch, char **ret, struct cleat_error **reterr);

/* ------------------------------------------------------------------------- */
/* registry_client.c                                                         */

struct dk_call {
    const struct dk_auth_ctx *auth; /* endpoint, credentials, scope */
    const char *kind;               /* "manifest" or "blob", for messages */
    const char *name;               /* the reference or digest asked for, for messages */
    const char *method;
    const char *path; /* "/v2/<name>/manifests/<ref>" */
    const char *accept;
    struct cleat_blob_writer *writer; /* streaming (resumes from its offset on every attempt) */
    size_t body_max;
    int32_t *ret_fatal; /* if set: becomes 1 when the error must not be retried elsewhere (the writer refused) */
};
/*
 * One call against one endpoint: authenticates as the registry asks, retries
 * transient failures with exponential back-off, resumes a stream.  On
 * success *resp holds a 2xx answer (free with dk_http_resp_done).  Errors:
 * NOT_FOUND (404), PERMISSION_DENIED (401/403), UNAVAILABLE (network, 429,
 * 5xx after the retries, a server that ignores Range), INVALID_ARGUMENT (other 4xx).
 */
int dk_call(const struct dk_call *call, struct dk_http_resp *resp, struct cleat_error **reterr);

#endif
