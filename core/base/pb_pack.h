/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Protobuf messages packed in one pass, back to front.
 *
 * protobuf_c_message_pack needs a buffer of the message's size, so the RPC
 * path first walked the whole tree for protobuf_c_message_get_packed_size,
 * then packed; and it packs each sub-message after a one-byte length
 * prefix, moving it along once its length is known when that takes more
 * than one byte, so a figure six messages deep in a 250 kB stats list was
 * moved up to five times.  Written from the last byte to the first, every
 * sub-message is complete before its length prefix is written: no size
 * pass and nothing moved.  The bytes go into a chain of chunks, each
 * written from its end, so that nothing is copied when one is full either,
 * and each can become a slice of the gRPC message as it is.
 *
 * The bytes are those protobuf_c_message_pack gives for the same message
 * (the fields in descriptor order, then the unknown fields; proto3 fields
 * at their zero value left out; tests/unit/test_pb_pack.c holds it to that
 * for every field type and label).
 */
#ifndef CLEAT_CORE_PB_PACK_H
#define CLEAT_CORE_PB_PACK_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* One piece of a packed message: data[start..end); the message is the pieces from the first along next. */
struct pb_chunk {
    struct pb_chunk *next;
    size_t start, end;
    uint8_t data[];
};

/*
 * Pack msg: *ret is the first chunk (each malloc'd alone, free() frees one;
 * pb_chunks_free the chain), *ret_len the bytes in all.  0, or -ENOMEM
 * with *ret untouched.
 */
int pb_pack(const ProtobufCMessage *msg, struct pb_chunk **ret, size_t *ret_len);
/*
 * Pack msg into buf[0..cap) alone, back to front: 0 with the *ret_len bytes
 * at its end (buf + cap - *ret_len); -ENOSPC when they do not fit (try a
 * larger buf: nothing else can go wrong).  For many small messages in turn,
 * one buffer and no allocation.
 */
int pb_pack_flat(const ProtobufCMessage *msg, uint8_t *buf, size_t cap, size_t *ret_len);
/* The bytes one element of a repeated field of this type takes in its C array (protobuf-c's layout). */
size_t pb_element_size(ProtobufCType type);
/* Free a chain of chunks; NULL-safe. */
void pb_chunks_free(struct pb_chunk *c);

#endif
