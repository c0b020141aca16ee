/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the CRI handlers to build responses in the call's arena. */
#ifndef CLEAT_CORE_CRI_CONVERT_H
#define CLEAT_CORE_CRI_CONVERT_H

#include <protobuf-c/protobuf-c.h>

#include "arena.h"

/* A deep copy of msg (or of packed bytes of type desc) living in the arena; NULL if the bytes do not parse. */
ProtobufCMessage *cri_msg_to_arena(struct arena *a, const ProtobufCMessage *msg);
ProtobufCMessage *cri_unpack_to_arena(struct arena *a, const ProtobufCMessageDescriptor *desc, size_t len,
                                      const uint8_t *data);

/*
 * map<string, string> entries of type `desc` copied from entries of any
 * map<string, string> type (they share one layout); *ret_n is set.
 */
void *cri_map_copy(struct arena *a, const ProtobufCMessageDescriptor *desc, void *const *src, size_t n, size_t *ret_n);

/* Non-zero when every key=value of `selector` is among `labels` (both map<string, string> entries). */
int cri_labels_match(void *const *selector, size_t n_selector, void *const *labels, size_t n_labels);

/* Non-zero when id matches the filter id: empty, equal, or a prefix (as crictl passes truncated IDs). */
int cri_id_match(const char *filter, const char *id);

/* A single "info" map entry of type desc, value = json. */
void *cri_info_entry(struct arena *a, const ProtobufCMessageDescriptor *desc, const char *json);

#endif
