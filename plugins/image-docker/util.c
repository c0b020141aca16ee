/* SPDX-License-Identifier: Apache-2.0 */
/* image-docker: errors, digests and media types shared by the other files. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "docker.h"

int dk_error(const struct cleat_host *host, struct cleat_error **reterr, int32_t status, int errnum, const char *fmt,
             ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = cleat_error_vset(host, reterr, status, errnum, fmt, ap);
    va_end(ap);
    return r;
}

int dk_oom(const struct cleat_host *host, struct cleat_error **reterr) {
    return dk_error(host, reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
}

int dk_is_manifest_type(const char *mt) {
    static const char *const types[] = {DK_MT_DOCKER_MANIFEST, DK_MT_DOCKER_LIST, DK_MT_OCI_MANIFEST, DK_MT_OCI_INDEX};
    if (!mt)
        return 0;
    size_t len = strcspn(mt, "; \t");
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strlen(types[i]) == len && strncasecmp(mt, types[i], len) == 0)
            return 1;
    return 0;
}

char *dk_sha256_digest(const void *data, size_t len) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
        return NULL;
    char *out = malloc(sizeof("sha256:") + 2 * mdlen);
    if (!out)
        return NULL;
    char *p = stpcpy(out, "sha256:");
    for (unsigned int i = 0; i < mdlen; i++)
        p += sprintf(p, "%02x", md[i]);
    return out;
}

void dk_buf_done(struct dk_buf *b) {
    free(b->data);
    *b = (struct dk_buf){0};
}
