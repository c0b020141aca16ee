/* SPDX-License-Identifier: Apache-2.0 */
/* The sink of a list RPC's items: one response, or pages on a stream (cri_items.h). */
#include "cri_items.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cri_items_for_list(struct cri_items *it, struct arena *a) {
    *it = (struct cri_items){.arena = a, .call_arena = a};
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

int cri_items_add(struct cri_items *it, ProtobufCMessage *item, struct cleat_error **reterr) {
    if (it->n == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 64;
        ProtobufCMessage **v = realloc(it->v, cap * sizeof(*v));
        if (!v)
            return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
        it->v = v;
        it->cap = cap;
    }
    it->v[it->n++] = item;
    if (!it->stream)
        return 0;
    /* Sent once full, not before the next item: that one is built in this page's arena. */
    it->bytes += protobuf_c_message_get_packed_size(item);
    return it->n >= CRI_PAGE_ITEMS || it->bytes >= CRI_PAGE_BYTES ? flush(it, reterr) : 0;
}

void cri_items_into(struct cri_items *it, ProtobufCMessage *resp) {
    ProtobufCMessage **v = arena_array(it->call_arena, it->n + 1, sizeof(*v));
    if (it->n)
        memcpy(v, it->v, it->n * sizeof(*v));
    set_items(resp, v, it->n);
    free(it->v);
    it->v = NULL;
    it->n = it->cap = 0;
}

int cri_items_end(struct cri_items *it, int r, struct cleat_error **reterr) {
    if (r >= 0 && it->stream)
        r = flush(it, reterr);
    if (it->stream)
        arena_free(it->arena);
    free(it->v);
    *it = (struct cri_items){0};
    return r;
}
