/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A token server's JSON answer (image-docker's dk_token_parse, compiled in),
 * whose token becomes an Authorization header line.
 *
 * Invariants: an accepted answer gives "Bearer <token>" with the answer's
 * token (or access_token) and nothing that could end the header line, and
 * a lifetime > 0.
 */
#include <errno.h>

#include "docker.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *header = NULL;
    double lifetime = 0;
    int r = dk_token_parse((const char *)data, size, &header, &lifetime);
    FUZZ_CHECK(r == 0 || r == -EBADMSG);
    if (r == 0) {
        FUZZ_CHECK(strncmp(header, "Bearer ", 7) == 0 && header[7] && !strpbrk(header, "\r\n"));
        FUZZ_CHECK(lifetime > 0);
        free(header);
    }
    return 0;
}
