/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote command sessions: Exec and Attach over the remotecommand protocol
 * (k8s.io/kubelet/pkg/cri/streaming/remotecommand), SPDY or WebSocket.
 *
 * SPDY: the client opens one stream per channel, named by its `streamType`
 * header (error, stdin, stdout, stderr, resize); the command starts once the
 * streams the request asked for are there.  v5 is v4 on SPDY.  WebSocket: the
 * channels are the first byte of each message; v5 adds [255, channel] to
 * close one (stdin).  The error channel carries the result as a
 * metav1.Status (v4, v5), or the error text only (channel.k8s.io).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clocks.h"
#include "container_exec.h"
#include "log.h"
#include "stream_internal.h"
#include "strbuf.h"

#define STREAM_CREATION_TIMEOUT_MS 30000 /* kubelet's default */
#define EXEC_DRAIN_MS 1000               /* output after the exit (a background child may hold the pipe) */
#define EXIT_WAIT_NS (100LL * 1000000)   /* a wait for the exit, when the output is over */
#define SHIM_REPLY_TIMEOUT_MS 5000

static const char *const spdy_protocols[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", NULL};
static const char *const ws_protocols[] = {"",
                                           "channel.k8s.io",
                                           "base64.channel.k8s.io",
                                           "v4.channel.k8s.io",
                                           "v4.base64.channel.k8s.io",
                                           "v5.channel.k8s.io",
                                           NULL};
static const char *const stream_types[CH_MAX] = {"stdin", "stdout", "stderr", "error", "resize"};

struct rc {
    struct session *s;
    struct stream_request *req;
    struct runtime_service *rs;
    uint32_t sid[CH_MAX]; /* SPDY stream of each channel */
    int open[CH_MAX];     /* the client has the channel */
    int stdin_fin;        /* the client's stdin ended */
    int stdin_done;       /* and it was passed on */
    struct sbuf pending;  /* client stdin not written yet */
    struct sbuf resize;   /* resize JSON not parsed yet */
    /* exec */
    struct container_exec *x; /* NULL until it started */
    int in_fd, out_fd, err_fd;
    /* attach */
    int shim_fd;
    struct sbuf shim_in;
    /* a resize that came before the process (or the attach) started */
    int started_io;
    uint32_t early_w, early_h;
    int early_size;
    /* result */
    int exited;
    int32_t exit_status;
    int64_t exited_at_ms;
    char *error; /* an internal error for the status */
};

/* ------------------------------------------------------------------------- */
/* status                                                                    */

static char *status_json(const struct rc *c) {
    struct strbuf b = {0};
    if (c->error) {
        strbuf_puts(&b, "{\"metadata\":{},\"status\":\"Failure\",\"message\":");
        char *msg = NULL;
        if (asprintf(&msg, "Internal error occurred: %s", c->error) < 0)
            msg = NULL;
        strbuf_json_string(&b, msg ? msg : c->error);
        free(msg);
        strbuf_puts(&b, ",\"reason\":\"InternalError\",\"details\":{\"causes\":[{\"message\":");
        strbuf_json_string(&b, c->error);
        strbuf_puts(&b, "}]},\"code\":500}");
    } else if (c->exit_status != 0) {
        char msg[512];
        struct strbuf cmd = {0};
        for (size_t i = 0; c->req->cmd && c->req->cmd[i]; i++)
            strbuf_printf(&cmd, "%s%s", i ? " " : "", c->req->cmd[i]);
        snprintf(msg, sizeof(msg), "command terminated with non-zero exit code: command '%s' exited with %d",
                 cmd.s ? cmd.s : "", (int)c->exit_status);
        strbuf_free(&cmd);
        strbuf_puts(&b, "{\"metadata\":{},\"status\":\"Failure\",\"message\":");
        strbuf_json_string(&b, msg);
        strbuf_printf(&b,
                      ",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\","
                      "\"message\":\"%d\"}]}}",
                      (int)c->exit_status);
    } else {
        strbuf_puts(&b, "{\"metadata\":{},\"status\":\"Success\"}");
    }
    return strbuf_steal(&b);
}

/* The v1 form (channel.k8s.io over WebSocket): the error text only, nothing on success. */
static char *status_text(const struct rc *c) {
    char *t = NULL;
    if (c->error && asprintf(&t, "Internal error occurred: %s", c->error) < 0)
        t = NULL;
    else if (!c->error && c->exit_status &&
             asprintf(&t, "command terminated with non-zero exit code: %d", (int)c->exit_status) < 0)
        t = NULL;
    return t;
}

static void send_status(struct rc *c) {
    struct session *s = c->s;
    if (!c->open[CH_ERROR])
        return;
    char *st = s->proto == PROTO_WS && !s->ws_status_v4 ? status_text(c) : status_json(c);
    if (st)
        mux_send(s, c->sid[CH_ERROR], CH_ERROR, st, strlen(st));
    free(st);
}

/* Close every stream, send the status, end the connection. */
static void conclude(struct rc *c) {
    struct session *s = c->s;
    if (s->peer_gone)
        return;
    for (int ch = 0; ch < CH_MAX; ch++)
        if (c->open[ch] && ch != CH_ERROR && s->proto == PROTO_SPDY)
            mux_fin(s, c->sid[ch]);
    send_status(c);
    if (c->open[CH_ERROR] && s->proto == PROTO_SPDY)
        mux_fin(s, c->sid[CH_ERROR]);
    mux_end(s);
    session_finish(s);
}

/* ------------------------------------------------------------------------- */
/* client events                                                             */

static void apply_resize(struct rc *c, uint32_t w, uint32_t h);
static int shim_command(const char *addr, const char *cmd, int *ret_fd, struct sbuf *leftover);

static void parse_resizes(struct rc *c) {
    while (sbuf_avail(&c->resize)) {
        const char *p = (const char *)sbuf_data(&c->resize);
        size_t n = sbuf_avail(&c->resize), skip = 0;
        while (skip < n && strchr(" \t\r\n", p[skip]))
            skip++;
        sbuf_consume(&c->resize, skip);
        if (skip == n)
            return;
        json_error_t e;
        json_t *j = json_loadb(p + skip, n - skip, JSON_DISABLE_EOF_CHECK, &e);
        if (!j) {
            if (json_error_code(&e) != json_error_premature_end_of_input || n - skip > 4096)
                c->resize.off = c->resize.len = 0; /* not JSON: kubelet stops reading resizes too */
            return;
        }
        sbuf_consume(&c->resize, (size_t)e.position);
        json_t *w = json_object_get(j, "Width"), *h = json_object_get(j, "Height");
        if (json_is_integer(w) && json_is_integer(h) && json_integer_value(w) >= 0 && json_integer_value(w) <= 65535 &&
            json_integer_value(h) >= 0 && json_integer_value(h) <= 65535)
            apply_resize(c, (uint32_t)json_integer_value(w), (uint32_t)json_integer_value(h));
        json_decref(j);
    }
}

static int channel_of(const struct rc *c, const struct mux_event *ev) {
    if (c->s->proto == PROTO_WS)
        return ev->chan < CH_MAX ? ev->chan : -1;
    for (int ch = 0; ch < CH_MAX; ch++)
        if (c->open[ch] && c->sid[ch] == ev->sid)
            return ch;
    return -1;
}

static void on_data(struct rc *c, int ch, const uint8_t *data, size_t len, int fin) {
    if (ch == CH_STDIN && c->req->in && !c->stdin_fin && sbuf_append(&c->pending, data, len) < 0)
        c->s->peer_gone = 1;
    if (ch == CH_STDIN && fin)
        c->stdin_fin = 1;
    if (ch == CH_RESIZE && c->req->tty) {
        if (sbuf_append(&c->resize, data, len) < 0)
            c->s->peer_gone = 1;
        parse_resizes(c);
    }
}

static void on_stream(struct rc *c, struct mux_event *ev) {
    const char *type = spdy_headers_get(&ev->hdr, "streamtype");
    mux_reply(c->s, ev->sid); /* kubelet answers every stream, known or not */
    for (int ch = 0; type && ch < CH_MAX; ch++) {
        if (strcmp(type, stream_types[ch]) != 0 || c->open[ch])
            continue;
        c->open[ch] = 1;
        c->sid[ch] = ev->sid;
        if (ev->fin)
            on_data(c, ch, NULL, 0, 1);
        return;
    }
    log_debug("streaming: unexpected stream type '%s'", type ? type : "");
}

/* Take client events while stdin has room. */
static int pump_client(struct rc *c) {
    struct session *s = c->s;
    struct mux_event ev = {0};
    int r = 0;
    while (sbuf_avail(&c->pending) < SESSION_PENDING_MAX && (r = mux_next(s, &ev)) > 0) {
        if (ev.type == MUX_STREAM) {
            on_stream(c, &ev);
        } else if (ev.type == MUX_DATA) {
            int ch = channel_of(c, &ev);
            if (ch >= 0)
                on_data(c, ch, ev.data, ev.len, ev.fin);
        } else if (ev.type == MUX_RESET) {
            if (channel_of(c, &ev) == CH_STDIN)
                c->stdin_fin = 1;
        } else if (ev.type == MUX_CLOSE_CHANNEL && ev.chan == CH_STDIN) {
            c->stdin_fin = 1;
        }
    }
    mux_event_clear(&ev);
    if (r < 0) {
        log_debug("streaming: protocol error from the client: %s", strerror(-r));
        s->peer_gone = 1;
    }
    s->read_blocked = sbuf_avail(&c->pending) >= SESSION_PENDING_MAX;
    return r;
}

/* SPDY: wait until the client opened the streams the request needs. */
static int await_streams(struct rc *c) {
    const struct stream_request *q = c->req;
    int64_t deadline = stream_now_ms() + STREAM_CREATION_TIMEOUT_MS;
    for (;;) {
        pump_client(c);
        if (c->open[CH_ERROR] && c->open[CH_STDIN] >= q->in && c->open[CH_STDOUT] >= q->out &&
            c->open[CH_STDERR] >= q->err && c->open[CH_RESIZE] >= q->tty)
            return 0;
        if (c->s->peer_gone || stream_now_ms() > deadline)
            return -ETIMEDOUT;
        session_poll(c->s, NULL, 0, 100);
    }
}

/* ------------------------------------------------------------------------- */
/* exec                                                                      */

static void apply_resize(struct rc *c, uint32_t w, uint32_t h) {
    struct cleat_error *e = NULL;
    if (!c->started_io) { /* clients send the first size at once: keep it for the start */
        c->early_w = w;
        c->early_h = h;
        c->early_size = 1;
        return;
    }
    if (c->req->kind == STREAM_EXEC) {
        if (c->x && container_exec_resize(c->x, w, h, &e) < 0)
            log_debug("container %s exec %s: resize: %s", c->req->id, container_exec_id(c->x), error_message(e));
        error_free(e);
        return;
    }
    /* The runtime's resize_pty, not the attach socket: a shim v2's terminal is the runtime's, not its relay's. */
    if (container_attach_resize(c->rs, c->req->id, w, h, &e) < 0)
        log_debug("container %s: attach resize %ux%u: %s", c->req->id, w, h, error_message(e));
    error_free(e);
}

static int exec_start(struct rc *c, struct cleat_error **reterr) {
    const struct stream_request *q = c->req;
    size_t n = 0;
    while (q->cmd && q->cmd[n])
        n++;
    struct container_exec_options o = {
        .cmd = q->cmd, .n_cmd = n, .tty = q->tty, .in = q->in, .out = q->out, .err = q->err};
    struct container_exec_io io;
    int r = container_exec_start(c->rs, q->id, &o, &c->x, &io, reterr);
    c->in_fd = io.in_fd;
    c->out_fd = io.out_fd;
    c->err_fd = io.err_fd;
    return r;
}

/* Read a pipe into a channel; 1 at EOF. */
static int forward_output(struct rc *c, int fd, int ch) {
    uint8_t buf[32768];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : 1;
    if (n == 0)
        return 1;
    if (c->open[ch])
        mux_send(c->s, c->sid[ch], ch, buf, (size_t)n);
    return 0;
}

static void close_stdin_once(struct rc *c) {
    if (c->stdin_done || !c->stdin_fin || sbuf_avail(&c->pending))
        return;
    c->stdin_done = 1;
    if (c->req->kind == STREAM_ATTACH) {
        if (c->shim_fd >= 0)
            shutdown(c->shim_fd, SHUT_WR);
        return;
    }
    /*
     * Closing our end is the EOF, with or without a TTY: the runtime reads
     * to it and then relays an EOF to the pty.  (Asking the runtime to
     * close_stdin as well would cut off what it has not read yet.)
     */
    if (c->in_fd >= 0) {
        close(c->in_fd);
        c->in_fd = -1;
    }
}

/* Write pending stdin to fd; on a broken pipe, stdin is over. */
static void write_stdin(struct rc *c, int fd) {
    while (sbuf_avail(&c->pending)) {
        ssize_t n = c->req->kind == STREAM_ATTACH
                        ? send(fd, sbuf_data(&c->pending), sbuf_avail(&c->pending), MSG_DONTWAIT | MSG_NOSIGNAL)
                        : write(fd, sbuf_data(&c->pending), sbuf_avail(&c->pending));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            c->pending.off = c->pending.len = 0;
            c->stdin_fin = 1;
            return;
        }
        sbuf_consume(&c->pending, (size_t)n);
    }
}

