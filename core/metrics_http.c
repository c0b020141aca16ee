/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus endpoint: a minimal HTTP/1.1 server on one thread.  It reads
 * one request per connection (with a short timeout, so a stuck client cannot
 * hold it long), answers GET /metrics (HEAD too) and closes; anything else is
 * 404 or 405.  A pipe wakes the thread for shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

#define IO_TIMEOUT_S 5
#define MAX_REQUEST 8192

struct metrics_server {
    struct daemon *d;
    int fd, wake[2];
    pthread_t thread;
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
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
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
            int one = 1, zero = 0;
            if (fd >= 0 && ((pass == 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) ||
                            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
                            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0)) {
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

static void send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, const char *status, const char *type, const char *body, size_t len, int head) {
    char hdr[256];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                     type, len);
    send_all(fd, hdr, (size_t)n);
    if (!head)
        send_all(fd, body, len);
}

/* Read the request head (up to the blank line) within IO_TIMEOUT_S in all; its length, or -1. */
static ssize_t read_request(int fd, char *buf, size_t size) {
    size_t len = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (len < size - 1) {
        /* A whole-request deadline: a byte every few seconds must not hold the only serving thread. */
        clock_gettime(CLOCK_MONOTONIC, &t);
        int64_t left = IO_TIMEOUT_S * 1000LL - ((t.tv_sec - t0.tv_sec) * 1000LL + (t.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        ssize_t r = recv(fd, buf + len, size - 1 - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
            return (ssize_t)len;
    }
    return -1;
}

static void serve_one(struct metrics_server *s, int fd) {
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char req[MAX_REQUEST], method[16] = "", target[1024] = "";
    if (read_request(fd, req, sizeof(req)) < 0 || sscanf(req, "%15s %1023s HTTP/1.", method, target) != 2) {
        static const char bad[] = "bad request\n";
        respond(fd, "400 Bad Request", "text/plain", bad, sizeof(bad) - 1, 0);
        return;
    }
    int head = strcmp(method, "HEAD") == 0;
    char *query = strchr(target, '?');
    if (query)
        *query = '\0';
    if (strcmp(target, "/metrics") != 0) {
        static const char nf[] = "not found: try /metrics\n";
        respond(fd, "404 Not Found", "text/plain", nf, sizeof(nf) - 1, head);
    } else if (!head && strcmp(method, "GET") != 0) {
        static const char na[] = "method not allowed\n";
        respond(fd, "405 Method Not Allowed", "text/plain", na, sizeof(na) - 1, 0);
    } else {
        struct strbuf sb = {0};
        metrics_render(s->d, &sb);
        if (sb.failed)
            respond(fd, "500 Internal Server Error", "text/plain", "out of memory\n", 14, head);
        else
            respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", sb.s ? sb.s : "", sb.len, head);
        strbuf_free(&sb);
    }
}

static void *serve_thread(void *arg) {
    struct metrics_server *s = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN}, {.fd = s->wake[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        serve_one(s, c);
        close(c);
    }
    return NULL;
}

int metrics_server_start(struct daemon *d, const char *address, struct metrics_server **ret,
                         struct cleat_error **reterr) {
    struct metrics_server *s = calloc(1, sizeof(*s));
    if (!s)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    s->d = d;
    s->wake[0] = s->wake[1] = -1;
    s->fd = listen_on(address, reterr);
    int r = s->fd;
    if (r >= 0 && pipe2(s->wake, O_CLOEXEC) < 0)
        r = error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "metrics: pipe: %s", strerror(errno));
    if (r >= 0 && (r = pthread_create(&s->thread, NULL, serve_thread, s)) != 0)
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, r, "metrics: cannot start its thread");
    if (r < 0) {
        if (s->fd >= 0)
            close(s->fd);
        if (s->wake[0] >= 0) {
            close(s->wake[0]);
            close(s->wake[1]);
        }
        free(s);
        return r;
    }
    log_info("serving metrics on http://%s/metrics", address);
    *ret = s;
    return 0;
}

void metrics_server_stop(struct metrics_server *s) {
    if (!s)
        return;
    if (write(s->wake[1], "x", 1) < 0)
        log_warning("metrics: cannot wake the server thread: %s", strerror(errno));
    pthread_join(s->thread, NULL);
    close(s->fd);
    close(s->wake[0]);
    close(s->wake[1]);
    free(s);
}
