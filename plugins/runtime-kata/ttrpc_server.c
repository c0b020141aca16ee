/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The events server: one thread polls the listening socket, an eventfd
 * that says "stop", and every connection.  Connections are non-blocking;
 * each keeps the frame it is reading (header, then data) and the answers
 * not yet sent, so a peer that writes a byte at a time or pauses mid-frame
 * holds up no one else.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_clock.h"
#include "plugin_error.h"
#include "shimv2.pb-c.h"
#include "ttrpc.pb-c.h"
#include "ttrpc_server.h"
#include "ttrpc_wire.h"

#define EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"
#define MAX_CONNS 1024
/* Answers are tiny; a peer with this much unread is not reading them. */
#define OUT_MAX (1u << 20)

struct conn {
    int fd;
    uint8_t head[TTRPC_HEADER_LEN];
    size_t head_got;
    struct ttrpc_header h; /* once head_got == TTRPC_HEADER_LEN */
    uint8_t *body;
    size_t body_got;
    uint8_t *out; /* answers not yet sent */
    size_t out_len, out_off;
    int eof; /* the peer sent all it will: answer what it asked, then close */
};

struct ttrpc_server {
    const struct cleat_host *host;
    char *path;
    int listen_fd, wake_fd;
    ttrpc_event_fn fn;
    void *ctx;
    pthread_t thread;
    struct conn *conns[MAX_CONNS];
    size_t nconns;
};

static void conn_free(struct conn *k) {
    close(k->fd);
    free(k->body);
    free(k->out);
    free(k);
}

/* Queue a Response frame on the connection; -EMSGSIZE when the peer has too much unread already. */
static int conn_answer(struct conn *k, uint32_t stream_id, int32_t code, const char *message) {
    Ttrpc__Status st = TTRPC__STATUS__INIT;
    Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
    st.code = code;
    st.message = (char *)message;
    resp.status = &st;
    size_t len = ttrpc__response__get_packed_size(&resp);
    if (k->out_len - k->out_off + TTRPC_HEADER_LEN + len > OUT_MAX)
        return -EMSGSIZE;
    if (k->out_off > 0) { /* move what is left to the front */
        memmove(k->out, k->out + k->out_off, k->out_len - k->out_off);
        k->out_len -= k->out_off;
        k->out_off = 0;
    }
    uint8_t *out = realloc(k->out, k->out_len + TTRPC_HEADER_LEN + len);
    if (!out)
        return -ENOMEM;
    k->out = out;
    struct ttrpc_header h = {.length = (uint32_t)len, .stream_id = stream_id, .type = TTRPC_TYPE_RESPONSE};
    ttrpc_header_encode(&h, out + k->out_len);
    ttrpc__response__pack(&resp, out + k->out_len + TTRPC_HEADER_LEN);
    k->out_len += TTRPC_HEADER_LEN + len;
    return 0;
}

/* Serve one request; the status and message of the answer into *code / msg. */
static void serve_request(struct ttrpc_server *s, const uint8_t *data, size_t len, int32_t *code, char *msg,
                          size_t size) {
    Ttrpc__Request *req = ttrpc__request__unpack(NULL, len, data);
    if (!req) {
        *code = CLEAT_STATUS_INVALID_ARGUMENT;
        snprintf(msg, size, "not a ttrpc request");
        return;
    }
    if (strcmp(req->service, EVENTS_SERVICE) != 0 || strcmp(req->method, "Forward") != 0) {
        *code = CLEAT_STATUS_UNIMPLEMENTED;
        snprintf(msg, size, "%s/%s is not served here (only %s/Forward)", req->service, req->method, EVENTS_SERVICE);
    } else {
        Shimv2__ForwardRequest *fw = shimv2__forward_request__unpack(NULL, req->payload.len, req->payload.data);
        if (!fw || !fw->envelope) {
            *code = CLEAT_STATUS_INVALID_ARGUMENT;
            snprintf(msg, size, "Forward: %s", fw ? "no envelope" : "not a ForwardRequest");
        } else {
            const Shimv2__Envelope *e = fw->envelope;
            const Shimv2__Any *ev = e->event;
            s->fn(s->ctx, e->topic, e->namespace_, ev ? ev->type_url : "", ev ? ev->value.data : NULL,
                  ev ? ev->value.len : 0);
        }
        if (fw)
            shimv2__forward_request__free_unpacked(fw, NULL);
    }
    ttrpc__request__free_unpacked(req, NULL);
}

