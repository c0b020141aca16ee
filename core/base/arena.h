/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bump allocator freed all at once.
 *
 * Each RPC gets one: the request is unpacked into it and the handler builds
 * its response in it, so a handler never frees protobuf fields one by one
 * and may point fields at static strings or at the request's own data.
 */
#ifndef CLEAT_CORE_ARENA_H
#define CLEAT_CORE_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stddef.h>

struct arena;

struct arena *arena_new(void);
/* Frees every allocation of the arena, then the arena.  NULL-safe. */
void arena_free(struct arena *a);
/*
 * Free every allocation at once but keep the arena, and its current chunk
 * for what comes next: for a scratch arena that builds one thing after
 * another (cri_items), whose memory then stays in the cache and needs no
 * fresh pages.  The other chunks are freed.
 */
void arena_reset(struct arena *a);
/* Zeroed memory, aligned for any type; aborts on out-of-memory like the rest of the RPC path cannot recover. */
void *arena_alloc(struct arena *a, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Move a malloc'd string into the arena (and free it); `fallback` when s is NULL (a failed allocation). */
char *arena_adopt(struct arena *a, char *s, const char *fallback);
/* An array of n zeroed elements of `size` bytes (overflow-checked). */
void *arena_array(struct arena *a, size_t n, size_t size);
/* A protobuf-c allocator that allocates from the arena (free is a no-op). */
ProtobufCAllocator arena_protobuf_allocator(struct arena *a);

#define ARENA_NEW(a, type) ((type *)arena_alloc((a), sizeof(type)))

#endif
