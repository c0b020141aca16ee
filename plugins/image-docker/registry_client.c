/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image-docker: one registry call against one endpoint, with authentication,
 * retries and resumption; and the mapping of what went wrong to a status.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "docker.h"

/* What a user can do about a TLS failure. */
static const char *tls_hint(const struct dk_call *call, const struct dk_http_resp *resp) {
    const struct dk_endpoint *ep = call->auth->ep;
    if (strncasecmp(ep->base, "https://", 8) != 0)
        return "";
    switch (resp->curl_code) {
    case CURLE_SSL_CONNECT_ERROR:
        return ep->mirror ? ""
                          : " (if this registry speaks plain http, set insecure: true for it in the image-docker "
                            "options)";
    case CURLE_PEER_FAILED_VERIFICATION:
        return " (if it uses a private CA, set ca_file for it in the image-docker options)";
    case CURLE_SSL_CERTPROBLEM:
        return " (check cert_file and key_file)";
    default:
        return "";
    }
}

/* Turn a failed exchange into an error; frees resp. */
static int call_error(const struct dk_call *call, struct dk_http_resp *resp, uint32_t attempts,
                      struct cleat_error **reterr) {
    const struct cleat_host *host = call->auth->host;
    const char *where = call->auth->ep->host;
    _cleanup_free_ char *what = dk_http_describe(resp);
    _cleanup_free_ char *msg = dk_http_error_message(resp);
    long status = resp->curl_code == CURLE_OK ? resp->status : 0;
    int transient = dk_http_transient(resp);
    int too_big = resp->body.truncated && resp->status >= 200 && resp->status < 300;
    const char *hint = tls_hint(call, resp);
    dk_http_resp_done(host, resp);
    if (!what)
        return plugin_oom(host, reterr);
    if (too_big)
        return cleat_error_set(host, reterr, CLEAT_STATUS_FAILED_PRECONDITION, EFBIG,
                               "pulling %s %s from %s: larger than %u MiB, refused", call->kind, call->name, where,
                               (unsigned)(call->body_max >> 20));

    if (status == 404)
        return cleat_error_set(host, reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "%s unknown: %s%s%s%s", call->kind,
                               call->name, call->auth->ep->mirror ? " (at mirror " : "",
                               call->auth->ep->mirror ? where : "", call->auth->ep->mirror ? ")" : "");
    if (status == 401 || status == 403)
        return cleat_error_set(host, reterr, CLEAT_STATUS_PERMISSION_DENIED, EACCES, "pulling %s %s from %s: %s",
                               call->kind, call->name, where, msg ? msg : what);
    if (transient)
        return cleat_error_set(host, reterr, CLEAT_STATUS_UNAVAILABLE, EAGAIN,
                               "pulling %s %s from %s: %s (gave up after %" PRIu32 " attempt%s)", call->kind,
                               call->name, where, what, attempts, attempts == 1 ? "" : "s");
    if (status >= 400 && status < 500)
        return cleat_error_set(host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "pulling %s %s from %s: %s",
                               call->kind, call->name, where, what);
    return cleat_error_set(host, reterr, CLEAT_STATUS_UNAVAILABLE, EIO, "pulling %s %s from %s: %s%s", call->kind,
                           call->name, where, what, hint);
}

/* The writer refused bytes or a resume went wrong: these end the call, whatever the retries. */
static int stream_error(const struct dk_call *call, struct dk_http_resp *resp, uint64_t from,
                        struct cleat_error **reterr) {
    const struct cleat_host *host = call->auth->host;
    if (resp->write_err) {
        if (call->ret_fatal)
            *call->ret_fatal = 1;
        struct cleat_error *err = TAKE_PTR(resp->write_err);
        int errnum = host->error_errno(err);
        dk_http_resp_done(host, resp);
        return plugin_pass_error(host, reterr, err, -(errnum > 0 ? errnum : EIO));
    }
    int ignored = resp->range_ignored;
    dk_http_resp_done(host, resp);
    return cleat_error_set(host, reterr, CLEAT_STATUS_UNAVAILABLE, ESPIPE,
                           "pulling %s %s from %s: the server %s the request to resume at byte %" PRIu64
                           ", and what was written cannot be rewound; retry from the start",
                           call->kind, call->name, call->auth->ep->host,
                           ignored ? "ignored" : "answered a different range to", from);
}