/* A whole frame has arrived; 0, or < 0 to drop the connection. */
static int conn_frame(struct ttrpc_server *s, struct conn *k) {
    if (k->h.type != TTRPC_TYPE_REQUEST)
        return 0; /* ignored, as the protocol asks, for what later versions may add */
    int32_t code = CLEAT_STATUS_OK;
    char msg[512] = "";
    if (k->h.stream_id % 2 == 0) {
        code = CLEAT_STATUS_INVALID_ARGUMENT;
        snprintf(msg, sizeof(msg), "stream id %u is even: client streams are odd", k->h.stream_id);
    } else {
        serve_request(s, k->body, k->h.length, &code, msg, sizeof(msg));
    }
    return conn_answer(k, k->h.stream_id, code, msg);
}

/* Read what the peer sent; 0 to keep the connection, < 0 to drop it (closed, broken, or not ttrpc). */
static int conn_read(struct ttrpc_server *s, struct conn *k) {
    for (;;) {
        uint8_t *dst;
        size_t want;
        if (k->head_got < TTRPC_HEADER_LEN) {
            dst = k->head + k->head_got;
            want = TTRPC_HEADER_LEN - k->head_got;
        } else {
            dst = k->body + k->body_got;
            want = k->h.length - k->body_got;
        }
        ssize_t n = want ? read(k->fd, dst, want) : 0;
        if (want && n < 0 && errno == EINTR)
            continue;
        if (want && n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        if (want && n == 0)
            return -EPIPE;
        if (k->head_got < TTRPC_HEADER_LEN) {
            if ((k->head_got += (size_t)n) < TTRPC_HEADER_LEN)
                continue;
            ttrpc_header_decode(k->head, &k->h);
            if (k->h.length > TTRPC_MESSAGE_MAX) {
                cleat_log(s->host, CLEAT_LOG_WARNING,
                          "events socket %s: a peer sent a frame of %u bytes, above "
                          "the ttrpc limit: disconnected",
                          s->path, k->h.length);
                return -EMSGSIZE;
            }
            if (!(k->body = malloc(k->h.length ? k->h.length : 1)))
                return -ENOMEM;
            k->body_got = 0;
            continue;
        }
        k->body_got += (size_t)n;
        if (k->body_got < k->h.length)
            continue;
        int r = conn_frame(s, k);
        free(k->body);
        k->body = NULL;
        k->head_got = 0;
        if (r < 0)
            return r;
    }
}

/* Send queued answers as far as the socket takes them; 0, or -errno to drop the connection. */
static int conn_flush(struct conn *k) {
    while (k->out_off < k->out_len) {
        ssize_t n = send(k->fd, k->out + k->out_off, k->out_len - k->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        k->out_off += (size_t)n;
    }
    k->out_off = k->out_len = 0;
    return 0;
}

static void accept_one(struct ttrpc_server *s) {
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
            cleat_log(s->host, CLEAT_LOG_WARNING, "events socket %s: cannot accept: %m", s->path);
            plugin_sleep_ms(100); /* the connection waits in the backlog; do not spin on it */
        }
        return;
    }
    struct conn *k = calloc(1, sizeof(*k));
    if (!k) {
        close(fd);
        return;
    }
    k->fd = fd;
    s->conns[s->nconns++] = k;
}

static void drop_conn(struct ttrpc_server *s, size_t i) {
    conn_free(s->conns[i]);
    s->conns[i] = s->conns[--s->nconns];
}