static void check_exit(struct rc *c, int block) {
    if (container_exec_poll(c->x, block ? now_ns() + EXIT_WAIT_NS : 0, &c->exit_status)) {
        c->exited = 1;
        c->exited_at_ms = stream_now_ms();
    }
}

static void exec_loop(struct rc *c) {
    int64_t next_check = 0;
    while (!c->s->peer_gone) {
        struct pollfd p[3];
        int room = session_out_room(c->s);
        p[0] = (struct pollfd){.fd = room ? c->out_fd : -1, .events = POLLIN};
        p[1] = (struct pollfd){.fd = room ? c->err_fd : -1, .events = POLLIN};
        p[2] = (struct pollfd){.fd = sbuf_avail(&c->pending) ? c->in_fd : -1, .events = POLLOUT};
        int outputs_done = c->out_fd < 0 && c->err_fd < 0;
        if (c->exited && (outputs_done || stream_now_ms() - c->exited_at_ms > EXEC_DRAIN_MS))
            break;
        session_poll(c->s, p, 3, outputs_done ? 0 : 100);
        int *fds[2] = {&c->out_fd, &c->err_fd};
        for (int i = 0; i < 2; i++)
            if (*fds[i] >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
                forward_output(c, *fds[i], i == 0 ? CH_STDOUT : CH_STDERR)) {
                close(*fds[i]);
                *fds[i] = -1;
            }
        if (c->in_fd >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP)))
            write_stdin(c, c->in_fd);
        /* The drain time after the exit counts only while the output is read and gives nothing: a slow
         * client holds the rest in the pipe, and that is not a background child holding it open. */
        if (c->exited && (!room || (p[0].revents & POLLIN) || (p[1].revents & POLLIN)))
            c->exited_at_ms = stream_now_ms();
        if (!c->req->in)
            c->pending.off = c->pending.len = 0;
        pump_client(c);
        if (c->in_fd >= 0 && sbuf_avail(&c->pending))
            write_stdin(c, c->in_fd);
        close_stdin_once(c);
        if (!c->exited && (outputs_done || stream_now_ms() >= next_check)) {
            check_exit(c, outputs_done);
            next_check = stream_now_ms() + 100;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* attach                                                                    */

/*
 * Connect to a shim's control socket, send one command line, read "ok\n".
 * Bytes after the reply (attach output) go to leftover.  0 or negative.
 */
static int shim_command(const char *addr, const char *cmd, int *ret_fd, struct sbuf *leftover) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int dirfd = -1, r = 0;
    if (strlen(addr) < sizeof(sa.sun_path)) {
        strcpy(sa.sun_path, addr);
    } else { /* too long for sun_path: through the directory's fd */
        char *dir = strdup(addr), *slash = dir ? strrchr(dir, '/') : NULL;
        if (!slash) {
            free(dir);
            return -ENAMETOOLONG;
        }
        *slash = '\0';
        dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        r = dirfd < 0 ? -errno : 0;
        if (r >= 0)
            snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, slash + 1);
        free(dir);
        if (r < 0)
            return r;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        r = -errno;
    if (dirfd >= 0)
        close(dirfd);
    if (r >= 0 && send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd))
        r = -EIO;
    char reply[256];
    size_t got = 0;
    int64_t deadline = stream_now_ms() + SHIM_REPLY_TIMEOUT_MS;
    while (r >= 0 && !memchr(reply, '\n', got)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - stream_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            r = -ETIMEDOUT;
            break;
        }
        ssize_t n = recv(fd, reply + got, sizeof(reply) - got, 0);
        if (n <= 0 || (got += (size_t)n) == sizeof(reply))
            r = -EIO;
    }
    if (r >= 0) {
        char *nl = memchr(reply, '\n', got);
        if (nl - reply != 2 || memcmp(reply, "ok", 2) != 0)
            r = -EPERM;
        else if (leftover)
            r = sbuf_append(leftover, nl + 1, got - (size_t)(nl + 1 - reply));
    }
    if (r < 0 && fd >= 0) {
        close(fd);
        fd = -1;
    }
    *ret_fd = fd;
    return r;
}

