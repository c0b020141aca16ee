/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ttrpc client.  One mutex guards the list of calls in flight and the
 * connection's fate; one condition variable wakes callers (each checks its
 * own call).  A second mutex keeps frames whole on the socket.  The reader
 * thread owns the receiving side: it reads frames, hands each answer to its
 * call, and when the socket ends it fails every call still waiting.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "plugin_clock.h"
#include "plugin_error.h"
#include "ttrpc.h"
#include "ttrpc.pb-c.h"
#include "ttrpc_wire.h"

#define CONNECT_TIMEOUT_DEFAULT_MS 5000
#define DISCARD_CHUNK 65536

/* What became of a call. */
enum outcome { WAITING, ANSWERED, CONN_DEAD, TOO_BIG };

struct call {
    uint32_t stream_id;
    enum outcome outcome;
    uint8_t *frame; /* ANSWERED: the Response message */
    size_t len;     /* ANSWERED: its length; TOO_BIG: the length announced */
    struct call *next;
};

struct ttrpc_client {
    const struct cleat_host *host;
    char *address;
    int fd;
    pthread_t reader;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* a call's outcome changed, or callers dropped */
    uint32_t next_stream;
    struct call *calls;
    int dead;      /* no call can succeed any more */
    char why[160]; /* how it died, after "shim at ADDRESS": "closed the connection", ... */
    int callers;   /* threads inside ttrpc_call() */
    pthread_mutex_t write_lock;
};

/* Mark the connection dead (the first reason stays) and fail every call waiting; under c->lock. */
static void die_locked(struct ttrpc_client *c, const char *why) {
    if (!c->dead) {
        c->dead = 1;
        snprintf(c->why, sizeof(c->why), "%s", why);
    }
    for (struct call *k = c->calls; k; k = k->next)
        if (k->outcome == WAITING)
            k->outcome = CONN_DEAD;
    pthread_cond_broadcast(&c->cond);
}

static void die(struct ttrpc_client *c, const char *why) {
    pthread_mutex_lock(&c->lock);
    die_locked(c, why);
    pthread_mutex_unlock(&c->lock);
}

/* Read and drop `len` bytes (an oversized frame's data); 0 or -errno/-EPIPE. */
static int discard(int fd, uint32_t len) {
    uint8_t *buf = malloc(DISCARD_CHUNK);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    while (len > 0 && r == 0) {
        uint32_t n = len < DISCARD_CHUNK ? len : DISCARD_CHUNK;
        r = ttrpc_read_full(fd, buf, n);
        len -= n;
    }
    free(buf);
    return r;
}

/* Give a received frame to its call; a frame no call waits for is dropped (and freed). */
static void deliver(struct ttrpc_client *c, const struct ttrpc_header *h, uint8_t *data) {
    pthread_mutex_lock(&c->lock);
    struct call *k = c->calls;
    while (k && k->stream_id != h->stream_id)
        k = k->next;
    if (k && k->outcome == WAITING) {
        k->outcome = data ? ANSWERED : TOO_BIG;
        k->frame = data;
        k->len = h->length;
        data = NULL;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    if (data || !k)
        cleat_log(c->host, CLEAT_LOG_DEBUG, "ttrpc %s: dropped a frame on stream %u that no call waits for", c->address,
                  h->stream_id);
    free(data);
}

/* Read one frame and hand it on; 0 to go on, else the connection is over and *why says how. */
static int read_frame(struct ttrpc_client *c, char *why, size_t size) {
    uint8_t head[TTRPC_HEADER_LEN];
    struct ttrpc_header h;
    int r = ttrpc_read_full(c->fd, head, sizeof(head));
    if (r == 0) {
        ttrpc_header_decode(head, &h);
        if (h.length >= TTRPC_LENGTH_INSANE) {
            snprintf(why, size, "sent a frame that is not ttrpc (length %u)", h.length);
            return -EPROTO;
        }
        if (h.length > TTRPC_MESSAGE_MAX) {
            if ((r = discard(c->fd, h.length)) == 0 && h.type == TTRPC_TYPE_RESPONSE)
                deliver(c, &h, NULL);
        } else {
            uint8_t *data = malloc(h.length ? h.length : 1);
            if (!data)
                r = -ENOMEM;
            else if ((r = ttrpc_read_full(c->fd, data, h.length)) < 0)
                free(data);
            else if (h.type == TTRPC_TYPE_RESPONSE)
                deliver(c, &h, data);
            else
                free(data); /* Data frames: no streaming call is ever made */
        }
    }
    if (r == -EPIPE || r == -ECONNRESET)
        snprintf(why, size, "closed the connection");
    else if (r < 0)
        snprintf(why, size, "could not be read from: %s", strerror(-r));
    return r;
}

static void *reader_main(void *arg) {
    struct ttrpc_client *c = arg;
    char why[160];
    while (read_frame(c, why, sizeof(why)) == 0)
        ;
    die(c, why);
    return NULL;
}

static int connect_socket(const struct cleat_host *host, const char *address, int timeout_ms, int *ret_fd,
                          struct cleat_error **reterr) {
    struct sockaddr_un sa;
    socklen_t sa_len;
    int r = ttrpc_address_parse(address, &sa, &sa_len);
    if (r < 0)
        return cleat_error_set(host, reterr, CLEAT_STATUS_INVALID_ARGUMENT, -r,
                               "ttrpc address '%s': %s (unix:///path or unix://@name)", address,
                               r == -ENAMETOOLONG ? "too long for a unix socket" : "not a unix socket address");
    int64_t deadline = plugin_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : CONNECT_TIMEOUT_DEFAULT_MS);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cleat_error_set(host, reterr, plugin_errno_status(errno), errno, "ttrpc %s: socket: %m", address);
    /* A unix socket connects at once or, with the backlog full, fails EAGAIN: try again until the deadline. */
    while ((r = connect(fd, (struct sockaddr *)&sa, sa_len)) < 0 && (errno == EINTR || errno == EAGAIN) &&
           plugin_monotonic_ms() < deadline)
        if (errno == EAGAIN)
            plugin_sleep_ms(10);
    if (r < 0) {
        int e = errno;
        close(fd);
        return cleat_error_set(host, reterr, CLEAT_STATUS_UNAVAILABLE, e, "cannot connect to shim at %s: %s", address,
                               e == EAGAIN ? "it does not accept connections" : strerror(e));
    }
    *ret_fd = fd;
    return 0;
}

