/* SPDX-License-Identifier: Apache-2.0 */
#include "ids.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "error.h"

int id_generate(char ret_id[ID_HEX_LEN + 1], struct cleat_error **reterr) {
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[ID_HEX_LEN / 2];
    size_t got = 0;

    /* Blocks only until the kernel's pool is first initialised, early at boot. */
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return error_set(reterr, CLEAT_STATUS_INTERNAL, errno, "generating a random ID: getrandom: %s",
                             strerror(errno));
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        ret_id[2 * i] = hex[raw[i] >> 4];
        ret_id[2 * i + 1] = hex[raw[i] & 0xf];
    }
    ret_id[ID_HEX_LEN] = '\0';
    return 0;
}

/* Length of the run of lowercase hex at the start of s, stopping after max+1. */
static size_t hex_span(const char *s, size_t max) {
    size_t n = 0;
    while (n <= max && ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
        n++;
    return n;
}

int id_is_valid(const char *id) {
    return id && hex_span(id, ID_HEX_LEN) == ID_HEX_LEN && id[ID_HEX_LEN] == '\0';
}

int id_is_valid_prefix(const char *p) {
    size_t n = p ? hex_span(p, ID_HEX_LEN) : 0;
    return n >= 1 && n <= ID_HEX_LEN && p[n] == '\0';
}

char *id_sandbox_name_key(const char *name, const char *ns, const char *uid, uint32_t attempt) {
    char *key = NULL;
    if (asprintf(&key, "%s_%s_%s_%" PRIu32, name ? name : "", ns ? ns : "", uid ? uid : "", attempt) < 0)
        return NULL;
    return key;
}

char *id_container_name_key(const char *cname, uint32_t cattempt, const char *pod_name, const char *pod_ns,
                            const char *pod_uid) {
    char *key = NULL;
    if (asprintf(&key, "%s_%s_%s_%s_%" PRIu32, cname ? cname : "", pod_name ? pod_name : "", pod_ns ? pod_ns : "",
                 pod_uid ? pod_uid : "", cattempt) < 0)
        return NULL;
    return key;
}
