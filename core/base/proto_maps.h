/* SPDX-License-Identifier: Apache-2.0 */
/*
 * protobuf-c's map<string, string> fields (labels, annotations) as the core
 * handles them.  Every entry of such a map has the layout of kv_entry,
 * whatever message it belongs to.
 */
#ifndef CLEAT_CORE_PROTO_MAPS_H
#define CLEAT_CORE_PROTO_MAPS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct kv_entry {
    ProtobufCMessage base;
    char *key, *value;
};

/*
 * Entries of `desc` borrowing src's strings, in one malloc'd block (free()
 * it), for a record that is packed before src goes.  NULL on OOM.
 */
struct kv_entry **kv_entries(const ProtobufCMessageDescriptor *desc, void *const *src, size_t n);
/* The "key, value, ..., NULL" array of the plugin SDK (free() it; the strings are src's).  NULL on OOM. */
const char **kv_flatten(void *const *src, size_t n);

#endif
