/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gate's one thread: an epoll loop over the listening sockets, an
 * eventfd that stops it, and the connections it holds.  These are kept in
 * one list ordered by deadline (every deadline is "now + timeout_ms" when a
 * connection enters the list or re-enters it to be answered, so appending
 * keeps the order): the head is the next to expire and the one to evict.
 *
 * A connection closed while the events of a round are handled (evicted to
 * make room, say) may still have an event later in that round: it is only
 * marked dead, out of the list and the epoll set, and freed after the round.
 */
#include "clocks.h"
#include "http_gate.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define GATE_MAX_LISTEN 4
#define GATE_WAKE GATE_MAX_LISTEN /* epoll data of the eventfd; listeners are 0..n-1, connections pointers */
#define GATE_EVENTS 64
#define GATE_ACCEPT_BATCH 64 /* accepts per listener and round: ready connections are served in between */
#define GATE_READ_CHUNK 4096
#define GATE_DRAIN_READS 16    /* reads per round of a connection being closed, so it cannot monopolise the loop */
#define GATE_NOFD_PAUSE_MS 100 /* accept failed and nothing could be dropped: wait before the next try */
#define GATE_WARN_EVERY_MS 10000

enum conn_state { CONN_HANDSHAKE, CONN_HEAD, CONN_ANSWER, CONN_DRAIN };

struct http_gate_conn {
    struct http_gate_conn *prev, *next; /* in the gate's list, or next on the dead list */
    struct http_gate *g;
    int64_t deadline_ms;
    int fd;
    SSL *ssl;
    enum conn_state state;
    uint32_t want;   /* what the current step waits for: EPOLLIN or EPOLLOUT */
    uint32_t events; /* registered in the epoll set */
    int dead, taken;
    struct sbuf in, out;
};

struct http_gate {
    struct http_gate_options o;
    int listen_fds[GATE_MAX_LISTEN];
    int ep, wake_fd;
    pthread_t thread;
    int thread_started;
    struct http_gate_conn *head, *tail; /* by deadline, soonest first */
    uint32_t n;
    struct http_gate_conn *dead;
    size_t answer_bytes;           /* still to write, all answers */
    int64_t paused_until;          /* accepting is paused (no fd left) until then; 0: it is not */
    uint64_t n_evicted, n_expired; /* since the last warning */
    int64_t last_warning;
};

static int64_t now_ms(void) {
    return monotonic_ms();
}

/* ------------------------------------------------------------------------- */
/* the list and the epoll set                                                */

static void list_unlink(struct http_gate *g, struct http_gate_conn *c) {
    *(c->prev ? &c->prev->next : &g->head) = c->next;
    *(c->next ? &c->next->prev : &g->tail) = c->prev;
    c->prev = c->next = NULL;
    g->n--;
}

/* At the tail, with a fresh deadline: the list stays in deadline order. */
static void list_append(struct http_gate *g, struct http_gate_conn *c) {
    c->deadline_ms = now_ms() + g->o.timeout_ms;
    c->prev = g->tail;
    c->next = NULL;
    *(g->tail ? &g->tail->next : &g->head) = c;
    g->tail = c;
    g->n++;
}

static void set_events(struct http_gate_conn *c, uint32_t events) {
    if (c->events == events)
        return;
    struct epoll_event ev = {.events = events, .data.u64 = (uintptr_t)c};
    if (epoll_ctl(c->g->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        log_warning("%s: epoll: %s", c->g->o.name, strerror(errno));
    c->events = events;
}

static void conn_close(struct http_gate_conn *c) {
    struct http_gate *g = c->g;
    if (c->dead)
        return;
    if (c->fd >= 0)
        epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
    list_unlink(g, c);
    if (c->state == CONN_ANSWER)
        g->answer_bytes -= sbuf_avail(&c->out);
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    sbuf_free(&c->in);
    sbuf_free(&c->out);
    c->dead = 1;
    c->next = g->dead;
    g->dead = c;
}

static void evict_oldest(struct http_gate *g) {
    g->n_evicted++;
    conn_close(g->head);
}

/* ------------------------------------------------------------------------- */
/* connection I/O                                                            */

ssize_t http_gate_tls_result(SSL *ssl, int r, int *ret_want_write) {
    if (r > 0)
        return r;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        *ret_want_write = 1;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        ERR_clear_error();
        return -EIO;
    }
}

/* >0 bytes, 0 at EOF, -EAGAIN (c->want says for what), or another negative errno. */
static ssize_t conn_io(struct http_gate_conn *c, int writing, void *buf, size_t n) {
    if (c->ssl) {
        ERR_clear_error();
        int len = (int)(n > INT_MAX ? INT_MAX : n), want_write = 0;
        ssize_t r = http_gate_tls_result(c->ssl, writing ? SSL_write(c->ssl, buf, len) : SSL_read(c->ssl, buf, len),
                                         &want_write);
        if (r == -EAGAIN)
            c->want = want_write ? EPOLLOUT : EPOLLIN;
        return r;
    }
    for (;;) {
        ssize_t r = writing ? send(c->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) : recv(c->fd, buf, n, MSG_DONTWAIT);
        if (r >= 0)
            return r;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->want = writing ? EPOLLOUT : EPOLLIN;
            return -EAGAIN;
        }
        if (errno != EINTR)
            return -errno;
    }
}