static int attach_start(struct rc *c, struct cleat_error **reterr) {
    char id[65], addr[4096];
    int r = container_attach_address(c->rs, c->req->id, id, addr, sizeof(addr), reterr);
    if (r < 0)
        return r;
    const char *cmd = !c->req->in ? "attach\n" : c->req->stdin_once ? "attach stdin-once\n" : "attach stdin\n";
    r = shim_command(addr, cmd, &c->shim_fd, &c->shim_in);
    if (r == -EPERM && c->req->in) { /* a container without stdin: output only */
        c->stdin_fin = c->stdin_done = 1;
        r = shim_command(addr, "attach\n", &c->shim_fd, &c->shim_in);
    }
    if (r < 0)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, -r, "cannot attach to container %s through %s: %s", id, addr,
                         strerror(-r));
    fcntl(c->shim_fd, F_SETFL, O_NONBLOCK);
    return 0;
}

/* The shim's frames: 1 byte stream (1 stdout, 2 stderr, 3 exit), 4 bytes length, data. */
static void attach_frames(struct rc *c) {
    while (sbuf_avail(&c->shim_in) >= 5) {
        const uint8_t *p = sbuf_data(&c->shim_in);
        uint32_t len = get_be32(p + 1);
        if (len > (16u << 20)) {
            c->exited = 1;
            return;
        }
        if (sbuf_avail(&c->shim_in) - 5 < len)
            return;
        int ch = p[0] == 2 && !c->req->tty ? CH_STDERR : CH_STDOUT;
        if (p[0] == 3) {
            c->exited = 1;
        } else if (c->open[ch]) {
            mux_send(c->s, c->sid[ch], ch, p + 5, len);
        }
        sbuf_consume(&c->shim_in, 5 + (size_t)len);
    }
}

