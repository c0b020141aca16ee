/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port-forward sessions (k8s.io/kubelet/pkg/cri/streaming/portforward).
 *
 * SPDY (portforward.k8s.io): for every forwarded connection the client
 * opens an `error` and a `data` stream carrying the same `port` and
 * `requestID` headers; once both are there, cleat connects to the port in
 * the pod and copies both ways.  Several connections share one session.
 *
 * WebSocket (v4.channel.k8s.io, v4.base64.channel.k8s.io): the ports are
 * fixed when the session starts; port i is channel 2i (data) and 2i+1
 * (error), and the first message on each is the port, 16 bits little endian.
 *
 * The connection is made inside the pod's network namespace to 127.0.0.1,
 * then ::1: the socket is created by a short-lived thread that entered the
 * pinned namespace (a socket stays in the namespace it was made in), so
 * nothing outside cleatd (socat, nsenter) is needed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime_service.h"
#include "log.h"
#include "pod_ns.h"
#include "stream_internal.h"
#include "strbuf.h"

#define PF_MAX_PAIRS 64
#define PF_PAIR_TIMEOUT_MS 30000 /* for the second stream of a pair (kubelet's stream creation timeout) */
#define PF_LINGER_MS 1000        /* once one direction ended, the other gets this long (as containerd) */
#define PF_CONNECT_TIMEOUT_S 5

static const char *const spdy_protocols[] = {"portforward.k8s.io", NULL};
/* kubelet's names, and the port-forward names some clients offer for the same protocol. */
static const char *const ws_protocols[] = {
    "", "v4.channel.k8s.io", "v4.base64.channel.k8s.io", "portforward.k8s.io", "v4.portforward.k8s.io", NULL};

struct pair {
    int used;
    char request_id[64];
    uint32_t data_sid, err_sid; /* SPDY */
    uint16_t port;
    int fd; /* the connection in the pod; -1 before and after */
    int connected, failed;
    struct sbuf pending; /* from the client, not written to fd yet */
    int client_fin, pod_eof, shut_wr;
    int64_t created_ms, ended_ms;
};

struct pf {
    struct session *s;
    struct stream_request *req;
    struct pair p[PF_MAX_PAIRS];
    size_t n_ws; /* WebSocket: pairs 0..n_ws-1 are the ports */
};

/* ------------------------------------------------------------------------- */
/* sockets in the pod                                                        */

struct sockets {
    int fd4, fd6;
};

static int make_sockets(void *ctx) {
    struct sockets *k = ctx;
    k->fd4 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    k->fd6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return k->fd4 >= 0 || k->fd6 >= 0 ? 0 : -errno;
}

