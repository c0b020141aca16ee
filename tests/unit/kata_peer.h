/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The other end of a ttrpc connection, played by hand in runtime-kata's
 * unit tests (test_kata_ttrpc.c, test_kata_events.c): raw frames read and
 * written on a socket, each step failing the test when it does not work.
 * Include after <cmocka.h>.
 */
#ifndef CLEAT_TEST_KATA_PEER_H
#define CLEAT_TEST_KATA_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "ttrpc.pb-c.h"
#include "ttrpc_wire.h"

/* Write all n bytes. */
void peer_write_all(int fd, const void *p, size_t n);
/* Read one frame (at most 4 MiB); its data malloc'd into *ret (free it). */
struct ttrpc_header peer_read_frame(int fd, uint8_t **ret);
/* Read a unary Request frame: its stream id, and the request unpacked (ttrpc__request__free_unpacked). */
Ttrpc__Request *peer_read_request(int fd, uint32_t *ret_stream);
/* A Response frame with a status and a payload, serialized into *ret (malloc'd); returns its length. */
size_t peer_response_frame(uint32_t stream, int32_t code, const char *msg, const void *payload, size_t len,
                           uint8_t **ret);
/* Send a Response frame whose payload is the string `payload` (NULL: empty). */
void peer_send_response(int fd, uint32_t stream, int32_t code, const char *msg, const char *payload);
/* Send only a frame header (its data, if any, follows with peer_write_all). */
void peer_send_header(int fd, uint32_t length, uint32_t stream, uint8_t type);
/* A new socket connected to the unix socket at `path`. */
int peer_connect(const char *path);

#endif
