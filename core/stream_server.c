/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The streaming server's listener and sessions: one thread accepts, one
 * detached thread serves each connection (at most max_sessions at once),
 * with a small stack; stop() wakes the listener, shuts every session's
 * socket down and waits for the sessions to end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "stream_internal.h"

#define REQUEST_TIMEOUT_MS 10000 /* for the TLS handshake and the HTTP request */
#define SESSION_STACK (256u << 10)

struct stream_server {
    struct daemon *d;
    struct stream_tokens *tokens;
    SSL_CTX *tls;
    int listen_fd, wake_fd;
    pthread_t thread;
    int thread_started;
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
    static const char *const paths[] = {[STREAM_EXEC] = "exec", [STREAM_ATTACH] = "attach",
                                        [STREAM_PORTFORWARD] = "portforward"};
    char token[STREAM_TOKEN_LEN + 1];
    enum stream_kind kind = req->kind;
    int r = stream_tokens_put(s->tokens, req, token);
    if (r < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -r, "cannot make a streaming token: %s",
                         strerror(-r));
    if (asprintf(ret_url, "%s/%s/%s", s->base_url, paths[kind], token) < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    return 0;
}

/* ------------------------------------------------------------------------- */
/* one session                                                               */

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

static int tls_handshake(struct session *s, int64_t deadline) {
    s->ssl = SSL_new(s->srv->tls);
    if (!s->ssl || SSL_set_fd(s->ssl, s->fd) != 1)
        return -ENOMEM;
    for (;;) {
        ERR_clear_error();
        int r = SSL_accept(s->ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(s->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            return -EPROTO;
        }
        struct pollfd p = {.fd = s->fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
        int64_t left = deadline - stream_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -ETIMEDOUT;
    }
}

/* Read the request's header block; 0, or an error after answering what it deserves. */
static int read_request(struct session *s, int64_t deadline) {
    for (;;) {
        long end = http_request_end((const char *)sbuf_data(&s->in), sbuf_avail(&s->in));
        if (end == -EMSGSIZE) {
            http_put_response(&s->out, 431, "Request Header Fields Too Large", NULL, "request too large\n");
            session_finish(s);
            return -EMSGSIZE;
        }
        if (end > 0) {
            int r = http_request_parse((const char *)sbuf_data(&s->in), (size_t)end, &s->http);
            sbuf_consume(&s->in, (size_t)end);
            if (r < 0) {
                http_put_response(&s->out, 400, "Bad Request", NULL, "malformed request\n");
                session_finish(s);
            }
            return r;
        }
        if (s->peer_gone || stream_now_ms() > deadline)
            return -ETIMEDOUT;
        session_poll(s, NULL, 0, 100);
    }
}

static void route(struct session *s) {
    static const struct {
        const char *prefix;
        enum stream_kind kind;
    } routes[] = {{"/exec/", STREAM_EXEC}, {"/attach/", STREAM_ATTACH}, {"/portforward/", STREAM_PORTFORWARD}};
    if (strcmp(s->http.method, "GET") != 0 && strcmp(s->http.method, "POST") != 0) {
        http_put_response(&s->out, 405, "Method Not Allowed", "Allow: GET, POST\r\n", "method not allowed\n");
        session_finish(s);
        return;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        size_t pl = strlen(routes[i].prefix);
        if (strncmp(s->http.path, routes[i].prefix, pl) != 0)
            continue;
        s->req = stream_tokens_take(s->srv->tokens, s->http.path + pl, routes[i].kind);
        if (!s->req)
            break;
        log_debug("streaming: %s for %s", routes[i].prefix, s->req->id);
        if (routes[i].kind == STREAM_PORTFORWARD)
            stream_serve_portforward(s);
        else
            stream_serve_remotecommand(s);
        return;
    }
    /* An unknown, spent or expired token: nothing is upgraded. */
    http_put_response(&s->out, 404, "Not Found", NULL, "404 page not found\n");
    session_finish(s);
}

static void *session_main(void *arg) {
    struct session *s = arg;
    int64_t deadline = stream_now_ms() + REQUEST_TIMEOUT_MS;
    if ((!s->srv->tls || tls_handshake(s, deadline) == 0) && read_request(s, deadline) == 0)
        route(s);
    struct stream_server *srv = s->srv;
    slot_remove(srv, s);
    session_free(s);
    return NULL;
}

static void serve_connection(struct stream_server *srv, int fd) {
    struct session *s = calloc(1, sizeof(*s));
    if (!s) {
        close(fd);
        return;
    }
    s->srv = srv;
    s->d = srv->d;
    s->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!slot_add(srv, s)) {
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        if (!srv->tls && send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            log_debug("streaming: %s", strerror(errno));
        log_warning("streaming: refused a connection: %u sessions are running", srv->max_sessions);
        session_free(s);
        return;
    }
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

static void *listener_main(void *arg) {
    struct stream_server *srv = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = srv->listen_fd, .events = POLLIN}, {.fd = srv->wake_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            /* A client that vanishes without a FIN or RST (a rebooted node) must not hold a session forever. */
            int one = 1;
            (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
            serve_connection(srv, fd);
        }
        else if (errno == EMFILE || errno == ENFILE)
            usleep(100000); /* the condition persists: do not spin on it */
    }
    return NULL;
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
    int one = 1;
    srv->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (srv->listen_fd < 0 || setsockopt(srv->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(srv->listen_fd, (struct sockaddr *)&ss, len) < 0 || listen(srv->listen_fd, 128) < 0 ||
        getsockname(srv->listen_fd, (struct sockaddr *)&ss, &len) < 0)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, errno, "streaming: cannot listen on %s:%u: %s",
                         o->address, o->port, strerror(errno));
    /* A wildcard address is not one a client can dial: the URL names the loopback (kubelet is local). */
    char host[INET6_ADDRSTRLEN];
    if (!v6)
        inet_ntop(AF_INET, a4->sin_addr.s_addr == htonl(INADDR_ANY) ? &(struct in_addr){htonl(INADDR_LOOPBACK)}
                                                                     : &a4->sin_addr,
                  host, sizeof(host));
    else
        inet_ntop(AF_INET6, IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ? &in6addr_loopback : &a6->sin6_addr, host,
                  sizeof(host));
    snprintf(srv->base_url, sizeof(srv->base_url), "%s://%s%s%s:%u", srv->tls ? "https" : "http", v6 ? "[" : "",
             host, v6 ? "]" : "", ntohs(v6 ? a6->sin6_port : a4->sin_port));
    return 0;
}

int stream_server_start(struct daemon *d, const struct stream_server_options *o, struct stream_server **ret,
                        struct cleat_error **reterr) {
    uint32_t max = o->max_sessions ? o->max_sessions : 128;
    struct stream_server *srv = calloc(1, sizeof(*srv) + max * sizeof(srv->sessions[0]));
    if (!srv)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    srv->d = d;
    srv->max_sessions = max;
    srv->listen_fd = srv->wake_fd = -1;
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
    if (r >= 0 && (srv->wake_fd = eventfd(0, EFD_CLOEXEC)) < 0)
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, errno, "eventfd: %s", strerror(errno));
    if (r >= 0 && (r = -pthread_create(&srv->thread, NULL, listener_main, srv)) < 0)
        error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, -r, "cannot start the streaming server: %s", strerror(-r));
    if (r < 0) {
        stream_server_stop(srv);
        return r;
    }
    srv->thread_started = 1;
    log_info("streaming server on %s", srv->base_url);
    *ret = srv;
    return 0;
}

void stream_server_stop(struct stream_server *srv) {
    if (!srv)
        return;
    if (srv->thread_started) {
        uint64_t one = 1;
        if (write(srv->wake_fd, &one, sizeof(one)) < 0)
            log_warning("streaming: cannot wake the listener: %s", strerror(errno));
        pthread_join(srv->thread, NULL);
    }
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
    if (srv->wake_fd >= 0)
        close(srv->wake_fd);
    if (srv->tls)
        SSL_CTX_free(srv->tls);
    stream_tokens_free(srv->tokens);
    pthread_cond_destroy(&srv->idle);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}