static void step(struct http_gate_conn *c);

/* The client closes after the answer; what it still sends is read and dropped (closing on unread input resets). */
static void step_drain(struct http_gate_conn *c) {
    uint8_t buf[4096];
    for (int i = 0; i < GATE_DRAIN_READS; i++) {
        ssize_t n = conn_io(c, 0, buf, sizeof(buf));
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
    }
}

static void step_answer(struct http_gate_conn *c) {
    struct http_gate *g = c->g;
    while (sbuf_avail(&c->out)) {
        ssize_t n = conn_io(c, 1, sbuf_data(&c->out), sbuf_avail(&c->out));
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        g->answer_bytes -= (size_t)n;
        sbuf_consume(&c->out, (size_t)n);
    }
    sbuf_free(&c->out);
    if (c->ssl) {
        ERR_clear_error();
        SSL_shutdown(c->ssl); /* our close_notify; the client's is not awaited */
    }
    shutdown(c->fd, SHUT_WR);
    c->state = CONN_DRAIN;
    c->want = EPOLLIN;
    step_drain(c);
}

/* Write what on_request put in c->out, with a fresh deadline; older answers go if they hold too much. */
static void start_answer(struct http_gate_conn *c) {
    struct http_gate *g = c->g;
    sbuf_free(&c->in);
    c->state = CONN_ANSWER;
    list_unlink(g, c);
    list_append(g, c);
    g->answer_bytes += sbuf_avail(&c->out);
    while (g->answer_bytes > g->o.max_answer_bytes && g->head != c)
        evict_oldest(g);
    step_answer(c);
}

static void answer_error(struct http_gate_conn *c, int code, const char *reason, const char *body) {
    if (http_put_response(&c->out, code, reason, NULL, body) < 0) {
        conn_close(c);
        return;
    }
    start_answer(c);
}

/* The head is the first `end` bytes of c->in. */
static void head_done(struct http_gate_conn *c, size_t end) {
    struct http_request req;
    int r = http_request_parse((const char *)sbuf_data(&c->in), end, &req);
    sbuf_consume(&c->in, end);
    if (r == -ENOMEM) {
        conn_close(c);
        return;
    }
    if (r < 0) {
        answer_error(c, 400, "Bad Request", "malformed request\n");
        return;
    }
    c->g->o.on_request(c->g->o.ctx, c, &req);
    http_request_clear(&req);
    if (!c->taken && sbuf_avail(&c->out))
        start_answer(c);
    else
        conn_close(c);
}

static void step_head(struct http_gate_conn *c) {
    for (;;) {
        size_t have = sbuf_avail(&c->in);
        size_t room = HTTP_MAX_REQUEST - have < GATE_READ_CHUNK ? HTTP_MAX_REQUEST - have : GATE_READ_CHUNK;
        if (sbuf_reserve(&c->in, room) < 0) {
            conn_close(c);
            return;
        }
        ssize_t n = conn_io(c, 0, c->in.p + c->in.len, room);
        if (n == -EAGAIN)
            return;
        if (n <= 0) { /* gone before asking anything */
            conn_close(c);
            return;
        }
        c->in.len += (size_t)n;
        long end = http_request_end((const char *)sbuf_data(&c->in), sbuf_avail(&c->in));
        if (end > 0) {
            head_done(c, (size_t)end);
            return;
        }
        if (end == -EMSGSIZE) {
            answer_error(c, 431, "Request Header Fields Too Large", "request too large\n");
            return;
        }
    }
}

