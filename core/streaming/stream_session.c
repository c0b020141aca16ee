/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transport of a session: client I/O (plain or TLS), the upgrade
 * handshakes, and the SPDY or WebSocket multiplexing seen by the
 * applications as one stream of events (stream_internal.h).
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clocks.h"
#include "http_gate.h"
#include "log.h"
#include "stream_internal.h"

#define FINISH_FLUSH_MS 10000 /* queued output may take this long to leave at the end */
#define FINISH_LINGER_MS 2000 /* then the client's own close is awaited this long */

int64_t stream_now_ms(void) {
    return monotonic_ms();
}

/* ------------------------------------------------------------------------- */
/* client I/O                                                                */

static ssize_t ssl_result(struct session *s, int n) {
    return http_gate_tls_result(s->ssl, n, &s->ssl_want_write);
}

ssize_t session_read(struct session *s, void *buf, size_t n) {
    if (s->ssl) {
        ERR_clear_error();
        s->ssl_want_write = 0;
        return ssl_result(s, SSL_read(s->ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n)));
    }
    for (;;) {
        ssize_t r = recv(s->fd, buf, n, MSG_DONTWAIT);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

ssize_t session_write(struct session *s, const void *buf, size_t n) {
    if (s->ssl) {
        ERR_clear_error();
        return ssl_result(s, SSL_write(s->ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n)));
    }
    for (;;) {
        ssize_t r = send(s->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

static void do_read(struct session *s) {
    /* A TLS record may hold more than one read takes; SSL_pending has the rest without poll saying so. */
    do {
        if (sbuf_reserve(&s->in, SESSION_READ_CHUNK) < 0) {
            s->peer_gone = 1;
            return;
        }
        ssize_t n = session_read(s, s->in.p + s->in.len, SESSION_READ_CHUNK);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            s->peer_gone = 1;
            return;
        }
        s->in.len += (size_t)n;
    } while (s->ssl && SSL_pending(s->ssl) > 0 && sbuf_avail(&s->in) < SESSION_FRAME_MAX);
}

static void do_write(struct session *s) {
    while (sbuf_avail(&s->out)) {
        ssize_t n = session_write(s, sbuf_data(&s->out), sbuf_avail(&s->out));
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            s->peer_gone = 1;
            s->out.off = s->out.len = 0; /* nobody will read it */
            return;
        }
        sbuf_consume(&s->out, (size_t)n);
    }
}

/* Not while output waits for the client either: mux_next takes no frame then (see there). */
static int want_read(const struct session *s) {
    return !s->peer_gone && !s->read_blocked && session_out_room(s) &&
           sbuf_avail(&s->in) < SESSION_FRAME_MAX + SESSION_READ_CHUNK;
}

int session_poll(struct session *s, struct pollfd *fds, size_t n, int timeout_ms) {
    struct pollfd p[1 + 2 * 64];
    if (n > sizeof(p) / sizeof(p[0]) - 1)
        n = sizeof(p) / sizeof(p[0]) - 1;
    short ev = 0;
    if (want_read(s))
        ev |= POLLIN;
    if (sbuf_avail(&s->out) || s->ssl_want_write)
        ev |= POLLOUT;
    if (s->peer_gone)
        ev = 0;
    /* POLLRDHUP always: a client that leaves while its input is held back (read_blocked) must still be seen. */
    p[0] = (struct pollfd){.fd = s->peer_gone ? -1 : s->fd, .events = (short)(ev | POLLRDHUP)};
    for (size_t i = 0; i < n; i++)
        p[i + 1] = fds[i];
    /* Buffered TLS input is ready now. */
    if (s->ssl && want_read(s) && SSL_pending(s->ssl) > 0)
        timeout_ms = 0;
    int r = poll(p, n + 1, timeout_ms);
    if (r < 0 && errno != EINTR)
        return -errno;
    for (size_t i = 0; i < n; i++)
        fds[i].revents = r > 0 ? p[i + 1].revents : 0;
    if (r < 0)
        return 0;
    if (p[0].revents & (POLLOUT | POLLERR | POLLHUP) || s->ssl_want_write)
        do_write(s);
    if ((p[0].revents & (POLLIN | POLLERR | POLLHUP | POLLRDHUP)) ||
        (s->ssl && want_read(s) && SSL_pending(s->ssl) > 0))
        if (want_read(s))
            do_read(s);
    /* Gone (or done sending: EOF means gone here too) while its input was not being read. */
    if (!s->peer_gone && (p[0].revents & (POLLERR | POLLHUP | POLLRDHUP)) && !want_read(s))
        s->peer_gone = 1;
    return r;
}

void session_finish(struct session *s) {
    int64_t deadline = stream_now_ms() + FINISH_FLUSH_MS;
    s->read_blocked = 0;
    while (!s->peer_gone && sbuf_avail(&s->out) && stream_now_ms() < deadline) {
        session_poll(s, NULL, 0, 100);
        s->in.off = s->in.len = 0; /* what the client still says no longer matters */
    }
    if (s->peer_gone)
        return;
    /*
     * Half-close and wait for the client to close: closing with unread input
     * would reset the connection and could destroy the last bytes in flight.
     */
    if (s->ssl)
        SSL_shutdown(s->ssl);
    shutdown(s->fd, SHUT_WR);
    deadline = stream_now_ms() + FINISH_LINGER_MS;
    while (!s->peer_gone && stream_now_ms() < deadline) {
        session_poll(s, NULL, 0, 100);
        s->in.off = s->in.len = 0;
    }
}

/* ------------------------------------------------------------------------- */
/* upgrade                                                                   */

static void respond_error(struct session *s, int code, const char *reason, const char *headers, const char *body) {
    http_put_response(&s->out, code, reason, headers, body);
    session_finish(s);
}

static const char *pick(const char *const *client, size_t n, const char *const *server) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; server[j]; j++)
            if (strcmp(client[i], server[j]) == 0)
                return server[j];
    return NULL;
}

