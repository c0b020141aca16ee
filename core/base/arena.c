/* SPDX-License-Identifier: Apache-2.0 */
#include "arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK 4096
/*
 * Chunks double up to this: a 500-pod stats list builds 1.5 MB of small
 * messages, which took 400 mallocs of 4 KiB and as many frees.  It stays
 * under cleatd's mmap threshold (128 KiB, main.c), so that a chunk comes
 * from the heap rather than from an mmap and munmap of its own each call.
 */
#define ARENA_CHUNK_MAX (64 * 1024)
#define ARENA_ALIGN 16

struct arena_chunk {
    struct arena_chunk *next;
    size_t size, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena {
    struct arena_chunk *head;
    size_t next_chunk; /* the size of the next chunk: ARENA_CHUNK, doubling up to ARENA_CHUNK_MAX */
};

static void arena_oom(void) {
    /* An RPC handler cannot do anything useful without memory; neither can the daemon. */
    fputs("cleatd: out of memory\n", stderr);
    abort();
}

struct arena *arena_new(void) {
    struct arena *a = calloc(1, sizeof(*a));
    if (!a)
        arena_oom();
    a->next_chunk = ARENA_CHUNK;
    return a;
}

void arena_free(struct arena *a) {
    if (!a)
        return;
    for (struct arena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

void arena_reset(struct arena *a) {
    struct arena_chunk *keep = a->head;
    if (!keep)
        return;
    for (struct arena_chunk *c = keep->next, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    keep->next = NULL;
    keep->used = 0;
}

void *arena_alloc(struct arena *a, size_t size) {
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct arena_chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        int one_off = size > a->next_chunk;
        size_t want = one_off ? size : a->next_chunk;
        c = malloc(sizeof(*c) + want);
        if (!c)
            arena_oom();
        c->size = want;
        c->used = 0;
        if (!one_off && a->next_chunk < ARENA_CHUNK_MAX)
            a->next_chunk *= 2;
        /* A big one-off block goes second so that the current chunk keeps filling. */
        if (a->head && one_off) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *arena_strdup(struct arena *a, const char *s) {
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    return memcpy(arena_alloc(a, n), s, n);
}

char *arena_adopt(struct arena *a, char *s, const char *fallback) {
    char *out = arena_strdup(a, s ? s : fallback);
    free(s);
    return out;
}

char *arena_printf(struct arena *a, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *s = arena_alloc(a, (size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

void *arena_array(struct arena *a, size_t n, size_t size) {
    if (size && n > SIZE_MAX / size)
        arena_oom();
    return arena_alloc(a, n * size);
}

static void *arena_pb_alloc(void *data, size_t size) {
    return arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *p) {
    (void)data;
    (void)p;
}

ProtobufCAllocator arena_protobuf_allocator(struct arena *a) {
    ProtobufCAllocator al = {arena_pb_alloc, arena_pb_free, a};
    return al;
}
