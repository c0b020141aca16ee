/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-kata: what the instance options give the shim (the Create options, the annotations passed on). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kata.h"

/* Kata's options message (runtimeoptions.v1.Options): 1 type_url, 2 config_path; only config_path is sent. */
#define KATA_TYPE_RUNTIME_OPTIONS "runtimeoptions.v1.Options"

/* A length-delimited field (wire type 2) in protobuf's encoding: the one thing Kata's options need. */
static size_t put_string_field(uint8_t *out, uint32_t field, const char *s) {
    size_t n = 0, len = strlen(s);
    out[n++] = (uint8_t)((field << 3) | 2);
    for (size_t v = len;; v >>= 7) {
        out[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    memcpy(out + n, s, len);
    return n + len;
}

static Shimv2__Any *any_new(const char *type_url, uint8_t *data, size_t len) {
    Shimv2__Any *any = calloc(1, sizeof(*any));
    if (!any)
        return NULL;
    shimv2__any__init(any);
    any->type_url = strdup(type_url);
    any->value.data = data;
    any->value.len = len;
    if (!any->type_url) {
        free(any);
        return NULL;
    }
    return any;
}

void kata_any_free(Shimv2__Any *any) {
    if (!any)
        return;
    free(any->type_url);
    free(any->value.data);
    free(any);
}

int kata_task_options(struct kata *k, Shimv2__Any **ret) {
    *ret = NULL;
    if (k->config_path) {
        uint8_t *buf = malloc(strlen(k->config_path) + 16);
        if (!buf)
            return -ENOMEM;
        size_t len = put_string_field(buf, 2, k->config_path);
        if (!(*ret = any_new(KATA_TYPE_RUNTIME_OPTIONS, buf, len))) {
            free(buf);
            return -ENOMEM;
        }
        return 0;
    }
    if (!k->binary_name && !k->root && !k->systemd_cgroup)
        return 0; /* the shim's defaults: send no options at all, as containerd does */
    Shimv2__RuncOptions o = SHIMV2__RUNC_OPTIONS__INIT;
    o.binary_name = k->binary_name ? k->binary_name : (char *)"";
    o.root = k->root ? k->root : (char *)"";
    o.systemd_cgroup = k->systemd_cgroup;
    size_t len = shimv2__runc_options__get_packed_size(&o);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    shimv2__runc_options__pack(&o, buf);
    if (!(*ret = any_new(SHIM_TYPE_RUNC_OPTIONS, buf, len))) {
        free(buf);
        return -ENOMEM;
    }
    return 0;
}

int kata_annotation_passes(const struct kata *k, const char *key) {
    for (char **p = k->annotation_prefixes; p && *p; p++) {
        size_t n = strlen(*p);
        if (n && (*p)[n - 1] == '*' ? strncmp(key, *p, n - 1) == 0 : strcmp(key, *p) == 0)
            return 1;
    }
    return 0;
}
