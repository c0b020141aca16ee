/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the stream_*.c files; not an API.
 *
 * One thread serves one session: a connection whose request (read by the
 * server's HTTP gate, http_gate.h) held a valid token.  It upgrades to SPDY/3.1
 * or WebSocket, and then runs a poll loop that moves bytes between the client
 * and the process (exec), the shim's attach socket (attach) or TCP
 * connections in the pod (port-forward).
 *
 * Memory per session is bounded: the client's input is read only while the
 * data already taken from it (stdin for the process, bytes for a forwarded
 * port) is below SESSION_PENDING_MAX and while the bytes queued for the client
 * are below SESSION_OUT_MAX (a client that does not read cannot make replies
 * to its pings or window updates pile up: mux_next); local output (process
 * pipes, sockets) is read only while the bytes queued for the client are
 * below SESSION_OUT_MAX.  A slow client thus slows the producer down; nothing
 * is dropped.
 */
#ifndef CLEAT_CORE_STREAM_INTERNAL_H
#define CLEAT_CORE_STREAM_INTERNAL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "stream_buf.h"
#include "stream_http.h"
#include "stream_server.h"
#include "stream_spdy.h"
#include "stream_tokens.h"
#include "stream_ws.h"

struct runtime_service;
typedef struct ssl_st SSL;

#define SESSION_OUT_MAX (256u << 10)     /* queued for the client before local reads stop */
#define SESSION_PENDING_MAX (256u << 10) /* taken from the client before its reads stop */
#define SESSION_FRAME_MAX (1u << 20)     /* largest frame or message accepted from a client */
#define SESSION_READ_CHUNK 65536

enum { PROTO_SPDY = 1, PROTO_WS };

/* Remote command channels (the WebSocket channel numbers; SPDY maps streamType onto them). */
enum { CH_STDIN = 0, CH_STDOUT, CH_STDERR, CH_ERROR, CH_RESIZE, CH_MAX };
#define WS_CLOSE_CHANNEL 255 /* v5: [255, channel] closes a channel */

struct session {
    struct stream_server *srv;
    struct runtime_service *rs; /* the pods and containers sessions reach */
    int fd;
    SSL *ssl;
    int ssl_want_write;
    struct sbuf in, out;
    struct http_request http;
    struct stream_request *req;
    int proto;
    const char *subprotocol; /* negotiated */
    /* WebSocket */
    int ws_base64, ws_status_v4, ws_v5;
    struct ws_assembler wsa;
    struct sbuf scratch; /* decoded base64 */
    /* SPDY */
    struct spdy_zlib z;
    int z_ok;
    uint32_t last_stream; /* highest client stream ID seen */
    /* state */
    int read_blocked; /* the application cannot take more input now */
    int peer_gone;    /* EOF, error, GOAWAY or close from the client */
    int ended;        /* we sent GOAWAY / close */
};

enum mux_type { MUX_NONE, MUX_STREAM, MUX_DATA, MUX_RESET, MUX_CLOSE_CHANNEL };

struct mux_event {
    enum mux_type type;
    uint32_t sid;        /* SPDY stream */
    int chan;            /* WebSocket channel (or channel closed by MUX_CLOSE_CHANNEL) */
    int fin;             /* MUX_DATA: the client's last data on this stream */
    const uint8_t *data; /* MUX_DATA */
    size_t len;
    struct spdy_headers hdr; /* MUX_STREAM; freed by the next mux_next */
};

/* Client I/O: >0 bytes, 0 EOF, -EAGAIN, or another negative errno. */
ssize_t session_read(struct session *s, void *buf, size_t n);
ssize_t session_write(struct session *s, const void *buf, size_t n);

/*
 * One round of the loop: poll the client (read when allowed, write when
 * output is queued) and `fds` (the caller's, events set by the caller),
 * read and write the client.  Returns poll's result (revents in fds).
 */
int session_poll(struct session *s, struct pollfd *fds, size_t n, int timeout_ms);
/* Non-zero when the client's queue has room for more local output. */
static inline int session_out_room(const struct session *s) {
    return sbuf_avail(&s->out) < SESSION_OUT_MAX;
}
/* Flush what is queued (up to a deadline), end the connection gracefully. */
void session_finish(struct session *s);

/*
 * Next client event: 1 with *ev, 0 when more input is needed or while output
 * waits for the client (session_out_room), negative on a protocol error.
 */
int mux_next(struct session *s, struct mux_event *ev);
void mux_event_clear(struct mux_event *ev);
/* Data to the client on a SPDY stream (sid) or WebSocket channel (chan). */
int mux_send(struct session *s, uint32_t sid, int chan, const void *data, size_t len);
/* SPDY: half-close our side of a stream (an empty DATA frame with FIN). */
int mux_fin(struct session *s, uint32_t sid);
int mux_reply(struct session *s, uint32_t sid);
int mux_reset(struct session *s, uint32_t sid, uint32_t status);
/* GOAWAY, or a WebSocket close frame. */
int mux_end(struct session *s);

/* Protocol negotiation and the 101 response (or an error response, then -1). */
int session_upgrade(struct session *s, const char *const *spdy_protocols, const char *const *ws_protocols);

/* The three kinds of session (stream_exec.c, stream_portforward.c); they own s->req. */
void stream_serve_remotecommand(struct session *s);
void stream_serve_portforward(struct session *s);

int64_t stream_now_ms(void);

#endif
