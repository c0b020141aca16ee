/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pb_pack gives the bytes protobuf_c_message_pack gives: for every message
 * of the CRI contract and of the store (filled at random, many times over),
 * and for a test proto with the field types and labels those do not use
 * (proto2 required and optional with defaults, zigzag and fixed integers,
 * floats, oneofs, a five-byte tag), and unknown fields.
 */
#include <errno.h>
#include <math.h>
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
#include "pb_pack.h"
#include "pb_pack_types.pb-c.h"
#include "store.pb-c.h"

#define ROUNDS 200
#define MAX_DEPTH 6

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void) { /* xorshift64: the same messages every run */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Values at the edges of each encoding as often as anywhere else. */
static uint64_t rnd_u64(void) {
    static const uint64_t edges[] = {0,
                                     1,
                                     127,
                                     128,
                                     16383,
                                     16384,
                                     (1ULL << 28) - 1,
                                     1ULL << 31,
                                     UINT32_MAX,
                                     1ULL << 35,
                                     INT64_MAX,
                                     (uint64_t)INT64_MIN,
                                     UINT64_MAX,
                                     (uint64_t)-1 << 31};
    return rnd() % 2 ? edges[rnd() % (sizeof(edges) / sizeof(edges[0]))] : rnd() >> (rnd() % 64);
}

static const char *rnd_string(struct arena *a) {
    static const char *const some[] = {"", "a", "pod", "io.kubernetes.pod.namespace", "ünïcode"};
    if (rnd() % 4)
        return some[rnd() % 5];
    size_t n = 100 + rnd() % 300; /* a length prefix of two bytes */
    char *s = arena_alloc(a, n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + rnd() % 26);
    return s;
}

static void fill(struct arena *a, ProtobufCMessage *m, int depth);

static ProtobufCMessage *new_message(struct arena *a, const ProtobufCMessageDescriptor *d, int depth) {
    ProtobufCMessage *m = arena_alloc(a, d->sizeof_message);
    protobuf_c_message_init(d, m);
    fill(a, m, depth + 1);
    return m;
}

/* A random value of the field's type at p; zero (of its kind) when `zero`. */
static void rnd_value(struct arena *a, const ProtobufCFieldDescriptor *f, void *p, int depth, int zero) {
    uint64_t v = zero ? 0 : rnd_u64();
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        *(uint32_t *)p = (uint32_t)v;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)p = v;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)p = zero ? 0 : (protobuf_c_boolean)(rnd() % 2);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)p = zero ? (rnd() % 2 ? -0.0f : 0.0f) : (float)(int64_t)v / 7.0f;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)p = zero ? (rnd() % 2 ? -0.0 : 0.0) : (double)(int64_t)v / 3.0;
        break;
    case PROTOBUF_C_TYPE_STRING:
        *(const char **)p = zero ? (rnd() % 2 ? "" : NULL) : rnd_string(a);
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *bd = p;
        bd->len = zero ? 0 : rnd() % 200;
        bd->data = arena_alloc(a, bd->len + 1);
        for (size_t i = 0; i < bd->len; i++)
            bd->data[i] = (uint8_t)rnd();
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        *(ProtobufCMessage **)p = zero || depth >= MAX_DEPTH ? NULL : new_message(a, f->descriptor, depth);
        break;
    }
}

static void fill_repeated(struct arena *a, const ProtobufCFieldDescriptor *f, char *m, int depth) {
    size_t n = depth >= MAX_DEPTH && f->type == PROTOBUF_C_TYPE_MESSAGE ? 0 : rnd() % 4;
    if (rnd() % 8 == 0 && f->type != PROTOBUF_C_TYPE_MESSAGE)
        n = 40 + rnd() % 100; /* a packed run longer than 127 bytes */
    char *v = arena_array(a, n + 1, pb_element_size(f->type));
    for (size_t i = 0; i < n; i++) {
        rnd_value(a, f, v + i * pb_element_size(f->type), depth, rnd() % 5 == 0 && f->type != PROTOBUF_C_TYPE_MESSAGE);
        if (f->type == PROTOBUF_C_TYPE_STRING && !*(char **)(v + i * pb_element_size(f->type)))
            *(const char **)(v + i * pb_element_size(f->type)) = ""; /* protobuf-c cannot pack a NULL in a list */
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && !*(void **)(v + i * pb_element_size(f->type)))
            *(ProtobufCMessage **)(v + i * pb_element_size(f->type)) = new_message(a, f->descriptor, MAX_DEPTH);
    }
    *(size_t *)(m + f->quantifier_offset) = n;
    *(char **)(m + f->offset) = v;
}

/* Every field: each label's ways of being there or not, with the value left behind when not. */
static void fill(struct arena *a, ProtobufCMessage *msg, int depth) {
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    char *m = (char *)msg;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        int pointer = f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            fill_repeated(a, f, m, depth);
        } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (rnd() % 3 == 0) { /* the last field chosen is the case */
                *(uint32_t *)(m + f->quantifier_offset) = f->id;
                rnd_value(a, f, m + f->offset, depth, rnd() % 4 == 0);
            }
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && pointer && rnd() % 4 == 0) {
            *(const void **)(m + f->offset) = f->default_value; /* the default: left out */
        } else {
            rnd_value(a, f, m + f->offset, depth, f->label == PROTOBUF_C_LABEL_NONE && rnd() % 3 == 0);
            if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !pointer)
                *(protobuf_c_boolean *)(m + f->quantifier_offset) = (protobuf_c_boolean)(rnd() % 2);
        }
    }
}

