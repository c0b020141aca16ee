/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ttrpc frame, shared by the client (ttrpc.c) and the events server
 * (ttrpc_server.c).  Every message on a ttrpc connection is a 10-byte
 * header -- data length (4 bytes), stream id (4), type (1), flags (1), the
 * numbers big-endian -- followed by that many bytes of data.  A client
 * opens stream n (odd, increasing) with a Request frame; the server ends
 * it with a Response frame on the same stream id, in any order relative to
 * other streams.  Data is at most 4 MiB; everything here is bounded by it.
 */
#ifndef CLEAT_KATA_TTRPC_WIRE_H
#define CLEAT_KATA_TTRPC_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define TTRPC_HEADER_LEN 10
/* The largest data a frame may carry, in either direction. */
#define TTRPC_MESSAGE_MAX (4u << 20)
/* A length at or above this (a non-zero first byte, reserved by the protocol) is not a frame: the stream is lost. */
#define TTRPC_LENGTH_INSANE (16u << 20)

#define TTRPC_TYPE_REQUEST 1u
#define TTRPC_TYPE_RESPONSE 2u
#define TTRPC_TYPE_DATA 3u

struct ttrpc_header {
    uint32_t length;
    uint32_t stream_id;
    uint8_t type;
    uint8_t flags;
};

void ttrpc_header_encode(const struct ttrpc_header *h, uint8_t out[TTRPC_HEADER_LEN]);
void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], struct ttrpc_header *h);

/*
 * Send one frame (header and data in one sendmsg where the socket takes it)
 * on a stream socket, without SIGPIPE, waiting for room until `deadline_ms`
 * (plugin_monotonic_ms() time; < 0: no deadline).  0 when all was sent;
 * -ETIMEDOUT at the deadline, -errno on a failed send.  *ret_sent (may be
 * NULL) says how many bytes went out before a failure: any at all means the
 * peer saw half a frame and the connection is lost.
 */
int ttrpc_frame_send(int fd, const struct ttrpc_header *h, const uint8_t *data, int64_t deadline_ms, size_t *ret_sent);

/*
 * Read exactly `len` bytes from a blocking fd, again after short reads and
 * EINTR.  0 when all came; -EPIPE at end of file (however much came before
 * it); -errno on a failed read.
 */
int ttrpc_read_full(int fd, void *buf, size_t len);

/*
 * The unix socket an address names: "unix:///path", "unix://@name" (an
 * abstract socket), "/path" or "@name".  0, or -EINVAL for anything else
 * (another scheme, a relative path, empty) and -ENAMETOOLONG when it does
 * not fit a sockaddr_un.
 */
int ttrpc_address_parse(const char *address, struct sockaddr_un *ret, socklen_t *ret_len);

#endif
