/* SPDX-License-Identifier: Apache-2.0 */
#include "proto_maps.h"

#include <stdlib.h>

struct kv_entry **kv_entries(const ProtobufCMessageDescriptor *desc, void *const *src, size_t n) {
    struct kv_entry **out = calloc(1, n * (sizeof(*out) + sizeof(**out)) + 1);
    if (!out)
        return NULL;
    struct kv_entry *items = (struct kv_entry *)(out + n);
    for (size_t i = 0; i < n; i++) {
        const struct kv_entry *s = src[i];
        protobuf_c_message_init(desc, &items[i]);
        items[i].key = s->key;
        items[i].value = s->value;
        out[i] = &items[i];
    }
    return out;
}

const char **kv_flatten(void *const *src, size_t n) {
    const char **out = calloc(2 * n + 1, sizeof(*out));
    for (size_t i = 0; out && i < n; i++) {
        const struct kv_entry *s = src[i];
        out[2 * i] = s->key;
        out[2 * i + 1] = s->value;
    }
    return out;
}
