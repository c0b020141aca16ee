/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the fuzz targets (fuzz_<name>.c): the libFuzzer entry point,
 * invariant checks that abort (so libFuzzer, and the plain driver, report
 * the input), and helpers for targets that parse text.
 */
#ifndef CLEAT_FUZZ_H
#define CLEAT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cleat_host;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a finding: say which and abort (libFuzzer then saves the input). */
#define FUZZ_CHECK(cond)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz invariant broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__);                         \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* The input as a NUL-terminated string, malloc'd; NULL when it holds a NUL (not text) or memory ran out. */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    if (memchr(data, '\0', size))
        return NULL;
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

/* Two strings (either may be NULL) are equal. */
static inline int fuzz_streq(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/*
 * The daemon's real host table (plugin_host.c) for plugin code compiled into
 * a target (fuzz_host.c), with logging below errors off.  Made once.
 */
const struct cleat_host *fuzz_host(void);

#endif
