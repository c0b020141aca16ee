/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-runc through the real plugin loader, with the real cleat-shim and
 * runc, on busybox containers.  Needs root and /usr/bin/runc.
 *
 * The shim is $CLEAT_SHIM, else the one built next to the test plugins
 * (<build>/shim/cleat-shim); cleat-pause is taken from the same directory.
 * Every test ends with expect_clean(): no shim, runc state or cgroup of its
 * containers may be left.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "config.h"
#include "plugin_loader.h"

#define PLUGIN_SO CLEAT_TEST_PLUGIN_DIR "/../../plugins/runtime-runc/runtime-runc.so"
#define RUNC "/usr/bin/runc"
#define MAX_IDS 16
#define EVENT_TIMEOUT_MS 10000

struct fx {
    char dir[64]; /* root_dir, state_dir, bundles and the rootfs */
    char shim[PATH_MAX], pause[PATH_MAX];
    char rootfs[PATH_MAX];
    char runc_root[PATH_MAX];
    struct config *cfg;
    struct plugins *p;
    const struct cleat_runtime_ops *ops;
    void *inst;
    char ids[MAX_IDS][64]; /* every container id used, for the leak check and cleanup */
    int nids;
};

/* --- exit events (plugins->on_exit) ----------------------------------------- */

struct event {
    char id[80], exec_id[80];
    uint32_t pid;
    int32_t status;
    int64_t at;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct event ev[128];
    int n;
} events = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void on_exit_event(void *ctx, const struct plugin_instance *pi, const char *id, const char *exec_id,
                          uint32_t pid, int32_t status, int64_t at) {
    pthread_mutex_lock(&events.lock);
    if (events.n < 128) {
        struct event *e = &events.ev[events.n++];
        snprintf(e->id, sizeof(e->id), "%s", id);
        snprintf(e->exec_id, sizeof(e->exec_id), "%s", exec_id ? exec_id : "");
        e->pid = pid;
        e->status = status;
        e->at = at;
    }
    pthread_cond_broadcast(&events.cond);
    pthread_mutex_unlock(&events.lock);
}

/* The exit event of (id, exec_id) into *ret; 0 if none comes in time.  Any thread. */
static int find_event(const char *id, const char *exec_id, struct event *ret) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += EVENT_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&events.lock);
    for (;;) {
        for (int i = 0; i < events.n; i++)
            if (strcmp(events.ev[i].id, id) == 0 && strcmp(events.ev[i].exec_id, exec_id ? exec_id : "") == 0) {
                *ret = events.ev[i];
                pthread_mutex_unlock(&events.lock);
                return 1;
            }
        if (pthread_cond_timedwait(&events.cond, &events.lock, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&events.lock);
    return 0;
}

/* The exit event of (id, exec_id); fails the test if none comes in time. */
static struct event wait_event(const char *id, const char *exec_id) {
    struct event e = {.pid = 0};
    if (!find_event(id, exec_id, &e))
        fail_msg("no exit event for %s %s", id, exec_id ? exec_id : "");
    return e;
}

static int count_events(const char *id) {
    pthread_mutex_lock(&events.lock);
    int n = 0;
    for (int i = 0; i < events.n; i++)
        n += strcmp(events.ev[i].id, id) == 0;
    pthread_mutex_unlock(&events.lock);
    return n;
}

/* --- fixture ---------------------------------------------------------------- */

static void find_binaries(struct fx *f) {
    const char *env = getenv("CLEAT_SHIM");
    if (!realpath(env && env[0] ? env : CLEAT_TEST_PLUGIN_DIR "/../../shim/cleat-shim", f->shim))
        fail_msg("cleat-shim not found (%s): set CLEAT_SHIM or build the cleat-shim target", strerror(errno));
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", f->shim);
    snprintf(f->pause, sizeof(f->pause), "%s/cleat-pause", dirname(dir));
}

static int setup(void **state) {
    if (geteuid() != 0 || access(RUNC, X_OK) != 0) {
        print_message("runtime-runc tests need root and %s\n", RUNC);
        skip();
    }
    struct fx *f = calloc(1, sizeof(*f));
    temp_dir(f->dir, sizeof(f->dir), "cleat-rr");
    find_binaries(f);
    snprintf(f->rootfs, sizeof(f->rootfs), "%s/rootfs", f->dir);
    run_cmd("mkdir -p %s/bin %s/proc %s/dev %s/sys %s/tmp && cp /bin/busybox %s/bin/ && "
            "for t in sh sleep echo cat true; do ln -s busybox %s/bin/$t; done",
            f->rootfs, f->rootfs, f->rootfs, f->rootfs, f->rootfs, f->rootfs, f->rootfs);
    pthread_mutex_lock(&events.lock);
    events.n = 0;
    pthread_mutex_unlock(&events.lock);
    *state = f;
    return 0;
}

/* The pid of a live shim of `id`, or 0. */
static pid_t find_shim(const char *id) {
    DIR *d = opendir("/proc");
    struct dirent *de;
    pid_t found = 0;
    char want[128];
    int wlen = snprintf(want, sizeof(want), "--id%c%s%c", 0, id, 0);
    while (!found && (de = readdir(d))) {
        char path[300], buf[4096];
        snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n > 0 && memmem(buf, (size_t)n, want, (size_t)wlen) && strstr(buf, "cleat-shim"))
            found = atoi(de->d_name);
    }
    closedir(d);
    return found;
}

static int runc_knows(struct fx *f, const char *id) {
    char cmd[PATH_MAX + 200];
    snprintf(cmd, sizeof(cmd), RUNC " --root %s state %s >/dev/null 2>&1", f->runc_root, id);
    return system(cmd) == 0;
}

static int cgroup_exists(const char *id) {
    char path[256];
    snprintf(path, sizeof(path), "/sys/fs/cgroup/pids/cleat-rr-%s", id);
    return access(path, F_OK) == 0;
}

/* Nothing of the test's containers may remain: no shim, no runc state, no cgroup. */
static void expect_clean(struct fx *f) {
    for (int i = 0; i < f->nids; i++) {
        const char *id = f->ids[i];
        for (int t = 0; t < 100 && find_shim(id); t++) /* a shim being reaped by init */
            usleep(20000);
        if (find_shim(id))
            fail_msg("container %s: its shim %d is still running", id, (int)find_shim(id));
        if (runc_knows(f, id))
            fail_msg("container %s: runc still has it", id);
        if (cgroup_exists(id))
            fail_msg("container %s: its cgroup is still there", id);
    }
}

