/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one-response sink of cri_items: items packed as they are added, then
 * put into the response as its unknown fields, pack to the bytes of the
 * same items in the response's own field (protobuf-c and pb_pack alike),
 * read back as that field; the arena items are built in is reused from
 * one item to the next.
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
#include "cri_items.h"
#include "pb_pack.h"

/* A container's stats as the stats RPCs make them: nested messages, strings, a map, figures. */
static Runtime__V1__ContainerStats *item(struct arena *a, int i) {
    Runtime__V1__ContainerStats *m = ARENA_NEW(a, Runtime__V1__ContainerStats);
    runtime__v1__container_stats__init(m);
    m->attributes = ARENA_NEW(a, Runtime__V1__ContainerAttributes);
    runtime__v1__container_attributes__init(m->attributes);
    m->attributes->id = arena_printf(a, "%064x", i);
    m->attributes->metadata = ARENA_NEW(a, Runtime__V1__ContainerMetadata);
    runtime__v1__container_metadata__init(m->attributes->metadata);
    m->attributes->metadata->name = arena_printf(a, "c-%d", i);
    m->attributes->metadata->attempt = (uint32_t)i % 3;
    m->attributes->n_labels = (size_t)i % 4;
    m->attributes->labels = arena_array(a, 4, sizeof(*m->attributes->labels));
    for (size_t k = 0; k < m->attributes->n_labels; k++) {
        Runtime__V1__ContainerAttributes__LabelsEntry *e = ARENA_NEW(a, Runtime__V1__ContainerAttributes__LabelsEntry);
        runtime__v1__container_attributes__labels_entry__init(e);
        e->key = arena_printf(a, "label-%zu", k);
        e->value = arena_printf(a, "%0*d", (int)(k * 90), i); /* one value past 127 bytes: a two-byte length */
        m->attributes->labels[k] = e;
    }
    m->cpu = ARENA_NEW(a, Runtime__V1__CpuUsage);
    runtime__v1__cpu_usage__init(m->cpu);
    m->cpu->timestamp = 1765000000000000000LL + i;
    m->cpu->usage_core_nano_seconds = ARENA_NEW(a, Runtime__V1__UInt64Value);
    runtime__v1__uint64_value__init(m->cpu->usage_core_nano_seconds);
    m->cpu->usage_core_nano_seconds->value = (uint64_t)i * 1000003;
    return m;
}

static uint8_t *packed(const ProtobufCMessage *m, size_t *len) {
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len + 1);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(m, buf), *len);
    return buf;
}

static void check_list(int n) {
    struct arena *call = arena_new(), *ref = arena_new();
    struct cri_items it;
    cri_items_for_list(&it, call);
    void *first = NULL;
    for (int i = 0; i < n; i++) {
        Runtime__V1__ContainerStats *m = item(it.arena, i);
        if (i == 0)
            first = m;
        else if (i % 4 == 0) /* as small as the first: built where the first was, in the reset arena */
            assert_ptr_equal(m, first);
        assert_int_equal(cri_items_add(&it, &m->base, NULL), 0);
    }
    Runtime__V1__ListContainerStatsResponse *resp = ARENA_NEW(call, Runtime__V1__ListContainerStatsResponse);
    runtime__v1__list_container_stats_response__init(resp);
    cri_items_into(&it, &resp->base);
    assert_int_equal(cri_items_end(&it, 0, NULL), 0);

    /* The same items in the field, as a response was made before. */
    Runtime__V1__ListContainerStatsResponse want = RUNTIME__V1__LIST_CONTAINER_STATS_RESPONSE__INIT;
    want.n_stats = (size_t)n;
    want.stats = arena_array(ref, (size_t)n + 1, sizeof(*want.stats));
    for (int i = 0; i < n; i++)
        want.stats[i] = item(ref, i);
    size_t got_len = 0, want_len = 0;
    uint8_t *got = packed(&resp->base, &got_len), *expected = packed(&want.base, &want_len);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, expected, want_len);
    struct pb_chunk *chunks = NULL;
    size_t len = 0;
    assert_int_equal(pb_pack(&resp->base, &chunks, &len), 0); /* what rpc_server sends */
    assert_int_equal(len, want_len);
    size_t at = 0;
    for (struct pb_chunk *c = chunks; c; c = c->next) {
        assert_memory_equal(c->data + c->start, expected + at, c->end - c->start);
        at += c->end - c->start;
    }
    pb_chunks_free(chunks);

    /* Read back: the items in their field, none unknown. */
    Runtime__V1__ListContainerStatsResponse *back =
        runtime__v1__list_container_stats_response__unpack(NULL, got_len, got);
    assert_non_null(back);
    assert_int_equal(back->n_stats, n);
    assert_int_equal(back->base.n_unknown_fields, 0);
    for (int i = 0; i < n; i++) {
        assert_string_equal(back->stats[i]->attributes->metadata->name, want.stats[i]->attributes->metadata->name);
        assert_int_equal(back->stats[i]->attributes->n_labels, (size_t)i % 4);
    }
    runtime__v1__list_container_stats_response__free_unpacked(back, NULL);
    free(got);
    free(expected);
    arena_free(ref);
    arena_free(call);
}

