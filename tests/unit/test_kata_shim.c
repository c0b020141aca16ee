/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime-kata's ttrpc layer against the real containerd-shim-runc-v2:
 * the shim is started as containerd starts it (`start` in the bundle, with
 * our events socket in TTRPC_ADDRESS), then driven through shim_call --
 * Connect, State, Create (with runc options), Start, Wait, Stats, Kill,
 * Delete, Shutdown -- while its events arrive at ttrpc_events_serve().
 * Needs root, the shim and runc; busybox containers.
 *
 * The shim listens under /run/containerd/s/ (its choice); every test
 * removes that socket, the shim, runc's state and the cgroup it made.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "plugin_loader.h"
#include "testutil.h"

#include "shim_call.h"
#include "shim_stats.h"
#include "shimv2.pb-c.h"
#include "ttrpc.h"
#include "ttrpc_server.h"

#define SHIM "/usr/bin/containerd-shim-runc-v2"
#define RUNC "/usr/bin/runc"
#define NS "cleat-test"
#define CALL_TIMEOUT_MS 10000
#define EVENT_TIMEOUT_MS 10000

/* Run a call that sets `err` (in scope) and fail with its message: the call is made before err is read. */
#define OK(call)                                                                                                       \
    do {                                                                                                               \
        int r_ = (call);                                                                                               \
        check(r_, err);                                                                                                \
    } while (0)

/* shim_call with a request struct and the response type's prefix (shimv2__state_response); fails the test on error. */
#define CALL(f, method, req, resp_type, ret)                                                                           \
    do {                                                                                                               \
        struct cleat_error *call_err_ = NULL;                                                                          \
        int call_r_ = shim_call((f)->c, method, &(req).base, &resp_type##__descriptor, CALL_TIMEOUT_MS,                \
                                (ProtobufCMessage **)(ret), &call_err_);                                               \
        check(call_r_, call_err_);                                                                                     \
    } while (0)

struct fx {
    struct plugin_instance pi;
    const struct cleat_host *host;
    char dir[64];
    char bundle[128], rootfs[128], runc_root[128], events[128];
    char id[64];
    char address[256]; /* what `start` printed */
    int log_fd;        /* our end of the bundle's "log" FIFO, which the shim writes its log to */
    struct ttrpc_server *srv;
    struct ttrpc_client *c;
    pid_t shim_pid;
};

/* --- events, as the server's callback saw them ------------------------------------------------------------------- */

struct event {
    char topic[64], type_url[128];
    uint8_t value[512];
    size_t len;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct event ev[64];
    int n;
    char ns_seen[64];
} events = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void on_event(void *ctx, const char *topic, const char *ns, const char *type_url, const uint8_t *value,
                     size_t len) {
    (void)ctx;
    pthread_mutex_lock(&events.lock);
    if (events.n < 64 && len <= sizeof(events.ev[0].value)) {
        struct event *e = &events.ev[events.n++];
        snprintf(e->topic, sizeof(e->topic), "%s", topic);
        snprintf(e->type_url, sizeof(e->type_url), "%s", type_url);
        memcpy(e->value, value, len);
        e->len = len;
        snprintf(events.ns_seen, sizeof(events.ns_seen), "%s", ns);
    }
    pthread_cond_broadcast(&events.cond);
    pthread_mutex_unlock(&events.lock);
}

