/* SPDX-License-Identifier: Apache-2.0 */
/* The sink of a list RPC's items: one response, or pages on a stream (cri_items.h). */
#include "cri_items.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pb_pack.h"

void cri_items_for_list(struct cri_items *it, struct arena *a) {
    *it = (struct cri_items){.arena = arena_new(), .call_arena = a};
}

void cri_items_for_stream(struct cri_items *it, struct rpc_stream *stream, const ProtobufCMessageDescriptor *page) {
    *it = (struct cri_items){.arena = arena_new(), .stream = stream, .page = page};
}

/* The repeated message field that holds the items: the first one of the message type. */
static const ProtobufCFieldDescriptor *items_field(const ProtobufCMessageDescriptor *d) {
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].label == PROTOBUF_C_LABEL_REPEATED && d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
            return &d->fields[i];
    return NULL;
}

/* Point msg's items field at v[0..n). */
static void set_items(ProtobufCMessage *msg, ProtobufCMessage **v, size_t n) {
    const ProtobufCFieldDescriptor *f = items_field(msg->descriptor);
    if (!f) /* every list response has one: a message without is a mistake in the caller */
        abort();
    *(size_t *)((char *)msg + f->quantifier_offset) = n;
    *(ProtobufCMessage ***)((char *)msg + f->offset) = v;
}

/* Send the page so far (if any) and start the next one in a fresh arena. */
static int flush(struct cri_items *it, struct cleat_error **reterr) {
    if (!it->n)
        return 0;
    ProtobufCMessage *msg = arena_alloc(it->arena, it->page->sizeof_message);
    protobuf_c_message_init(it->page, msg);
    set_items(msg, it->v, it->n);
    int r = rpc_stream_send(it->stream, msg, reterr);
    arena_free(it->arena);
    it->arena = arena_new();
    it->n = it->bytes = 0;
    return r;
}

/* A stream's item, kept until its page is sent. */
static int keep_item(struct cri_items *it, ProtobufCMessage *item, struct cleat_error **reterr) {
    if (it->n == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 64;
        ProtobufCMessage **v = realloc(it->v, cap * sizeof(*v));
        if (!v)
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        it->v = v;
        it->cap = cap;
    }
    it->v[it->n++] = item;
    /* Sent once full, not before the next item: that one is built in this page's arena. */
    it->bytes += protobuf_c_message_get_packed_size(item);
    return it->n >= CRI_PAGE_ITEMS || it->bytes >= CRI_PAGE_BYTES ? flush(it, reterr) : 0;
}

/* A response's item, packed now (its length first, as a length-prefixed field's value), its arena reset. */
static int pack_item(struct cri_items *it, const ProtobufCMessage *item, struct cleat_error **reterr) {
    size_t len = 0, prefix = 1;
    if (it->n == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 64;
        ProtobufCBinaryData *v = realloc(it->packed, cap * sizeof(*v));
        if (!v)
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        it->packed = v;
        it->cap = cap;
    }
    while (!it->scratch || pb_pack_flat(item, it->scratch, it->scratch_size, &len) == -ENOSPC) {
        size_t size = it->scratch_size ? it->scratch_size * 2 : CRI_ITEM_SCRATCH;
        uint8_t *grown = size > it->scratch_size ? malloc(size) : NULL;
        if (!grown)
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        free(it->scratch);
        it->scratch = grown;
        it->scratch_size = size;
    }
    for (size_t v = len; v >= 0x80; v >>= 7)
        prefix++;
    uint8_t *data = arena_alloc(it->call_arena, prefix + len), *p = data;
    size_t v = len;
    for (; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    memcpy(p, it->scratch + it->scratch_size - len, len);
    it->packed[it->n++] = (ProtobufCBinaryData){.len = prefix + len, .data = data};
    arena_reset(it->arena);
    return 0;
}

int cri_items_add(struct cri_items *it, ProtobufCMessage *item, struct cleat_error **reterr) {
    return it->stream ? keep_item(it, item, reterr) : pack_item(it, item, reterr);
}

void cri_items_into(struct cri_items *it, ProtobufCMessage *resp) {
    const ProtobufCFieldDescriptor *f = items_field(resp->descriptor);
    /* Every list response has one field, its items (test_cri_items holds each to that): a mistake else. */
    if (!f || resp->descriptor->n_fields != 1)
        abort();
    ProtobufCMessageUnknownField *u = arena_array(it->call_arena, it->n + 1, sizeof(*u));
    for (size_t i = 0; i < it->n; i++)
        u[i] = (ProtobufCMessageUnknownField){.tag = f->id,
                                              .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
                                              .len = it->packed[i].len,
                                              .data = it->packed[i].data};
    resp->n_unknown_fields = (unsigned)it->n;
    resp->unknown_fields = u;
    free(it->packed);
    it->packed = NULL;
    it->n = it->cap = 0;
}

int cri_items_end(struct cri_items *it, int r, struct cleat_error **reterr) {
    if (r >= 0 && it->stream)
        r = flush(it, reterr);
    arena_free(it->arena); /* a stream's page, or a response's items' scratch */
    free(it->v);
    free(it->packed);
    free(it->scratch);
    *it = (struct cri_items){0};
    return r;
}