static int upgrade_websocket(struct session *s, const char *const *protocols) {
    const char *version = http_header(&s->http, "Sec-WebSocket-Version");
    const char *key = http_header(&s->http, "Sec-WebSocket-Key");
    uint8_t raw[32];
    if (!version || strcmp(version, "13") != 0) {
        respond_error(s, 426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\n", "unsupported WebSocket version\n");
        return -1;
    }
    char accept[29];
    if (!key || strlen(key) != 24 || b64_decode(key, 24, raw) != 16 || ws_accept_key(key, accept) < 0) {
        respond_error(s, 400, "Bad Request", NULL, "bad Sec-WebSocket-Key\n");
        return -1;
    }
    const char *offered[32];
    char *storage = NULL;
    size_t n = http_header_list(&s->http, "Sec-WebSocket-Protocol", offered, 32, &storage);
    const char *chosen = n ? pick(offered, n, protocols) : pick((const char *[]){""}, 1, protocols);
    free(storage);
    if (!chosen) {
        respond_error(s, 403, "Forbidden", NULL, "requested WebSocket subprotocols are not supported\n");
        return -1;
    }
    char head[512];
    snprintf(head, sizeof(head),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
             accept, *chosen ? "Sec-WebSocket-Protocol: " : "", chosen, *chosen ? "\r\n" : "");
    if (sbuf_append(&s->out, head, strlen(head)) < 0)
        return -1;
    s->proto = PROTO_WS;
    s->subprotocol = chosen;
    s->ws_base64 = strstr(chosen, "base64.") != NULL;
    s->ws_v5 = strncmp(chosen, "v5.", 3) == 0;
    s->ws_status_v4 = s->ws_v5 || strncmp(chosen, "v4.", 3) == 0;
    return 0;
}

static int upgrade_spdy(struct session *s, const char *const *protocols) {
    const char *offered[32];
    char *storage = NULL;
    size_t n = http_header_list(&s->http, "X-Stream-Protocol-Version", offered, 32, &storage);
    const char *chosen = pick(offered, n, protocols);
    free(storage);
    if (!n) {
        respond_error(s, 400, "Bad Request", NULL, "unable to upgrade: X-Stream-Protocol-Version is required\n");
        return -1;
    }
    if (!chosen) {
        char accepted[512] = "";
        for (size_t i = 0; protocols[i]; i++)
            snprintf(accepted + strlen(accepted), sizeof(accepted) - strlen(accepted),
                     "X-Accepted-Stream-Protocol-Versions: %s\r\n", protocols[i]);
        respond_error(s, 403, "Forbidden", accepted, "unable to upgrade: unable to negotiate protocol\n");
        return -1;
    }
    if (spdy_zlib_init(&s->z) < 0)
        return -1;
    s->z_ok = 1;
    char head[256];
    snprintf(head, sizeof(head),
             "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
             "X-Stream-Protocol-Version: %s\r\n\r\n",
             chosen);
    if (sbuf_append(&s->out, head, strlen(head)) < 0)
        return -1;
    s->proto = PROTO_SPDY;
    s->subprotocol = chosen;
    return 0;
}

int session_upgrade(struct session *s, const char *const *spdy_protocols, const char *const *ws_protocols) {
    const char *upgrade = http_header(&s->http, "Upgrade");
    int is_upgrade = http_header_has_token(&s->http, "Connection", "upgrade");
    if (is_upgrade && upgrade && strcasecmp(upgrade, "websocket") == 0)
        return upgrade_websocket(s, ws_protocols);
    if (is_upgrade && upgrade && strcasecmp(upgrade, "SPDY/3.1") == 0)
        return upgrade_spdy(s, spdy_protocols);
    respond_error(s, 400, "Bad Request", NULL, "Upgrade request required\n");
    return -1;
}

/* ------------------------------------------------------------------------- */
/* multiplexing                                                              */

void mux_event_clear(struct mux_event *ev) {
    spdy_headers_clear(&ev->hdr);
    *ev = (struct mux_event){0};
}

#define MUX_AGAIN 2 /* a frame was consumed without an event for the application */

static int spdy_step(struct session *s, struct mux_event *ev) {
    struct spdy_frame f;
    ssize_t n = spdy_frame_parse(sbuf_data(&s->in), sbuf_avail(&s->in), SESSION_FRAME_MAX, &f);
    if (n <= 0)
        return (int)n;
    int r = 0;
    if (!f.control) {
        *ev = (struct mux_event){
            .type = MUX_DATA, .sid = f.stream_id, .fin = f.flags & SPDY_FLAG_FIN, .data = f.data, .len = f.data_len};
        if (f.data_len) { /* give the window back at once: our own limits bound what is taken */
            spdy_put_window_update(&s->out, f.stream_id, (uint32_t)f.data_len);
            spdy_put_window_update(&s->out, 0, (uint32_t)f.data_len);
        }
        r = 1;
    } else if (f.type == SPDY_SYN_STREAM) {
        *ev = (struct mux_event){.type = MUX_STREAM, .sid = f.stream_id, .fin = f.flags & SPDY_FLAG_FIN};
        /* Decoded even for a stream to refuse: the compression context must see every block. */
        r = spdy_headers_decode(&s->z, f.data, f.data_len, 65536, &ev->hdr);
        if (r >= 0 && (f.stream_id % 2 == 0 || f.stream_id <= s->last_stream))
            r = -EPROTO; /* clients open odd, increasing stream IDs */
        if (r >= 0) {
            s->last_stream = f.stream_id;
            r = 1;
        }
    } else if (f.type == SPDY_HEADERS || f.type == SPDY_SYN_REPLY) {
        struct spdy_headers h;
        r = spdy_headers_decode(&s->z, f.data, f.data_len, 65536, &h);
        spdy_headers_clear(&h);
    } else if (f.type == SPDY_RST_STREAM) {
        *ev = (struct mux_event){.type = MUX_RESET, .sid = f.stream_id};
        r = 1;
    } else if (f.type == SPDY_PING) {
        if (f.value % 2) /* the client's ping (ours would be even): answer it */
            spdy_put_ping(&s->out, f.value);
    } else if (f.type == SPDY_GOAWAY) {
        s->peer_gone = 1;
    }
    sbuf_consume(&s->in, (size_t)n);
    return r != 0 ? r : MUX_AGAIN;
}

static int ws_step(struct session *s, struct mux_event *ev) {
    int opcode;
    uint8_t *data;
    size_t len;
    int r = ws_next_message(&s->wsa, &s->in, SESSION_FRAME_MAX, 1, &opcode, &data, &len);
    if (r <= 0)
        return r;
    if (opcode == WS_PING) {
        ws_put_frame(&s->out, WS_PONG, 1, data, len, NULL);
        return MUX_AGAIN;
    }
    if (opcode == WS_PONG)
        return MUX_AGAIN;
    if (opcode == WS_CLOSE) {
        if (!s->ended)
            ws_put_close(&s->out, 1000, "");
        s->ended = 1;
        s->peer_gone = 1; /* nothing more will come */
        return 0;
    }
    if (len == 0)
        return MUX_AGAIN; /* an empty message carries no channel */
    int chan = data[0];
    data++;
    len--;
    if (s->ws_base64) {
        if (chan < '0' || chan > '9')
            return MUX_AGAIN;
        chan -= '0';
        s->scratch.off = s->scratch.len = 0;
        if (sbuf_reserve(&s->scratch, len / 4 * 3 + 3) < 0)
            return -ENOMEM;
        ssize_t dn = b64_decode((const char *)data, len, s->scratch.p);
        if (dn < 0)
            return MUX_AGAIN; /* kubelet drops a message that does not decode */
        data = s->scratch.p;
        len = (size_t)dn;
    }
    if (s->ws_v5 && chan == WS_CLOSE_CHANNEL) {
        if (len < 1)
            return MUX_AGAIN;
        *ev = (struct mux_event){.type = MUX_CLOSE_CHANNEL, .chan = data[0]};
        return 1;
    }
    *ev = (struct mux_event){.type = MUX_DATA, .chan = chan, .data = data, .len = len};
    return 1;
}

int mux_next(struct session *s, struct mux_event *ev) {
    int r;
    mux_event_clear(ev);
    do {
        /*
         * The one place of the client's backpressure: while the client does
         * not read what is queued for it, its frames are left unread too (a
         * ping, data that a window update answers: each would queue a reply).
         */
        if (!session_out_room(s))
            return 0;
        r = s->proto == PROTO_SPDY ? spdy_step(s, ev) : ws_step(s, ev);
    } while (r == MUX_AGAIN);
    return r;
}

int mux_send(struct session *s, uint32_t sid, int chan, const void *data, size_t len) {
    if (s->proto == PROTO_SPDY)
        return spdy_put_data(&s->out, sid, 0, data, len);
    if (!s->ws_base64) {
        uint8_t c = (uint8_t)chan;
        int r = ws_put_header(&s->out, WS_BINARY, len + 1);
        if (r >= 0)
            r = sbuf_append(&s->out, &c, 1);
        return r < 0 ? r : sbuf_append(&s->out, data, len);
    }
    char *text = malloc(len / 3 * 4 + 6);
    if (!text)
        return -ENOMEM;
    text[0] = (char)('0' + chan);
    size_t tl = b64_encode(data, len, text + 1);
    int r = ws_put_frame(&s->out, WS_TEXT, 1, text, tl + 1, NULL);
    free(text);
    return r;
}

int mux_fin(struct session *s, uint32_t sid) {
    return s->proto == PROTO_SPDY ? spdy_put_data(&s->out, sid, SPDY_FLAG_FIN, NULL, 0) : 0;
}

int mux_reply(struct session *s, uint32_t sid) {
    return spdy_put_syn_reply(&s->out, &s->z, sid, 0, (const char *const[]){NULL});
}

int mux_reset(struct session *s, uint32_t sid, uint32_t status) {
    return spdy_put_rst_stream(&s->out, sid, status);
}

int mux_end(struct session *s) {
    if (s->ended)
        return 0;
    s->ended = 1;
    if (s->proto == PROTO_SPDY)
        return spdy_put_goaway(&s->out, s->last_stream, 0);
    return ws_put_close(&s->out, 1000, "");
}