static void client_free(struct ttrpc_client *c) {
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->write_lock);
    pthread_cond_destroy(&c->cond);
    if (c->fd >= 0)
        close(c->fd);
    free(c->address);
    free(c);
}

int ttrpc_connect(const struct cleat_host *host, const char *address, int timeout_ms, struct ttrpc_client **ret,
                  struct cleat_error **reterr) {
    int fd = -1;
    int r = connect_socket(host, address, timeout_ms, &fd, reterr);
    if (r < 0)
        return r;
    struct ttrpc_client *c = calloc(1, sizeof(*c));
    if (!c || !(c->address = strdup(address))) {
        free(c);
        close(fd);
        return plugin_oom(host, reterr);
    }
    c->host = host;
    c->fd = fd;
    c->next_stream = 1; /* client streams are odd */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->write_lock, NULL);
    if ((r = pthread_create(&c->reader, NULL, reader_main, c)) != 0) {
        client_free(c);
        return cleat_error_set(host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, r, "ttrpc %s: no thread: %s", address,
                               strerror(r));
    }
    *ret = c;
    return 0;
}

int ttrpc_alive(const struct ttrpc_client *c) {
    struct ttrpc_client *m = (struct ttrpc_client *)c; /* the lock is not part of the value */
    pthread_mutex_lock(&m->lock);
    int alive = !m->dead;
    pthread_mutex_unlock(&m->lock);
    return alive;
}

const char *ttrpc_address(const struct ttrpc_client *c) {
    return c->address;
}

const struct cleat_host *ttrpc_host(const struct ttrpc_client *c) {
    return c->host;
}

void ttrpc_close(struct ttrpc_client *c) {
    if (!c)
        return;
    die(c, "was disconnected by cleat");
    shutdown(c->fd, SHUT_RDWR); /* wakes the reader */
    pthread_join(c->reader, NULL);
    pthread_mutex_lock(&c->lock);
    while (c->callers > 0)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    client_free(c);
}

/* --- one call ----------------------------------------------------------------------------------------------------- */

static struct timespec ms_to_timespec(int64_t ms) {
    return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
}

/* The errno that goes with a gRPC status, so that callers testing -errno see something fitting. */
static int status_errno(int32_t code) {
    switch (code) {
    case CLEAT_STATUS_INVALID_ARGUMENT:
    case CLEAT_STATUS_OUT_OF_RANGE:
        return EINVAL;
    case CLEAT_STATUS_DEADLINE_EXCEEDED:
        return ETIMEDOUT;
    case CLEAT_STATUS_NOT_FOUND:
        return ENOENT;
    case CLEAT_STATUS_ALREADY_EXISTS:
        return EEXIST;
    case CLEAT_STATUS_PERMISSION_DENIED:
        return EPERM;
    case CLEAT_STATUS_RESOURCE_EXHAUSTED:
        return ENOSPC;
    case CLEAT_STATUS_FAILED_PRECONDITION:
        return EBUSY;
    case CLEAT_STATUS_UNIMPLEMENTED:
        return ENOSYS;
    case CLEAT_STATUS_UNAVAILABLE:
        return ECONNRESET;
    case CLEAT_STATUS_CANCELLED:
    case CLEAT_STATUS_ABORTED:
        return ECANCELED;
    default:
        return EIO;
    }
}

