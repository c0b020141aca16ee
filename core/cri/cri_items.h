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
 *
 * An item of one response is packed as soon as it is added, and the arena
 * it was built in (it->arena, the sink's own) is reset for the next one:
 * the items' message trees never pile up.  A 500-pod ListPodSandboxStats
 * kept 1.5 MB of them until the reply was packed, all on pages fresh from
 * the kernel each call (cleatd's heap is trimmed after it), and packed the
 * tree long after it had left the cache.  The packed items become the
 * response's unknown fields, with the number of its items field, which
 * protobuf-c and pb_pack write as they stand: the same bytes as the items
 * packed in the field.  A handler must therefore build nothing one item
 * uses in it->arena while building another, and read it->arena anew for
 * every item (a stream's page arena changes too).
 */
#ifndef CLEAT_CORE_CRI_ITEMS_H
#define CLEAT_CORE_CRI_ITEMS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "error.h"
#include "rpc_server.h"

#define CRI_PAGE_ITEMS 100
#define CRI_PAGE_BYTES (1024 * 1024)
/* The first buffer an item of one response is packed in; it doubles for a larger item. */
#define CRI_ITEM_SCRATCH (16 * 1024)

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
    struct arena *call_arena;               /* one response: the call's, which holds the packed items */
    ProtobufCMessage **v;                   /* a stream: the items not sent yet */
    ProtobufCBinaryData *packed;            /* one response: each item packed, its length prefix first */
    uint8_t *scratch;                       /* one response: where an item is packed (pb_pack_flat) */
    size_t n, cap, bytes, scratch_size;
};

/* Items for one response, packed into the call's arena `a` as they are added. */
void cri_items_for_list(struct cri_items *it, struct arena *a);
/* Items for `stream`, sent in messages of type `page` (one repeated message field: the items). */
void cri_items_for_stream(struct cri_items *it, struct rpc_stream *stream, const ProtobufCMessageDescriptor *page);
/*
 * Add an item built in it->arena.  On a stream a page that is full with it
 * is sent: CANCELLED when the client went away (stop adding and return the
 * error); RESOURCE_EXHAUSTED when out of memory.
 */
int cri_items_add(struct cri_items *it, ProtobufCMessage *item, struct cleat_error **reterr);
/*
 * One response: put the items into `resp`, whose only field must be the
 * repeated message field of the items (every List* response's shape).
 */
void cri_items_into(struct cri_items *it, ProtobufCMessage *resp);
/*
 * The end, for both sinks and also on failure: a stream first sends what is
 * left (when r >= 0); then what the sink holds is freed.  Returns r, or the
 * send's error.  Call it once; afterwards `it` holds nothing.
 */
int cri_items_end(struct cri_items *it, int r, struct cleat_error **reterr);

#endif
