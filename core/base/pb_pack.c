/* SPDX-License-Identifier: Apache-2.0 */
/* Protobuf messages packed in one pass, back to front (see pb_pack.h). */
#include "pb_pack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PB_FIRST_CHUNK 1024
/* Chunks double up to this, under cleatd's mmap threshold (128 KiB): from the heap, not an mmap each. */
#define PB_CHUNK_MAX (64 * 1024)

/*
 * The bytes written so far: data[start..) of the chunk being written (the
 * head's data, or a flat buffer's), then the head's next chunk's, and so
 * on; each write goes in front.  The head's own start is brought up to date
 * when another chunk comes in front of it, and at the end.
 */
struct out {
    uint8_t *data;
    size_t start;
    struct pb_chunk *head;
    size_t total, next_size;
    int flat;   /* one buffer of the caller's, which cannot grow */
    int failed; /* no room (out of memory, or the flat buffer full): the rest is skipped, and the pack fails */
};

static size_t written(const struct out *o) {
    return o->total;
}

/* A new chunk in front of the others, written from its end; 0 when out of memory or flat. */
static int new_chunk(struct out *o) {
    struct pb_chunk *c = o->failed || o->flat ? NULL : malloc(sizeof(*c) + o->next_size);
    if (!c) {
        o->failed = 1;
        return 0;
    }
    if (o->head)
        o->head->start = o->start;
    c->next = o->head;
    c->start = c->end = o->next_size;
    o->head = c;
    o->data = c->data;
    o->start = c->end;
    if (o->next_size < PB_CHUNK_MAX)
        o->next_size *= 2;
    return 1;
}

/* n bytes in front of what is written: their end in the head chunk's room, the rest in new chunks before it. */
static void put_slow(struct out *o, const void *p, size_t n) {
    while (n > 0 && (o->start > 0 || new_chunk(o))) {
        size_t k = n < o->start ? n : o->start;
        o->start -= k;
        n -= k;
        memcpy(o->data + o->start, (const uint8_t *)p + n, k);
        o->total += k;
    }
}

/* Most writes are a few bytes into a chunk with room for them: that case inline, the others apart. */
static inline void put(struct out *o, const void *p, size_t n) {
    if (n <= o->start) {
        o->start -= n;
        memcpy(o->data + o->start, p, n);
        o->total += n;
    } else {
        put_slow(o, p, n);
    }
}

static inline void put_varint(struct out *o, uint64_t v) {
    if (v < 0x80 && o->start > 0) { /* a tag, a length, a small number: one byte */
        o->data[--o->start] = (uint8_t)v;
        o->total++;
        return;
    }
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    put(o, tmp, n);
}

static void put_tag(struct out *o, uint32_t id, ProtobufCWireType wt) {
    put_varint(o, ((uint64_t)id << 3) | (uint64_t)wt);
}

static void put_le32(struct out *o, const void *member) {
    uint32_t v;
    memcpy(&v, member, 4);
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(o, b, 4);
}

static void put_le64(struct out *o, const void *member) {
    uint64_t v;
    memcpy(&v, member, 8);
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(o, b, 8);
}

static uint32_t zigzag32(int32_t v) {
    return v < 0 ? ~((uint32_t)v << 1) : (uint32_t)v << 1;
}

static uint64_t zigzag64(int64_t v) {
    return v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1;
}

static void put_message(struct out *o, const ProtobufCMessage *m);

/* One value of a field, without its tag; its wire type. */
static ProtobufCWireType put_value(struct out *o, ProtobufCType type, const void *member) {
    switch (type) {
    case PROTOBUF_C_TYPE_SINT32:
        put_varint(o, zigzag32(*(const int32_t *)member));
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_INT32: /* a negative one as its 64-bit sign extension: ten bytes */
        put_varint(o, (uint64_t)(int64_t) * (const int32_t *)member);
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    case PROTOBUF_C_TYPE_UINT32:
        put_varint(o, *(const uint32_t *)member);
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    case PROTOBUF_C_TYPE_SINT64:
        put_varint(o, zigzag64(*(const int64_t *)member));
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
        put_varint(o, *(const uint64_t *)member);
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    case PROTOBUF_C_TYPE_BOOL:
        put_varint(o, *(const protobuf_c_boolean *)member ? 1 : 0);
        return PROTOBUF_C_WIRE_TYPE_VARINT;
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        put_le32(o, member);
        return PROTOBUF_C_WIRE_TYPE_32BIT;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        put_le64(o, member);
        return PROTOBUF_C_WIRE_TYPE_64BIT;
    case PROTOBUF_C_TYPE_STRING: { /* NULL packs as "", as protobuf-c does */
        const char *s = *(char *const *)member;
        size_t n = s ? strlen(s) : 0;
        put(o, s, n);
        put_varint(o, n);
        return PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = member;
        put(o, bd->data, bd->len);
        put_varint(o, bd->len);
        return PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
    }
    case PROTOBUF_C_TYPE_MESSAGE: { /* NULL packs as an empty message */
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
        size_t before = written(o);
        if (sub)
            put_message(o, sub);
        put_varint(o, written(o) - before);
        return PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
    }
    }
    abort(); /* a type protobuf-c does not have: a corrupt descriptor */
}

