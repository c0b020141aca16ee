/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The streaming server: an HTTP gate (http_gate.h) holds every connection
 * until its request head is there, so connections that show no valid token
 * never reach a session slot; a request with one becomes a session on a
 * detached thread of its own (at most max_sessions at once), with a small
 * stack.  stop() closes the gate, shuts every session's socket down and
 * waits for the sessions to end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime_service.h"
#include "http_gate.h"
#include "log.h"
#include "stream_internal.h"

#define SESSION_STACK (256u << 10)
#define DEFAULT_MAX_PENDING 1024
#define DEFAULT_REQUEST_TIMEOUT_MS 5000
/* Answers the gate writes here are short error pages: this bounds a flood of requests that never read them. */
#define GATE_ANSWER_BYTES (1u << 20)

/* Also the first segment of each kind's URL path. */
static const char *const kind_names[] = {
    [STREAM_EXEC] = "exec", [STREAM_ATTACH] = "attach", [STREAM_PORTFORWARD] = "portforward"};

struct stream_server {
    struct runtime_service *rs; /* the pods and containers sessions reach */
    struct stream_tokens *tokens;
    SSL_CTX *tls;
    int listen_fd;
    struct http_gate *gate;
    char base_url[128];
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int stopping;
    uint32_t max_sessions, n_sessions;
    struct session *sessions[]; /* max_sessions slots */
};

const char *stream_server_base_url(const struct stream_server *s) {
    return s->base_url;
}

int stream_server_register(struct stream_server *s, struct stream_request *req, char **ret_url,
                           struct cleat_error **reterr) {
    char token[STREAM_TOKEN_LEN + 1];
    enum stream_kind kind = req->kind;
    int r = stream_tokens_put(s->tokens, req, token);
    if (r < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -r, "cannot make a streaming token: %s",
                         strerror(-r));
    if (asprintf(ret_url, "%s/%s/%s", s->base_url, kind_names[kind], token) < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    return 0;
}

/* ------------------------------------------------------------------------- */
/* sessions                                                                  */

static int slot_add(struct stream_server *srv, struct session *s) {
    int ok = 0;
    pthread_mutex_lock(&srv->mu);
    for (uint32_t i = 0; !srv->stopping && i < srv->max_sessions && !ok; i++)
        if (!srv->sessions[i]) {
            srv->sessions[i] = s;
            srv->n_sessions++;
            ok = 1;
        }
    pthread_mutex_unlock(&srv->mu);
    return ok;
}

static void slot_remove(struct stream_server *srv, struct session *s) {
    pthread_mutex_lock(&srv->mu);
    for (uint32_t i = 0; i < srv->max_sessions; i++)
        if (srv->sessions[i] == s) {
            srv->sessions[i] = NULL;
            srv->n_sessions--;
        }
    pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->mu);
}

static void session_free(struct session *s) {
    http_request_clear(&s->http);
    stream_request_free(s->req);
    sbuf_free(&s->in);
    sbuf_free(&s->out);
    sbuf_free(&s->scratch);
    ws_assembler_free(&s->wsa);
    if (s->z_ok)
        spdy_zlib_free(&s->z);
    if (s->ssl)
        SSL_free(s->ssl);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

static void *session_main(void *arg) {
    struct session *s = arg;
    struct stream_server *srv = s->srv;
    log_debug("streaming: %s for %s", kind_names[s->req->kind], s->req->id); /* not the path: it has the token */
    if (s->req->kind == STREAM_PORTFORWARD)
        stream_serve_portforward(s);
    else
        stream_serve_remotecommand(s);
    slot_remove(srv, s);
    session_free(s);
    return NULL;
}

/* The token in a request path ("/<kind>/<token>"), and the kind of session it must be for; NULL for no route. */
static const char *route(const char *path, enum stream_kind *ret_kind) {
    for (enum stream_kind k = STREAM_EXEC; k <= STREAM_PORTFORWARD; k++) {
        size_t n = strlen(kind_names[k]);
        if (path[0] == '/' && strncmp(path + 1, kind_names[k], n) == 0 && path[1 + n] == '/') {
            *ret_kind = k;
            return path + n + 2;
        }
    }
    return NULL;
}

/* A session for the connection (taken from the gate) on a thread of its own; 503 when every slot is busy. */
static void session_start(struct stream_server *srv, struct http_gate_conn *c, struct http_request *http,
                          const char *token, enum stream_kind kind) {
    struct sbuf *out = http_gate_answer(c);
    struct session *s = calloc(1, sizeof(*s));
    if (!s || !slot_add(srv, s)) {
        http_put_response(out, 503, "Service Unavailable", NULL, "too many streaming sessions\n");
        log_warning("streaming: refused a session: %u sessions are running", srv->max_sessions);
        free(s);
        return;
    }
    /* Only now is the token spent: a client refused for want of a slot may try again. */
    if (!(s->req = stream_tokens_take(srv->tokens, token, kind))) {
        http_put_response(out, 404, "Not Found", NULL, "404 page not found\n"); /* unknown, spent or expired */
        slot_remove(srv, s);
        free(s);
        return;
    }
    s->srv = srv;
    s->rs = srv->rs;
    s->http = *http;
    *http = (struct http_request){0};
    http_gate_take(c, &s->fd, &s->ssl, &s->in);
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, SESSION_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int r = pthread_create(&t, &attr, session_main, s);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        log_warning("streaming: cannot start a session thread: %s", strerror(r));
        slot_remove(srv, s);
        session_free(s);
    }
}

