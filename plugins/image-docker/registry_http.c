/* SPDX-License-Identifier: Apache-2.0 */
/*
 * image-docker: one HTTP exchange with libcurl.
 *
 * Every exchange uses a fresh easy handle attached to one CURLSH that shares
 * the connection cache, the DNS cache and TLS sessions between threads, so
 * consecutive requests (and parallel layer downloads) reuse connections.
 * HTTP/2 is used over TLS when the server offers it.
 *
 * Redirects (blob storage) are followed only when asked, and curl keeps the
 * Authorization header to the original host (CURLOPT_UNRESTRICTED_AUTH stays
 * off): a registry's token never reaches S3.  Nothing here logs header values.
 */
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <jansson.h>

#include "docker.h"
#include "plugin_clock.h"

struct dk_http {
    const struct cleat_host *host;
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    int32_t global_init;
};

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *userp) {
    struct dk_http *h = userp;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&h->locks[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *userp) {
    struct dk_http *h = userp;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&h->locks[data]);
}

int dk_http_new(const struct cleat_host *host, struct dk_http **ret, struct cleat_error **reterr) {
    struct dk_http *h = calloc(1, sizeof(*h));
    if (!h)
        return plugin_oom(host, reterr);
    h->host = host;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&h->locks[i], NULL);
    /* Reference-counted by libcurl; init() runs on the main thread before any worker. */
    CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
    h->global_init = cc == CURLE_OK;
    h->share = cc == CURLE_OK ? curl_share_init() : NULL;
    if (!h->share || curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        dk_http_free(h);
        return cleat_error_set(host, reterr, CLEAT_STATUS_INTERNAL, EIO, "cannot set up libcurl (%s)",
                               cc != CURLE_OK ? curl_easy_strerror(cc) : "share interface");
    }
    *ret = h;
    return 0;
}

void dk_http_free(struct dk_http *h) {
    if (!h)
        return;
    if (h->share)
        curl_share_cleanup(h->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&h->locks[i]);
    if (h->global_init)
        curl_global_cleanup();
    free(h);
}

void dk_buf_done(struct dk_buf *b) {
    free(b->data);
    *b = (struct dk_buf){0};
}

void dk_http_resp_done(const struct cleat_host *host, struct dk_http_resp *r) {
    free(r->content_type);
    free(r->docker_digest);
    free(r->www_authenticate);
    free(r->content_range);
    if (r->write_err)
        host->error_free(r->write_err);
    dk_buf_done(&r->body);
    *r = (struct dk_http_resp){0};
}

/* The state of one exchange, shared by the callbacks. */
struct exchange {
    struct dk_http *h;
    const struct dk_http_req *req;
    struct dk_http_resp *resp;
    CURL *curl;
    int32_t started; /* the first body byte of the final response has been seen */
};

