/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_error.h"
#include "shim_call.h"
#include "ttrpc_wire.h"

int shim_call(struct ttrpc_client *c, const char *method, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *resp_desc, int timeout_ms, ProtobufCMessage **ret_resp,
              struct cleat_error **reterr) {
    const struct cleat_host *host = ttrpc_host(c);
    size_t len = protobuf_c_message_get_packed_size(req);
    if (len > TTRPC_MESSAGE_MAX) /* refused before anything is allocated for it */
        return cleat_error_set(host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, EMSGSIZE,
                               "%s: a request of %zu bytes is more than the ttrpc limit of %u", method, len,
                               TTRPC_MESSAGE_MAX);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return plugin_oom(host, reterr);
    protobuf_c_message_pack(req, buf);
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    int r = ttrpc_call(c, SHIM_TASK_SERVICE, method, buf, len, timeout_ms, &resp, &resp_len, reterr);
    free(buf);
    if (r < 0)
        return r;
    if (ret_resp) {
        ProtobufCMessage *m = protobuf_c_message_unpack(resp_desc, NULL, resp_len, resp);
        if (!m)
            r = cleat_error_set(host, reterr, CLEAT_STATUS_INTERNAL, EPROTO,
                                "%s: shim at %s answered with something that is not a %s", method, ttrpc_address(c),
                                resp_desc->name);
        else
            *ret_resp = m;
    }
    free(resp);
    return r;
}

int shim_type_is(const char *type_url, const char *name) {
    if (!type_url || !name)
        return 0;
    size_t tl = strlen(type_url), nl = strlen(name);
    if (tl < nl || strcmp(type_url + tl - nl, name) != 0)
        return 0;
    return tl == nl || type_url[tl - nl - 1] == '/'; /* exact, or after a host part */
}

int64_t shim_timestamp_ns(const Shimv2__Timestamp *ts) {
    return ts ? ts->seconds * 1000000000 + ts->nanos : 0;
}
