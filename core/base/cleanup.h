/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scope-bound cleanup for the core (GCC and clang's cleanup attribute):
 * a variable declared `_cleanup_free_ char *s = NULL;` is freed when it goes
 * out of scope, on every return path; TAKE_PTR / TAKE_FD hand it on
 * instead.  Each helper is NULL- (or -1-) safe and resets the variable, so
 * running it twice does nothing.  Type-specific cleanups (a JSON value, an
 * LMDB transaction) stay next to the code of their type and follow the
 * same shape.
 */
#ifndef CLEAT_CORE_CLEANUP_H
#define CLEAT_CORE_CLEANUP_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void freep(void *p) {
    free(*(void **)p);
    *(void **)p = NULL;
}

static inline void closep(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static inline void closedirp(DIR **d) {
    if (*d)
        closedir(*d);
    *d = NULL;
}

static inline void fclosep(FILE **f) {
    if (*f)
        fclose(*f);
    *f = NULL;
}

#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))
#define _cleanup_dir_ __attribute__((cleanup(closedirp)))
#define _cleanup_file_ __attribute__((cleanup(fclosep)))

/* The pointer's value, leaving NULL behind (so that its cleanup does nothing). */
#define TAKE_PTR(p)                                                                                                    \
    __extension__({                                                                                                    \
        __typeof__(p) take_ptr_ = (p);                                                                                 \
        (p) = NULL;                                                                                                    \
        take_ptr_;                                                                                                     \
    })

/* The descriptor, leaving -1 behind. */
#define TAKE_FD(fd)                                                                                                    \
    __extension__({                                                                                                    \
        int take_fd_ = (fd);                                                                                           \
        (fd) = -1;                                                                                                     \
        take_fd_;                                                                                                      \
    })

#endif