/* A request head from the gate: only one with a valid token becomes a session. */
static void on_request(void *ctx, struct http_gate_conn *c, struct http_request *http) {
    struct stream_server *srv = ctx;
    struct sbuf *out = http_gate_answer(c);
    if (strcmp(http->method, "GET") != 0 && strcmp(http->method, "POST") != 0) {
        http_put_response(out, 405, "Method Not Allowed", "Allow: GET, POST\r\n", "method not allowed\n");
        return;
    }
    enum stream_kind kind;
    const char *token = route(http->path, &kind);
    if (!token) {
        http_put_response(out, 404, "Not Found", NULL, "404 page not found\n");
        return;
    }
    session_start(srv, c, http, token, kind);
}

/* ------------------------------------------------------------------------- */
/* start and stop                                                            */

static int tls_setup(struct stream_server *srv, const struct stream_server_options *o, struct cleat_error **reterr) {
    srv->tls = SSL_CTX_new(TLS_server_method());
    if (!srv->tls)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, ENOMEM, "streaming: cannot create a TLS context");
    SSL_CTX_set_min_proto_version(srv->tls, TLS1_2_VERSION);
    /* SSL_write may then return after part of a buffer, as send() does. */
    SSL_CTX_set_mode(srv->tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(srv->tls, o->tls_cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(srv->tls, o->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(srv->tls) != 1) {
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
        ERR_clear_error();
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "streaming: cannot use TLS certificate %s and key %s: %s", o->tls_cert_file, o->tls_key_file,
                         buf);
    }
    return 0;
}

static int listen_on(struct stream_server *srv, const struct stream_server_options *o, struct cleat_error **reterr) {
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    int v6 = 0;
    if (inet_pton(AF_INET, o->address, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(o->port);
        len = sizeof(*a4);
    } else if (inet_pton(AF_INET6, o->address, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(o->port);
        len = sizeof(*a6);
        v6 = 1;
    } else {
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "streaming: address '%s' is not an IPv4 or IPv6 address", o->address);
    }
    /* A burst's connections wait in the accept queue for the gate, not half-made (see metrics_http.c). */
    int one = 1;
    srv->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (srv->listen_fd < 0 || setsockopt(srv->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(srv->listen_fd, (struct sockaddr *)&ss, len) < 0 || listen(srv->listen_fd, SOMAXCONN) < 0 ||
        getsockname(srv->listen_fd, (struct sockaddr *)&ss, &len) < 0)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, errno, "streaming: cannot listen on %s:%u: %s",
                         o->address, o->port, strerror(errno));
    /* A wildcard address is not one a client can dial: the URL names the loopback (kubelet is local). */
    char host[INET6_ADDRSTRLEN];
    if (!v6)
        inet_ntop(AF_INET,
                  a4->sin_addr.s_addr == htonl(INADDR_ANY) ? &(struct in_addr){htonl(INADDR_LOOPBACK)} : &a4->sin_addr,
                  host, sizeof(host));
    else
        inet_ntop(AF_INET6, IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ? &in6addr_loopback : &a6->sin6_addr, host,
                  sizeof(host));
    snprintf(srv->base_url, sizeof(srv->base_url), "%s://%s%s%s:%u", srv->tls ? "https" : "http", v6 ? "[" : "", host,
             v6 ? "]" : "", ntohs(v6 ? a6->sin6_port : a4->sin_port));
    return 0;
}

int stream_server_start(struct runtime_service *rs, const struct stream_server_options *o, struct stream_server **ret,
                        struct cleat_error **reterr) {
    uint32_t max = o->max_sessions ? o->max_sessions : 128;
    struct stream_server *srv = calloc(1, sizeof(*srv) + max * sizeof(srv->sessions[0]));
    if (!srv)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    srv->rs = rs;
    srv->max_sessions = max;
    srv->listen_fd = -1;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->idle, NULL);
    int64_t ttl = o->token_ttl_seconds > 0 ? o->token_ttl_seconds : 60;
    srv->tokens = stream_tokens_new(ttl * 1000000000LL, 1000);
    int r = srv->tokens ? 0 : error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    int tls = o->tls_cert_file && *o->tls_cert_file;
    if (r >= 0 && tls != (o->tls_key_file && *o->tls_key_file))
        r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                      "streaming: tls_cert_file and tls_key_file go together");
    if (r >= 0 && tls)
        r = tls_setup(srv, o, reterr);
    if (r >= 0)
        r = listen_on(srv, o, reterr);
    struct http_gate_options go = {.name = "streaming",
                                   .listen_fds = &srv->listen_fd,
                                   .n_listen = 1,
                                   .tls = srv->tls,
                                   .max_conns = o->max_pending ? o->max_pending : DEFAULT_MAX_PENDING,
                                   .timeout_ms =
                                       o->request_timeout_ms > 0 ? o->request_timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS,
                                   .max_answer_bytes = GATE_ANSWER_BYTES,
                                   .on_request = on_request,
                                   .ctx = srv};
    if (r >= 0)
        r = http_gate_start(&go, &srv->gate, reterr);
    if (r < 0) {
        stream_server_stop(srv);
        return r;
    }
    log_info("streaming server on %s", srv->base_url);
    *ret = srv;
    return 0;
}

void stream_server_stop(struct stream_server *srv) {
    if (!srv)
        return;
    http_gate_stop(srv->gate); /* first: it makes no more sessions */
    pthread_mutex_lock(&srv->mu);
    srv->stopping = 1;
    for (uint32_t i = 0; i < srv->max_sessions; i++)
        if (srv->sessions[i]) /* its poll wakes up to EOF: an exec'd process is killed as for a client gone */
            shutdown(srv->sessions[i]->fd, SHUT_RDWR);
    while (srv->n_sessions)
        pthread_cond_wait(&srv->idle, &srv->mu);
    pthread_mutex_unlock(&srv->mu);
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    if (srv->tls)
        SSL_CTX_free(srv->tls);
    stream_tokens_free(srv->tokens);
    pthread_cond_destroy(&srv->idle);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}