static void *server_main(void *arg) {
    struct ttrpc_server *s = arg;
    struct pollfd *p = calloc(MAX_CONNS + 2, sizeof(*p));
    if (!p) {
        cleat_log(s->host, CLEAT_LOG_ERROR, "events socket %s: out of memory: no events are received", s->path);
        return NULL;
    }
    for (;;) {
        size_t n = s->nconns;
        p[0] = (struct pollfd){.fd = s->wake_fd, .events = POLLIN};
        /* At the connection limit the listener rests: new peers wait in the backlog. */
        p[1] = (struct pollfd){.fd = n < MAX_CONNS ? s->listen_fd : -1, .events = POLLIN};
        for (size_t i = 0; i < n; i++)
            p[i + 2] =
                (struct pollfd){.fd = s->conns[i]->fd,
                                .events = (s->conns[i]->eof ? 0 : POLLIN) | (s->conns[i]->out_len ? POLLOUT : 0)};
        if (poll(p, n + 2, -1) < 0) {
            if (errno != EINTR)
                plugin_sleep_ms(10);
            continue;
        }
        if (p[0].revents)
            break;
        /* Backwards, so that dropping conns[i] (the last one moves into its slot) skips no one. */
        for (size_t i = n; i-- > 0;) {
            struct conn *k = s->conns[i];
            int r = 0;
            if (!k->eof && (p[i + 2].revents & (POLLIN | POLLHUP | POLLERR)))
                r = conn_read(s, k);
            if (r == -EPIPE) { /* it closed its side: it may still read the answers */
                k->eof = 1;
                r = 0;
            }
            int f = conn_flush(k); /* also before a drop, so that what it asked before is answered */
            if (r == 0 && f == 0 && k->eof && k->out_len == 0)
                r = -EPIPE; /* all answered */
            if (r < 0 || f < 0)
                drop_conn(s, i);
        }
        if (p[1].revents & POLLIN)
            accept_one(s);
    }
    free(p);
    return NULL;
}

/* A listening socket at `path`, replacing a stale one; -errno (-EEXIST: something else is there). */
static int listen_at(const char *path, int *ret_fd) {
    struct sockaddr_un sa;
    socklen_t sa_len;
    if (path[0] != '/')
        return -EINVAL;
    int r = ttrpc_address_parse(path, &sa, &sa_len);
    if (r < 0)
        return r;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return -EEXIST;
        if (unlink(path) < 0)
            return -errno;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sa_len) < 0 || chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
        r = -errno;
        close(fd);
        unlink(path);
        return r;
    }
    *ret_fd = fd;
    return 0;
}

static void server_free(struct ttrpc_server *s) {
    while (s->nconns > 0)
        drop_conn(s, s->nconns - 1);
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        unlink(s->path);
    }
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    free(s->path);
    free(s);
}

int ttrpc_events_serve(const struct cleat_host *host, const char *socket_path, ttrpc_event_fn fn, void *ctx,
                       struct ttrpc_server **ret, struct cleat_error **reterr) {
    struct ttrpc_server *s = calloc(1, sizeof(*s));
    if (!s)
        return plugin_oom(host, reterr);
    s->host = host;
    s->fn = fn;
    s->ctx = ctx;
    s->listen_fd = s->wake_fd = -1;
    if (!(s->path = strdup(socket_path))) {
        server_free(s);
        return plugin_oom(host, reterr);
    }
    int r = listen_at(socket_path, &s->listen_fd);
    if (r < 0) {
        server_free(s);
        int32_t status = r == -EINVAL || r == -ENAMETOOLONG ? CLEAT_STATUS_INVALID_ARGUMENT : plugin_errno_status(-r);
        return cleat_error_set(host, reterr, status, -r, "events socket %s: %s", socket_path,
                               r == -EINVAL         ? "not an absolute path"
                               : r == -ENAMETOOLONG ? "too long for a unix socket"
                               : r == -EEXIST       ? "something that is not a socket is there"
                                                    : strerror(-r));
    }
    if ((s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
        (r = pthread_create(&s->thread, NULL, server_main, s)) != 0) {
        int e = s->wake_fd < 0 ? errno : r;
        server_free(s);
        return cleat_error_set(host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, e, "events socket %s: %s", socket_path,
                               strerror(e));
    }
    *ret = s;
    return 0;
}

void ttrpc_server_stop(struct ttrpc_server *s) {
    if (!s)
        return;
    uint64_t one = 1;
    while (write(s->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    pthread_join(s->thread, NULL);
    server_free(s);
}