/* The serialized ttrpc Request for a call, malloc'd; -E2BIG above the frame limit. */
static int pack_request(const char *service, const char *method, const uint8_t *req, size_t req_len, int timeout_ms,
                        uint8_t **ret, size_t *ret_len) {
    Ttrpc__Request r = TTRPC__REQUEST__INIT;
    r.service = (char *)service;
    r.method = (char *)method;
    r.payload.data = (uint8_t *)req;
    r.payload.len = req_len;
    r.timeout_nano = (int64_t)timeout_ms * 1000000;
    if (req_len > TTRPC_MESSAGE_MAX)
        return -E2BIG;
    size_t len = ttrpc__request__get_packed_size(&r);
    if (len > TTRPC_MESSAGE_MAX)
        return -E2BIG;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    *ret_len = ttrpc__request__pack(&r, buf);
    *ret = buf;
    return 0;
}

/* Register a call on a fresh stream id; -ENOTCONN when the connection is dead, -ERANGE when ids ran out. */
static int call_begin(struct ttrpc_client *c, struct call *k, char *why, size_t size) {
    int r = 0;
    pthread_mutex_lock(&c->lock);
    if (c->dead) {
        snprintf(why, size, "%s", c->why);
        r = -ENOTCONN;
    } else if (c->next_stream > UINT32_MAX - 2) { /* ids only grow: after 2^31 calls, a new connection */
        snprintf(why, size, "has no stream ids left on this connection");
        r = -ERANGE;
    } else {
        k->stream_id = c->next_stream;
        c->next_stream += 2;
        k->next = c->calls;
        c->calls = k;
        c->callers++;
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

/* Unlink a call once it has an outcome or its caller gave up: from then on the reader leaves it alone. */
static void call_unlink(struct ttrpc_client *c, struct call *k) {
    pthread_mutex_lock(&c->lock);
    for (struct call **p = &c->calls; *p; p = &(*p)->next)
        if (*p == k) {
            *p = k->next;
            break;
        }
    pthread_mutex_unlock(&c->lock);
}

/* The caller is done with the client: wakes ttrpc_close() when it was the last, which may then free `c`. */
static void call_leave(struct ttrpc_client *c) {
    pthread_mutex_lock(&c->lock);
    if (--c->callers == 0)
        pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* Send the request frame under the write lock; 0, -ETIMEDOUT, or another -errno (the connection is then dead). */
static int send_request(struct ttrpc_client *c, uint32_t stream_id, const uint8_t *data, size_t len,
                        int64_t deadline_ms) {
    struct timespec ts = ms_to_timespec(deadline_ms);
    int r = deadline_ms < 0 ? pthread_mutex_lock(&c->write_lock)
                            : pthread_mutex_clocklock(&c->write_lock, CLOCK_MONOTONIC, &ts);
    if (r != 0)
        return -r;
    struct ttrpc_header h = {.length = (uint32_t)len, .stream_id = stream_id, .type = TTRPC_TYPE_REQUEST};
    size_t sent = 0;
    r = ttrpc_frame_send(c->fd, &h, data, deadline_ms, &sent);
    pthread_mutex_unlock(&c->write_lock);
    if (r < 0 && (sent > 0 || r != -ETIMEDOUT)) {
        /* Half a frame went out (or the socket broke): nothing after it can be read right. */
        char why[160];
        if (r == -EPIPE || r == -ECONNRESET)
            snprintf(why, sizeof(why), "closed the connection");
        else
            snprintf(why, sizeof(why), "could not be sent to: %s", strerror(-r));
        die(c, why);
        shutdown(c->fd, SHUT_RDWR);
        return r == -ETIMEDOUT ? -EPIPE : r;
    }
    return r;
}

/* Wait for the call's outcome until the deadline; returns the outcome (WAITING: it timed out). */
static enum outcome wait_outcome(struct ttrpc_client *c, struct call *k, int64_t deadline_ms, char *why, size_t size) {
    struct timespec ts = ms_to_timespec(deadline_ms);
    pthread_mutex_lock(&c->lock);
    while (k->outcome == WAITING) {
        int r =
            deadline_ms < 0 ? pthread_cond_wait(&c->cond, &c->lock) : pthread_cond_timedwait(&c->cond, &c->lock, &ts);
        if (r == ETIMEDOUT)
            break;
    }
    enum outcome o = k->outcome;
    if (o == CONN_DEAD)
        snprintf(why, size, "%s", c->why);
    pthread_mutex_unlock(&c->lock);
    return o;
}

/* Turn a Response message into the call's result. */
static int unpack_response(struct ttrpc_client *c, const char *method, const uint8_t *frame, size_t len,
                           uint8_t **ret_resp, size_t *ret_len, struct cleat_error **reterr) {
    Ttrpc__Response *resp = ttrpc__response__unpack(NULL, len, frame);
    if (!resp)
        return cleat_error_set(c->host, reterr, CLEAT_STATUS_INTERNAL, EPROTO,
                               "%s: shim at %s answered with something that is not a ttrpc response", method,
                               c->address);
    int r = 0;
    if (resp->status && resp->status->code != CLEAT_STATUS_OK) {
        int32_t code = resp->status->code;
        if (code < 0 || code > 16) /* 15, 16: DATA_LOSS, UNAUTHENTICATED; anything else is not a gRPC code */
            code = CLEAT_STATUS_UNKNOWN;
        r = cleat_error_set(c->host, reterr, code, status_errno(code), "%s: %s", method, resp->status->message);
    } else {
        uint8_t *out = malloc(resp->payload.len ? resp->payload.len : 1);
        if (!out) {
            r = plugin_oom(c->host, reterr);
        } else {
            if (resp->payload.len)
                memcpy(out, resp->payload.data, resp->payload.len);
            *ret_resp = out;
            *ret_len = resp->payload.len;
        }
    }
    ttrpc__response__free_unpacked(resp, NULL);
    return r;
}

/* The error for a call that got no answer. */
static int call_failed(struct ttrpc_client *c, const char *method, enum outcome o, size_t len, int timeout_ms,
                       const char *why, struct cleat_error **reterr) {
    if (o == WAITING)
        return cleat_error_set(c->host, reterr, CLEAT_STATUS_DEADLINE_EXCEEDED, ETIMEDOUT,
                               "%s: shim at %s did not answer within %d ms", method, c->address, timeout_ms);
    if (o == TOO_BIG)
        return cleat_error_set(c->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, EMSGSIZE,
                               "%s: shim at %s answered with %zu bytes, more than the ttrpc limit of %u", method,
                               c->address, len, TTRPC_MESSAGE_MAX);
    return cleat_error_set(c->host, reterr, CLEAT_STATUS_UNAVAILABLE, ECONNRESET, "%s: shim at %s %s", method,
                           c->address, why);
}

int ttrpc_call(struct ttrpc_client *c, const char *service, const char *method, const uint8_t *req, size_t req_len,
               int timeout_ms, uint8_t **ret_resp, size_t *ret_len, struct cleat_error **reterr) {
    int64_t deadline = timeout_ms > 0 ? plugin_monotonic_ms() + timeout_ms : -1;
    uint8_t *frame = NULL;
    size_t frame_len = 0;
    int r = pack_request(service, method, req, req_len, timeout_ms > 0 ? timeout_ms : 0, &frame, &frame_len);
    if (r == -E2BIG)
        return cleat_error_set(c->host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, EMSGSIZE,
                               "%s: a request of %zu bytes is more than the ttrpc limit of %u", method, req_len,
                               TTRPC_MESSAGE_MAX);
    if (r < 0)
        return plugin_oom(c->host, reterr);
    struct call k = {.outcome = WAITING};
    char why[160];
    if ((r = call_begin(c, &k, why, sizeof(why))) < 0) {
        free(frame);
        return call_failed(c, method, CONN_DEAD, 0, timeout_ms, why, reterr);
    }
    r = send_request(c, k.stream_id, frame, frame_len, deadline);
    free(frame);
    enum outcome o = WAITING;
    if (r == 0 || r != -ETIMEDOUT)
        o = wait_outcome(c, &k, r == 0 ? deadline : 0, why, sizeof(why)); /* after a failed send: its verdict */
    call_unlink(c, &k);
    if (o == ANSWERED)
        r = unpack_response(c, method, k.frame, k.len, ret_resp, ret_len, reterr);
    else
        r = call_failed(c, method, o, k.len, timeout_ms, why, reterr);
    free(k.frame);
    call_leave(c); /* last: the error above names c->address, which ttrpc_close() frees */
    return r;
}