/* The first event on `topic`, copied into *ret; fails the test when none comes in time. */
static void wait_event(const char *topic, struct event *ret) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += EVENT_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&events.lock);
    for (;;) {
        for (int i = 0; i < events.n; i++)
            if (strcmp(events.ev[i].topic, topic) == 0) {
                *ret = events.ev[i];
                pthread_mutex_unlock(&events.lock);
                return;
            }
        if (pthread_cond_timedwait(&events.cond, &events.lock, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&events.lock);
    fail_msg("no %s event from the shim", topic);
}

/* --- fixture ------------------------------------------------------------------------------------------------------ */

static void run(const char *fmt, ...) CLEAT_PRINTF(1, 2);
static void run(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        fail_msg("failed: %s", cmd);
}

/* 1 while `pid` runs (a zombie does not count: PID 1 here does not reap the shim). */
static int alive(pid_t pid) {
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

/* The bundle's config.json: `args` (a JSON array) in the busybox rootfs, in the cgroup /cleat-kt-<id>. */
static void write_spec(struct fx *f, const char *args) {
    char *spec = NULL;
    assert_true(asprintf(&spec,
                         "{\"ociVersion\":\"1.0.2-dev\",\"process\":{\"user\":{\"uid\":0,\"gid\":0},\"args\":%s,"
                         "\"env\":[\"PATH=/bin\"],\"cwd\":\"/\",\"capabilities\":{\"bounding\":[\"CAP_KILL\"],"
                         "\"effective\":[\"CAP_KILL\"],\"permitted\":[\"CAP_KILL\"]},\"noNewPrivileges\":true},"
                         "\"root\":{\"path\":\"%s\"},\"hostname\":\"kt\",\"mounts\":[{\"destination\":\"/proc\","
                         "\"type\":\"proc\",\"source\":\"proc\"}],\"linux\":{\"cgroupsPath\":\"/cleat-kt-%s\","
                         "\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},\"namespaces\":["
                         "{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"}],"
                         "\"maskedPaths\":[\"/proc/kcore\"],\"readonlyPaths\":[\"/proc/sys\"]}}",
                         args, f->rootfs, f->id) > 0);
    write_text(f->bundle, "config.json", spec);
    free(spec);
}

/*
 * `containerd-shim-runc-v2 -namespace NS -address ADDR -publish-binary /bin/false -id ID start`, as containerd
 * runs it: in the bundle, TTRPC_ADDRESS naming where events go; it prints the address of the shim it started.
 */
