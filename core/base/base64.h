/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standard base64 (RFC 4648 alphabet, with padding), for the WebSocket
 * handshake and channel protocols and for the keys and signatures of image
 * signature policies.  No allocation: the caller sizes `out`.
 */
#ifndef CLEAT_CORE_BASE64_H
#define CLEAT_CORE_BASE64_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Encode n bytes; returns the length written (out needs 4*ceil(n/3)+1: the text is NUL-terminated). */
size_t b64_encode(const uint8_t *in, size_t n, char *out);
/* Decode; the length written (out needs 3*(n/4)), or -1 if `in` is not valid padded base64. */
ssize_t b64_decode(const char *in, size_t n, uint8_t *out);

#endif