static int buf_append(struct dk_buf *b, const char *data, size_t n) {
    if (b->len + n > b->max) {
        b->truncated = 1;
        n = b->max - b->len;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* A header's value with surrounding blanks trimmed, malloc'd. */
static char *header_value(const char *v, size_t n) {
    while (n > 0 && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return strndup(v, n);
}

static void reset_headers(struct dk_http_resp *r) {
    free(r->content_type);
    free(r->docker_digest);
    free(r->www_authenticate);
    free(r->content_range);
    r->content_type = r->docker_digest = r->www_authenticate = r->content_range = NULL;
    r->content_length = -1;
}

static size_t on_header(char *line, size_t size, size_t n, void *userp) {
    struct exchange *x = userp;
    struct dk_http_resp *r = x->resp;
    size_t len = size * n;
    /* Each response (a redirect, a 100 Continue, the final one) starts with its status line. */
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        reset_headers(r);
        return len;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return len;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vlen = len - name_len - 1;
#define IS(name) (name_len == sizeof(name) - 1 && strncasecmp(line, name, name_len) == 0)
    if (IS("content-type") && !r->content_type) {
        r->content_type = header_value(v, vlen);
        if (r->content_type)
            r->content_type[strcspn(r->content_type, "; \t")] = '\0';
    } else if (IS("docker-content-digest") && !r->docker_digest) {
        r->docker_digest = header_value(v, vlen);
    } else if (IS("www-authenticate") && !r->www_authenticate) {
        r->www_authenticate = header_value(v, vlen);
    } else if (IS("content-range") && !r->content_range) {
        r->content_range = header_value(v, vlen);
    } else if (IS("content-length")) {
        _cleanup_free_ char *s = header_value(v, vlen);
        char *end = NULL;
        long long cl = s ? strtoll(s, &end, 10) : -1;
        r->content_length = s && *s && end && !*end && cl >= 0 ? cl : -1;
    }
#undef IS
    return len;
}

/* "bytes START-END/TOTAL": 1 when START is `from`. */
static int range_starts_at(const char *cr, uint64_t from) {
    if (!cr || strncasecmp(cr, "bytes ", 6) != 0)
        return 0;
    char *end = NULL;
    unsigned long long start = strtoull(cr + 6, &end, 10);
    return end && *end == '-' && start == from;
}

/* First bytes of the final 2xx body: check that a resumed download really resumes. */
static int check_start(struct exchange *x, long status) {
    struct dk_http_resp *r = x->resp;
    x->started = 1;
    if (x->req->range_from == 0)
        return 0;
    if (status == 200) {
        r->range_ignored = 1;
        return -1;
    }
    if (!range_starts_at(r->content_range, x->req->range_from)) {
        r->range_wrong = 1;
        return -1;
    }
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp) {
    struct exchange *x = userp;
    struct dk_http_resp *r = x->resp;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    int ok = status == 200 || status == 206;
    if (ok && !x->started && check_start(x, status) < 0)
        return 0; /* abort: CURLE_WRITE_ERROR */
    if (ok && x->req->writer) {
        struct cleat_error *err = NULL;
        if (x->h->host->blob_write(x->req->writer, data, len, &err) < 0) {
            r->write_err = err ? err : x->h->host->error_new(CLEAT_STATUS_INTERNAL, EIO, "the blob writer failed");
            return 0;
        }
        r->written += len;
        return len;
    }
    if (buf_append(&r->body, data, len) < 0)
        return 0;
    /* A 2xx body that does not fit is refused; an error body is just cut. */
    return ok && r->body.truncated ? 0 : len;
}

/* Options that depend on the request. */
static int setup_request(struct exchange *x, struct curl_slist **headers) {
    const struct dk_http_req *req = x->req;
    CURL *c = x->curl;
    char line[128];
    struct curl_slist *l = NULL;
    if (req->accept) {
        _cleanup_free_ char *a = NULL;
        if (asprintf(&a, "Accept: %s", req->accept) < 0 || !(l = curl_slist_append(l, a)))
            return -ENOMEM;
    }
    if (req->authorization) {
        _cleanup_free_ char *a = NULL;
        struct curl_slist *nl = NULL;
        if (asprintf(&a, "Authorization: %s", req->authorization) < 0 || !(nl = curl_slist_append(l, a))) {
            curl_slist_free_all(l);
            return -ENOMEM;
        }
        l = nl;
        /* The header holds a secret: do not leave a copy in freed memory. */
        explicit_bzero(a, strlen(a));
    }
    *headers = l;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, l);
    if (strcmp(req->method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(req->method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, req->post_body ? req->post_body : "");
    if (req->range_from > 0) {
        snprintf(line, sizeof(line), "%" PRIu64 "-", req->range_from);
        curl_easy_setopt(c, CURLOPT_RANGE, line);
    }
    if (req->follow) {
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
        /* An https registry must not be downgraded to http by a redirect. */
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, req->plain_redirects ? "http,https" : "https");
    }
    const struct dk_registry *tls = req->tls;
    if (tls && tls->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, tls->ca_file);
    if (tls && tls->cert_file)
        curl_easy_setopt(c, CURLOPT_SSLCERT, tls->cert_file);
    if (tls && tls->key_file)
        curl_easy_setopt(c, CURLOPT_SSLKEY, tls->key_file);
    return 0;
}

/*
 * libcurl's own socket() has no SOCK_CLOEXEC: a connection it keeps in the
 * cache would be inherited by every child the daemon starts later (a shim
 * would hold it for its container's lifetime).  The flag is set by socket()
 * itself, not by a CURLOPT_SOCKOPTFUNCTION calling fcntl() afterwards: a
 * posix_spawn in another thread between those two calls would still inherit
 * the socket.  (libcurl 7.x's internal socketpairs -- the wake-up pair of the
 * multi handle behind curl_easy_perform, the threaded resolver's -- have no
 * hook; they live only for one exchange, and the spawners close every fd
 * above 2 in the child anyway.)
 */
static curl_socket_t open_socket(void *userp, curlsocktype purpose, struct curl_sockaddr *a) {
    (void)userp;
    (void)purpose;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/*
 * Called by libcurl about once a second even while no byte arrives: a blob
 * the core no longer wants (its pull was cancelled, ABI 1.3) stops the
 * transfer now rather than at stall_timeout_seconds.
 */
static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    struct exchange *x = userp;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return x->h->host->blob_cancelled(x->req->writer) ? 1 : 0; /* non-zero: CURLE_ABORTED_BY_CALLBACK */
}

/* The host table has blob_cancelled (a host of ABI 1.3 or later). */
static int host_can_cancel(const struct cleat_host *host) {
    return host->struct_size >= offsetof(struct cleat_host, blob_cancelled) + sizeof(host->blob_cancelled) &&
           host->blob_cancelled;
}

static void setup_common(struct exchange *x, char *errbuf) {
    CURL *c = x->curl;
    const struct dk_config *cfg = x->req->cfg;
    curl_easy_setopt(c, CURLOPT_URL, x->req->url);
    curl_easy_setopt(c, CURLOPT_SHARE, x->h->share);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "cleat image-docker");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)cfg->connect_timeout_seconds);
    /* Less than a byte a second for stall_timeout_seconds: the transfer is stuck. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)cfg->stall_timeout_seconds);
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    if (x->req->writer && host_can_cancel(x->h->host)) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
}

int dk_http_do(struct dk_http *h, const struct dk_http_req *req, struct dk_http_resp *resp,
               struct cleat_error **reterr) {
    *resp = (struct dk_http_resp){.content_length = -1};
    resp->body.max = req->body_max ? req->body_max : DK_SMALL_BODY_MAX;
    struct exchange x = {.h = h, .req = req, .resp = resp, .curl = curl_easy_init()};
    if (!x.curl)
        return plugin_oom(h->host, reterr);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    setup_common(&x, errbuf);
    if (setup_request(&x, &headers) < 0) {
        curl_easy_cleanup(x.curl);
        return plugin_oom(h->host, reterr);
    }
    if (h->host->log_enabled(h->host, CLEAT_LOG_DEBUG))
        cleat_log(h->host, CLEAT_LOG_DEBUG, "%s %s%s", req->method, req->url,
                  req->authorization ? " (authorized)" : "");
    CURLcode cc = curl_easy_perform(x.curl);
    resp->curl_code = (int)cc;
    long status = 0;
    curl_easy_getinfo(x.curl, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    if (cc != CURLE_OK)
        snprintf(resp->curl_msg, sizeof(resp->curl_msg), "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    curl_easy_cleanup(x.curl);
    /* The list holds the Authorization line; wipe it before it goes back to the allocator. */
    for (struct curl_slist *l = headers; l; l = l->next)
        explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(headers);
    return 0;
}

