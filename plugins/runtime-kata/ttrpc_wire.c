/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "plugin_clock.h"
#include "ttrpc_wire.h"

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void ttrpc_header_encode(const struct ttrpc_header *h, uint8_t out[TTRPC_HEADER_LEN]) {
    put_be32(out, h->length);
    put_be32(out + 4, h->stream_id);
    out[8] = h->type;
    out[9] = h->flags;
}

void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], struct ttrpc_header *h) {
    h->length = get_be32(in);
    h->stream_id = get_be32(in + 4);
    h->type = in[8];
    h->flags = in[9];
}

/* Wait until fd takes more bytes, or the deadline passes (-ETIMEDOUT). */
static int wait_writable(int fd, int64_t deadline_ms) {
    for (;;) {
        int timeout = -1;
        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - plugin_monotonic_ms();
            if (left <= 0)
                return -ETIMEDOUT;
            timeout = left > 60000 ? 60000 : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0)
            return 0; /* writable, or an error the next send reports */
    }
}

int ttrpc_frame_send(int fd, const struct ttrpc_header *h, const uint8_t *data, int64_t deadline_ms, size_t *ret_sent) {
    uint8_t head[TTRPC_HEADER_LEN];
    ttrpc_header_encode(h, head);
    struct iovec iov[2] = {{.iov_base = head, .iov_len = sizeof(head)},
                           {.iov_base = (void *)data, .iov_len = data ? h->length : 0}};
    size_t total = sizeof(head) + iov[1].iov_len, sent = 0;
    int r = 0;
    while (sent < total) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
        if (sent >= sizeof(head)) { /* only data is left */
            msg.msg_iov = &iov[1];
            msg.msg_iovlen = 1;
        }
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if ((r = wait_writable(fd, deadline_ms)) < 0)
                break;
            continue;
        }
        if (n < 0) {
            r = -errno;
            break;
        }
        sent += (size_t)n;
        /* Move the iovecs past what went out. */
        size_t skip = (size_t)n;
        for (int i = 0; i < 2 && skip > 0; i++) {
            size_t k = skip < iov[i].iov_len ? skip : iov[i].iov_len;
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            skip -= k;
        }
    }
    if (ret_sent)
        *ret_sent = sent;
    return r;
}

int ttrpc_read_full(int fd, void *buf, size_t len) {
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EPIPE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ttrpc_address_parse(const char *address, struct sockaddr_un *ret, socklen_t *ret_len) {
    const char *p = address;
    if (!p)
        return -EINVAL;
    if (strncmp(p, "unix://", 7) == 0)
        p += 7;
    else if (strstr(p, "://"))
        return -EINVAL; /* another transport */
    int abstract = p[0] == '@';
    if (abstract ? p[1] == '\0' : p[0] != '/')
        return -EINVAL;
    size_t len = strlen(p);
    memset(ret, 0, sizeof(*ret));
    ret->sun_family = AF_UNIX;
    if (len >= sizeof(ret->sun_path))
        return -ENAMETOOLONG;
    memcpy(ret->sun_path, p, len);
    if (abstract) /* the name follows a NUL byte, and its length is exact (no terminator) */
        ret->sun_path[0] = '\0';
    *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (abstract ? 0 : 1));
    return 0;
}