static void attach_loop(struct rc *c) {
    attach_frames(c);
    while (!c->s->peer_gone && !c->exited && c->shim_fd >= 0) {
        short ev = session_out_room(c->s) ? POLLIN : 0;
        if (sbuf_avail(&c->pending))
            ev |= POLLOUT;
        struct pollfd p = {.fd = c->shim_fd, .events = ev};
        session_poll(c->s, &p, 1, 1000);
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (sbuf_reserve(&c->shim_in, 32768) < 0)
                break;
            ssize_t n = recv(c->shim_fd, c->shim_in.p + c->shim_in.len, 32768, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                break; /* the shim is gone, or dropped a client too slow for it */
            if (n > 0)
                c->shim_in.len += (size_t)n;
            attach_frames(c);
        }
        if (!c->req->in || c->stdin_done)
            c->pending.off = c->pending.len = 0;
        pump_client(c);
        if (sbuf_avail(&c->pending))
            write_stdin(c, c->shim_fd);
        close_stdin_once(c);
    }
    if (!c->exited && !c->s->peer_gone)
        log_debug("container %s: attach output ended without an exit", c->req->id);
}

/* ------------------------------------------------------------------------- */

void stream_serve_remotecommand(struct session *s) {
    struct rc c = {.s = s, .req = s->req, .rs = s->rs, .in_fd = -1, .out_fd = -1, .err_fd = -1, .shim_fd = -1};
    if (session_upgrade(s, spdy_protocols, ws_protocols) < 0)
        return;
    if (s->proto == PROTO_WS) {
        const struct stream_request *q = c.req;
        c.open[CH_STDIN] = q->in;
        c.open[CH_STDOUT] = q->out;
        c.open[CH_STDERR] = q->err;
        c.open[CH_ERROR] = c.open[CH_RESIZE] = 1;
        /* kubelet tells the client the connection is up with an empty message on the first output channel */
        mux_send(s, 0, q->out ? CH_STDOUT : q->err ? CH_STDERR : CH_ERROR, NULL, 0);
    } else if (await_streams(&c) < 0) {
        log_info("streaming: %s %s: the client did not open its streams",
                 c.req->kind == STREAM_EXEC ? "exec" : "attach", c.req->id);
        goto out;
    }
    struct cleat_error *err = NULL;
    int r = c.req->kind == STREAM_EXEC ? exec_start(&c, &err) : attach_start(&c, &err);
    c.started_io = r >= 0;
    if (r >= 0 && c.early_size)
        apply_resize(&c, c.early_w, c.early_h);
    if (r < 0) {
        c.error = strdup(error_message(err));
        error_free(err);
    } else if (c.req->kind == STREAM_EXEC) {
        exec_loop(&c);
    } else {
        attach_loop(&c);
        c.exit_status = 0; /* attach reports how streaming went, not the container's exit */
        c.exited = 1;
    }
    conclude(&c);
    container_exec_end(c.x); /* kills it if the client went away before it ended */
out:;
    int *fds[] = {&c.in_fd, &c.out_fd, &c.err_fd, &c.shim_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (*fds[i] >= 0)
            close(*fds[i]);
    free(c.error);
    sbuf_free(&c.pending);
    sbuf_free(&c.resize);
    sbuf_free(&c.shim_in);
}