static void test_no_items(void **state) {
    (void)state;
    check_list(0);
}

static void test_one_item(void **state) {
    (void)state;
    check_list(1);
}

static void test_many_items(void **state) {
    (void)state;
    check_list(1000);
}

/* An item larger than the first packing buffer (CRI_ITEM_SCRATCH): the buffer grows, the bytes stay right. */
static void test_an_item_larger_than_the_buffer(void **state) {
    (void)state;
    struct arena *call = arena_new();
    struct cri_items it;
    cri_items_for_list(&it, call);
    Runtime__V1__ContainerStats *m = item(it.arena, 1);
    m->attributes->metadata->name = arena_alloc(it.arena, 3 * CRI_ITEM_SCRATCH);
    memset(m->attributes->metadata->name, 'n', 3 * CRI_ITEM_SCRATCH - 1);
    size_t want_len = 0;
    uint8_t *want = packed(&m->base, &want_len);
    assert_int_equal(cri_items_add(&it, &m->base, NULL), 0);
    assert_int_equal(cri_items_add(&it, &item(it.arena, 2)->base, NULL), 0);
    Runtime__V1__ListContainerStatsResponse resp = RUNTIME__V1__LIST_CONTAINER_STATS_RESPONSE__INIT;
    cri_items_into(&it, &resp.base);
    assert_int_equal(resp.base.n_unknown_fields, 2);
    const ProtobufCMessageUnknownField *u = &resp.base.unknown_fields[0];
    assert_int_equal(u->tag, 1);
    assert_int_equal(u->wire_type, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
    assert_int_equal(u->len, 3 + want_len); /* a three-byte length, then the item */
    assert_memory_equal(u->data + 3, want, want_len);
    cri_items_end(&it, 0, NULL);
    free(want);
    arena_free(call);
}

/*
 * cri_items_into aborts on a response with more than its items field: every
 * List* response that goes through it has that shape, and a proto change
 * that adds a field must fail here, not crash cleatd.
 */
static void test_list_responses_have_only_their_items(void **state) {
    const ProtobufCMessageDescriptor *lists[] = {
        &runtime__v1__list_containers_response__descriptor,
        &runtime__v1__list_images_response__descriptor,
        &runtime__v1__list_pod_sandbox_metrics_response__descriptor,
        &runtime__v1__list_pod_sandbox_response__descriptor,
        &runtime__v1__list_container_stats_response__descriptor,
        &runtime__v1__list_pod_sandbox_stats_response__descriptor,
    };
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        assert_int_equal(lists[i]->n_fields, 1);
        assert_int_equal(lists[i]->fields[0].label, PROTOBUF_C_LABEL_REPEATED);
        assert_int_equal(lists[i]->fields[0].type, PROTOBUF_C_TYPE_MESSAGE);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_items),
        cmocka_unit_test(test_one_item),
        cmocka_unit_test(test_many_items),
        cmocka_unit_test(test_an_item_larger_than_the_buffer),
        cmocka_unit_test(test_list_responses_have_only_their_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