int dk_http_transient(const struct dk_http_resp *r) {
    switch (r->curl_code) {
    case CURLE_OK:
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    case CURLE_WRITE_ERROR: /* our own abort: the writer refused, a Range was ignored, a body too big */
    default:
        return 0;
    }
    return r->status == 408 || r->status == 429 || (r->status >= 500 && r->status != 501 && r->status != 505);
}

void dk_backoff(uint32_t attempt) {
    int64_t ms = (int64_t)200 << (attempt > 6 ? 6 : attempt);
    plugin_sleep_ms(ms > 10000 ? 10000 : ms);
}

char *dk_http_error_message(const struct dk_http_resp *r) {
    if (!r->body.data || r->body.len == 0)
        return NULL;
    json_t *root = json_loadb(r->body.data, r->body.len, 0, NULL);
    if (!root)
        return NULL;
    const char *msg = NULL;
    json_t *errors = json_object_get(root, "errors");
    if (json_is_array(errors) && json_array_size(errors) > 0)
        msg = json_string_value(json_object_get(json_array_get(errors, 0), "message"));
    /* Token servers answer in OAuth2 or ad-hoc shapes. */
    static const char *const keys[] = {"message", "details", "error_description", "error"};
    for (size_t i = 0; !msg && i < sizeof(keys) / sizeof(keys[0]); i++)
        msg = json_string_value(json_object_get(root, keys[i]));
    char *out = msg && *msg ? strndup(msg, 512) : NULL;
    json_decref(root);
    return out;
}

char *dk_http_describe(const struct dk_http_resp *r) {
    char *out = NULL;
    if (r->curl_code != CURLE_OK && r->status == 0) {
        if (asprintf(&out, "%s", r->curl_msg) < 0)
            out = NULL;
        return out;
    }
    _cleanup_free_ char *msg = dk_http_error_message(r);
    if (r->curl_code != CURLE_OK) {
        if (asprintf(&out, "HTTP %ld, then %s", r->status, r->curl_msg) < 0)
            out = NULL;
    } else if (asprintf(&out, "HTTP %ld%s%s", r->status, msg ? ": " : "", msg ? msg : "") < 0) {
        out = NULL;
    }
    return out;
}
