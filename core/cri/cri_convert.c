/* SPDX-License-Identifier: Apache-2.0 */
#include "cri_convert.h"

#include <stdlib.h>
#include <string.h>

#include "proto_maps.h"
#include "runtime_service.h"

static void *arena_pb_alloc(void *data, size_t size) {
    return arena_alloc(data, size ? size : 1);
}

static void arena_pb_free(void *data, void *p) {
    (void)data;
    (void)p; /* the arena frees everything with the call */
}

ProtobufCMessage *cri_unpack_to_arena(struct arena *a, const ProtobufCMessageDescriptor *desc, size_t len,
                                      const uint8_t *data) {
    ProtobufCAllocator al = {.alloc = arena_pb_alloc, .free = arena_pb_free, .allocator_data = a};
    return protobuf_c_message_unpack(desc, &al, len, data);
}

ProtobufCMessage *cri_msg_to_arena(struct arena *a, const ProtobufCMessage *msg) {
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = arena_alloc(a, len + 1);
    protobuf_c_message_pack(msg, buf);
    return cri_unpack_to_arena(a, msg->descriptor, len, buf);
}

void *cri_map_copy(struct arena *a, const ProtobufCMessageDescriptor *desc, void *const *src, size_t n, size_t *ret_n) {
    struct kv_entry **out = arena_array(a, n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const struct kv_entry *s = src[i];
        out[i] = arena_alloc(a, desc->sizeof_message);
        protobuf_c_message_init(desc, out[i]);
        out[i]->key = arena_strdup(a, s->key);
        out[i]->value = arena_strdup(a, s->value);
    }
    *ret_n = n;
    return out;
}

int cri_labels_match(void *const *selector, size_t n_selector, void *const *labels, size_t n_labels) {
    for (size_t i = 0; i < n_selector; i++) {
        const struct kv_entry *want = selector[i];
        int found = 0;
        for (size_t j = 0; j < n_labels && !found; j++) {
            const struct kv_entry *have = labels[j];
            found = strcmp(want->key, have->key) == 0 && strcmp(want->value, have->value) == 0;
        }
        if (!found)
            return 0;
    }
    return 1;
}

int cri_id_match(const char *filter, const char *id) {
    return !filter || !*filter || strncmp(id, filter, strlen(filter)) == 0;
}

void *cri_info_entry(struct arena *a, const ProtobufCMessageDescriptor *desc, const char *json) {
    struct kv_entry **out = arena_array(a, 2, sizeof(*out));
    out[0] = arena_alloc(a, desc->sizeof_message);
    protobuf_c_message_init(desc, out[0]);
    out[0]->key = "info";
    out[0]->value = (char *)json;
    return out;
}
