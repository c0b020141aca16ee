/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image-docker: answering a 401 challenge (Basic, or the bearer token flow of
 * the docker token spec, https://distribution.github.io/distribution/spec/auth/).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "docker.h"

/* Percent-encode everything but RFC 3986 unreserved characters; malloc'd. */
static char *url_encode(const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(3 * strlen(s) + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* "service=..&scope=..[&scope=..]": our scope, and the challenge's when it asks for another. */
static char *token_query(const struct dk_auth_ctx *a, const struct dk_challenge *ch) {
    _cleanup_free_ char *service = url_encode(ch->service ? ch->service : "");
    _cleanup_free_ char *scope = url_encode(a->scope);
    _cleanup_free_ char *extra = ch->scope && strcmp(ch->scope, a->scope) != 0 ? url_encode(ch->scope) : NULL;
    char *q = NULL;
    if (!service || !scope || (ch->scope && strcmp(ch->scope, a->scope) != 0 && !extra))
        return NULL;
    if (asprintf(&q, "%s%s&scope=%s%s%s", ch->service ? "service=" : "", ch->service ? service : "", scope,
                 extra ? "&scope=" : "", extra ? extra : "") < 0)
        return NULL;
    return q;
}

int dk_token_parse(const char *body, size_t len, char **ret_header, double *ret_lifetime) {
    json_t *root = json_loadb(body ? body : "", len, 0, NULL);
    if (!root)
        return -EBADMSG;
    const char *tok = json_string_value(json_object_get(root, "token"));
    if (!tok || !*tok)
        tok = json_string_value(json_object_get(root, "access_token"));
    json_int_t expires_in = json_integer_value(json_object_get(root, "expires_in"));
    int r = -EBADMSG;
    if (tok && *tok && !strpbrk(tok, "\r\n")) {
        r = asprintf(ret_header, "Bearer %s", tok) < 0 ? -ENOMEM : 0;
        /* The spec's default is 60 s; keep a tenth in hand for clock skew and the request's own time. */
        *ret_lifetime = (double)(expires_in > 0 ? expires_in : 60) * 0.9;
    }
    json_decref(root);
    return r;
}

static void wipe_body(struct dk_http_resp *resp) {
    if (resp->body.data)
        explicit_bzero(resp->body.data, resp->body.len);
}

/* One token request (GET with optional Basic, or the OAuth2 POST), retried on transient errors. */
static int token_request(const struct dk_auth_ctx *a, const char *realm, const char *query, int32_t post,
                         struct dk_http_resp *resp, struct cleat_error **reterr) {
    _cleanup_free_ char *url = NULL, *body = NULL, *basic = NULL, *refresh = NULL;
    _cleanup_free_ char *realm_host = dk_url_hostport(realm);
    if (post) {
        refresh = url_encode(a->creds->identity_token);
        if (!refresh ||
            asprintf(&body, "grant_type=refresh_token&client_id=cleat&refresh_token=%s&%s", refresh, query) < 0)
            return plugin_oom(a->host, reterr);
        explicit_bzero(refresh, strlen(refresh));
    } else {
        basic = dk_basic_header(a->creds);
        if (a->creds->username && !basic)
            return plugin_oom(a->host, reterr);
    }
    if (asprintf(&url, "%s%s%s", realm, post ? "" : strchr(realm, '?') ? "&" : "?", post ? "" : query) < 0)
        return plugin_oom(a->host, reterr);
    struct dk_http_req req = {.method = post ? "POST" : "GET",
                              .url = url,
                              .authorization = basic,
                              .post_body = body,
                              .tls = dk_config_find(a->cfg, realm_host),
                              .cfg = a->cfg,
                              .body_max = DK_SMALL_BODY_MAX};
    int r;
    for (uint32_t attempt = 0;; attempt++) {
        r = dk_http_do(a->http, &req, resp, reterr);
        if (r < 0 || !dk_http_transient(resp) || attempt >= (uint32_t)a->cfg->retries)
            break;
        dk_http_resp_done(a->host, resp);
        dk_backoff(attempt);
    }
    if (body)
        explicit_bzero(body, strlen(body));
    if (basic)
        explicit_bzero(basic, strlen(basic));
    return r;
}

static int bearer(const struct dk_auth_ctx *a, const struct dk_challenge *ch, char **ret, struct cleat_error **reterr) {
    const char *host = a->ep->host;
    if (a->creds->registry_token)
        return cleat_error_set(a->host, reterr, CLEAT_STATUS_PERMISSION_DENIED, EKEYREJECTED,
                               "registry %s refused the pull's registry token", host);
    _cleanup_free_ char *realm_host = ch->realm ? dk_url_hostport(ch->realm) : NULL;
    if (!realm_host)
        return cleat_error_set(a->host, reterr, CLEAT_STATUS_UNAVAILABLE, EPROTO,
                               "registry %s asks for a bearer token without an http(s) realm", host);
    /* Credentials go over TLS unless the registry itself was configured as plain http. */
    if (strncasecmp(ch->realm, "http://", 7) == 0 && strncasecmp(a->ep->base, "http://", 7) != 0)
        return cleat_error_set(a->host, reterr, CLEAT_STATUS_PERMISSION_DENIED, EKEYREJECTED,
                               "registry %s sends clients to a plain http token server (%s); refusing", host,
                               realm_host);
    _cleanup_free_ char *query = token_query(a, ch);
    if (!query)
        return plugin_oom(a->host, reterr);

    struct dk_http_resp resp;
    int32_t post = a->creds->identity_token != NULL;
    int r = token_request(a, ch->realm, query, post, &resp, reterr);
    /* Token servers without OAuth2 support answer the POST with 404/405: fall back to GET (as docker does). */
    if (r == 0 && post && (resp.status == 404 || resp.status == 405) && a->creds->username) {
        dk_http_resp_done(a->host, &resp);
        r = token_request(a, ch->realm, query, 0, &resp, reterr);
    }
    if (r < 0)
        return r;
    if (resp.curl_code == 0 && resp.status == 200) {
        double lifetime = 0;
        r = dk_token_parse(resp.body.data, resp.body.len, ret, &lifetime);
        wipe_body(&resp);
        dk_http_resp_done(a->host, &resp);
        if (r == -ENOMEM)
            return plugin_oom(a->host, reterr);
        if (r < 0)
            return cleat_error_set(a->host, reterr, CLEAT_STATUS_UNAVAILABLE, EBADMSG,
                                   "token server %s answered without a token", realm_host);
        dk_token_store(a->cache, host, a->scope, a->creds, *ret, lifetime);
        cleat_log(a->host, CLEAT_LOG_DEBUG, "got a token from %s for %s (%s)", realm_host, a->scope,
                  a->creds->username || post ? "with credentials" : "anonymous");
        return 0;
    }
    _cleanup_free_ char *what = dk_http_describe(&resp);
    int denied =
        resp.curl_code == 0 && resp.status >= 400 && resp.status < 500 && resp.status != 408 && resp.status != 429;
    dk_http_resp_done(a->host, &resp);
    if (denied)
        return cleat_error_set(a->host, reterr, CLEAT_STATUS_PERMISSION_DENIED, EKEYREJECTED,
                               "token server %s refused %s for %s: %s", realm_host,
                               a->creds->username || post ? "the credentials" : "anonymous access", a->scope,
                               what ? what : "denied");
    return cleat_error_set(a->host, reterr, CLEAT_STATUS_UNAVAILABLE, EAGAIN, "token server %s: %s", realm_host,
                           what ? what : "no answer");
}

int dk_auth_answer(const struct dk_auth_ctx *a, const struct dk_challenge *ch, char **ret,
                   struct cleat_error **reterr) {
    if (strcmp(ch->scheme, "bearer") == 0)
        return bearer(a, ch, ret, reterr);
    if (strcmp(ch->scheme, "basic") != 0)
        return cleat_error_set(a->host, reterr, CLEAT_STATUS_PERMISSION_DENIED, EKEYREJECTED,
                               "registry %s asks for '%s' authentication, which is not supported", a->ep->host,
                               ch->scheme);
    char *basic = dk_basic_header(a->creds);
    if (!basic && a->creds->username)
        return plugin_oom(a->host, reterr);
    if (!basic)
        return cleat_error_set(a->host, reterr, CLEAT_STATUS_PERMISSION_DENIED, EKEYREJECTED,
                               "registry %s requires a username and password, and the pull has none", a->ep->host);
    *ret = basic;
    return 0;
}
