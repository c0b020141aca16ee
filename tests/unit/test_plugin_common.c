/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugins' shared helpers (plugins/common): children that see only the
 * fds they are given, output capture and timeouts, pidfds, mkdir -p and
 * small-file reading at their edges, atomic replacement, errors and options,
 * and the client of cleat-shim's control socket.
 *
 * A child's fds are listed by this very binary, run again as
 * `test_plugin_common list-fds`: it prints every fd it has open, so the list
 * holds no fd of a shell or of ls itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_tree.h"
#include "plugin_loader.h"
#include "testutil.h"

#include "plugin_clock.h"
#include "plugin_config.h"
#include "plugin_error.h"
#include "plugin_fs.h"
#include "plugin_pidfd.h"
#include "plugin_shim_control.h"
#include "plugin_snaps.h"
#include "plugin_spawn.h"
#include "plugin_strv.h"

#define FD_SCAN_MAX 4096

/* The child side of the fd tests: "0 1 2" and whatever else is open. */
static int list_fds(void) {
    for (int fd = 0, first = 1; fd < FD_SCAN_MAX; fd++)
        if (fcntl(fd, F_GETFD) >= 0) {
            printf("%s%d", first ? "" : " ", fd);
            first = 0;
        }
    printf("\n");
    return 0;
}

static char self[4096];

static const char *const list_argv[] = {self, "list-fds", NULL};

struct dir {
    char path[4096];
};

static int setup(void **state) {
    struct dir *d = calloc(1, sizeof(*d));
    temp_dir(d->path, sizeof(d->path), "cleat-plugin-common");
    *state = d;
    return 0;
}

static int teardown(void **state) {
    struct dir *d = *state;
    rm_rf(d->path);
    free(d);
    return 0;
}

static void in_dir(const struct dir *d, const char *rel, char *out, size_t size) {
    snprintf(out, size, "%s/%s", d->path, rel);
}

/* --- spawning ------------------------------------------------------------- */

static void test_child_sees_only_stdio(void **state) {
    (void)state;
    /* Leaks a child must not inherit: one fd without close-on-exec (as libcurl's sockets), one with. */
    int leak = open("/dev/null", O_RDONLY);
    assert_true(leak >= 0);
    assert_int_equal(dup2(leak, 77), 77);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct plugin_run run = {.argv = list_argv, .timeout_ms = 10000, .stdout_max = 4096, .stderr_max = 4096};
    struct plugin_output o;
    assert_int_equal(plugin_run(&run, -1, &o), 0);
    assert_int_equal(o.exit_status, 0);
    assert_string_equal(o.out, "0 1 2\n");
    plugin_output_done(&o);
    close(77);
    close(leak);
    close(p[0]);
    close(p[1]);
}