static void start_shim(struct fx *f) {
    int out[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    char address_flag[128], ttrpc_env[160];
    snprintf(address_flag, sizeof(address_flag), "%s/containerd.sock", f->dir); /* only hashed into its socket name */
    snprintf(ttrpc_env, sizeof(ttrpc_env), "TTRPC_ADDRESS=%s", f->events);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* only async-signal-safe calls: the events server's thread runs */
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (chdir(f->bundle) < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0)
            _exit(127);
        char *argv[] = {SHIM,         "-namespace", NS,    "-address", address_flag, "-publish-binary",
                        "/bin/false", "-id",        f->id, "start",    NULL};
        char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", ttrpc_env, NULL};
        execve(SHIM, argv, envp);
        _exit(127);
    }
    close(out[1]);
    size_t got = 0;
    ssize_t n;
    while ((n = read(out[0], f->address + got, sizeof(f->address) - 1 - got)) > 0)
        got += (size_t)n;
    f->address[got] = '\0';
    close(out[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || strncmp(f->address, "unix://", 7) != 0)
        fail_msg("%s start failed (status %d): '%s'", SHIM, status, f->address);
}

static void connect_shim(struct fx *f) {
    struct cleat_error *err = NULL;
    OK(ttrpc_connect(f->host, f->address, 5000, &f->c, &err));
    Shimv2__ConnectRequest req = SHIMV2__CONNECT_REQUEST__INIT;
    req.id = f->id;
    Shimv2__ConnectResponse *resp = NULL;
    OK(shim_call(f->c, "Connect", &req.base, &shimv2__connect_response__descriptor, CALL_TIMEOUT_MS,
                 (ProtobufCMessage **)&resp, &err));
    assert_true(resp->shim_pid > 1);
    f->shim_pid = (pid_t)resp->shim_pid;
    assert_true(alive(f->shim_pid));
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static int setup(void **state) {
    if (geteuid() != 0 || access(SHIM, X_OK) != 0 || access(RUNC, X_OK) != 0) {
        print_message("shim v2 tests need root, %s and %s\n", SHIM, RUNC);
        skip();
    }
    struct fx *f = calloc(1, sizeof(*f));
    f->pi.name = "test";
    f->pi.log_prefix = "test";
    plugin_host_init(&f->pi.host, &f->pi, NULL);
    f->host = &f->pi.host;
    temp_dir(f->dir, sizeof(f->dir), "cleat-kt");
    static int tests_run;
    snprintf(f->id, sizeof(f->id), "kt%d-%d", (int)getpid(), ++tests_run); /* ids are never reused */
    snprintf(f->bundle, sizeof(f->bundle), "%s/bundle", f->dir);
    snprintf(f->rootfs, sizeof(f->rootfs), "%s/rootfs", f->dir);
    snprintf(f->runc_root, sizeof(f->runc_root), "%s/runc", f->dir);
    snprintf(f->events, sizeof(f->events), "%s/events.sock", f->dir);
    run("mkdir -p %s %s/bin %s/proc %s/dev && cp /bin/busybox %s/bin/ && for t in sh sleep; do ln -s busybox "
        "%s/bin/$t; done",
        f->bundle, f->rootfs, f->rootfs, f->rootfs, f->rootfs, f->rootfs);
    /* The shim writes its log to the bundle's FIFO "log" and will not start without a reader there. */
    char log[192];
    snprintf(log, sizeof(log), "%s/log", f->bundle);
    assert_int_equal(mkfifo(log, 0600), 0);
    f->log_fd = open(log, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(f->log_fd >= 0);
    pthread_mutex_lock(&events.lock);
    events.n = 0;
    pthread_mutex_unlock(&events.lock);
    struct cleat_error *err = NULL;
    OK(ttrpc_events_serve(f->host, f->events, on_event, NULL, &f->srv, &err));
    f->shim_pid = -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    ttrpc_close(f->c);
    /* After a failed test: the container, then the shim we started, then its socket. */
    char cmd[512]; /* also where runc keeps state by default: a test of the options failed */
    snprintf(cmd, sizeof(cmd),
             "for r in %s /run/containerd/runc; do [ ! -d $r/" NS " ] || " RUNC " --root $r/" NS " delete -f %s; done "
             ">/dev/null 2>&1",
             f->runc_root, f->id);
    (void)!system(cmd);
    if (f->shim_pid > 0 && alive(f->shim_pid))
        kill(f->shim_pid, SIGKILL);
    if (strncmp(f->address, "unix://", 7) == 0)
        unlink(f->address + 7);
    ttrpc_server_stop(f->srv);
    close(f->log_fd);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* --- calls -------------------------------------------------------------------------------------------------------- */

/* Create the task from the bundle, with runc options whose root is ours (so that runc's state is found). */
static uint32_t create_task(struct fx *f) {
    Shimv2__RuncOptions opts = SHIMV2__RUNC_OPTIONS__INIT;
    opts.root = f->runc_root;
    opts.binary_name = RUNC;
    uint8_t buf[512];
    Shimv2__Any any = SHIMV2__ANY__INIT;
    any.type_url = SHIM_TYPE_RUNC_OPTIONS;
    any.value.data = buf;
    any.value.len = shimv2__runc_options__pack(&opts, buf);
    Shimv2__CreateTaskRequest req = SHIMV2__CREATE_TASK_REQUEST__INIT;
    req.id = f->id;
    req.bundle = f->bundle;
    req.options = &any;
    Shimv2__CreateTaskResponse *resp = NULL;
    CALL(f, "Create", req, shimv2__create_task_response, &resp);
    uint32_t pid = resp->pid;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    assert_true(pid > 0);
    /* The options arrived: runc keeps its state under our root, in a directory for the namespace. */
    char state[256];
    snprintf(state, sizeof(state), "%s/" NS "/%s/state.json", f->runc_root, f->id);
    assert_int_equal(access(state, F_OK), 0);
    return pid;
}

static Shimv2__StateResponse *task_state(struct fx *f) {
    Shimv2__StateRequest req = SHIMV2__STATE_REQUEST__INIT;
    req.id = f->id;
    Shimv2__StateResponse *resp = NULL;
    CALL(f, "State", req, shimv2__state_response, &resp);
    return resp;
}

static void start_task(struct fx *f, uint32_t pid) {
    Shimv2__StartRequest req = SHIMV2__START_REQUEST__INIT;
    req.id = f->id;
    Shimv2__StartResponse *resp = NULL;
    CALL(f, "Start", req, shimv2__start_response, &resp);
    assert_int_equal(resp->pid, pid);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static void delete_task(struct fx *f, uint32_t exit_status) {
    Shimv2__DeleteRequest req = SHIMV2__DELETE_REQUEST__INIT;
    req.id = f->id;
    Shimv2__DeleteResponse *resp = NULL;
    CALL(f, "Delete", req, shimv2__delete_response, &resp);
    assert_int_equal(resp->exit_status, exit_status);
    assert_true(shim_timestamp_ns(resp->exited_at) > 0);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

/* Shutdown: the shim exits (it may do so before it answers), and takes its socket with it. */
static void shutdown_shim(struct fx *f) {
    Shimv2__ShutdownRequest req = SHIMV2__SHUTDOWN_REQUEST__INIT;
    req.id = f->id;
    struct cleat_error *err = NULL;
    int r = shim_call(f->c, "Shutdown", &req.base, &shimv2__empty__descriptor, CALL_TIMEOUT_MS, NULL, &err);
    if (r < 0)
        expect_error(r, &err, CLEAT_STATUS_UNAVAILABLE, "closed the connection");
    for (int i = 0; i < 250 && alive(f->shim_pid); i++)
        usleep(20000);
    assert_false(alive(f->shim_pid));
    for (int i = 0; i < 250 && ttrpc_alive(f->c); i++)
        usleep(20000);
    assert_int_equal(ttrpc_alive(f->c), 0);
    assert_int_equal(access(f->address + 7, F_OK), -1);
}

/* The exit status (and time) Wait answers. */
struct waiter {
    struct fx *f;
    pthread_t thread;
    int r;
    struct cleat_error *err;
    Shimv2__WaitResponse *resp;
};

static void *wait_main(void *arg) {
    struct waiter *w = arg;
    Shimv2__WaitRequest req = SHIMV2__WAIT_REQUEST__INIT;
    req.id = w->f->id;
    w->r = shim_call(w->f->c, "Wait", &req.base, &shimv2__wait_response__descriptor, 0, (ProtobufCMessage **)&w->resp,
                     &w->err);
    return NULL;
}

/* --- tests -------------------------------------------------------------------------------------------------------- */

/* Connect, State of a task that is not there, Shutdown of an idle shim. */
static void test_connect_and_not_found(void **state) {
    struct fx *f = *state;
    write_spec(f, "[\"true\"]");
    start_shim(f);
    connect_shim(f);
    Shimv2__StateRequest req = SHIMV2__STATE_REQUEST__INIT;
    req.id = "no-such-task";
    struct cleat_error *err = NULL;
    Shimv2__StateResponse *resp = NULL;
    expect_error(shim_call(f->c, "State", &req.base, &shimv2__state_response__descriptor, CALL_TIMEOUT_MS,
                           (ProtobufCMessage **)&resp, &err),
                 &err, CLEAT_STATUS_NOT_FOUND, "State: ");
    assert_null(resp);
    /* A method the task service does not have: the shim's own UNIMPLEMENTED. */
    expect_error(shim_call(f->c, "Frobnicate", &req.base, &shimv2__empty__descriptor, CALL_TIMEOUT_MS, NULL, &err),
                 &err, CLEAT_STATUS_UNIMPLEMENTED, "Frobnicate");
    shutdown_shim(f);
}

/* Create, State, Start, Wait, Delete of `sh -c "exit 7"`, and the events the shim forwards meanwhile. */
static void test_lifecycle_and_events(void **state) {
    struct fx *f = *state;
    write_spec(f, "[\"sh\",\"-c\",\"sleep 0.3; exit 7\"]");
    start_shim(f);
    connect_shim(f);
    uint32_t pid = create_task(f);
    Shimv2__StateResponse *st = task_state(f);
    assert_int_equal(st->status, SHIMV2__TASK_STATUS__TASK_STATUS_CREATED);
    assert_int_equal(st->pid, pid);
    assert_string_equal(st->bundle, f->bundle);
    protobuf_c_message_free_unpacked(&st->base, NULL);
    struct waiter w = {.f = f};
    start_task(f, pid);
    pthread_create(&w.thread, NULL, wait_main, &w);
    pthread_join(w.thread, NULL);
    check(w.r, w.err);
    assert_int_equal(w.resp->exit_status, 7);
    int64_t exited = shim_timestamp_ns(w.resp->exited_at);
    assert_true(exited > 0);
    protobuf_c_message_free_unpacked(&w.resp->base, NULL);
    st = task_state(f);
    assert_int_equal(st->status, SHIMV2__TASK_STATUS__TASK_STATUS_STOPPED);
    assert_int_equal(st->exit_status, 7);
    protobuf_c_message_free_unpacked(&st->base, NULL);

    struct event e;
    wait_event(SHIM_TOPIC_TASK_CREATE, &e);
    assert_true(shim_type_is(e.type_url, SHIM_TYPE_TASK_CREATE));
    Shimv2__TaskCreate *tc = shimv2__task_create__unpack(NULL, e.len, e.value);
    assert_non_null(tc);
    assert_string_equal(tc->container_id, f->id);
    assert_string_equal(tc->bundle, f->bundle);
    assert_int_equal(tc->pid, pid);
    shimv2__task_create__free_unpacked(tc, NULL);
    wait_event(SHIM_TOPIC_TASK_START, &e);
    assert_true(shim_type_is(e.type_url, SHIM_TYPE_TASK_START));
    wait_event(SHIM_TOPIC_TASK_EXIT, &e);
    assert_true(shim_type_is(e.type_url, SHIM_TYPE_TASK_EXIT));
    Shimv2__TaskExit *ex = shimv2__task_exit__unpack(NULL, e.len, e.value);
    assert_non_null(ex);
    assert_string_equal(ex->container_id, f->id);
    assert_string_equal(ex->id, f->id);
    assert_int_equal(ex->pid, pid);
    assert_int_equal(ex->exit_status, 7);
    assert_int_equal(shim_timestamp_ns(ex->exited_at), exited);
    shimv2__task_exit__free_unpacked(ex, NULL);
    pthread_mutex_lock(&events.lock);
    assert_string_equal(events.ns_seen, NS);
    pthread_mutex_unlock(&events.lock);

    delete_task(f, 7);
    wait_event(SHIM_TOPIC_TASK_DELETE, &e);
    Shimv2__StateRequest req = SHIMV2__STATE_REQUEST__INIT;
    req.id = f->id;
    struct cleat_error *err = NULL;
    expect_error(shim_call(f->c, "State", &req.base, &shimv2__state_response__descriptor, CALL_TIMEOUT_MS, NULL, &err),
                 &err, CLEAT_STATUS_NOT_FOUND, "State");
    shutdown_shim(f);
}

/* A running task: Stats (cgroup metrics), State while a Wait is pending, Pids, Kill, and Wait's 137. */
static void test_stats_wait_kill(void **state) {
    struct fx *f = *state;
    write_spec(f, "[\"sleep\",\"100\"]");
    start_shim(f);
    connect_shim(f);
    uint32_t pid = create_task(f);
    start_task(f, pid);
    struct waiter w = {.f = f};
    pthread_create(&w.thread, NULL, wait_main, &w);

    /* The Wait in flight holds up nothing. */
    Shimv2__StateResponse *st = task_state(f);
    assert_int_equal(st->status, SHIMV2__TASK_STATUS__TASK_STATUS_RUNNING);
    protobuf_c_message_free_unpacked(&st->base, NULL);
    Shimv2__PidsRequest pr = SHIMV2__PIDS_REQUEST__INIT;
    pr.id = f->id;
    Shimv2__PidsResponse *pids = NULL;
    CALL(f, "Pids", pr, shimv2__pids_response, &pids);
    assert_int_equal(pids->n_processes, 1);
    assert_int_equal(pids->processes[0]->pid, pid);
    protobuf_c_message_free_unpacked(&pids->base, NULL);

    Shimv2__StatsRequest sr = SHIMV2__STATS_REQUEST__INIT;
    sr.id = f->id;
    Shimv2__StatsResponse *stats = NULL;
    CALL(f, "Stats", sr, shimv2__stats_response, &stats);
    assert_non_null(stats->stats);
    if (shim_type_is(stats->stats->type_url, SHIM_TYPE_CGROUPS_V1_METRICS)) {
        Shimv2__CgroupsV1Metrics *m =
            shimv2__cgroups_v1_metrics__unpack(NULL, stats->stats->value.len, stats->stats->value.data);
        assert_non_null(m);
        assert_non_null(m->pids);
        assert_int_equal(m->pids->current, 1);
        assert_non_null(m->memory);
        assert_non_null(m->memory->usage);
        assert_true(m->memory->usage->usage > 0);
        assert_non_null(m->cpu);
        assert_non_null(m->cpu->usage);
        assert_true(m->cpu->usage->total > 0);
        shimv2__cgroups_v1_metrics__free_unpacked(m, NULL);
    } else {
        assert_string_equal(stats->stats->type_url, SHIM_TYPE_CGROUPS_V2_METRICS);
        Shimv2__CgroupsV2Metrics *m =
            shimv2__cgroups_v2_metrics__unpack(NULL, stats->stats->value.len, stats->stats->value.data);
        assert_non_null(m);
        assert_int_equal(m->pids->current, 1);
        assert_true(m->memory->usage > 0);
        assert_true(m->cpu->usage_usec > 0);
        shimv2__cgroups_v2_metrics__free_unpacked(m, NULL);
    }
    /* And as the CRI will report it. */
    struct shim_stats cri;
    struct cleat_error *err = NULL;
    OK(shim_stats_decode(f->host, stats->stats, &cri, &err));
    assert_int_equal(cri.have, SHIM_STATS_HAVE_CPU | SHIM_STATS_HAVE_MEMORY | SHIM_STATS_HAVE_PIDS);
    assert_int_equal(cri.pids, 1);
    assert_true(cri.cpu_usage_ns > 0);
    assert_true(cri.memory_usage_bytes > 0);
    assert_true(cri.memory_working_set_bytes > 0 && cri.memory_working_set_bytes <= cri.memory_usage_bytes);
    assert_true(cri.memory_page_faults > 0);
    protobuf_c_message_free_unpacked(&stats->base, NULL);

    Shimv2__KillRequest kr = SHIMV2__KILL_REQUEST__INIT;
    kr.id = f->id;
    kr.signal = SIGKILL;
    CALL(f, "Kill", kr, shimv2__empty, NULL);
    pthread_join(w.thread, NULL);
    check(w.r, w.err);
    assert_int_equal(w.resp->exit_status, 128 + SIGKILL);
    protobuf_c_message_free_unpacked(&w.resp->base, NULL);
    delete_task(f, 128 + SIGKILL);
    shutdown_shim(f);
}

/* The shim is killed while a Wait is pending: the Wait, and every later call, fail with UNAVAILABLE. */
static void test_shim_killed(void **state) {
    struct fx *f = *state;
    write_spec(f, "[\"sleep\",\"100\"]");
    start_shim(f);
    connect_shim(f);
    uint32_t pid = create_task(f);
    start_task(f, pid);
    struct waiter w = {.f = f};
    pthread_create(&w.thread, NULL, wait_main, &w);
    usleep(100000); /* the Wait is in the shim */
    assert_int_equal(kill(f->shim_pid, SIGKILL), 0);
    pthread_join(w.thread, NULL);
    expect_error(w.r, &w.err, CLEAT_STATUS_UNAVAILABLE, "closed the connection");
    assert_null(w.resp);
    assert_int_equal(ttrpc_alive(f->c), 0);
    struct cleat_error *err = NULL;
    Shimv2__StateRequest req = SHIMV2__STATE_REQUEST__INIT;
    req.id = f->id;
    expect_error(shim_call(f->c, "State", &req.base, &shimv2__state_response__descriptor, CALL_TIMEOUT_MS, NULL, &err),
                 &err, CLEAT_STATUS_UNAVAILABLE, f->address);
    /* The container outlives its shim: teardown's runc delete -f ends it, and the socket is removed there. */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_and_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_and_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_wait_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shim_killed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
