/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus endpoint: an HTTP gate (http_gate.h) on one thread holds
 * every connection until its request head is there, answers GET /metrics
 * (HEAD too) and closes; anything else is 404 or 405.  The gate bounds how
 * long a connection may take to ask (a trickling client is cut off) and to
 * take its answer, how many connections are held (the oldest is dropped for
 * a new one) and the bytes of answers not taken yet, so neither idle
 * connections nor clients that never read can stop the scrapes.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_gate.h"
#include "log.h"
#include "metrics.h"
#include "metrics_gauges.h"
#include "metrics_http.h"

#define METRICS_TIMEOUT_MS 5000          /* to ask, and again to take the answer */
#define METRICS_MAX_CONNS 64             /* Prometheus scrapes one at a time */
#define METRICS_ANSWER_BYTES (32u << 20) /* of answers not taken yet, in all */

struct metrics_server {
    struct daemon *d;
    int fd;
    struct http_gate *gate;
};

/* "HOST:PORT", "[V6]:PORT", ":PORT" → host (NULL: any) and port, in buf. */
static int split_address(const char *address, char *buf, size_t size, const char **ret_host, const char **ret_port) {
    if (snprintf(buf, size, "%s", address) >= (int)size)
        return -EINVAL;
    char *colon = strrchr(buf, ':');
    if (!colon)
        return -EINVAL;
    *colon = '\0';
    char *host = buf;
    if (host[0] == '[') {
        size_t n = strlen(host);
        if (n < 2 || host[n - 1] != ']')
            return -EINVAL;
        host[n - 1] = '\0';
        host++;
    }
    *ret_host = *host ? host : NULL;
    *ret_port = colon + 1;
    return 0;
}

static int listen_on(const char *address, struct cleat_error **reterr) {
    char buf[512];
    const char *host = NULL, *port = NULL;
    if (split_address(address, buf, sizeof(buf), &host, &port) < 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "metrics address '%s' is not HOST:PORT",
                         address);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "metrics address '%s': %s", address,
                         gai_strerror(g));
    int fd = -1, e = 0;
    /* No host means every address: the IPv6 wildcard first (it takes IPv4 too), else what comes. */
    for (int pass = host ? 1 : 0; pass < 2 && fd < 0; pass++)
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
            if (pass == 0 && ai->ai_family != AF_INET6)
                continue;
            fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
            /*
             * The kernel's most (SOMAXCONN, capped by net.core.somaxconn): a burst that comes while the gate is
             * busy waits in the accept queue and meets the gate's own bounds.  One that overflowed a short queue
             * was half-connected instead, and held open until the kernel retried its handshake, 15-30 s on.
             */
            int one = 1, zero = 0;
            if (fd >= 0 && ((pass == 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) ||
                            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
                            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0)) {
                e = errno;
                close(fd);
                fd = -1;
            } else if (fd < 0) {
                e = errno;
            }
        }
    freeaddrinfo(res);
    if (fd < 0)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, e, "cannot listen on metrics address '%s': %s",
                         address, strerror(e));
    return fd;
}

static void respond(struct sbuf *out, const char *status, const char *type, const char *body, size_t len, int head) {
    char hdr[256];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                     type, len);
    if (sbuf_append(out, hdr, (size_t)n) < 0 || (!head && sbuf_append(out, body, len) < 0))
        out->off = out->len = 0; /* out of memory: no answer, the connection closes */
}

static void on_request(void *ctx, struct http_gate_conn *c, struct http_request *req) {
    struct metrics_server *s = ctx;
    struct sbuf *out = http_gate_answer(c);
    int head = strcmp(req->method, "HEAD") == 0;
    if (strcmp(req->path, "/metrics") != 0) {
        static const char nf[] = "not found: try /metrics\n";
        respond(out, "404 Not Found", "text/plain", nf, sizeof(nf) - 1, head);
    } else if (!head && strcmp(req->method, "GET") != 0) {
        static const char na[] = "method not allowed\n";
        respond(out, "405 Method Not Allowed", "text/plain", na, sizeof(na) - 1, 0);
    } else {
        struct strbuf sb = {0};
        metrics_render(&sb);
        metrics_render_gauges(s->d, &sb);
        if (sb.failed)
            respond(out, "500 Internal Server Error", "text/plain", "out of memory\n", 14, head);
        else
            respond(out, "200 OK", "text/plain; version=0.0.4; charset=utf-8", sb.s ? sb.s : "", sb.len, head);
        strbuf_free(&sb);
    }
}

int metrics_server_start(struct daemon *d, const char *address, struct metrics_server **ret,
                         struct cleat_error **reterr) {
    struct metrics_server *s = calloc(1, sizeof(*s));
    if (!s)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    s->d = d;
    s->fd = listen_on(address, reterr);
    int r = s->fd;
    struct http_gate_options go = {.name = "metrics",
                                   .listen_fds = &s->fd,
                                   .n_listen = 1,
                                   .max_conns = METRICS_MAX_CONNS,
                                   .timeout_ms = METRICS_TIMEOUT_MS,
                                   .max_answer_bytes = METRICS_ANSWER_BYTES,
                                   .on_request = on_request,
                                   .ctx = s};
    if (r >= 0)
        r = http_gate_start(&go, &s->gate, reterr);
    if (r < 0) {
        metrics_server_stop(s);
        return r;
    }
    log_info("serving metrics on http://%s/metrics", address);
    *ret = s;
    return 0;
}

void metrics_server_stop(struct metrics_server *s) {
    if (!s)
        return;
    http_gate_stop(s->gate);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}