static void step_handshake(struct http_gate_conn *c) {
    ERR_clear_error();
    int r = SSL_accept(c->ssl);
    if (r == 1) {
        c->state = CONN_HEAD;
        step_head(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->want = e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
        return;
    }
    ERR_clear_error();
    log_debug("%s: TLS handshake failed", c->g->o.name);
    conn_close(c);
}

/* Advance c as far as its socket allows, then wait for what it needs next. */
static void step(struct http_gate_conn *c) {
    switch (c->state) {
    case CONN_HANDSHAKE:
        step_handshake(c);
        break;
    case CONN_HEAD:
        step_head(c);
        break;
    case CONN_ANSWER:
        step_answer(c);
        break;
    case CONN_DRAIN:
        step_drain(c);
        break;
    }
    if (!c->dead && !c->taken)
        set_events(c, c->want);
}

struct sbuf *http_gate_answer(struct http_gate_conn *c) {
    return &c->out;
}

void http_gate_take(struct http_gate_conn *c, int *ret_fd, SSL **ret_ssl, struct sbuf *in) {
    epoll_ctl(c->g->ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl)
        SSL_clear_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
    *ret_fd = c->fd;
    *ret_ssl = c->ssl;
    *in = c->in;
    c->in = (struct sbuf){0};
    c->fd = -1;
    c->ssl = NULL;
    c->taken = 1;
}

/* ------------------------------------------------------------------------- */
/* accepting                                                                 */

static void conn_new(struct http_gate *g, int fd) {
    struct http_gate_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    *c = (struct http_gate_conn){.g = g, .fd = fd, .state = CONN_HEAD, .want = EPOLLIN, .events = EPOLLIN};
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* A client that vanishes without a FIN or RST (a rebooted node) must not hold a session forever. */
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    if (g->o.tls) {
        c->ssl = SSL_new(g->o.tls);
        if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
            SSL_free(c->ssl);
            close(fd);
            free(c);
            return;
        }
        SSL_set_accept_state(c->ssl);
        SSL_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS); /* an idle handshake holds no 16 KiB record buffers */
        c->state = CONN_HANDSHAKE;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uintptr_t)c};
    if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        log_warning("%s: epoll: %s", g->o.name, strerror(errno));
        SSL_free(c->ssl);
        close(fd);
        free(c);
        return;
    }
    list_append(g, c);
    step(c); /* a client that sent its request with the connection is served at once */
}

static void listen_enable(struct http_gate *g, int on) {
    for (size_t i = 0; i < g->o.n_listen; i++) {
        struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.u64 = i};
        epoll_ctl(g->ep, EPOLL_CTL_MOD, g->listen_fds[i], &ev);
    }
}

static void accept_some(struct http_gate *g, int lfd) {
    for (int i = 0; i < GATE_ACCEPT_BATCH; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (fd < 0 && (errno == EMFILE || errno == ENFILE) && g->head) {
            evict_oldest(g); /* its fd is the new one's */
            continue;
        }
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) { /* it would persist: do not spin on it */
                log_warning("%s: accept: %s", g->o.name, strerror(errno));
                g->paused_until = now_ms() + GATE_NOFD_PAUSE_MS;
                listen_enable(g, 0);
            }
            return;
        }
        if (g->n >= g->o.max_conns)
            evict_oldest(g);
        conn_new(g, fd);
    }
}

/* ------------------------------------------------------------------------- */
/* the loop                                                                  */

static void expire(struct http_gate *g, int64_t now) {
    while (g->head && g->head->deadline_ms <= now) {
        g->n_expired++;
        conn_close(g->head);
    }
}

static void warn_dropped(struct http_gate *g, int64_t now) {
    if ((!g->n_evicted && !g->n_expired) || now - g->last_warning < GATE_WARN_EVERY_MS)
        return;
    log_warning("%s: closed %llu connections at their %d ms deadline and dropped %llu to make room (%u held now, "
                "at most %u)",
                g->o.name, (unsigned long long)g->n_expired, g->o.timeout_ms, (unsigned long long)g->n_evicted, g->n,
                g->o.max_conns);
    g->n_evicted = g->n_expired = 0;
    g->last_warning = now;
}