static int teardown(void **state) {
    struct fx *f = *state;
    for (int i = 0; i < f->nids; i++) { /* after a failed test: leave nothing behind */
        char cmd[PATH_MAX + 200];
        snprintf(cmd, sizeof(cmd), RUNC " --root %s delete -f %s >/dev/null 2>&1", f->runc_root, f->ids[i]);
        (void)!system(cmd);
        pid_t shim = find_shim(f->ids[i]);
        if (shim > 0)
            kill(shim, SIGKILL);
    }
    plugins_free(f->p);
    config_free(f->cfg);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* Load the plugin with `options` (a YAML flow map; the shim is added); <0 and *reterr on failure. */
static int try_load(struct fx *f, const char *options, struct cleat_error **reterr) {
    char so[PATH_MAX], *text = NULL;
    if (!realpath(PLUGIN_SO, so))
        fail_msg("%s: %s (build the runtime-runc target)", PLUGIN_SO, strerror(errno));
    plugins_free(f->p);
    f->p = NULL;
    config_free(f->cfg);
    assert_true(asprintf(&text,
                         "root_dir: %s/root\nstate_dir: %s/state\nsocket: %s/s.sock\nplugin_dirs: [%s]\n"
                         "snapshotter: null\ntransports: null\n"
                         "runtime:\n  default_handler: runc\n  handlers:\n    runc:\n      plugin: runtime-runc\n"
                         "      path: %s\n      options: {shim: %s%s%s}\n",
                         f->dir, f->dir, f->dir, CLEAT_TEST_PLUGIN_DIR, so, f->shim, options[0] ? ", " : "",
                         options) > 0);
    f->cfg = config_over_defaults(text);
    free(text);
    int r = plugins_load(f->cfg, PLUGINS_INIT, &f->p, reterr);
    if (r < 0)
        return r;
    struct plugin_instance *pi = plugins_find(f->p, CLEAT_CONCERN_RUNTIME, "runc");
    assert_non_null(pi);
    assert_string_equal(pi->desc->name, "runtime-runc");
    f->p->on_exit = on_exit_event;
    f->ops = &pi->ops.runtime;
    f->inst = pi->instance;
    snprintf(f->runc_root, sizeof(f->runc_root), "%s/root", pi->state_dir);
    return 0;
}

static void load(struct fx *f, const char *options) {
    struct cleat_error *err = NULL;
    if (try_load(f, options, &err) < 0)
        fail_msg("load: %s", error_message(err));
}

/* --- containers ------------------------------------------------------------- */

#define NS_PID 1 /* the container has its own PID namespace (its command is PID 1) */
#define TTY 2    /* process.terminal */

/* An OCI spec running `args` (a JSON array) in `rootfs`, in the cgroup /cleat-rr-<id>. */
static char *spec_text(const char *id, const char *rootfs, const char *args, int flags, const char *pidns_path) {
    char pidns[PATH_MAX + 64] = "";
    if (pidns_path)
        snprintf(pidns, sizeof(pidns), "{\"type\":\"pid\",\"path\":\"%s\"},", pidns_path);
    else if (flags & NS_PID)
        snprintf(pidns, sizeof(pidns), "{\"type\":\"pid\"},");
    char *spec = NULL;
    assert_true(
        asprintf(&spec,
                 "{\"ociVersion\":\"1.0.2-dev\",\"process\":{\"terminal\":%s,\"user\":{\"uid\":0,\"gid\":0},"
                 "\"args\":%s,\"env\":[\"PATH=/bin\"],\"cwd\":\"/\",\"capabilities\":{"
                 "\"bounding\":[\"CAP_KILL\"],\"effective\":[\"CAP_KILL\"],\"permitted\":[\"CAP_KILL\"]},"
                 "\"noNewPrivileges\":true},\"root\":{\"path\":\"%s\",\"readonly\":false},\"hostname\":\"rr\","
                 "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
                 "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\","
                 "\"mode=755\",\"size=65536k\"]},{\"destination\":\"/dev/pts\",\"type\":\"devpts\","
                 "\"source\":\"devpts\",\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\"]}],"
                 "\"linux\":{\"cgroupsPath\":\"/cleat-rr-%s\",\"resources\":{\"devices\":[{\"allow\":false,"
                 "\"access\":\"rwm\"}]},\"namespaces\":[%s{\"type\":\"ipc\"},{\"type\":\"uts\"},"
                 "{\"type\":\"mount\"}],\"maskedPaths\":[\"/proc/kcore\"],\"readonlyPaths\":[\"/proc/sys\"]}}",
                 (flags & TTY) ? "true" : "false", args, rootfs, id, pidns) > 0);
    return spec;
}

/* A unique container id for `name`, remembered for the leak check. */
static const char *new_id(struct fx *f, const char *name) {
    assert_true(f->nids < MAX_IDS);
    char *id = f->ids[f->nids++];
    snprintf(id, sizeof(f->ids[0]), "rr%d-%s", (int)getpid(), name);
    return id;
}

/*
 * A container `name`: its id, and a bundle under dir/b/ (or a longer path
 * when `long_path`, to force the /proc/self/fd route to attach.sock) with a
 * spec running `args` in the shared busybox rootfs.
 */
static const char *make_ctr(struct fx *f, const char *name, const char *args, int flags, const char *pidns_path,
                            char *bundle, size_t size, int long_path) {
    const char *id = new_id(f, name);
    snprintf(bundle, size, "%s/b/%s%s", f->dir,
             long_path ? "a-directory-name-long-enough/to-push-the-path-of-the-attach-socket-past-108-bytes/" : "",
             name);
    run_cmd("mkdir -p %s", bundle);
    char *spec = spec_text(id, f->rootfs, args, flags, pidns_path);
    write_text(bundle, "config.json", spec);
    free(spec);
    return id;
}

static void create_owned(struct fx *f, const char *id, const char *bundle, const char *log_path, uint32_t flags,
                         uint32_t io_uid, uint32_t io_gid) {
    struct cleat_runtime_container c = {.struct_size = sizeof(c),
                                        .id = id,
                                        .sandbox_id = "sb",
                                        .bundle_dir = bundle,
                                        .log_path = log_path,
                                        .flags = flags,
                                        .io_uid = io_uid,
                                        .io_gid = io_gid};
    struct cleat_error *err = NULL;
    OK(f->ops->create(f->inst, &c, &err));
}

/* As the core creates a container whose pod uses the host's user namespace. */
static void create_with(struct fx *f, const char *id, const char *bundle, const char *log_path, uint32_t flags) {
    create_owned(f, id, bundle, log_path, flags, CLEAT_RUNTIME_NO_ID, CLEAT_RUNTIME_NO_ID);
}

static void create(struct fx *f, const char *id, const char *bundle, const char *log_path) {
    create_with(f, id, bundle, log_path, 0);
}

static uint32_t start(struct fx *f, const char *id) {
    uint32_t pid = 0;
    struct cleat_error *err = NULL;
    OK(f->ops->start(f->inst, id, &pid, &err));
    assert_true(pid > 0);
    return pid;
}

static struct cleat_runtime_state state(struct fx *f, const char *id, const char *exec_id) {
    struct cleat_runtime_state st;
    struct cleat_error *err = NULL;
    OK(f->ops->state(f->inst, id, exec_id, &st, &err));
    return st;
}

static void kill_ctr(struct fx *f, const char *id, const char *exec_id, int sig) {
    struct cleat_error *err = NULL;
    OK(f->ops->kill(f->inst, id, exec_id, sig, 0, &err));
}

static void remove_ctr(struct fx *f, const char *id, const char *exec_id) {
    struct cleat_error *err = NULL;
    OK(f->ops->remove(f->inst, id, exec_id, &err));
}

/* A running `sleep` container (PID 1 of its namespace: only SIGKILL ends it). */
static const char *running(struct fx *f, const char *name, char *bundle, size_t size, int long_path) {
    const char *id = make_ctr(f, name, "[\"sleep\",\"100\"]", NS_PID, NULL, bundle, size, long_path);
    create(f, id, bundle, NULL);
    start(f, id);
    return id;
}

static void kill_and_remove(struct fx *f, const char *id) {
    kill_ctr(f, id, NULL, SIGKILL);
    assert_int_equal(wait_event(id, NULL).status, 137);
    remove_ctr(f, id, NULL);
}

/* --- tests ------------------------------------------------------------------ */

/* The group of the container init's stdio fd `n` (a pipe of the shim's). */
static void expect_stdio_group(uint32_t pid, int n, gid_t gid) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%u/fd/%d", pid, n);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    if (st.st_gid != gid)
        fail_msg("%s has group %u, not %u", path, (unsigned)st.st_gid, (unsigned)gid);
}