/* The Authorization to start with: a CRI registry token, or a cached bearer token. */
static char *initial_authorization(const struct dk_auth_ctx *a, int32_t *from_cache) {
    char *h = NULL;
    *from_cache = 0;
    if (a->creds->registry_token) {
        if (asprintf(&h, "Bearer %s", a->creds->registry_token) < 0)
            h = NULL;
        return h;
    }
    h = dk_token_lookup(a->cache, a->ep->host, a->scope, a->creds);
    *from_cache = h != NULL;
    return h;
}

static void free_secret(char **s) {
    if (*s) {
        explicit_bzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

/* Answer a 401: forget a stale cached token, get a fresh Authorization.  Frees resp. */
static int reauthorize(const struct dk_call *call, struct dk_http_resp *resp, int32_t from_cache, char **authz,
                       struct cleat_error **reterr) {
    const struct dk_auth_ctx *a = call->auth;
    struct dk_challenge ch;
    int r = dk_challenge_parse(resp->www_authenticate, &ch);
    dk_http_resp_done(a->host, resp);
    if (r == -ENOMEM)
        return plugin_oom(a->host, reterr);
    if (r < 0)
        return cleat_error_set(a->host, reterr, CLEAT_STATUS_PERMISSION_DENIED, EACCES,
                               "pulling %s %s from %s: HTTP 401 without a usable WWW-Authenticate challenge",
                               call->kind, call->name, a->ep->host);
    if (from_cache)
        dk_token_forget(a->cache, a->ep->host, a->scope, a->creds);
    free_secret(authz);
    r = dk_auth_answer(a, &ch, authz, reterr);
    dk_challenge_done(&ch);
    if (r < 0 && reterr && *reterr)
        a->host->error_wrap(*reterr, "pulling %s %s", call->kind, call->name);
    return r;
}

int dk_call(const struct dk_call *call, struct dk_http_resp *resp, struct cleat_error **reterr) {
    const struct dk_auth_ctx *a = call->auth;
    const struct cleat_host *host = a->host;
    _cleanup_free_ char *url = NULL;
    if (asprintf(&url, "%s%s", a->ep->base, call->path) < 0)
        return plugin_oom(host, reterr);
    int32_t from_cache = 0, answered = 0;
    char *authz = initial_authorization(a, &from_cache);
    uint32_t attempt = 0;
    int r;
    for (;;) {
        uint64_t from = call->writer ? host->blob_offset(call->writer) : 0;
        struct dk_http_req req = {.method = call->method,
                                  .url = url,
                                  .accept = call->accept,
                                  .authorization = authz,
                                  .range_from = from,
                                  .tls = a->ep->tls,
                                  .cfg = a->cfg,
                                  .follow = 1,
                                  .plain_redirects = strncasecmp(a->ep->base, "http://", 7) == 0,
                                  .writer = call->writer,
                                  .body_max = call->body_max};
        if ((r = dk_http_do(a->http, &req, resp, reterr)) < 0)
            break;
        if (resp->write_err || resp->range_ignored || resp->range_wrong) {
            r = stream_error(call, resp, from, reterr);
            break;
        }
        if (resp->curl_code == CURLE_OK && resp->status >= 200 && resp->status < 300)
            break; /* r == 0: the caller owns resp */
        if (resp->curl_code == CURLE_OK && resp->status == 401 && !answered) {
            answered = 1;
            if ((r = reauthorize(call, resp, from_cache, &authz, reterr)) < 0)
                break;
            continue;
        }
        if (dk_http_transient(resp) && attempt < (uint32_t)a->cfg->retries) {
            _cleanup_free_ char *what = dk_http_describe(resp);
            cleat_log(host, CLEAT_LOG_WARNING, "%s %s from %s: %s; retrying (%" PRIu32 " of %" PRId64 ")", call->kind,
                      call->name, a->ep->host, what ? what : "failed", attempt + 1, a->cfg->retries);
            dk_http_resp_done(host, resp);
            dk_backoff(attempt++);
            continue;
        }
        r = call_error(call, resp, attempt + 1, reterr);
        break;
    }
    free_secret(&authz);
    return r;
}