static void assert_same_bytes(const ProtobufCMessage *m) {
    size_t len = protobuf_c_message_get_packed_size(m), got = 0, n = 0;
    uint8_t *want = malloc(len + 1);
    assert_non_null(want);
    assert_int_equal(protobuf_c_message_pack(m, want), len);
    struct pb_chunk *chunks = NULL;
    assert_int_equal(pb_pack(m, &chunks, &got), 0);
    assert_int_equal(got, len);
    for (struct pb_chunk *c = chunks; c; c = c->next, n++) {
        assert_true(c->start <= c->end);
        assert_true(n == 0 || c->end - c->start > 0); /* only the first may be empty (an empty message) */
        assert_true(got >= c->end - c->start);
        assert_memory_equal(c->data + c->start, want + (len - got), c->end - c->start);
        got -= c->end - c->start;
    }
    assert_int_equal(got, 0);
    pb_chunks_free(chunks);
    /* Flat: an exact fit, room to spare (the bytes at the end), and one byte short. */
    uint8_t *flat = malloc(len + 100);
    assert_non_null(flat);
    assert_int_equal(pb_pack_flat(m, flat, len, &got), 0);
    assert_int_equal(got, len);
    assert_memory_equal(flat, want, len);
    assert_int_equal(pb_pack_flat(m, flat, len + 100, &got), 0);
    assert_int_equal(got, len);
    assert_memory_equal(flat + 100, want, len);
    if (len > 0)
        assert_int_equal(pb_pack_flat(m, flat, len - 1, &got), -ENOSPC);
    free(flat);
    free(want);
}

/* Every message type reachable from d, once each (a message can hold its own type: a set stops the walk). */
static void collect(const ProtobufCMessageDescriptor *d, const ProtobufCMessageDescriptor **seen, size_t *n,
                    size_t cap) {
    for (size_t i = 0; i < *n; i++)
        if (seen[i] == d)
            return;
    assert_true(*n < cap);
    seen[(*n)++] = d;
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
            collect(d->fields[i].descriptor, seen, n, cap);
}

static void round_trip_all(const ProtobufCMessageDescriptor **types, size_t n) {
    for (int round = 0; round < ROUNDS; round++) {
        struct arena *a = arena_new();
        for (size_t i = 0; i < n; i++)
            assert_same_bytes(new_message(a, types[i], round % MAX_DEPTH));
        arena_free(a);
    }
}

static void test_every_cri_and_store_message(void **state) {
    (void)state;
    static const ProtobufCMessageDescriptor *seen[1024];
    size_t n = 0;
    const ProtobufCServiceDescriptor *services[] = {&runtime__v1__runtime_service__descriptor,
                                                    &runtime__v1__image_service__descriptor};
    for (size_t s = 0; s < 2; s++)
        for (unsigned i = 0; i < services[s]->n_methods; i++) {
            collect(services[s]->methods[i].input, seen, &n, 1024);
            collect(services[s]->methods[i].output, seen, &n, 1024);
        }
    collect(&cleat__store__v1__sandbox_record__descriptor, seen, &n, 1024);
    collect(&cleat__store__v1__container_record__descriptor, seen, &n, 1024);
    collect(&cleat__store__v1__image_record__descriptor, seen, &n, 1024);
    assert_true(n > 100); /* the walk found the contract, not a handful */
    round_trip_all(seen, n);
}

static void test_every_type_and_label(void **state) {
    (void)state;
    const ProtobufCMessageDescriptor *types[] = {&cleat__test__v1__all_types__descriptor,
                                                 &cleat__test__v1__inner__descriptor};
    round_trip_all(types, 2);
}

/* Fields a reader did not know are packed back after the known ones, as read. */
static void test_unknown_fields(void **state) {
    (void)state;
    for (int round = 0; round < ROUNDS; round++) {
        struct arena *a = arena_new();
        ProtobufCMessage *all = new_message(a, &cleat__test__v1__all_types__descriptor, 0);
        size_t len = protobuf_c_message_get_packed_size(all);
        uint8_t *buf = arena_alloc(a, len + 1);
        protobuf_c_message_pack(all, buf);
        ProtobufCMessage *sparse = protobuf_c_message_unpack(&cleat__test__v1__sparse__descriptor, NULL, len, buf);
        assert_non_null(sparse);
        assert_true(sparse->n_unknown_fields > 0);
        assert_same_bytes(sparse);
        protobuf_c_message_free_unpacked(sparse, NULL);
        arena_free(a);
    }
}

/* A message of some megabytes: many chunks, values and length prefixes split across two of them. */
static void test_growth(void **state) {
    (void)state;
    struct arena *a = arena_new();
    Runtime__V1__ListPodSandboxStatsResponse resp = RUNTIME__V1__LIST_POD_SANDBOX_STATS_RESPONSE__INIT;
    resp.n_stats = 2000;
    resp.stats = arena_array(a, resp.n_stats, sizeof(*resp.stats));
    for (size_t i = 0; i < resp.n_stats; i++)
        resp.stats[i] = (Runtime__V1__PodSandboxStats *)new_message(a, &runtime__v1__pod_sandbox_stats__descriptor, 1);
    assert_same_bytes(&resp.base);
    arena_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_cri_and_store_message),
        cmocka_unit_test(test_every_type_and_label),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