static int next_timeout(const struct http_gate *g, int64_t now) {
    int64_t t = INT64_MAX;
    if (g->head)
        t = g->head->deadline_ms;
    if (g->paused_until && g->paused_until < t)
        t = g->paused_until;
    if ((g->n_evicted || g->n_expired) && g->last_warning + GATE_WARN_EVERY_MS < t)
        t = g->last_warning + GATE_WARN_EVERY_MS;
    if (t == INT64_MAX)
        return -1;
    return t <= now ? 0 : t - now > INT_MAX ? INT_MAX : (int)(t - now);
}

static void reap(struct http_gate *g) {
    while (g->dead) {
        struct http_gate_conn *c = g->dead;
        g->dead = c->next;
        free(c);
    }
}

/* One round: ready connections first, then new ones, then deadlines. */
static int round_handle(struct http_gate *g, const struct epoll_event *ev, int n) {
    for (int i = 0; i < n; i++) {
        if (ev[i].data.u64 == GATE_WAKE)
            return -1;
        struct http_gate_conn *c = ev[i].data.u64 > GATE_WAKE ? (void *)(uintptr_t)ev[i].data.u64 : NULL;
        if (c && !c->dead)
            step(c);
    }
    for (int i = 0; i < n; i++)
        if (ev[i].data.u64 < GATE_MAX_LISTEN && !g->paused_until)
            accept_some(g, g->listen_fds[ev[i].data.u64]);
    int64_t now = now_ms();
    expire(g, now);
    if (g->paused_until && now >= g->paused_until) {
        g->paused_until = 0;
        listen_enable(g, 1);
    }
    warn_dropped(g, now);
    reap(g);
    return 0;
}

static void *gate_main(void *arg) {
    struct http_gate *g = arg;
    for (;;) {
        struct epoll_event ev[GATE_EVENTS];
        int n = epoll_wait(g->ep, ev, GATE_EVENTS, next_timeout(g, now_ms()));
        if (n < 0 && errno != EINTR) {
            log_error("%s: epoll_wait: %s; no longer accepting connections", g->o.name, strerror(errno));
            break;
        }
        if (round_handle(g, ev, n < 0 ? 0 : n) < 0)
            break;
    }
    return NULL;
}

/* ------------------------------------------------------------------------- */
/* start and stop                                                            */

static int gate_setup(struct http_gate *g, struct cleat_error **reterr) {
    if ((g->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || (g->wake_fd = eventfd(0, EFD_CLOEXEC)) < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, errno, "%s: %s", g->o.name, strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = GATE_WAKE};
    int r = epoll_ctl(g->ep, EPOLL_CTL_ADD, g->wake_fd, &ev);
    for (size_t i = 0; r >= 0 && i < g->o.n_listen; i++) {
        ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = i};
        r = epoll_ctl(g->ep, EPOLL_CTL_ADD, g->listen_fds[i], &ev);
    }
    if (r < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "%s: epoll: %s", g->o.name, strerror(errno));
    if ((r = pthread_create(&g->thread, NULL, gate_main, g)) != 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, r, "%s: cannot start its thread: %s", g->o.name,
                         strerror(r));
    g->thread_started = 1;
    return 0;
}

int http_gate_start(const struct http_gate_options *o, struct http_gate **ret, struct cleat_error **reterr) {
    if (!o->name || o->n_listen < 1 || o->n_listen > GATE_MAX_LISTEN || !o->max_conns || o->timeout_ms <= 0 ||
        !o->max_answer_bytes || !o->on_request)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "http gate: bad options");
    struct http_gate *g = calloc(1, sizeof(*g));
    if (!g)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    g->o = *o;
    memcpy(g->listen_fds, o->listen_fds, o->n_listen * sizeof(int));
    g->o.listen_fds = g->listen_fds;
    g->ep = g->wake_fd = -1;
    g->last_warning = now_ms() - GATE_WARN_EVERY_MS;
    int r = gate_setup(g, reterr);
    if (r < 0) {
        http_gate_stop(g);
        return r;
    }
    *ret = g;
    return 0;
}

void http_gate_stop(struct http_gate *g) {
    if (!g)
        return;
    if (g->thread_started) {
        uint64_t one = 1;
        if (write(g->wake_fd, &one, sizeof(one)) < 0)
            log_warning("%s: cannot wake the gate: %s", g->o.name, strerror(errno));
        pthread_join(g->thread, NULL);
    }
    while (g->head)
        conn_close(g->head);
    reap(g);
    if (g->ep >= 0)
        close(g->ep);
    if (g->wake_fd >= 0)
        close(g->wake_fd);
    free(g);
}