static int try_connect(int fd, const struct sockaddr *sa, socklen_t len) {
    struct timeval tv = {.tv_sec = PF_CONNECT_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int r = connect(fd, sa, len) < 0 ? -errno : 0;
    tv.tv_sec = 0;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return r;
}

/* A connected socket to localhost:port in the netns (NULL: the host's), or a negative errno with a message. */
static int pod_connect(const char *netns, uint16_t port, char *msg, size_t msg_size) {
    struct sockets k = {-1, -1};
    struct cleat_error *e = NULL;
    int r = netns ? pod_ns_run_in(netns, CLONE_NEWNET, make_sockets, &k, &e) : make_sockets(&k);
    if (r < 0) {
        snprintf(msg, msg_size, "cannot enter network namespace %s: %s", netns ? netns : "",
                 e ? error_message(e) : strerror(-r));
        error_free(e);
        return r;
    }
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int r4 = k.fd4 >= 0 ? try_connect(k.fd4, (struct sockaddr *)&a4, sizeof(a4)) : -EAFNOSUPPORT;
    int r6 = r4 < 0 && k.fd6 >= 0 ? try_connect(k.fd6, (struct sockaddr *)&a6, sizeof(a6)) : -EAFNOSUPPORT;
    int fd = r4 == 0 ? k.fd4 : r6 == 0 ? k.fd6 : -1;
    if (k.fd4 >= 0 && fd != k.fd4)
        close(k.fd4);
    if (k.fd6 >= 0 && fd != k.fd6)
        close(k.fd6);
    if (fd < 0) {
        snprintf(msg, msg_size,
                 "failed to connect to localhost:%u inside the pod's network namespace, IPv4: %s, IPv6: %s", port,
                 strerror(-r4), strerror(-r6));
        return r4 == -ECONNREFUSED || r6 == -ECONNREFUSED ? -ECONNREFUSED : r4;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* ------------------------------------------------------------------------- */
/* pairs                                                                     */

static uint32_t data_sid(const struct pf *f, const struct pair *p) {
    (void)f;
    return p->data_sid;
}

static int data_chan(const struct pf *f, const struct pair *p) {
    return (int)(p - f->p) * 2;
}

static void send_error(struct pf *f, struct pair *p, const char *text, int close_connection) {
    struct session *s = f->s;
    if (s->proto == PROTO_WS) {
        mux_send(s, 0, data_chan(f, p) + 1, text, strlen(text));
        return;
    }
    if (!p->err_sid)
        return;
    /* kubelet's portForwardErrResponse, one JSON line */
    struct strbuf b = {0};
    strbuf_puts(&b, close_connection ? "{\"closeConnection\":true,\"message\":" : "{\"message\":");
    strbuf_json_string(&b, text);
    strbuf_puts(&b, "}\n");
    if (b.s)
        mux_send(s, p->err_sid, 0, b.s, b.len);
    strbuf_free(&b);
}

static void pair_close(struct pf *f, struct pair *p) {
    struct session *s = f->s;
    if (s->proto == PROTO_SPDY) {
        if (p->data_sid)
            mux_fin(s, p->data_sid);
        if (p->err_sid)
            mux_fin(s, p->err_sid);
    }
    if (p->fd >= 0)
        close(p->fd);
    sbuf_free(&p->pending);
    if (s->proto == PROTO_SPDY) {
        *p = (struct pair){.fd = -1};
    } else {
        p->fd = -1;
        p->failed = 1; /* the channel pair stays, unused */
    }
}

static void pair_start(struct pf *f, struct pair *p) {
    char msg[512];
    int fd = pod_connect(f->req->netns, p->port, msg, sizeof(msg));
    if (fd < 0) {
        char text[768];
        snprintf(text, sizeof(text), "error forwarding port %u to pod %s, uid : %s", p->port, f->req->id, msg);
        log_info("streaming: %s", text);
        send_error(f, p, text, 1);
        pair_close(f, p);
        return;
    }
    p->fd = fd;
    p->connected = 1;
}

static struct pair *pair_by_request(struct pf *f, const char *request_id) {
    struct pair *free_slot = NULL;
    for (size_t i = 0; i < PF_MAX_PAIRS; i++) {
        if (f->p[i].used && strcmp(f->p[i].request_id, request_id) == 0)
            return &f->p[i];
        if (!f->p[i].used && !free_slot)
            free_slot = &f->p[i];
    }
    if (free_slot) {
        *free_slot = (struct pair){.used = 1, .fd = -1, .created_ms = stream_now_ms()};
        snprintf(free_slot->request_id, sizeof(free_slot->request_id), "%s", request_id);
    }
    return free_slot;
}

static int parse_port(const char *s, uint16_t *ret) {
    char *end = NULL;
    if (!s || !*s || *s == '-' || *s == '+')
        return -EINVAL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < 1 || v > 65535)
        return -EINVAL;
    *ret = (uint16_t)v;
    return 0;
}

static void on_stream(struct pf *f, struct mux_event *ev) {
    struct session *s = f->s;
    const char *type = spdy_headers_get(&ev->hdr, "streamtype");
    const char *rid = spdy_headers_get(&ev->hdr, "requestid");
    uint16_t port = 0;
    int is_data = type && strcmp(type, "data") == 0, is_error = type && strcmp(type, "error") == 0;
    if (parse_port(spdy_headers_get(&ev->hdr, "port"), &port) < 0 || (!is_data && !is_error)) {
        mux_reset(s, ev->sid, SPDY_REFUSED_STREAM);
        return;
    }
    char derived[16];
    if (!rid || !*rid) { /* an old client: kubelet pairs consecutive streams */
        snprintf(derived, sizeof(derived), "%u", is_error ? ev->sid : ev->sid - 2);
        rid = derived;
    }
    struct pair *p = pair_by_request(f, rid);
    if (!p || (is_data ? p->data_sid : p->err_sid)) {
        mux_reset(s, ev->sid, p ? SPDY_PROTOCOL_ERROR : SPDY_REFUSED_STREAM);
        return;
    }
    mux_reply(s, ev->sid);
    if (is_data) {
        p->data_sid = ev->sid;
        p->port = port;
        p->client_fin = ev->fin;
    } else {
        p->err_sid = ev->sid;
    }
    if (p->data_sid && p->err_sid)
        pair_start(f, p);
}

static struct pair *pair_of(struct pf *f, const struct mux_event *ev, int *is_data) {
    if (f->s->proto == PROTO_WS) {
        size_t i = (size_t)ev->chan / 2;
        *is_data = ev->chan % 2 == 0;
        return i < f->n_ws && !f->p[i].failed ? &f->p[i] : NULL;
    }
    for (size_t i = 0; i < PF_MAX_PAIRS; i++) {
        struct pair *p = &f->p[i];
        if (p->used && (p->data_sid == ev->sid || p->err_sid == ev->sid)) {
            *is_data = p->data_sid == ev->sid;
            return p;
        }
    }
    return NULL;
}

static size_t pending_total(const struct pf *f) {
    size_t n = 0;
    for (size_t i = 0; i < PF_MAX_PAIRS; i++)
        n += sbuf_avail(&f->p[i].pending);
    return n;
}

static void pump_client(struct pf *f) {
    struct session *s = f->s;
    struct mux_event ev = {0};
    int r = 0;
    while (pending_total(f) < SESSION_PENDING_MAX && (r = mux_next(s, &ev)) > 0) {
        int is_data = 0;
        struct pair *p = ev.type == MUX_STREAM ? NULL : pair_of(f, &ev, &is_data);
        if (ev.type == MUX_STREAM) {
            on_stream(f, &ev);
        } else if (p && ev.type == MUX_RESET) {
            pair_close(f, p);
        } else if (p && ev.type == MUX_DATA && is_data) {
            if (!p->client_fin && !p->failed && sbuf_append(&p->pending, ev.data, ev.len) < 0)
                s->peer_gone = 1;
            if (ev.fin)
                p->client_fin = 1;
        }
    }
    mux_event_clear(&ev);
    if (r < 0) {
        log_debug("streaming: port-forward protocol error from the client: %s", strerror(-r));
        s->peer_gone = 1;
    }
    s->read_blocked = pending_total(f) >= SESSION_PENDING_MAX;
}

/* Move bytes for one connected pair after poll. */
static void pair_io(struct pf *f, struct pair *p, short revents) {
    struct session *s = f->s;
    if (!p->pod_eof && (revents & (POLLIN | POLLHUP | POLLERR))) {
        uint8_t buf[32768];
        ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            if (s->proto == PROTO_WS)
                mux_send(s, 0, data_chan(f, p), buf, (size_t)n);
            else
                mux_send(s, data_sid(f, p), 0, buf, (size_t)n);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            if (n < 0 && (errno == ECONNRESET || errno == EPIPE)) {
                char text[256];
                snprintf(text, sizeof(text), "error forwarding port %u to pod %s, uid : %s", p->port, f->req->id,
                         strerror(errno));
                send_error(f, p, text, 0);
            }
            p->pod_eof = 1;
            p->ended_ms = stream_now_ms();
        }
    }
    while (sbuf_avail(&p->pending) && !p->pod_eof) {
        ssize_t n = send(p->fd, sbuf_data(&p->pending), sbuf_avail(&p->pending), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) {
            p->pending.off = p->pending.len = 0;
            p->pod_eof = 1;
            p->ended_ms = stream_now_ms();
            break;
        }
        sbuf_consume(&p->pending, (size_t)n);
    }
    if (p->client_fin && !sbuf_avail(&p->pending) && !p->shut_wr) {
        shutdown(p->fd, SHUT_WR);
        p->shut_wr = 1;
        if (!p->ended_ms)
            p->ended_ms = stream_now_ms();
    }
}

static int pair_active(const struct pair *p) {
    return p->used && !p->failed;
}

static void pf_loop(struct pf *f) {
    struct session *s = f->s;
    for (;;) {
        pump_client(f);
        int64_t now = stream_now_ms();
        size_t active = 0;
        struct pollfd fds[PF_MAX_PAIRS];
        struct pair *owner[PF_MAX_PAIRS];
        size_t n = 0;
        for (size_t i = 0; i < PF_MAX_PAIRS; i++) {
            struct pair *p = &f->p[i];
            if (!pair_active(p))
                continue;
            if (p->connected) {
                pair_io(f, p, 0); /* flush what pump_client took */
                if ((p->pod_eof && (p->shut_wr || now - p->ended_ms > PF_LINGER_MS)) ||
                    (p->shut_wr && now - p->ended_ms > PF_LINGER_MS)) {
                    pair_close(f, p);
                    continue;
                }
            } else if (now - p->created_ms > PF_PAIR_TIMEOUT_MS) {
                send_error(f, p, "timed out waiting for streams", 0);
                pair_close(f, p);
                continue;
            }
            active++;
            if (!p->connected)
                continue;
            short ev = (!p->pod_eof && session_out_room(s)) ? POLLIN : 0;
            if (sbuf_avail(&p->pending))
                ev |= POLLOUT;
            fds[n] = (struct pollfd){.fd = p->fd, .events = ev};
            owner[n++] = p;
        }
        if (s->peer_gone || (s->proto == PROTO_WS && !active))
            break;
        session_poll(s, fds, n, 100);
        for (size_t i = 0; i < n; i++)
            if (fds[i].revents)
                pair_io(f, owner[i], fds[i].revents);
    }
}

/* WebSocket: the ports from the URL's query (kubelet's own form), else those of the PortForward request. */
static int ws_ports(struct pf *f) {
    char *vals = NULL;
    size_t nv = 0;
    if (http_query_values(f->s->http.query, "port", &vals, &nv) < 0)
        return -EINVAL;
    size_t n = 0;
    int r = 0;
    for (char *v = vals; r >= 0 && nv--; v += strlen(v) + 1) {
        char *save = NULL;
        for (char *t = strtok_r(v, ",", &save); t && r >= 0; t = strtok_r(NULL, ",", &save)) {
            uint16_t port;
            if (parse_port(t, &port) < 0 || n == PF_MAX_PAIRS)
                r = -EINVAL;
            else
                f->p[n++] = (struct pair){.used = 1, .fd = -1, .port = port};
        }
    }
    free(vals);
    for (size_t i = 0; r >= 0 && n == 0 && i < f->req->n_ports && i < PF_MAX_PAIRS; i++)
        f->p[n++] = (struct pair){.used = 1, .fd = -1, .port = (uint16_t)f->req->ports[i]};
    f->n_ws = n;
    return r < 0 ? r : n ? 0 : -ENOENT;
}

void stream_serve_portforward(struct session *s) {
    struct pf f = {.s = s, .req = s->req};
    for (size_t i = 0; i < PF_MAX_PAIRS; i++)
        f.p[i].fd = -1;
    const char *upgrade = http_header(&s->http, "Upgrade");
    if (upgrade && strcasecmp(upgrade, "websocket") == 0 && ws_ports(&f) < 0) {
        http_put_response(&s->out, 400, "Bad Request", NULL,
                          "query parameter \"port\" is required and must hold ports\n");
        session_finish(s);
        return;
    }
    if (session_upgrade(s, spdy_protocols, ws_protocols) < 0)
        return;
    if (s->proto == PROTO_WS) {
        for (size_t i = 0; i < f.n_ws; i++) {
            uint8_t le[2] = {(uint8_t)(f.p[i].port & 0xff), (uint8_t)(f.p[i].port >> 8)};
            mux_send(s, 0, (int)(2 * i), le, 2);
            mux_send(s, 0, (int)(2 * i + 1), le, 2);
        }
        for (size_t i = 0; i < f.n_ws; i++)
            pair_start(&f, &f.p[i]);
    }
    pf_loop(&f);
    for (size_t i = 0; i < PF_MAX_PAIRS; i++)
        if (f.p[i].used)
            pair_close(&f, &f.p[i]);
    if (!s->peer_gone) {
        mux_end(s);
        session_finish(s);
    }
}