/* A stdio slot may be given one of our own fds 0..2: each slot must still get the fd it was given. */
static void test_spawn_low_fds_cross(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    int saved = fcntl(0, F_DUPFD_CLOEXEC, 3);
    assert_true(saved >= 0);
    assert_int_equal(dup2(p[1], 0), 0); /* our stdin is now the pipe's write end */
    pid_t pid = 0;
    int r = plugin_spawn(list_argv, NULL, (const int[3]){-1, 0, -1}, 0, &pid);
    assert_int_equal(dup2(saved, 0), 0);
    close(saved);
    close(p[1]);
    assert_int_equal(r, 0);
    char buf[256] = "";
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(n > 0);
    assert_string_equal(buf, "0 1 2\n");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A containerd shim v2's `start` reads config.json from its working directory: run->cwd must reach the child. */
static void test_run_in_cwd(void **state) {
    (void)state;
    const char *const argv[] = {"/bin/sh", "-c", "pwd", NULL};
    struct plugin_run run = {.argv = argv, .timeout_ms = 10000, .stdout_max = 100, .stderr_max = 100, .cwd = "/proc"};
    struct plugin_output o;
    assert_int_equal(plugin_run(&run, -1, &o), 0);
    assert_int_equal(o.exit_status, 0);
    assert_string_equal(o.out, "/proc\n");
    plugin_output_done(&o);
    run.cwd = "/nonexistent-cleat-dir";
    assert_int_equal(plugin_run(&run, -1, &o), -ENOENT);
}

static void test_run_captures_both_streams(void **state) {
    (void)state;
    const char *const argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    struct plugin_run run = {.argv = argv, .timeout_ms = 10000, .stdout_max = 100, .stderr_max = 100};
    struct plugin_output o;
    assert_int_equal(plugin_run(&run, -1, &o), 0);
    assert_int_equal(o.exit_status, 3);
    assert_false(o.timed_out);
    assert_string_equal(o.out, "out\n");
    assert_int_equal(o.out_len, 4);
    assert_string_equal(o.err, "err\n");
    plugin_output_done(&o);
    plugin_output_done(&o); /* twice: nothing left */
    assert_null(o.out);
}

static void test_run_uncaptured_and_silent(void **state) {
    (void)state;
    const char *const argv[] = {"/bin/sh", "-c", "echo dropped; exit 0", NULL};
    struct plugin_run run = {.argv = argv, .timeout_ms = 10000, .stderr_max = 100};
    struct plugin_output o;
    assert_int_equal(plugin_run(&run, -1, &o), 0);
    assert_null(o.out);             /* not asked for */
    assert_string_equal(o.err, ""); /* asked for, nothing written */
    plugin_output_done(&o);
}

/* Past the cap, output is read and dropped: the child is never stuck on a full pipe. */
static void test_run_output_capped(void **state) {
    (void)state;
    const char *const argv[] = {"/bin/sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x", NULL};
    struct plugin_run run = {.argv = argv, .timeout_ms = 20000, .stdout_max = 10, .stderr_max = 100};
    struct plugin_output o;
    assert_int_equal(plugin_run(&run, -1, &o), 0);
    assert_false(o.timed_out);
    assert_int_equal(o.exit_status, 0);
    assert_string_equal(o.out, "xxxxxxxxxx");
    plugin_output_done(&o);
}

static void test_run_stdin(void **state) {
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    fputs("to the child\n", f);
    fflush(f);
    rewind(f);
    const char *const argv[] = {"/bin/cat", NULL};
    struct plugin_run run = {.argv = argv, .timeout_ms = 10000, .stdout_max = 100, .stderr_max = 100};
    struct plugin_output o;
    assert_int_equal(plugin_run(&run, fileno(f), &o), 0);
    fclose(f);
    assert_string_equal(o.out, "to the child\n");
    plugin_output_done(&o);
}

static void test_run_timeout_kills(void **state) {
    (void)state;
    const char *const argv[] = {"/bin/sleep", "30", NULL};
    struct plugin_run run = {.argv = argv, .timeout_ms = 200, .stdout_max = 100, .stderr_max = 100};
    struct plugin_output o;
    assert_int_equal(plugin_run(&run, -1, &o), 0);
    assert_true(o.timed_out);
    assert_int_equal(o.exit_status, 128 + SIGKILL);
    plugin_output_done(&o);
}

/* What a process is: its /proc state letter ('Z' for a zombie), or 0 when it is gone. */
static char proc_state(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' ? paren[2] : 0;
}

/* With PGROUP, a timeout kills what the child started too (a CNI plugin's IPAM delegate). */
static void test_run_timeout_kills_group(void **state) {
    (void)state;
    const char *const argv[] = {"/bin/sh", "-c", "sleep 30 & echo $!; wait", NULL};
    struct plugin_run run = {
        .argv = argv, .flags = PLUGIN_SPAWN_PGROUP, .timeout_ms = 500, .stdout_max = 100, .stderr_max = 100};
    struct plugin_output o;
    assert_int_equal(plugin_run(&run, -1, &o), 0);
    assert_true(o.timed_out);
    pid_t grandchild = (pid_t)atoi(o.out);
    assert_true(grandchild > 0);
    /* Killed: gone, or a zombie (PID 1 here may not reap orphans). */
    for (int i = 0; i < 100 && proc_state(grandchild) != 0 && proc_state(grandchild) != 'Z'; i++)
        plugin_sleep_ms(20);
    char st = proc_state(grandchild);
    assert_true(st == 0 || st == 'Z');
    plugin_output_done(&o);
}

/* After the child's exit only what the pipes hold is read: a grandchild keeping them open does not hold us. */
static void test_run_returns_when_child_exits(void **state) {
    (void)state;
    const char *const argv[] = {"/bin/sh", "-c", "sleep 30 & echo $!", NULL};
    struct plugin_run run = {.argv = argv, .timeout_ms = 10000, .stdout_max = 100, .stderr_max = 100};
    struct plugin_output o;
    assert_int_equal(plugin_run(&run, -1, &o), 0);
    assert_false(o.timed_out);
    assert_int_equal(o.exit_status, 0);
    pid_t grandchild = (pid_t)atoi(o.out);
    assert_true(grandchild > 0);
    kill(grandchild, SIGKILL);
    plugin_output_done(&o);
}

static void test_run_missing_program(void **state) {
    (void)state;
    const char *const argv[] = {"/nonexistent/program", NULL};
    struct plugin_run run = {.argv = argv, .timeout_ms = 1000, .stdout_max = 100, .stderr_max = 100};
    struct plugin_output o;
    assert_int_equal(plugin_run(&run, -1, &o), -ENOENT);
    assert_null(o.out);
    assert_null(o.err);
}

/* --- pidfds --------------------------------------------------------------- */

static void test_pidfd_reap(void **state) {
    (void)state;
    const char *const argv[] = {"/bin/sleep", "30", NULL};
    pid_t pid = 0;
    assert_int_equal(plugin_spawn(argv, NULL, (const int[3]){-1, -1, -1}, 0, &pid), 0);
    int pidfd = plugin_pidfd_open(pid);
    assert_true(pidfd >= 0);
    int status = -1;
    assert_int_equal(plugin_pidfd_reap(pidfd, 1, &status), 0); /* still running */
    assert_int_equal(plugin_pidfd_wait(pidfd, 0), 0);
    assert_int_equal(plugin_pidfd_signal(pidfd, 0), 0);
    assert_int_equal(plugin_pidfd_signal(pidfd, SIGTERM), 0);
    assert_int_equal(plugin_pidfd_wait(pidfd, 10000), 1);
    assert_int_equal(plugin_pidfd_reap(pidfd, 0, &status), 1);
    assert_int_equal(status, 128 + SIGTERM);
    assert_int_equal(plugin_pidfd_reap(pidfd, 0, &status), -ECHILD); /* reaped already */
    close(pidfd);
}

/* --- mkdir -p ------------------------------------------------------------- */

static void test_mkdir_p_creates_and_repeats(void **state) {
    struct dir *d = *state;
    char path[4200];
    struct stat st;
    in_dir(d, "a/b/c", path, sizeof(path));
    mode_t old = umask(0);
    assert_int_equal(plugin_mkdir_p(path, 0750), 0);
    umask(old);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(plugin_mkdir_p(path, 0750), 0); /* twice: nothing to do */
    in_dir(d, "a//b/./c2/", path, sizeof(path));     /* doubled slashes, ".", a trailing slash */
    assert_int_equal(plugin_mkdir_p(path, 0700), 0);
    in_dir(d, "a/b/c2", path, sizeof(path));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(plugin_mkdir_p("/", 0700), 0);
}

static void test_mkdir_p_refuses_files(void **state) {
    struct dir *d = *state;
    char path[4200];
    write_text(d->path, "file", "x\n");
    in_dir(d, "file", path, sizeof(path));
    assert_int_equal(plugin_mkdir_p(path, 0700), -ENOTDIR); /* the path itself is a file */
    in_dir(d, "file/sub", path, sizeof(path));
    assert_int_equal(plugin_mkdir_p(path, 0700), -ENOTDIR); /* a parent is */
    assert_int_equal(plugin_mkdir_p("", 0700), -EINVAL);
}

static void test_mkdir_p_symlinks(void **state) {
    struct dir *d = *state;
    char path[4200], target[4200];
    in_dir(d, "real", target, sizeof(target));
    assert_int_equal(mkdir(target, 0700), 0);
    in_dir(d, "link", path, sizeof(path));
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(plugin_mkdir_p(path, 0700), 0); /* a link to a directory is one */
    in_dir(d, "link/inside", path, sizeof(path));
    assert_int_equal(plugin_mkdir_p(path, 0700), 0);
    in_dir(d, "real/inside", path, sizeof(path));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    in_dir(d, "dangling", path, sizeof(path));
    assert_int_equal(symlink("/nonexistent/cleat", path), 0);
    assert_int_equal(plugin_mkdir_p(path, 0700), -ENOENT);
}

/* --- reading and writing files -------------------------------------------- */

static void test_read_file_sizes(void **state) {
    struct dir *d = *state;
    char path[4200], *text = NULL;
    size_t len = 0;
    write_text(d->path, "ten", "123456789\n");
    in_dir(d, "ten", path, sizeof(path));
    assert_int_equal(plugin_read_file(path, 10, &text, &len), 0); /* exactly max */
    assert_string_equal(text, "123456789\n");
    assert_int_equal(len, 10);
    free(text);
    text = NULL;
    assert_int_equal(plugin_read_file(path, 9, &text, &len), -EFBIG);
    assert_null(text);
    write_text(d->path, "empty", "");
    in_dir(d, "empty", path, sizeof(path));
    assert_int_equal(plugin_read_file(path, 0, &text, NULL), 0);
    assert_string_equal(text, "");
    free(text);
}

/* Files whose size the kernel does not report are read to their end. */
static void test_read_file_proc(void **state) {
    (void)state;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(plugin_read_file("/proc/self/status", 1 << 20, &text, &len), 0);
    assert_non_null(strstr(text, "Pid:"));
    assert_int_equal(strlen(text), len);
    free(text);
    assert_int_equal(plugin_read_file("/proc/self/status", 16, &text, &len), -EFBIG);
}

/* Never a FIFO or a directory, and never an open (that would wait for a writer) to find out. */
static void test_read_file_refuses_special(void **state) {
    struct dir *d = *state;
    char path[4200], *text = NULL;
    in_dir(d, "fifo", path, sizeof(path));
    assert_int_equal(mkfifo(path, 0600), 0);
    int watch = watch_opens(path);
    assert_int_equal(plugin_read_file(path, 100, &text, NULL), -EINVAL);
    assert_int_equal(opens_seen(watch), 0);
    assert_int_equal(plugin_read_file(d->path, 100, &text, NULL), -EISDIR);
    in_dir(d, "missing", path, sizeof(path));
    assert_int_equal(plugin_read_file(path, 100, &text, NULL), -ENOENT);
    assert_null(text);
}

static void test_write_atomic(void **state) {
    struct dir *d = *state;
    char *text = NULL;
    char **names = NULL;
    int dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    assert_int_equal(plugin_write_atomic(dfd, ".meta.tmp", "meta", "one\n", 4), 0);
    assert_int_equal(plugin_write_atomic(dfd, ".meta.tmp", "meta", "two\n", 4), 0); /* replaced */
    assert_int_equal(plugin_fsync_dir(dfd, "."), 0);
    expect_text(d->path, "meta", "two\n");
    /* Nothing can be renamed over a non-empty directory: the old content stays, the temp file goes. */
    assert_int_equal(mkdirat(dfd, "busy", 0700), 0);
    assert_int_equal(mkdirat(dfd, "busy/x", 0700), 0);
    assert_true(plugin_write_atomic(dfd, ".busy.tmp", "busy", "three\n", 6) < 0);
    assert_int_equal(plugin_list_dir(dfd, ".", &names), 0);
    assert_int_equal(plugin_strv_len((const char *const *)names), 2); /* meta and busy */
    for (size_t i = 0; names[i]; i++)
        assert_true(strcmp(names[i], "meta") == 0 || strcmp(names[i], "busy") == 0);
    plugin_strv_free(names);
    assert_int_equal(plugin_list_dir(dfd, "meta", &names), -ENOTDIR);
    close(dfd);
    char path[4200];
    in_dir(d, "plain", path, sizeof(path));
    assert_int_equal(plugin_write_file(path, "plain\n"), 0);
    assert_int_equal(plugin_read_file(path, 100, &text, NULL), 0);
    assert_string_equal(text, "plain\n");
    free(text);
    in_dir(d, "link", path, sizeof(path));
    assert_int_equal(symlink("plain", path), 0);
    assert_int_equal(plugin_write_file(path, "through a link\n"), -ELOOP);
    /* A new file only: whatever is there (a file, a link) stays as it was. */
    int root = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(root >= 0);
    assert_int_equal(plugin_write_new_at(root, "new", "first\n"), 0);
    assert_int_equal(plugin_write_new_at(root, "new", "second\n"), -EEXIST);
    assert_int_equal(plugin_write_new_at(root, "link", "through a link\n"), -EEXIST);
    in_dir(d, "new", path, sizeof(path));
    assert_int_equal(plugin_read_file(path, 100, &text, NULL), 0);
    assert_string_equal(text, "first\n");
    free(text);
    close(root);
}

/* --- strings, clocks ------------------------------------------------------ */

static void test_strv(void **state) {
    (void)state;
    char **empty = plugin_strv_dup(NULL);
    assert_non_null(empty);
    assert_null(empty[0]);
    plugin_strv_free(empty);
    plugin_strv_free(NULL);
    const char *const v[] = {"a", "bc", NULL};
    char **copy = plugin_strv_dup(v);
    assert_int_equal(plugin_strv_len((const char *const *)copy), 2);
    assert_string_equal(copy[1], "bc");
    assert_ptr_not_equal(copy[1], v[1]);
    plugin_strv_free(copy);
    char **built = calloc(3, sizeof(char *));
    built[0] = strdup("x");
    built[1] = strdup("y");
    assert_ptr_equal(plugin_strv_checked(built, 2), built);
    plugin_strv_free(built);
    char **holed = calloc(4, sizeof(char *));
    holed[0] = strdup("x");
    holed[2] = strdup("z"); /* holed[1]: a strdup that failed; z must be freed too (the leak check says) */
    assert_null(plugin_strv_checked(holed, 3));
    assert_null(plugin_strv_checked(NULL, 0));
}

static void test_clocks(void **state) {
    (void)state;
    int64_t start = plugin_monotonic_ms();
    plugin_sleep_ms(30);
    plugin_sleep_ms(0);
    plugin_sleep_ms(-5);
    assert_true(plugin_monotonic_ms() - start >= 30); /* never less than asked */
    assert_true(plugin_realtime_ns() > (int64_t)1600000000 * 1000000000);
}

/* --- errors and options --------------------------------------------------- */

struct host {
    struct plugin_instance pi;
};

static void init_host(struct host *h) {
    memset(h, 0, sizeof(*h));
    h->pi.name = "test";
    h->pi.log_prefix = "test";
    plugin_host_init(&h->pi.host, &h->pi, NULL);
}

static void test_errors(void **state) {
    (void)state;
    struct host h;
    init_host(&h);
    assert_int_equal(plugin_errno_status(ENOENT), CLEAT_STATUS_NOT_FOUND);
    assert_int_equal(plugin_errno_status(EACCES), CLEAT_STATUS_PERMISSION_DENIED);
    assert_int_equal(plugin_errno_status(EEXIST), CLEAT_STATUS_ALREADY_EXISTS);
    assert_int_equal(plugin_errno_status(ENOSPC), CLEAT_STATUS_RESOURCE_EXHAUSTED);
    assert_int_equal(plugin_errno_status(EIO), CLEAT_STATUS_INTERNAL);
    assert_int_equal(plugin_errno_status(0), CLEAT_STATUS_INTERNAL);
    struct cleat_error *err = NULL;
    assert_int_equal(plugin_oom(&h.pi.host, &err), -ENOMEM);
    expect_error(-ENOMEM, &err, CLEAT_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    assert_int_equal(plugin_oom(&h.pi.host, NULL), -ENOMEM); /* no one asked: nothing made */
    struct cleat_error *made = h.pi.host.error_new(CLEAT_STATUS_NOT_FOUND, ENOENT, "gone");
    assert_int_equal(plugin_pass_error(&h.pi.host, &err, made, -ENOENT), -ENOENT);
    assert_ptr_equal(err, made);
    expect_error(-ENOENT, &err, CLEAT_STATUS_NOT_FOUND, "gone");
    made = h.pi.host.error_new(CLEAT_STATUS_NOT_FOUND, ENOENT, "gone");
    assert_int_equal(plugin_pass_error(&h.pi.host, NULL, made, -ENOENT), -ENOENT); /* freed: the leak check says */
}

static struct cleat_config *parse(const char *yaml) {
    struct cleat_config *t = NULL;
    struct cleat_error *err = NULL;
    check(config_tree_parse_string("t.yaml", yaml, strlen(yaml), &t, &err), err);
    return t;
}

static void test_config(void **state) {
    (void)state;
    static const char *const keys[] = {"root", NULL};
    struct host h;
    init_host(&h);
    const struct cleat_host *host = &h.pi.host;
    struct cleat_error *err = NULL;
    struct cleat_config *t = parse("a: ~\nb: {root: /srv}\nc: {root: srv}\nd: {other: 1}\ne: [1]\n");
    /* The plugins call the host's key check without guards of their own: it takes no options as none. */
    assert_int_equal(host->config_check_keys(host->config_get0(t, "a"), keys, &err), 0);
    assert_int_equal(host->config_check_keys(host->config_get0(t, "absent"), keys, &err), 0);
    assert_int_equal(host->config_check_keys(host->config_get0(t, "b"), keys, &err), 0);
    expect_error(host->config_check_keys(host->config_get0(t, "d"), keys, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "t.yaml:4");
    expect_error(host->config_check_keys(host->config_get0(t, "e"), keys, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "t.yaml:5");
    const char *root = NULL;
    assert_int_equal(plugin_config_path(host, host->config_get0(t, "b"), "root", NULL, &root, &err), 0);
    assert_string_equal(root, "/srv");
    assert_int_equal(plugin_config_path(host, host->config_get0(t, "d"), "root", "/def", &root, &err), 0);
    assert_string_equal(root, "/def");
    expect_error(plugin_config_path(host, host->config_get0(t, "c"), "root", NULL, &root, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "'root' must be an absolute path, not 'srv'");
    config_tree_free(t);
}

static void test_config_strings(void **state) {
    (void)state;
    struct host h;
    init_host(&h);
    const struct cleat_host *host = &h.pi.host;
    struct cleat_error *err = NULL;
    struct cleat_config *t = parse("a: {l: [x, '-y z']}\nb: {l: ~}\nc: {l: x}\nd: {l: [x, '']}\ne: {l: [[x]]}\n");
    char **v = NULL;
    assert_int_equal(plugin_config_strings(host, host->config_get0(t, "a"), "l", &v, &err), 0);
    assert_int_equal(plugin_strv_len((const char *const *)v), 2);
    assert_string_equal(v[1], "-y z");
    plugin_strv_free(v);
    /* Null and absent: empty. */
    assert_int_equal(plugin_config_strings(host, host->config_get0(t, "b"), "l", &v, &err), 0);
    assert_null(v[0]);
    plugin_strv_free(v);
    assert_int_equal(plugin_config_strings(host, host->config_get0(t, "b"), "absent", &v, &err), 0);
    assert_null(v[0]);
    plugin_strv_free(v);
    expect_error(plugin_config_strings(host, host->config_get0(t, "c"), "l", &v, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "'l' must be a list of strings");
    expect_error(plugin_config_strings(host, host->config_get0(t, "d"), "l", &v, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "t.yaml:4");
    expect_error(plugin_config_strings(host, host->config_get0(t, "e"), "l", &v, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "non-empty string");
    config_tree_free(t);
}

/* --- a snapshotter's table and meta files ------------------------------------ */

static void test_snaps(void **state) {
    const struct dir *d = *state;
    struct host h;
    init_host(&h);
    const struct cleat_host *host = &h.pi.host;
    struct cleat_error *err = NULL;
    int rootfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(rootfd >= 0);
    for (const char *const *sub = (const char *const[]){"snapshots", "tmp", "trash", NULL}; *sub; sub++)
        assert_int_equal(mkdirat(rootfd, *sub, 0700), 0);
    struct plugin_snaps t = {0};
    const char *const labels[] = {"k", "v with space", NULL};
    struct plugin_snap *s = plugin_snap_new(&t, CLEAT_SNAPSHOT_ACTIVE, "extract-1", NULL, labels);
    assert_non_null(s);
    assert_int_equal(s->id, 1);
    assert_int_equal(mkdirat(rootfd, "snapshots/1", 0700), 0);
    assert_int_equal(plugin_snaps_store(rootfd, "snapshots/1", s), 0);
    assert_int_equal(plugin_snaps_add(&t, s), 0);
    assert_int_equal(plugin_snaps_commit(rootfd, "snapshots/1", s, "sha256:a", NULL, 4096, 3), 0);
    assert_string_equal(s->key, "sha256:a");
    assert_string_equal(s->labels[1], "v with space"); /* NULL labels: kept */
    /* The checks each op makes first, and their statuses. */
    const struct plugin_snap *parent = NULL;
    expect_error(plugin_snaps_check_new(host, &t, "sha256:a", NULL, &parent, &err), &err, CLEAT_STATUS_ALREADY_EXISTS,
                 "exists");
    expect_error(plugin_snaps_check_new(host, &t, "b", "nothing", &parent, &err), &err, CLEAT_STATUS_NOT_FOUND,
                 "not found");
    assert_int_equal(plugin_snaps_check_new(host, &t, "b", "sha256:a", &parent, &err), 0);
    assert_ptr_equal(parent, s);
    expect_error(plugin_snaps_check(host, "snapshot key", "a\tb", NULL, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "tab");
    expect_error(plugin_snaps_check(host, "snapshot key", "a", (const char *const[]){"x\ny", "v", NULL}, &err), &err,
                 CLEAT_STATUS_INVALID_ARGUMENT, "label");
    struct plugin_snap *got = NULL;
    expect_error(plugin_snaps_check_commit(host, &t, "n", "sha256:a", NULL, &got, &err), &err,
                 CLEAT_STATUS_FAILED_PRECONDITION, "not active");
    struct plugin_snap *child = plugin_snap_new(&t, CLEAT_SNAPSHOT_VIEW, "v", "sha256:a", NULL);
    assert_int_equal(child->id, 2);
    assert_int_equal(plugin_snaps_add(&t, child), 0);
    expect_error(plugin_snaps_check_remove(host, &t, "sha256:a", &got, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "parent of 'v'");
    expect_error(plugin_snaps_check_remove(host, &t, "nothing", &got, &err), &err, CLEAT_STATUS_NOT_FOUND, "not found");
    plugin_snaps_clear(&t);
    /* Loaded back: the record as committed; ids in tmp/ and trash/ are never given again. */
    assert_int_equal(mkdirat(rootfd, "trash/9", 0700), 0);
    assert_int_equal(mkdirat(rootfd, "snapshots/not-a-number", 0700), 0);
    struct plugin_snaps back = {0};
    assert_int_equal(plugin_snaps_load(&back, rootfd), 0);
    assert_int_equal(back.n, 1);
    const struct plugin_snap *b = plugin_snaps_find(&back, "sha256:a");
    assert_non_null(b);
    assert_int_equal(b->kind, CLEAT_SNAPSHOT_COMMITTED);
    assert_null(b->parent);
    assert_int_equal(b->used_bytes, 4096);
    assert_int_equal(b->used_inodes, 3);
    assert_string_equal(b->labels[0], "k");
    assert_string_equal(b->labels[1], "v with space");
    assert_null(b->labels[2]);
    assert_int_equal(back.next_id, 10);
    plugin_snaps_clear(&back);
    /* A malformed meta fails the load. */
    assert_int_equal(mkdirat(rootfd, "snapshots/3", 0700), 0);
    int fd = openat(rootfd, "snapshots/3/meta", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_int_equal(write(fd, "kind\t9\n", 7), 7);
    close(fd);
    assert_int_equal(plugin_snaps_load(&back, rootfd), -EINVAL);
    plugin_snaps_clear(&back);
    close(rootfd);
    /* One spelling per id, within bounds. */
    assert_int_equal(plugin_snaps_id("5", 10), 5);
    assert_int_equal(plugin_snaps_id("10", 10), 10);
    assert_int_equal(plugin_snaps_id("11", 10), 0);
    assert_int_equal(plugin_snaps_id("05", 10), 0);
    assert_int_equal(plugin_snaps_id("+5", 10), 0);
    assert_int_equal(plugin_snaps_id(" 5", 10), 0);
    assert_int_equal(plugin_snaps_id("5x", 10), 0);
    assert_int_equal(plugin_snaps_id("", 10), 0);
    assert_int_equal(plugin_snaps_id("18446744073709551617", UINT64_MAX), 0);
    assert_true(plugin_snaps_id("18446744073709551615", UINT64_MAX) == UINT64_MAX);
}

/* --- cleat-shim's control socket ------------------------------------------ */

/*
 * A one-shot control socket in a bundle whose path is too long for a socket address (so both the server here and
 * the client go through /proc/self/fd): a forked child accepts one connection, reads one line and answers `reply`
 * (as given: with or without a newline), then exits.
 */
static pid_t serve_once(const char *bundle, const char *reply) {
    int dirfd = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(dirfd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/attach.sock", dirfd);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    close(dirfd);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int c = accept(lfd, NULL, NULL);
        char line[256];
        size_t got = 0;
        ssize_t n;
        while (c >= 0 && got < sizeof(line) && (n = read(c, line + got, sizeof(line) - got)) > 0)
            if (memchr(line + got, '\n', (size_t)n) || (got += (size_t)n) == sizeof(line))
                break;
        if (c >= 0 && write(c, reply, strlen(reply)) < 0)
            _exit(1);
        _exit(c >= 0 ? 0 : 1);
    }
    close(lfd);
    return pid;
}

static void reap(pid_t pid) {
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_shim_control(void **state) {
    struct dir *d = *state;
    char bundle[sizeof(d->path) + 128], reply[64];
    in_dir(d, "a-bundle-directory-whose-name-is-long-enough-that-its-socket-path-cannot-fit-in-sun-path-0123456789",
           bundle, sizeof(bundle));
    assert_int_equal(plugin_mkdir_p(bundle, 0700), 0);
    /* Nobody listens: the shim has ended. */
    assert_int_equal(plugin_shim_control_connect(bundle), -ENOENT);

    pid_t pid = serve_once(bundle, "ok\n");
    int fd = plugin_shim_control_connect(bundle);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(plugin_shim_control_exchange(fd, "resize 80 24\n", reply, sizeof(reply)), 0);
    assert_string_equal(reply, "ok");
    close(fd);
    reap(pid);

    /* The shim closes before a whole line: a reset, not a truncated answer. */
    char path[sizeof(bundle) + 16];
    snprintf(path, sizeof(path), "%s/attach.sock", bundle);
    unlink(path);
    pid = serve_once(bundle, "error half");
    fd = plugin_shim_control_connect(bundle);
    assert_true(fd >= 0);
    assert_int_equal(plugin_shim_control_exchange(fd, "reopen\n", reply, sizeof(reply)), -ECONNRESET);
    close(fd);
    reap(pid);

    /* A socket file nobody listens on any more: refused. */
    assert_int_equal(plugin_shim_control_connect(bundle), -ECONNREFUSED);
}

/* A child that waits, with the arguments the command-line checks look for. */
static pid_t start_sleeper(const char *const *args) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[8] = {self, "sleep"};
        for (size_t i = 0; args[i] && i < 5; i++)
            argv[i + 2] = args[i];
        execv(self, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void stop_sleeper(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_pidfd_command(void **state) {
    (void)state;
    pid_t pid = start_sleeper((const char *const[]){"--id", "abc", "--relay", NULL});
    /* Until the exec is done the child's command line is this binary's own: wait for it. */
    int fd = -1;
    for (int i = 0; i < 500 && fd < 0; i++) {
        fd = plugin_pidfd_open_command(pid, "--id", "abc", "--relay");
        if (fd < 0)
            usleep(10000);
    }
    assert_true(fd >= 0);
    assert_int_equal(plugin_pidfd_is_command(fd, pid, "--id", "abc", NULL), 1);
    assert_int_equal(plugin_pidfd_is_command(fd, pid, "--id", "ab", NULL), 0);   /* a prefix is not the id */
    assert_int_equal(plugin_pidfd_is_command(fd, pid, "--id", "abcd", NULL), 0); /* nor a longer one */
    assert_int_equal(plugin_pidfd_is_command(fd, pid, "abc", "--relay", NULL), 1);
    assert_int_equal(plugin_pidfd_is_command(fd, pid, "--relay", "x", NULL), 0); /* the last argument has none */
    assert_int_equal(plugin_pidfd_is_command(fd, pid, "--id", "abc", "--attach"), 0);
    assert_int_equal(plugin_pidfd_open_command(pid, "-id", "abc", NULL), -ESRCH);
    stop_sleeper(pid);
    /* Gone (reaped): the pidfd no longer names a live process, whatever takes the pid next. */
    assert_int_equal(plugin_pidfd_is_command(fd, pid, "--id", "abc", NULL), 0);
    close(fd);
    assert_int_equal(plugin_pidfd_open_command(0, "--id", "abc", NULL), -ESRCH);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "list-fds") == 0)
        return list_fds();
    if (argc >= 2 && strcmp(argv[1], "sleep") == 0) {
        sleep(60);
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_child_sees_only_stdio),
        cmocka_unit_test(test_spawn_low_fds_cross),
        cmocka_unit_test(test_run_captures_both_streams),
        cmocka_unit_test(test_run_in_cwd),
        cmocka_unit_test(test_run_uncaptured_and_silent),
        cmocka_unit_test(test_run_output_capped),
        cmocka_unit_test(test_run_stdin),
        cmocka_unit_test(test_run_timeout_kills),
        cmocka_unit_test(test_run_timeout_kills_group),
        cmocka_unit_test(test_run_returns_when_child_exits),
        cmocka_unit_test(test_run_missing_program),
        cmocka_unit_test(test_pidfd_reap),
        cmocka_unit_test(test_pidfd_command),
        cmocka_unit_test_setup_teardown(test_mkdir_p_creates_and_repeats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_p_refuses_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_p_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_file_sizes, setup, teardown),
        cmocka_unit_test(test_read_file_proc),
        cmocka_unit_test_setup_teardown(test_read_file_refuses_special, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
        cmocka_unit_test(test_strv),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_config_strings),
        cmocka_unit_test_setup_teardown(test_snaps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shim_control, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
