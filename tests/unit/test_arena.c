/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The arena: every allocation zeroed, aligned and apart from every other,
 * across chunks that grow and big one-off blocks, a reset, and through the
 * protobuf-c allocator (a message unpacked into it and freed with it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api.pb-c.h"
#include "arena.h"

struct block {
    unsigned char *p;
    size_t size;
};

/* Sizes from 1 byte to past the largest chunk, each filled with its own byte, then all checked. */
static void test_allocations_are_zeroed_aligned_and_apart(void **state) {
    (void)state;
    enum { N = 5000 };
    static struct block b[N];
    struct arena *a = arena_new();
    size_t total = 0;
    for (size_t i = 0; i < N; i++) {
        size_t size = i % 97 == 0 ? 70000 + i : 1 + (i * 7919) % 600; /* now and then one past a chunk */
        b[i] = (struct block){arena_alloc(a, size), size};
        assert_non_null(b[i].p);
        assert_int_equal((uintptr_t)b[i].p % 16, 0);
        for (size_t k = 0; k < size; k++)
            assert_int_equal(b[i].p[k], 0);
        memset(b[i].p, (int)(i % 251) + 1, size);
        total += size;
    }
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; k < b[i].size; k++)
            assert_int_equal(b[i].p[k], (int)(i % 251) + 1); /* nothing later wrote over it */
    assert_true(total > 4 * 1024 * 1024);
    arena_free(a);
    arena_free(NULL);
}

static void test_strings_and_arrays(void **state) {
    (void)state;
    struct arena *a = arena_new();
    assert_string_equal(arena_strdup(a, "pod"), "pod");
    assert_null(arena_strdup(a, NULL));
    assert_string_equal(arena_printf(a, "%s-%d", "c", 7), "c-7");
    assert_string_equal(arena_adopt(a, strdup("moved"), "x"), "moved");
    assert_string_equal(arena_adopt(a, NULL, "fallback"), "fallback");
    uint64_t *v = arena_array(a, 100000, sizeof(*v)); /* a one-off block larger than any chunk */
    for (size_t i = 0; i < 100000; i++)
        assert_int_equal(v[i], 0);
    arena_free(a);
}

/* After a reset the arena is empty and usable, builds where it built before, and gives zeroed memory again. */
static void test_reset(void **state) {
    (void)state;
    struct arena *a = arena_new();
    arena_reset(a); /* nothing in it yet */
    unsigned char *p = arena_alloc(a, 100);
    memset(p, 0xab, 100);
    arena_reset(a);
    unsigned char *q = arena_alloc(a, 100);
    assert_ptr_equal(q, p);
    for (size_t k = 0; k < 100; k++)
        assert_int_equal(q[k], 0);
    for (int round = 0; round < 3; round++) { /* many chunks and a one-off block, then a reset each time */
        for (int i = 0; i < 2000; i++)
            memset(arena_alloc(a, 200), 0xcd, 200);
        memset(arena_alloc(a, 200000), 0xef, 200000);
        arena_reset(a);
        unsigned char *r = arena_alloc(a, 1000);
        for (size_t k = 0; k < 1000; k++)
            assert_int_equal(r[k], 0);
    }
    arena_free(a);
}

/* A message unpacked through the arena's allocator lives as long as the arena, and is freed with it. */
static void test_protobuf_allocator(void **state) {
    (void)state;
    Runtime__V1__ContainerMetadata in = RUNTIME__V1__CONTAINER_METADATA__INIT;
    in.name = "sleep";
    in.attempt = 3;
    uint8_t buf[64];
    size_t len = protobuf_c_message_pack(&in.base, buf);
    struct arena *a = arena_new();
    ProtobufCAllocator al = arena_protobuf_allocator(a);
    for (int i = 0; i < 2000; i++) {
        Runtime__V1__ContainerMetadata *m = runtime__v1__container_metadata__unpack(&al, len, buf);
        assert_non_null(m);
        assert_string_equal(m->name, "sleep");
        assert_int_equal(m->attempt, 3);
        runtime__v1__container_metadata__free_unpacked(m, &al); /* a no-op: the arena frees */
    }
    arena_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocations_are_zeroed_aligned_and_apart),
        cmocka_unit_test(test_strings_and_arrays),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_protobuf_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
