/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "config_tree.h"
#include "spec.h"
#include "testutil.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void rm_rf(const char *path) {
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        fail_msg("cannot remove %s: %s", path, strerror(errno));
}

void expect_error(int r, struct cleat_error **err, int32_t status, const char *needle) {
    assert_true(r < 0);
    assert_non_null(*err);
    if (error_status(*err) != status || !strstr(error_message(*err), needle))
        fail_msg("expected %s with '%s', got %s: %s", error_status_name(status), needle,
                 error_status_name(error_status(*err)), error_message(*err));
    error_free(*err);
    *err = NULL;
}

void check(int r, struct cleat_error *err) {
    if (r < 0)
        fail_msg("unexpected failure %d: %s", r, err ? error_message(err) : "(no error)");
}

struct config *config_over_defaults(const char *yaml) {
    /* Unit tests load only the plugins they name: the default runc handler and network are dropped unless they
     * add them back. */
    static const char base_yaml[] = "runtime: {handlers: null}\nnetwork: null\n";
    struct cleat_config *tree = NULL, *defaults = NULL, *base = NULL;
    struct cleat_error *err = NULL;
    struct config *cfg = NULL;
    if (config_tree_parse_string("test.yaml", yaml, strlen(yaml), &tree, &err) < 0 ||
        config_tree_parse_string("test-base.yaml", base_yaml, strlen(base_yaml), &base, &err) < 0)
        fail_msg("parse: %s", error_message(err));
    if (config_tree_parse_string(CONFIG_DEFAULTS_NAME, cleat_default_config, cleat_default_config_len, &defaults,
                                 &err) < 0 ||
        config_tree_merge(defaults, base, &err) < 0 || config_tree_merge(defaults, tree, &err) < 0)
        fail_msg("defaults: %s", error_message(err));
    if (config_from_tree(defaults, &cfg, &err) < 0)
        fail_msg("config: %s", error_message(err));
    return cfg;
}

/* dir/name into path, failing the test if it does not fit. */
static void join(char *path, size_t size, const char *dir, const char *name) {
    assert_true(snprintf(path, size, "%s/%s", dir, name) < (int)size);
}

void write_text(const char *dir, const char *name, const char *text) {
    char path[PATH_MAX];
    join(path, sizeof(path), dir, name);
    FILE *fp = fopen(path, "we");
    if (!fp)
        fail_msg("%s: %s", path, strerror(errno));
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

void expect_text(const char *dir, const char *name, const char *text) {
    char path[PATH_MAX], buf[256] = "";
    join(path, sizeof(path), dir, name);
    FILE *fp = fopen(path, "re");
    if (!fp)
        fail_msg("%s: %s", path, strerror(errno));
    assert_non_null(fgets(buf, sizeof(buf), fp));
    fclose(fp);
    assert_string_equal(buf, text);
}

void temp_dir(char *out, size_t size, const char *prefix) {
    char tmpl[PATH_MAX], real[PATH_MAX];
    assert_true(snprintf(tmpl, sizeof(tmpl), "/tmp/%s-XXXXXX", prefix) < (int)sizeof(tmpl));
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, real));
    assert_true(strlen(real) < size);
    strcpy(out, real);
}

int watch_opens(const char *path) {
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    assert_true(in >= 0);
    if (inotify_add_watch(in, path, IN_OPEN | IN_DONT_FOLLOW) < 0)
        fail_msg("inotify %s: %s", path, strerror(errno));
    return in;
}

int opens_seen(int watch) {
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int n = 0;
    ssize_t len;
    while ((len = read(watch, buf, sizeof(buf))) > 0)
        for (char *p = buf; p < buf + len; p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len)
            n += (((struct inotify_event *)p)->mask & IN_OPEN) != 0;
    close(watch);
    return n;
}

json_t *spec_built(const struct spec_input *in) {
    char *s = NULL;
    struct cleat_error *err = NULL;
    int r = spec_build(in, &s, &err);
    check(r, err);
    json_t *j = json_loads(s, 0, NULL);
    free(s);
    assert_non_null(j);
    return j;
}

void spec_refused(const struct spec_input *in, int32_t status, const char *needle) {
    char *s = NULL;
    struct cleat_error *err = NULL;
    int r = spec_build(in, &s, &err);
    expect_error(r, &err, status, needle);
    assert_null(s);
}

void run_cmd(const char *fmt, ...) {
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    assert_true(vasprintf(&cmd, fmt, ap) > 0);
    va_end(ap);
    if (system(cmd) != 0)
        fail_msg("command failed: %s", cmd);
    free(cmd);
}

int pid_alive(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "re");
    if (!fp)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *s = strrchr(buf, ')');
    return s && s[1] == ' ' && s[2] != 'Z';
}
