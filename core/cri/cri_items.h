/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the items of a list RPC go: all into the one response of a List*
 * RPC, or page by page onto the stream of its Stream* twin (KEP-5825: a
 * node with thousands of pods or containers must not need one message
 * past gRPC's size limit).  A twin builds its items with the same code and
 * only the sink differs, so that both answer the same.
 *
 * A page is sent once it holds CRI_PAGE_ITEMS items or CRI_PAGE_BYTES of
 * packed items, so it is less than CRI_PAGE_BYTES plus one item (kubelet
 * takes messages of up to 16 MiB; one Kubernetes object is far smaller).
 * Every page has at least one item: no items, no message (the stream just
 * ends).  Each item is in exactly one page, in the order added.
 */
#ifndef CLEAT_CORE_CRI_ITEMS_H
#define CLEAT_CORE_CRI_ITEMS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "arena.h"
#include "error.h"
#include "rpc_server.h"

#define CRI_PAGE_ITEMS 100
#define CRI_PAGE_BYTES (1024 * 1024)

struct cri_items {
    /*
     * Where to build the next item (and what it points to).  For a stream
     * it is a page's own arena, freed once the page is sent: read it anew
     * for every item.
     */
    struct arena *arena;
    /* private */
    struct rpc_stream *stream;              /* NULL: one response */
    const ProtobufCMessageDescriptor *page; /* a stream's message type */
    struct arena *call_arena;               /* one response: the call's */
    ProtobufCMessage **v;                   /* the items not sent yet */
    size_t n, cap, bytes;
};

/* Items for one response, built in the call's arena `a`. */
void cri_items_for_list(struct cri_items *it, struct arena *a);
/* Items for `stream`, sent in messages of type `page` (one repeated message field: the items). */
void cri_items_for_stream(struct cri_items *it, struct rpc_stream *stream, const ProtobufCMessageDescriptor *page);
/*
 * Add an item built in it->arena.  On a stream a page that is full with it
 * is sent: CANCELLED when the client went away (stop adding and return the
 * error); RESOURCE_EXHAUSTED when out of memory.
 */
int cri_items_add(struct cri_items *it, ProtobufCMessage *item, struct cleat_error **reterr);
/* One response: put the items into `resp`'s repeated message field (its first). */
void cri_items_into(struct cri_items *it, ProtobufCMessage *resp);
/*
 * The end, for both sinks and also on failure: a stream first sends what is
 * left (when r >= 0); then what the sink holds is freed.  Returns r, or the
 * send's error.  Call it once; afterwards `it` holds nothing.
 */
int cri_items_end(struct cri_items *it, int r, struct cleat_error **reterr);

#endif