static void put_field(struct out *o, const ProtobufCFieldDescriptor *f, const void *member) {
    put_tag(o, f->id, put_value(o, f->type, member));
}

size_t pb_element_size(ProtobufCType type) {
    switch (type) {
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

/* Packed: one tag and length, then the values without tags; else a tag before each value. */
static void put_repeated(struct out *o, const ProtobufCFieldDescriptor *f, size_t count, const void *member) {
    const char *array = *(void *const *)member;
    size_t size = pb_element_size(f->type), before = written(o);
    if (!count)
        return;
    int packed = (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED) != 0;
    for (size_t i = count; i-- > 0;) {
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && i >= 8) /* the one eight ahead, as prefetch_children began */
            __builtin_prefetch(*(void *const *)(array + (i - 8) * size));
        if (packed)
            put_value(o, f->type, array + i * size);
        else
            put_field(o, f, array + i * size);
    }
    if (packed) {
        put_varint(o, written(o) - before);
        put_tag(o, f->id, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
    }
}

/* A proto3 field without a label is left out at its zero value, as protobuf-c leaves it out. */
static int zeroish(const ProtobufCFieldDescriptor *f, const void *member) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)member == 0;
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
        return *(const uint32_t *)member == 0;
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)member == 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)member == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)member == 0;
    case PROTOBUF_C_TYPE_STRING:
        return !*(char *const *)member || !**(char *const *)member;
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)member)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return !*(void *const *)member;
    }
    return 0;
}

/* Whether a field that is not repeated is packed at all. */
static int present(const ProtobufCFieldDescriptor *f, const void *member, const void *qmember) {
    int pointer = f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING;
    const void *ptr = pointer ? *(const void *const *)member : NULL;
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return 1;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)qmember == f->id && (!pointer || (ptr && ptr != f->default_value));
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return pointer ? ptr && ptr != f->default_value : *(const protobuf_c_boolean *)qmember != 0;
    return !zeroish(f, member);
}

/*
 * Ask for the sub-messages of m before packing any of them: they are
 * visited last field first, against the order they were allocated in, which
 * the hardware does not foresee; fetched together, their cache misses
 * overlap instead of coming one after another (a 500-pod stats list is two
 * megabytes of small messages, out of the L2 cache by the time it is packed).
 */
static void prefetch_children(const ProtobufCMessage *m, const ProtobufCMessageDescriptor *d) {
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const void *member = (const char *)m + f->offset;
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            __builtin_prefetch(*(const void *const *)member);
            continue;
        }
        size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
        const void *const *v = *(const void *const *const *)member;
        for (size_t k = n > 8 ? n - 8 : 0; k < n; k++) /* the last ones, packed first; put_repeated the rest */
            __builtin_prefetch(v[k]);
    }
}

/* The fields in descriptor order, then the unknown fields: so, back to front, the unknown ones first. */
static void put_message(struct out *o, const ProtobufCMessage *m) {
    const ProtobufCMessageDescriptor *d = m->descriptor;
    prefetch_children(m, d);
    for (size_t i = m->n_unknown_fields; i-- > 0;) {
        const ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
        put(o, u->data, u->len);
        put_tag(o, u->tag, u->wire_type);
    }
    for (unsigned i = d->n_fields; i-- > 0;) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *member = (const char *)m + f->offset;
        const void *qmember = (const char *)m + f->quantifier_offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            put_repeated(o, f, *(const size_t *)qmember, member);
        else if (present(f, member, qmember))
            put_field(o, f, member);
    }
}

void pb_chunks_free(struct pb_chunk *c) {
    while (c) {
        struct pb_chunk *next = c->next;
        free(c);
        c = next;
    }
}

int pb_pack(const ProtobufCMessage *msg, struct pb_chunk **ret, size_t *ret_len) {
    struct out o = {.next_size = PB_FIRST_CHUNK};
    if (!new_chunk(&o))
        return -ENOMEM;
    put_message(&o, msg);
    o.head->start = o.start;
    if (o.failed) {
        pb_chunks_free(o.head);
        return -ENOMEM;
    }
    *ret = o.head;
    *ret_len = o.total;
    return 0;
}

int pb_pack_flat(const ProtobufCMessage *msg, uint8_t *buf, size_t cap, size_t *ret_len) {
    struct out o = {.data = buf, .start = cap, .flat = 1};
    put_message(&o, msg);
    if (o.failed)
        return -ENOSPC;
    *ret_len = o.total;
    return 0;
}
