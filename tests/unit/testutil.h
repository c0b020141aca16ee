/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the unit tests (linked into each of them). Include after <cmocka.h>. */
#ifndef CLEAT_TESTUTIL_H
#define CLEAT_TESTUTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "error.h"

/* Remove a directory tree (not following symlinks); an absent path is fine, anything else fails the test. */
void rm_rf(const char *path);
/* Assert r failed with `status` and a message containing `needle`; frees and clears *err. */
void expect_error(int r, struct cleat_error **err, int32_t status, const char *needle);
/* Fail the test with the error's message if r < 0. */
void check(int r, struct cleat_error *err);
/* OK(call): run a call that sets `err` (in scope) and fail with its message: the call is made before err is read. */
#define OK(call)                                                                                                       \
    do {                                                                                                               \
        int r_ = (call);                                                                                               \
        check(r_, err);                                                                                                \
    } while (0)

/* Run a shell command made from fmt; fail the test, naming it, if it does not exit 0. */
void run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 while `pid` runs; a zombie does not count (PID 1 here does not reap orphans). */
int pid_alive(pid_t pid);

/* Write `text` to dir/name (created or truncated). */
void write_text(const char *dir, const char *name, const char *text);
/* Assert the first line of dir/name (newline included) equals `text`. */
void expect_text(const char *dir, const char *name, const char *text);
/* Make a fresh directory /tmp/<prefix>-XXXXXX and store its real path (no symlinks) in out. */
void temp_dir(char *out, size_t size, const char *prefix);

/* An inotify fd watching `path` (its last component not followed) for opens: IN_OPEN fires for every
 * real open, never for an O_PATH one.  opens_seen() counts them and closes the watch. */
int watch_opens(const char *path);
int opens_seen(int watch);
struct spec_input;
/* spec_build's config.json, parsed; fails the test on any error. */
json_t *spec_built(const struct spec_input *in);
/* spec_build must fail with `status` and a message containing `needle`, and return no text. */
void spec_refused(const struct spec_input *in, int32_t status, const char *needle);

struct config;
/*
 * cleatd's config as it would load `yaml` (named "test.yaml" in locations)
 * on top of the embedded defaults; fails the test on any error.
 */
struct config *config_over_defaults(const char *yaml);

#endif