/*
 * io_uid/io_gid (ABI 1.2): the stdio pipes go to the container's root's host ids, so that it can reopen them.
 * Without a user namespace runc's init then gives their owner to the process's user itself (and keeps the
 * group), so the group is what shows the shim's chown here; test_userns.py sees the whole of it.
 */
static void test_stdio_owner(void **state_) {
    struct fx *f = *state_;
    char bundle[PATH_MAX], other[PATH_MAX];
    load(f, "");
    const char *id = make_ctr(f, "owned", "[\"sleep\",\"100\"]", 0, NULL, bundle, sizeof(bundle), 0);
    create_owned(f, id, bundle, NULL, CLEAT_CONTAINER_STDIN, 100000, 100001);
    uint32_t pid = start(f, id);
    for (int n = 0; n < 3; n++)
        expect_stdio_group(pid, n, 100001);
    kill_and_remove(f, id);
    /* CLEAT_RUNTIME_NO_ID: left as they are, the host root's. */
    id = make_ctr(f, "unowned", "[\"sleep\",\"100\"]", 0, NULL, other, sizeof(other), 0);
    create_with(f, id, other, NULL, 0);
    pid = start(f, id);
    expect_stdio_group(pid, 1, 0);
    kill_and_remove(f, id);
}

static void test_lifecycle(void **state_) {
    struct fx *f = *state_;
    char bundle[PATH_MAX], log[PATH_MAX + 16], path[PATH_MAX + 64], addr[PATH_MAX + 64];
    struct cleat_error *err = NULL;
    uint32_t pid2;
    load(f, "");
    OK(f->ops->status(f->inst, &err));
    /* runc 1.1 lists "rro" among its mount options (`runc features`). */
    assert_int_equal(f->ops->features(f->inst),
                     CLEAT_RUNTIME_FEATURE_USER_NAMESPACES | CLEAT_RUNTIME_FEATURE_RECURSIVE_READ_ONLY_MOUNTS);
    /* No PID namespace: SIGTERM kills `sleep`, as it would not kill a namespace's init. */
    const char *id =
        make_ctr(f, "life", "[\"sh\",\"-c\",\"echo hello; exec sleep 100\"]", 0, NULL, bundle, sizeof(bundle), 0);
    snprintf(log, sizeof(log), "%s/ctr.log", f->dir);
    snprintf(path, sizeof(path), "%s/started", bundle); /* a stale mark: create takes it away */
    write_text(bundle, "started", "");
    create(f, id, bundle, log);
    assert_int_equal(access(path, F_OK), -1);
    struct cleat_runtime_container dup = {.struct_size = sizeof(dup), .id = id, .bundle_dir = bundle};
    expect_error(f->ops->create(f->inst, &dup, &err), &err, CLEAT_STATUS_ALREADY_EXISTS, "already exists");
    struct cleat_runtime_state st = state(f, id, NULL);
    assert_int_equal(st.status, CLEAT_TASK_CREATED);
    assert_true(st.pid > 0);

    uint32_t pid = start(f, id);
    assert_int_equal(pid, st.pid);
    expect_error(f->ops->start(f->inst, id, &pid2, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "already running");
    st = state(f, id, NULL);
    assert_int_equal(st.status, CLEAT_TASK_RUNNING);
    assert_int_equal(st.pid, pid);
    assert_int_equal(access(path, F_OK), 0); /* now it is the plugin's own word: started */
    assert_true(pid_alive((pid_t)pid));
    OK(f->ops->attach_address(f->inst, id, addr, sizeof(addr), &err));
    snprintf(path, sizeof(path), "%s/attach.sock", bundle);
    assert_string_equal(addr, path);
    assert_int_equal(access(addr, F_OK), 0);
    OK(f->ops->reopen_log(f->inst, id, &err));
    expect_error(f->ops->resize_pty(f->inst, id, NULL, 80, 25, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "not a tty");
    expect_error(f->ops->remove(f->inst, id, NULL, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "running");

    kill_ctr(f, id, NULL, SIGTERM);
    struct event ev = wait_event(id, NULL);
    assert_int_equal(ev.status, 143);
    assert_int_equal(ev.pid, pid);
    st = state(f, id, NULL);
    assert_int_equal(st.status, CLEAT_TASK_STOPPED);
    assert_int_equal(st.exit_status, 143);
    assert_int_equal(st.exited_at_ns, ev.at);
    kill_ctr(f, id, NULL, SIGKILL); /* stopped: a kill is a success */
    expect_error(f->ops->reopen_log(f->inst, id, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "not running");
    char line[256] = "";
    FILE *fp = fopen(log, "re");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    assert_non_null(strstr(line, " stdout F hello\n"));

    remove_ctr(f, id, NULL);
    expect_error(f->ops->state(f->inst, id, NULL, &st, &err), &err, CLEAT_STATUS_NOT_FOUND, id);
    expect_error(f->ops->remove(f->inst, id, NULL, &err), &err, CLEAT_STATUS_NOT_FOUND, id);
    assert_int_equal(access(bundle, F_OK), 0); /* the bundle is the core's */
    assert_int_equal(count_events(id), 1);
    expect_clean(f);
}

/* A TTY container with stdin: resize reaches its terminal (stty prints the size), close_stdin is accepted. */
static void test_tty_stdin(void **state_) {
    struct fx *f = *state_;
    char bundle[PATH_MAX], log[PATH_MAX + 16], line[256] = "";
    struct cleat_error *err = NULL;
    load(f, "");
    const char *id = make_ctr(f, "tty", "[\"sh\",\"-c\",\"while sleep 0.05; do stty size; done\"]", NS_PID | TTY, NULL,
                              bundle, sizeof(bundle), 0);
    snprintf(log, sizeof(log), "%s/tty.log", f->dir);
    create_with(f, id, bundle, log, CLEAT_CONTAINER_TTY | CLEAT_CONTAINER_STDIN | CLEAT_CONTAINER_STDIN_ONCE);
    start(f, id);
    OK(f->ops->resize_pty(f->inst, id, NULL, 123, 45, &err));
    OK(f->ops->close_stdin(f->inst, id, NULL, &err));
    for (int i = 0; i < 250 && !strstr(line, "45 123"); i++) {
        usleep(20000);
        FILE *fp = fopen(log, "re");
        while (fp && fgets(line, sizeof(line), fp) && !strstr(line, "45 123"))
            ;
        if (fp)
            fclose(fp);
    }
    if (!strstr(line, "45 123"))
        fail_msg("no '45 123' from stty in the log; last line: %s", line);
    kill_and_remove(f, id);
    expect_clean(f);
}

static void test_exit_status_and_odd_ends(void **state_) {
    struct fx *f = *state_;
    char bundle[PATH_MAX], bundle2[PATH_MAX];
    load(f, "");
    const char *id = make_ctr(f, "three", "[\"sh\",\"-c\",\"exit 3\"]", NS_PID, NULL, bundle, sizeof(bundle), 0);
    create(f, id, bundle, NULL);
    start(f, id);
    assert_int_equal(wait_event(id, NULL).status, 3);
    struct cleat_runtime_state st = state(f, id, NULL);
    assert_int_equal(st.status, CLEAT_TASK_STOPPED);
    assert_int_equal(st.exit_status, 3);
    remove_ctr(f, id, NULL);
    /* Removing a container that was created but never started kills it, and reports no exit. */
    const char *id2 = make_ctr(f, "never", "[\"true\"]", NS_PID, NULL, bundle2, sizeof(bundle2), 0);
    create(f, id2, bundle2, NULL);
    remove_ctr(f, id2, NULL);
    assert_int_equal(count_events(id2), 0);
    /* A shim killed (it must not be, but...): the status is lost (255); remove still cleans up. */
    char bundle3[PATH_MAX];
    const char *id3 = running(f, "orphan", bundle3, sizeof(bundle3), 0);
    uint32_t pid3 = state(f, id3, NULL).pid;
    assert_int_equal(kill(find_shim(id3), SIGKILL), 0);
    assert_int_equal(wait_event(id3, NULL).status, 255);
    st = state(f, id3, NULL);
    assert_int_equal(st.status, CLEAT_TASK_STOPPED);
    assert_int_equal(st.exit_status, 255);
    assert_int_equal(st.pid, pid3);
    remove_ctr(f, id3, NULL);
    for (int i = 0; i < 100 && pid_alive((pid_t)pid3); i++)
        usleep(20000);
    assert_false(pid_alive((pid_t)pid3));
    expect_clean(f);
}

/* exec: a process with pipes as its stdio; returns its pid. */
static uint32_t exec_with(struct fx *f, const char *id, const char *exec_id, const char *args, int out, int err_fd) {
    char *process = NULL;
    assert_true(asprintf(&process,
                         "{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":%s,"
                         "\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"}",
                         args) > 0);
    struct cleat_runtime_exec x = {.struct_size = sizeof(x),
                                   .container_id = id,
                                   .exec_id = exec_id,
                                   .process_json = process,
                                   .stdin_fd = -1,
                                   .stdout_fd = out,
                                   .stderr_fd = err_fd};
    uint32_t pid = 0;
    struct cleat_error *err = NULL;
    OK(f->ops->exec(f->inst, &x, &pid, &err));
    free(process);
    return pid;
}

static void read_all(int fd, char *buf, size_t size) {
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fd);
}

static void test_exec(void **state_) {
    struct fx *f = *state_;
    char bundle[PATH_MAX], out[256], errs[256];
    struct cleat_error *err = NULL;
    struct cleat_runtime_state st;
    uint32_t pid;
    load(f, "");
    const char *id = running(f, "exec", bundle, sizeof(bundle), 0);
    int po[2], pe[2];
    assert_int_equal(pipe2(po, O_CLOEXEC), 0);
    assert_int_equal(pipe2(pe, O_CLOEXEC), 0);
    uint32_t epid = exec_with(f, id, "e1", "[\"sh\",\"-c\",\"echo out; echo err >&2; exit 7\"]", po[1], pe[1]);
    close(po[1]);
    close(pe[1]);
    read_all(po[0], out, sizeof(out));
    read_all(pe[0], errs, sizeof(errs));
    assert_string_equal(out, "out\n");
    assert_string_equal(errs, "err\n");
    struct event ev = wait_event(id, "e1");
    assert_int_equal(ev.status, 7);
    assert_int_equal(ev.pid, epid);
    st = state(f, id, "e1");
    assert_int_equal(st.status, CLEAT_TASK_STOPPED);
    assert_int_equal(st.exit_status, 7);
    struct cleat_runtime_exec dup = {.struct_size = sizeof(dup),
                                     .container_id = id,
                                     .exec_id = "e1",
                                     .process_json = "{}",
                                     .stdin_fd = -1,
                                     .stdout_fd = -1,
                                     .stderr_fd = -1};
    expect_error(f->ops->exec(f->inst, &dup, &pid, &err), &err, CLEAT_STATUS_ALREADY_EXISTS, "e1");
    remove_ctr(f, id, "e1");
    expect_error(f->ops->state(f->inst, id, "e1", &st, &err), &err, CLEAT_STATUS_NOT_FOUND, "e1");
    expect_error(f->ops->remove(f->inst, id, "e1", &err), &err, CLEAT_STATUS_NOT_FOUND, "e1");

    /* stdin from a pipe */
    int pi[2];
    assert_int_equal(pipe2(pi, O_CLOEXEC), 0);
    assert_int_equal(pipe2(po, O_CLOEXEC), 0);
    char *process = NULL;
    assert_true(asprintf(&process, "{\"args\":[\"cat\"],\"cwd\":\"/\",\"env\":[\"PATH=/bin\"]}") > 0);
    struct cleat_runtime_exec cat = {.struct_size = sizeof(cat),
                                     .container_id = id,
                                     .exec_id = "cat",
                                     .process_json = process,
                                     .stdin_fd = pi[0],
                                     .stdout_fd = po[1],
                                     .stderr_fd = -1};
    OK(f->ops->exec(f->inst, &cat, &pid, &err));
    free(process);
    close(pi[0]);
    close(po[1]);
    assert_int_equal(write(pi[1], "piped\n", 6), 6);
    close(pi[1]);
    read_all(po[0], out, sizeof(out));
    assert_string_equal(out, "piped\n");
    assert_int_equal(wait_event(id, "cat").status, 0);
    remove_ctr(f, id, "cat");

    /* kill() signals the process inside (the runtime could not forward SIGKILL) */
    exec_with(f, id, "e2", "[\"sleep\",\"100\"]", -1, -1);
    assert_int_equal(state(f, id, "e2").status, CLEAT_TASK_RUNNING);
    expect_error(f->ops->remove(f->inst, id, "e2", &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "running");
    kill_ctr(f, id, "e2", SIGKILL);
    assert_int_equal(wait_event(id, "e2").status, 137);
    assert_int_equal(state(f, id, "e2").exit_status, 137);
    remove_ctr(f, id, "e2");

    dup.exec_id = "bad";
    dup.process_json = "[]";
    expect_error(f->ops->exec(f->inst, &dup, &pid, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "JSON object");
    dup.process_json = "{}";
    dup.container_id = "rr-nope";
    expect_error(f->ops->exec(f->inst, &dup, &pid, &err), &err, CLEAT_STATUS_NOT_FOUND, "rr-nope");
    expect_error(f->ops->kill(f->inst, id, "nope", SIGKILL, 0, &err), &err, CLEAT_STATUS_NOT_FOUND, "nope");

    /* An exec still running when its container is removed goes with it. */
    exec_with(f, id, "e3", "[\"sleep\",\"100\"]", -1, -1);
    kill_and_remove(f, id);
    dup.container_id = id;
    dup.exec_id = "e4";
    expect_error(f->ops->exec(f->inst, &dup, &pid, &err), &err, CLEAT_STATUS_NOT_FOUND, id);
    expect_clean(f);
}

/* A TTY exec of `args` with the given stdin (-1: none); returns the read end of its stdout. */
static int exec_tty(struct fx *f, const char *id, const char *exec_id, const char *args, int in) {
    char *process = NULL;
    int po[2];
    assert_int_equal(pipe2(po, O_CLOEXEC), 0);
    /* terminal is left out: the plugin sets it */
    assert_true(asprintf(&process, "{\"args\":%s,\"env\":[\"PATH=/bin\",\"TERM=dumb\"],\"cwd\":\"/\"}", args) > 0);
    struct cleat_runtime_exec x = {.struct_size = sizeof(x),
                                   .container_id = id,
                                   .exec_id = exec_id,
                                   .process_json = process,
                                   .stdin_fd = in,
                                   .stdout_fd = po[1],
                                   .stderr_fd = -1,
                                   .flags = CLEAT_CONTAINER_TTY};
    uint32_t pid = 0;
    struct cleat_error *err = NULL;
    OK(f->ops->exec(f->inst, &x, &pid, &err));
    assert_true(pid > 0);
    free(process);
    close(po[1]); /* the host's fds stay the host's: the plugin keeps its own copies */
    return po[0];
}

/* The terminal turns "\n" into "\r\n"; compare without the "\r". */
static void read_tty(int fd, char *buf, size_t size) {
    read_all(fd, buf, size);
    char *w = buf;
    for (char *r = buf; *r; r++)
        if (*r != '\r')
            *w++ = *r;
    *w = '\0';
}

static void test_exec_tty(void **state_) {
    struct fx *f = *state_;
    char bundle[PATH_MAX], out[512];
    ssize_t n;
    struct cleat_error *err = NULL;
    load(f, "");
    const char *id = running(f, "xtty", bundle, sizeof(bundle), 0);

    /* echo, no stdin: all output arrives before EOF, the exit code is reported */
    int fd = exec_tty(f, id, "echo", "[\"sh\",\"-c\",\"test -t 0 && test -t 1 && echo hi; exit 3\"]", -1);
    read_tty(fd, out, sizeof(out));
    assert_string_equal(out, "hi\n");
    assert_int_equal(wait_event(id, "echo").status, 3);
    expect_error(f->ops->resize_pty(f->inst, id, "echo", 80, 24, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "closed");
    remove_ctr(f, id, "echo");

    /* resize before the process looks (it waits for a line of input), stdin through the pty */
    int pi[2];
    assert_int_equal(pipe2(pi, O_CLOEXEC), 0);
    fd = exec_tty(f, id, "size", "[\"sh\",\"-c\",\"read x; stty size; echo got $x; read y; stty size\"]", pi[0]);
    close(pi[0]);
    OK(f->ops->resize_pty(f->inst, id, "size", 77, 33, &err));
    assert_int_equal(write(pi[1], "hello\n", 6), 6);
    char first[64];
    size_t got = 0;
    while (got < 25 && (n = read(fd, first + got, 25 - got)) > 0) /* "hello\r\n33 77\r\ngot hello\r\n" */
        got += (size_t)n;
    assert_int_equal(got, 25);
    OK(f->ops->resize_pty(f->inst, id, "size", 100, 50, &err)); /* while it runs */
    assert_int_equal(write(pi[1], "x\n", 2), 2);
    read_tty(fd, out, sizeof(out));
    first[got] = '\0';
    assert_string_equal(first, "hello\r\n33 77\r\ngot hello\r\n"); /* the terminal echoes the input */
    assert_string_equal(out, "x\n50 100\n");
    assert_int_equal(wait_event(id, "size").status, 0);
    close(pi[1]);
    remove_ctr(f, id, "size");

    /* the host's EOF on stdin is the terminal's end-of-file: cat ends, even mid-line */
    assert_int_equal(pipe2(pi, O_CLOEXEC), 0);
    fd = exec_tty(f, id, "cat", "[\"sh\",\"-c\",\"stty -echo; echo ready; cat; echo; echo done\"]", pi[0]);
    close(pi[0]);
    /* echo is off once "ready" is out; its line ends "\r\n", or "\r\r\n" when it was written before the runtime
     * cleared ONLCR on the container's terminal (its own terminal, our pair, adds the "\r" from then on) */
    char ready[16];
    size_t rlen = 0;
    while (rlen < sizeof(ready) - 1 && read(fd, ready + rlen, 1) == 1 && ready[rlen++] != '\n')
        ;
    ready[rlen] = '\0';
    assert_true(strcmp(ready, "ready\r\n") == 0 || strcmp(ready, "ready\r\r\n") == 0);
    assert_int_equal(write(pi[1], "one\ntwo", 7), 7);
    close(pi[1]);
    read_tty(fd, out, sizeof(out));
    assert_string_equal(out, "one\ntwo\ndone\n");
    assert_int_equal(wait_event(id, "cat").status, 0);
    remove_ctr(f, id, "cat");

    /* close_stdin ends the input while the host still holds its write end */
    assert_int_equal(pipe2(pi, O_CLOEXEC), 0);
    fd = exec_tty(f, id, "close", "[\"cat\"]", pi[0]);
    close(pi[0]);
    assert_int_equal(write(pi[1], "abc\n", 4), 4);
    OK(f->ops->close_stdin(f->inst, id, "close", &err)); /* at once: the relay may not have read it yet */
    read_tty(fd, out, sizeof(out));
    assert_string_equal(out, "abc\nabc\n");
    assert_int_equal(wait_event(id, "close").status, 0);
    close(pi[1]);
    remove_ctr(f, id, "close");

    /* 1 MiB of output through a host that reads slowly: nothing lost */
    fd = exec_tty(f, id, "big", "[\"sh\",\"-c\",\"stty raw; head -c 1048576 /dev/zero | tr '\\\\0' x\"]", -1);
    usleep(300000);
    size_t total = 0;
    char chunk[65536];
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            assert_int_equal(chunk[i], 'x');
        total += (size_t)n;
    }
    close(fd);
    assert_int_equal(total, 1048576);
    assert_int_equal(wait_event(id, "big").status, 0);
    remove_ctr(f, id, "big");

    /* no such program: the runtime's message on the terminal's fd, 255 */
    fd = exec_tty(f, id, "nope", "[\"/no/such/program\"]", -1);
    read_all(fd, out, sizeof(out));
    assert_non_null(strstr(out, "no such file"));
    assert_int_equal(wait_event(id, "nope").status, 255);
    remove_ctr(f, id, "nope");

    /* resize and close_stdin of an exec without a terminal; a TTY exec left running goes with its container */
    exec_with(f, id, "plain", "[\"sleep\",\"100\"]", -1, -1);
    expect_error(f->ops->resize_pty(f->inst, id, "plain", 80, 24, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "no terminal");
    OK(f->ops->close_stdin(f->inst, id, "plain", &err));
    expect_error(f->ops->resize_pty(f->inst, id, "nope2", 80, 24, &err), &err, CLEAT_STATUS_NOT_FOUND, "nope2");
    fd = exec_tty(f, id, "left", "[\"sleep\",\"100\"]", -1);
    kill_and_remove(f, id);
    read_all(fd, out, sizeof(out)); /* EOF once the container is gone */
    expect_clean(f);
}

/*
 * A runtime wrapper that holds every `exec --tty` at a gate (a FIFO) until
 * open_gate(): the exec is spawned and its relay runs, but the process cannot
 * start (no pid file) before the test has done what it wants done first.
 */
static void load_gated(struct fx *f, char *gate, size_t size) {
    char script[PATH_MAX + 16], opts[PATH_MAX + 32], *body = NULL;
    snprintf(gate, size, "%s/gate", f->dir);
    assert_int_equal(mkfifo(gate, 0600), 0);
    assert_true(asprintf(&body,
                         "#!/bin/sh\ncase \" $* \" in *\" exec --tty \"*) : < %s ;; esac\nexec " RUNC " \"$@\"\n",
                         gate) > 0);
    write_text(f->dir, "runc-gated", body);
    free(body);
    snprintf(script, sizeof(script), "%s/runc-gated", f->dir);
    assert_int_equal(chmod(script, 0755), 0);
    snprintf(opts, sizeof(opts), "binary: %s", script);
    load(f, opts);
}

/* Let one held exec go on (blocks until its wrapper waits at the gate). */
static void open_gate(const char *gate) {
    int fd = open(gate, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    close(fd);
}

/*
 * Input the host wrote, and then ended, before the process started reaches
 * it all: the end (close_stdin, or EOF on the host's fd) comes after it.
 */
static void test_exec_tty_input_before_start(void **state_) {
    struct fx *f = *state_;
    char bundle[PATH_MAX], gate[PATH_MAX + 16], out[512];
    struct cleat_error *err = NULL;
    load_gated(f, gate, sizeof(gate));
    const char *id = running(f, "early", bundle, sizeof(bundle), 0);

    /* close_stdin while the host still holds its write end: the terminal echoes the line, cat copies it */
    int pi[2];
    assert_int_equal(pipe2(pi, O_CLOEXEC), 0);
    int fd = exec_tty(f, id, "close", "[\"cat\"]", pi[0]);
    close(pi[0]);
    assert_int_equal(write(pi[1], "abc\n", 4), 4);
    OK(f->ops->close_stdin(f->inst, id, "close", &err));
    open_gate(gate);
    read_tty(fd, out, sizeof(out));
    assert_string_equal(out, "abc\nabc\n");
    assert_int_equal(wait_event(id, "close").status, 0);
    close(pi[1]);
    remove_ctr(f, id, "close");

    /* the host's EOF, mid-line: "abc" echoed, then cat's copy at the first VEOF, its end at the second */
    assert_int_equal(pipe2(pi, O_CLOEXEC), 0);
    fd = exec_tty(f, id, "eof", "[\"cat\"]", pi[0]);
    close(pi[0]);
    assert_int_equal(write(pi[1], "abc", 3), 3);
    close(pi[1]);
    open_gate(gate);
    read_tty(fd, out, sizeof(out));
    assert_string_equal(out, "abcabc");
    assert_int_equal(wait_event(id, "eof").status, 0);
    remove_ctr(f, id, "eof");

    kill_and_remove(f, id);
    expect_clean(f);
}

static void read_line(const char *path, char *buf, size_t size) {
    FILE *fp = fopen(path, "re");
    if (!fp)
        fail_msg("%s: %s", path, strerror(errno));
    if (!fgets(buf, (int)size, fp))
        buf[0] = '\0';
    fclose(fp);
}

static void test_update_pause_long_path(void **state_) {
    struct fx *f = *state_;
    char bundle[PATH_MAX], path[PATH_MAX], line[64];
    struct cleat_error *err = NULL;
    uint32_t pid;
    load(f, "");
    const char *id = running(f, "upd", bundle, sizeof(bundle), 1);
    assert_true(strlen(bundle) + strlen("/attach.sock") >= 108);
    OK(f->ops->reopen_log(f->inst, id, &err)); /* through /proc/self/fd/N/attach.sock */
    expect_error(f->ops->close_stdin(f->inst, id, "x", &err), &err, CLEAT_STATUS_NOT_FOUND, "exec");

    OK(f->ops->update(f->inst, id, "{\"pids\":{\"limit\":42}}", &err));
    snprintf(path, sizeof(path), "/sys/fs/cgroup/pids/cleat-rr-%s/pids.max", id);
    read_line(path, line, sizeof(line));
    assert_string_equal(line, "42\n");
    expect_error(f->ops->update(f->inst, id, "{\"pids\":{\"limit\":\"many\"}}", &err), &err, CLEAT_STATUS_INTERNAL,
                 "update");

    OK(f->ops->pause(f->inst, id, &err));
    assert_int_equal(state(f, id, NULL).status, CLEAT_TASK_PAUSED);
    struct cleat_runtime_exec x = {.struct_size = sizeof(x),
                                   .container_id = id,
                                   .exec_id = "p",
                                   .process_json = "{\"args\":[\"true\"],\"cwd\":\"/\"}",
                                   .stdin_fd = -1,
                                   .stdout_fd = -1,
                                   .stderr_fd = -1};
    expect_error(f->ops->exec(f->inst, &x, &pid, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "paused");
    expect_error(f->ops->remove(f->inst, id, NULL, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "paused");
    OK(f->ops->resume(f->inst, id, &err));
    assert_int_equal(state(f, id, NULL).status, CLEAT_TASK_RUNNING);
    expect_error(f->ops->resume(f->inst, id, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "not paused");
    kill_and_remove(f, id);
    expect_error(f->ops->pause(f->inst, id, &err), &err, CLEAT_STATUS_NOT_FOUND, id);
    expect_clean(f);
}

/* A sandbox `name` (the state dir dir/<name>) whose pause has its rootfs in <state dir>/pause; returns its spec. */
static char *pause_sandbox(struct fx *f, const char *name, struct cleat_runtime_sandbox *sb, char *sbdir, size_t size) {
    char rootfs[PATH_MAX];
    sb->id = new_id(f, name);
    snprintf(sbdir, size, "%s/%s", f->dir, name);
    assert_true(snprintf(rootfs, sizeof(rootfs), "%s/pause/rootfs", sbdir) < (int)sizeof(rootfs));
    run_cmd("mkdir -p %s && cp %s %s/pause", rootfs, f->pause, rootfs);
    sb->state_dir = sbdir;
    return spec_text(sb->id, rootfs, "[\"/pause\"]", NS_PID, NULL);
}

/* No zombie among the children of pid. */
static int zombies_of(pid_t parent) {
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        char path[300], buf[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        FILE *fp = fopen(path, "re");
        if (!fp)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        buf[len] = '\0';
        char st;
        int ppid;
        const char *s = strrchr(buf, ')');
        if (s && sscanf(s + 1, " %c %d", &st, &ppid) == 2 && ppid == parent && st == 'Z')
            n++;
    }
    closedir(d);
    return n;
}

static void test_sandbox(void **state_) {
    struct fx *f = *state_;
    char sbdir[PATH_MAX], sbdir2[PATH_MAX], nspath[64], bundle[PATH_MAX];
    struct cleat_error *err = NULL;
    load(f, "");
    struct cleat_runtime_sandbox sb = {.struct_size = sizeof(sb), .id = "rr-no-pause", .state_dir = f->dir};
    OK(f->ops->sandbox_create(f->inst, &sb, &err)); /* no spec: nothing to run */
    OK(f->ops->sandbox_stop(f->inst, sb.id, &err));
    OK(f->ops->sandbox_remove(f->inst, sb.id, &err));

    /* SIGTERM: cleat-pause exits 0 */
    char *spec = pause_sandbox(f, "sb1", &sb, sbdir, sizeof(sbdir));
    sb.spec_json = spec;
    OK(f->ops->sandbox_create(f->inst, &sb, &err));
    struct cleat_runtime_state st = state(f, sb.id, NULL);
    assert_int_equal(st.status, CLEAT_TASK_RUNNING);
    assert_true(pid_alive((pid_t)st.pid));

    /* it reaps what is orphaned in its PID namespace */
    snprintf(nspath, sizeof(nspath), "/proc/%u/ns/pid", st.pid);
    const char *id = make_ctr(f, "inpod", "[\"sh\",\"-c\",\"sh -c 'sleep 0.1 &'; exec sleep 100\"]", 0, nspath, bundle,
                              sizeof(bundle), 0);
    create(f, id, bundle, NULL);
    start(f, id);
    usleep(500000);
    assert_int_equal(zombies_of((pid_t)st.pid), 0);
    kill_and_remove(f, id);

    kill_ctr(f, sb.id, NULL, SIGTERM);
    assert_int_equal(wait_event(sb.id, NULL).status, 0);
    OK(f->ops->sandbox_stop(f->inst, sb.id, &err));
    OK(f->ops->sandbox_remove(f->inst, sb.id, &err));
    expect_error(f->ops->state(f->inst, sb.id, NULL, &st, &err), &err, CLEAT_STATUS_NOT_FOUND, sb.id);
    free(spec);

    /* sandbox_stop kills it; sandbox_remove removes it, and then there is none */
    spec = pause_sandbox(f, "sb2", &sb, sbdir2, sizeof(sbdir2));
    sb.spec_json = spec;
    OK(f->ops->sandbox_create(f->inst, &sb, &err));
    assert_int_equal(state(f, sb.id, NULL).status, CLEAT_TASK_RUNNING);
    OK(f->ops->sandbox_stop(f->inst, sb.id, &err));
    st = state(f, sb.id, NULL);
    assert_int_equal(st.status, CLEAT_TASK_STOPPED);
    assert_int_equal(st.exit_status, 137);
    OK(f->ops->sandbox_stop(f->inst, sb.id, &err));
    OK(f->ops->sandbox_remove(f->inst, sb.id, &err));
    OK(f->ops->sandbox_remove(f->inst, sb.id, &err));
    free(spec);
    expect_clean(f);
}

/* The fds of process `pid`: how many there are, and whether one of them is `target` (readlink). */
static int fds_of(pid_t pid, const char *target, int *ret_holds) {
    char dir[64], path[400], link[PATH_MAX];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    *ret_holds = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
            continue;
        n++;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        ssize_t len = readlink(path, link, sizeof(link) - 1);
        link[len > 0 ? len : 0] = '\0';
        *ret_holds |= strcmp(link, target) == 0;
    }
    closedir(d);
    return n;
}

/* Wait until `pid` runs `argv0`: a container's process is the runtime's init (with fds of its own) until then. */
static void wait_command(pid_t pid, const char *argv0) {
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    for (int i = 0; i < 500; i++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (fd >= 0)
            close(fd);
        buf[n > 0 ? n : 0] = '\0';
        if (strcmp(buf, argv0) == 0) /* argv[0] ends at the first NUL */
            return;
        usleep(10000);
    }
    fail_msg("process %d does not run %s", (int)pid, argv0);
}

static void expect_not_holding(pid_t pid, const char *target, int only_stdio) {
    int holds, n = fds_of(pid, target, &holds);
    if (holds)
        fail_msg("process %d holds %s", (int)pid, target);
    if (only_stdio && n != 3)
        fail_msg("process %d has %d fds, not just 0, 1 and 2", (int)pid, n);
}

/*
 * The daemon holds an fd that is not close-on-exec (as libcurl's sockets
 * are not): neither the shim, nor the runtime's exec child, nor anything in
 * the container may get it.
 */
static void test_children_get_only_their_fds(void **state_) {
    struct fx *f = *state_;
    char bundle[PATH_MAX], marker[PATH_MAX], pidfile[PATH_MAX + 32], line[32] = "";
    load(f, "");
    snprintf(marker, sizeof(marker), "%s/leaked", f->dir);
    int leaked = open(marker, O_RDWR | O_CREAT, 0600); /* deliberately without O_CLOEXEC */
    assert_true(leaked > 2);
    const char *id = running(f, "fds", bundle, sizeof(bundle), 0);
    expect_not_holding(find_shim(id), marker, 0);
    pid_t init = (pid_t)state(f, id, NULL).pid;
    wait_command(init, "sleep");
    expect_not_holding(init, marker, 1);
    uint32_t runtime = exec_with(f, id, "e1", "[\"sleep\",\"100\"]", -1, -1);
    expect_not_holding((pid_t)runtime, marker, 0);
    snprintf(pidfile, sizeof(pidfile), "%s/exec-e1.pid", bundle);
    FILE *fp = NULL;
    for (int i = 0; i < 250 && !(fp = fopen(pidfile, "re")); i++)
        usleep(20000);
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    wait_command((pid_t)atoi(line), "sleep");
    expect_not_holding((pid_t)atoi(line), marker, 1);
    close(leaked);
    kill_ctr(f, id, "e1", SIGKILL);
    assert_int_equal(wait_event(id, "e1").status, 137);
    kill_and_remove(f, id);
    expect_clean(f);
}

static void test_restart(void **state_) {
    struct fx *f = *state_;
    char b1[PATH_MAX], b2[PATH_MAX], path[PATH_MAX + 16];
    load(f, "");
    const char *id = running(f, "survivor", b1, sizeof(b1), 0);
    const char *id2 = running(f, "diesalone", b2, sizeof(b2), 0);
    uint32_t pid = state(f, id, NULL).pid;
    uint32_t pid2 = state(f, id2, NULL).pid;

    plugins_free(f->p); /* the daemon goes away; the shims stay */
    f->p = NULL;
    assert_true(find_shim(id) > 0);
    kill((pid_t)pid2, SIGKILL); /* an exit nobody is watching */
    snprintf(path, sizeof(path), "%s/exit.json", b2);
    for (int i = 0; i < 250 && access(path, F_OK) != 0; i++)
        usleep(20000);

    load(f, ""); /* a new instance finds both from their ids alone */
    struct cleat_runtime_state st = state(f, id, NULL);
    assert_int_equal(st.status, CLEAT_TASK_RUNNING);
    assert_int_equal(st.pid, pid);
    st = state(f, id2, NULL);
    assert_int_equal(st.status, CLEAT_TASK_STOPPED);
    assert_int_equal(st.exit_status, 137);
    remove_ctr(f, id2, NULL);
    kill_and_remove(f, id); /* the exit is reported by the new instance */
    expect_clean(f);
}

/* One container's whole life on its own thread; the first failure is recorded in `failed`. */
struct worker {
    struct fx *f;
    const char *id;
    char bundle[PATH_MAX];
    char failed[512];
};

static int step(struct worker *w, const char *what, int r, struct cleat_error *err) {
    if (r < 0 && !w->failed[0])
        snprintf(w->failed, sizeof(w->failed), "%s: %s", what, err ? error_message(err) : "?");
    error_free(err);
    return r;
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    const struct cleat_runtime_ops *ops = w->f->ops;
    void *inst = w->f->inst;
    struct cleat_error *err = NULL;
    struct cleat_runtime_container c = {.struct_size = sizeof(c), .id = w->id, .bundle_dir = w->bundle};
    struct cleat_runtime_exec x = {.struct_size = sizeof(x),
                                   .container_id = w->id,
                                   .exec_id = "x",
                                   .process_json = "{\"args\":[\"true\"],\"cwd\":\"/\",\"env\":[\"PATH=/bin\"]}",
                                   .stdin_fd = -1,
                                   .stdout_fd = -1,
                                   .stderr_fd = -1};
    struct event e;
    uint32_t pid;
    if (step(w, "create", ops->create(inst, &c, &err), err) < 0 ||
        step(w, "start", ops->start(inst, w->id, &pid, &err), err) < 0 ||
        step(w, "exec", ops->exec(inst, &x, &pid, &err), err) < 0)
        return NULL;
    if (!find_event(w->id, "x", &e) || e.status != 0)
        snprintf(w->failed, sizeof(w->failed), "exec exit event missing or not 0");
    if (step(w, "exec remove", ops->remove(inst, w->id, "x", &err), err) < 0 ||
        step(w, "kill", ops->kill(inst, w->id, NULL, SIGKILL, CLEAT_KILL_ALL, &err), err) < 0)
        return NULL;
    if (!find_event(w->id, NULL, &e) || e.status != 137)
        snprintf(w->failed, sizeof(w->failed), "exit event missing or not 137");
    step(w, "remove", ops->remove(inst, w->id, NULL, &err), err);
    return NULL;
}

/* Ops on different containers run concurrently (as the core calls them). */
static void test_concurrent(void **state_) {
    struct fx *f = *state_;
    enum { N = 6 };
    struct worker w[N];
    pthread_t t[N];
    char name[16];
    load(f, "");
    for (int i = 0; i < N; i++) {
        w[i] = (struct worker){.f = f};
        snprintf(name, sizeof(name), "par%d", i);
        w[i].id = make_ctr(f, name, "[\"sleep\",\"100\"]", NS_PID, NULL, w[i].bundle, sizeof(w[i].bundle), 0);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++)
        if (w[i].failed[0])
            fail_msg("%s: %s", w[i].id, w[i].failed);
    expect_clean(f);
}

static void test_errors(void **state_) {
    struct fx *f = *state_;
    char bundle[PATH_MAX], buf[64], link[PATH_MAX + 64];
    struct cleat_error *err = NULL;
    struct cleat_runtime_state st;
    uint32_t pid;
    load(f, "");
    const char *nope = "rr-unknown";
    expect_error(f->ops->start(f->inst, nope, &pid, &err), &err, CLEAT_STATUS_NOT_FOUND, nope);
    expect_error(f->ops->kill(f->inst, nope, NULL, SIGTERM, 0, &err), &err, CLEAT_STATUS_NOT_FOUND, nope);
    expect_error(f->ops->remove(f->inst, nope, NULL, &err), &err, CLEAT_STATUS_NOT_FOUND, nope);
    expect_error(f->ops->state(f->inst, nope, NULL, &st, &err), &err, CLEAT_STATUS_NOT_FOUND, nope);
    expect_error(f->ops->update(f->inst, nope, "{}", &err), &err, CLEAT_STATUS_NOT_FOUND, nope);
    expect_error(f->ops->resume(f->inst, nope, &err), &err, CLEAT_STATUS_NOT_FOUND, nope);
    expect_error(f->ops->reopen_log(f->inst, nope, &err), &err, CLEAT_STATUS_NOT_FOUND, nope);
    expect_error(f->ops->attach_address(f->inst, nope, buf, sizeof(buf), &err), &err, CLEAT_STATUS_NOT_FOUND, nope);
    expect_error(f->ops->state(f->inst, "../x", NULL, &st, &err), &err, CLEAT_STATUS_NOT_FOUND, "../x");
    struct cleat_runtime_container c = {.struct_size = sizeof(c), .id = "../x", .bundle_dir = f->dir};
    expect_error(f->ops->create(f->inst, &c, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "invalid container id");

    /* runc refuses the spec: its message, and nothing left behind */
    const char *id = make_ctr(f, "bad", "[]", NS_PID, NULL, bundle, sizeof(bundle), 0);
    c.id = id;
    c.bundle_dir = bundle;
    expect_error(f->ops->create(f->inst, &c, &err), &err, CLEAT_STATUS_INTERNAL, "args must not be empty");
    snprintf(link, sizeof(link), "%s/state/plugins/runtime/runc/containers/%s", f->dir, id);
    assert_int_equal(access(link, F_OK), -1);
    expect_error(f->ops->state(f->inst, id, NULL, &st, &err), &err, CLEAT_STATUS_NOT_FOUND, id);
    expect_clean(f);
    /* a bad binary loads (the daemon must start) but the runtime is not ready */
    load(f, "binary: /nonexistent/runc");
    expect_error(f->ops->status(f->inst, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "/nonexistent/runc");
    assert_int_equal(f->ops->features(f->inst), CLEAT_RUNTIME_FEATURE_USER_NAMESPACES); /* it said nothing */
    load(f, "binary: /etc");
    expect_error(f->ops->status(f->inst, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "not an executable");
    assert_true(try_load(f, "binary: runc", &err) < 0);
    expect_error(-1, &err, CLEAT_STATUS_INVALID_ARGUMENT, "absolute");
    assert_true(try_load(f, "binaries: /usr/bin/runc", &err) < 0);
    expect_error(-1, &err, CLEAT_STATUS_INVALID_ARGUMENT, "binaries");
    assert_true(try_load(f, "runtime_args: --debug", &err) < 0);
    expect_error(-1, &err, CLEAT_STATUS_INVALID_ARGUMENT, "runtime_args");
}

/* Recursive read-only mounts are claimed on the runtime's own word only: its `features` must list "rro". */
static void test_features_from_the_runtime(void **state_) {
    struct fx *f = *state_;
    char script[PATH_MAX + 16], opts[PATH_MAX + 32];
    static const struct {
        const char *features; /* what the wrapper does for `features` */
        uint64_t want;
    } cases[] = {
        {"echo '{\"mountOptions\":[\"ro\",\"rbind\"]}'", 0},
        {"echo '{\"mountOptions\":[\"rro\"]}'", CLEAT_RUNTIME_FEATURE_RECURSIVE_READ_ONLY_MOUNTS},
        {"echo 'no such command: features' >&2; exit 1", 0},
        {"echo '{\"mountOptions\":[\"rro\"]}'; exit 1", 0},
        {"echo not json", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *body = NULL;
        assert_true(asprintf(&body,
                             "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = features ] && { %s; exit; }; done\nexec " RUNC
                             " \"$@\"\n",
                             cases[i].features) > 0);
        write_text(f->dir, "runc-features", body);
        free(body);
        snprintf(script, sizeof(script), "%s/runc-features", f->dir);
        assert_int_equal(chmod(script, 0755), 0);
        snprintf(opts, sizeof(opts), "binary: %s", script);
        load(f, opts);
        if (f->ops->features(f->inst) != (CLEAT_RUNTIME_FEATURE_USER_NAMESPACES | cases[i].want))
            fail_msg("case %zu (%s): features %#llx", i, cases[i].features,
                     (unsigned long long)f->ops->features(f->inst));
    }
}

/* Options reach the runtime: runtime_args come first on every invocation, the shim's create included. */
static void test_options(void **state_) {
    struct fx *f = *state_;
    char bundle[PATH_MAX], script[PATH_MAX + 16], logf[PATH_MAX + 16], text[8192] = "";
    struct cleat_error *err = NULL;
    /* a wrapper that logs its arguments, then is runc; the extra option is a harmless one of runc's */
    snprintf(script, sizeof(script), "%s/runc-wrap", f->dir);
    snprintf(logf, sizeof(logf), "%s/args.log", f->dir);
    char *body = NULL;
    assert_true(asprintf(&body, "#!/bin/sh\necho \"$*\" >> %s\nexec " RUNC " \"$@\"\n", logf) > 0);
    write_text(f->dir, "runc-wrap", body);
    free(body);
    assert_int_equal(chmod(script, 0755), 0);
    char opts[PATH_MAX + 128];
    snprintf(opts, sizeof(opts), "binary: %s, runtime_args: [--log-format, text]", script);
    load(f, opts);
    OK(f->ops->status(f->inst, &err));
    const char *id = running(f, "opts", bundle, sizeof(bundle), 0);
    kill_and_remove(f, id);
    FILE *fp = fopen(logf, "re");
    assert_non_null(fp);
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    text[n] = '\0';
    fclose(fp);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "--root %s --log-format text create --bundle", f->runc_root);
    if (!strstr(text, want))
        fail_msg("no '%s' in:\n%s", want, text);
    snprintf(want, sizeof(want), "--root %s --log-format text start %s", f->runc_root, id);
    if (!strstr(text, want))
        fail_msg("no '%s' in:\n%s", want, text);
    expect_clean(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_features_from_the_runtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdio_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tty_stdin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_status_and_odd_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_tty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_tty_input_before_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_pause_long_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_children_get_only_their_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
