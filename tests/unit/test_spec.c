/* SPDX-License-Identifier: Apache-2.0 */
/* spec_build: CRI ContainerConfig + pod + image config → OCI config.json, checked with jansson. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "error.h"
#include "image_manifest.h"
#include "spec.h"

struct fx {
    char root[64];
    Runtime__V1__ContainerConfig c;
    Runtime__V1__PodSandboxConfig p;
    Runtime__V1__LinuxContainerConfig lc;
    Runtime__V1__LinuxContainerSecurityContext sc;
    Runtime__V1__LinuxContainerResources res;
    Runtime__V1__ContainerMetadata cm;
    Runtime__V1__PodSandboxMetadata pm;
    struct image_config img;
    struct spec_input in;
};

static void write_file(const char *dir, const char *rel, const char *text) {
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    struct fx *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->root, sizeof(fx->root), "/tmp/cleat-spec-XXXXXX");
    assert_non_null(mkdtemp(fx->root));
    char etc[128];
    snprintf(etc, sizeof(etc), "%s/etc", fx->root);
    assert_int_equal(mkdir(etc, 0755), 0);
    write_file(fx->root, "etc/passwd",
               "root:x:0:0:root:/root:/bin/sh\n"
               "bogus line\n"
               "daemon:x:1:1::/:/sbin/nologin\n"
               "alice:x:1000:1001:Alice:/home/alice:/bin/sh\n");
    write_file(fx->root, "etc/group",
               "root:x:0:\n"
               "wheel:x:10:root,alice\n"
               "staff:x:50:bob,alice\n"
               "alice:x:1001:\n"
               "video:x:44:bob\n");
    fx->c = (Runtime__V1__ContainerConfig)RUNTIME__V1__CONTAINER_CONFIG__INIT;
    fx->p = (Runtime__V1__PodSandboxConfig)RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    fx->lc = (Runtime__V1__LinuxContainerConfig)RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
    /* The _init functions, not the INIT macros: those name deprecated fields, an error under clang. */
    runtime__v1__linux_container_security_context__init(&fx->sc);
    fx->res = (Runtime__V1__LinuxContainerResources)RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    fx->cm = (Runtime__V1__ContainerMetadata)RUNTIME__V1__CONTAINER_METADATA__INIT;
    fx->pm = (Runtime__V1__PodSandboxMetadata)RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    fx->cm.name = "web";
    fx->pm.name = "pod";
    fx->pm.namespace_ = "default";
    fx->pm.uid = "uid-1";
    fx->c.metadata = &fx->cm;
    fx->p.metadata = &fx->pm;
    fx->p.hostname = "podhost";
    fx->lc.security_context = &fx->sc;
    fx->lc.resources = &fx->res;
    fx->c.linux = &fx->lc;
    static char *ep[] = {"/entry", NULL}, *cmd[] = {"cmd1", "cmd2", NULL};
    static char *env[] = {"PATH=/img/bin", "A=img", "B=img", NULL};
    fx->img.entrypoint = ep;
    fx->img.cmd = cmd;
    fx->img.env = env;
    fx->in = (struct spec_input){.container = &fx->c,
                                 .sandbox = &fx->p,
                                 .image = &fx->img,
                                 .container_id = "c1",
                                 .sandbox_id = "s1",
                                 .rootfs = fx->root,
                                 .min_oom_score_adj = -500};
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    struct fx *fx = *state;
    rm_rf(fx->root);
    free(fx);
    return 0;
}

static json_t *build_ok(struct fx *fx) {
    char *s = NULL;
    struct cleat_error *err = NULL;
    check(spec_build(&fx->in, &s, &err), err);
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    free(s);
    assert_non_null(j);
    return j;
}

static void build_fails(struct fx *fx, const char *needle) {
    char *s = NULL;
    struct cleat_error *err = NULL;
    expect_error(spec_build(&fx->in, &s, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, needle);
    assert_null(s);
}

/* The array at `path` ("process.args") joined with spaces. */
static char *joined(json_t *j, const char *path) {
    static char buf[2048];
    json_t *a = json_object_get(j, "process");
    if (strncmp(path, "linux.", 6) == 0)
        a = json_object_get(json_object_get(j, "linux"), path + 6);
    else if (strncmp(path, "caps.", 5) == 0)
        a = json_object_get(json_object_get(a, "capabilities"), path + 5);
    else
        a = json_object_get(a, path);
    buf[0] = '\0';
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        char one[128];
        if (json_is_string(v))
            snprintf(one, sizeof(one), "%s%s", i ? " " : "", json_string_value(v));
        else
            snprintf(one, sizeof(one), "%s%lld", i ? " " : "", (long long)json_integer_value(v));
        strncat(buf, one, sizeof(buf) - strlen(buf) - 1);
    }
    return buf;
}

static json_int_t user_id(json_t *j, const char *key) {
    return json_integer_value(json_object_get(json_object_get(json_object_get(j, "process"), "user"), key));
}

/* --- process ----------------------------------------------------------------- */

static void test_args_merge(void **state) {
    struct fx *fx = *state;
    char *command[] = {"/bin/cmd"}, *args[] = {"a1", "a2"};
    struct {
        size_t n_command, n_args;
        const char *want;
    } t[] = {
        {0, 0, "/entry cmd1 cmd2"},
        {1, 0, "/bin/cmd"}, /* command drops the image Cmd */
        {0, 2, "/entry a1 a2"},
        {1, 2, "/bin/cmd a1 a2"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        fx->c.n_command = t[i].n_command;
        fx->c.command = command;
        fx->c.n_args = t[i].n_args;
        fx->c.args = args;
        json_t *j = build_ok(fx);
        assert_string_equal(joined(j, "args"), t[i].want);
        json_decref(j);
    }
    /* No image entrypoint, Cmd only. */
    fx->img.entrypoint = NULL;
    fx->c.n_command = fx->c.n_args = 0;
    json_t *j = build_ok(fx);
    assert_string_equal(joined(j, "args"), "cmd1 cmd2");
    json_decref(j);
    fx->img.cmd = NULL;
    build_fails(fx, "no command specified");
}

static void test_env_cwd_tty(void **state) {
    struct fx *fx = *state;
    Runtime__V1__KeyValue kv[2] = {RUNTIME__V1__KEY_VALUE__INIT, RUNTIME__V1__KEY_VALUE__INIT};
    Runtime__V1__KeyValue *kvs[] = {&kv[0], &kv[1]};
    kv[0].key = "B";
    kv[0].value = (ProtobufCBinaryData){3, (uint8_t *)"ctr"};
    kv[1].key = "C";
    kv[1].value = (ProtobufCBinaryData){0, NULL};
    fx->c.envs = kvs;
    fx->c.n_envs = 2;
    json_t *j = build_ok(fx);
    assert_string_equal(joined(j, "env"), "PATH=/img/bin HOSTNAME=podhost A=img B=ctr C=");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "process"), "cwd")), "/");
    assert_false(json_is_true(json_object_get(json_object_get(j, "process"), "terminal")));
    assert_string_equal(json_string_value(json_object_get(j, "hostname")), "podhost");
    assert_string_equal(json_string_value(json_object_get(j, "ociVersion")), "1.0.2");
    json_t *an = json_object_get(j, "annotations");
    assert_string_equal(json_string_value(json_object_get(an, "io.kubernetes.cri.container-type")), "container");
    assert_string_equal(json_string_value(json_object_get(an, "io.kubernetes.cri.sandbox-id")), "s1");
    assert_string_equal(json_string_value(json_object_get(an, "io.kubernetes.cri.sandbox-namespace")), "default");
    json_decref(j);

    fx->img.working_dir = "/img";
    fx->c.tty = 1;
    j = build_ok(fx);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "process"), "cwd")), "/img");
    assert_true(json_is_true(json_object_get(json_object_get(j, "process"), "terminal")));
    json_decref(j);
    fx->c.working_dir = "/work";
    j = build_ok(fx);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "process"), "cwd")), "/work");
    json_decref(j);
    fx->c.working_dir = "relative";
    build_fails(fx, "not absolute");
}

/* --- user ------------------------------------------------------------------- */

static void test_user_default_root(void **state) {
    struct fx *fx = *state;
    json_t *j = build_ok(fx);
    assert_int_equal(user_id(j, "uid"), 0);
    assert_int_equal(user_id(j, "gid"), 0);
    json_decref(j);
}

/* A runtime that mounts the rootfs itself: root.path is what it is told, the users still come from `rootfs`. */
static void test_root_path_apart_from_the_rootfs_read(void **state) {
    struct fx *fx = *state;
    json_t *j = build_ok(fx);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "root"), "path")), fx->root);
    json_decref(j);
    fx->in.root_path = "rootfs";
    fx->img.user = "alice";
    j = build_ok(fx);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "root"), "path")), "rootfs");
    assert_int_equal(user_id(j, "uid"), 1000);
    json_decref(j);
}

static char *gids(json_t *j) {
    static char buf[256];
    json_t *a = json_object_get(json_object_get(json_object_get(j, "process"), "user"), "additionalGids");
    buf[0] = '\0';
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        char one[32];
        snprintf(one, sizeof(one), "%s%lld", i ? " " : "", (long long)json_integer_value(v));
        strncat(buf, one, sizeof(buf) - strlen(buf) - 1);
    }
    return buf;
}

static void test_user_default_root_gids(void **state) {
    struct fx *fx = *state;
    json_t *j = build_ok(fx);
    assert_string_equal(gids(j), "0 10"); /* root's primary group, then wheel from /etc/group */
    json_decref(j);
}

static void test_user_forms(void **state) {
    struct fx *fx = *state;
    struct {
        const char *image_user;
        int64_t uid, gid;
        const char *gids;
    } t[] = {
        {"", 0, 0, "0 10"},
        {"alice", 1000, 1001, "1001 10 50"},
        {"1000", 1000, 1001, "1001 10 50"},
        {"1000:44", 1000, 44, "44 10 50"},
        {"alice:staff", 1000, 50, "50 10"},
        {"4242", 4242, 0, "0"}, /* not in passwd: gid 0, no groups */
        {"daemon:7", 1, 7, "7"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        fx->img.user = (char *)t[i].image_user;
        json_t *j = build_ok(fx);
        assert_int_equal(user_id(j, "uid"), t[i].uid);
        assert_int_equal(user_id(j, "gid"), t[i].gid);
        assert_string_equal(gids(j), t[i].gids);
        json_decref(j);
    }
    fx->img.user = "nobody";
    build_fails(fx, "user \"nobody\" not found");
    fx->img.user = "alice:nogroup";
    build_fails(fx, "group \"nogroup\" not found");
}

static void test_user_security_context(void **state) {
    struct fx *fx = *state;
    fx->img.user = "daemon"; /* overridden by the security context */
    Runtime__V1__Int64Value uid = RUNTIME__V1__INT64_VALUE__INIT, gid = RUNTIME__V1__INT64_VALUE__INIT;
    uid.value = 1000;
    fx->sc.run_as_user = &uid;
    json_t *j = build_ok(fx);
    assert_int_equal(user_id(j, "uid"), 1000);
    assert_int_equal(user_id(j, "gid"), 1001);
    json_decref(j);

    gid.value = 3000;
    fx->sc.run_as_group = &gid;
    int64_t sup[] = {5000, 10};
    fx->sc.supplemental_groups = sup;
    fx->sc.n_supplemental_groups = 2;
    j = build_ok(fx);
    assert_int_equal(user_id(j, "gid"), 3000);
    assert_string_equal(gids(j), "3000 10 50 5000");
    json_decref(j);

    fx->sc.supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
    j = build_ok(fx);
    assert_string_equal(gids(j), "3000 5000 10");
    json_decref(j);

    fx->sc.run_as_user = NULL;
    fx->sc.run_as_group = NULL;
    fx->sc.n_supplemental_groups = 0;
    fx->sc.supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Merge;
    fx->sc.run_as_username = "alice";
    j = build_ok(fx);
    assert_int_equal(user_id(j, "uid"), 1000);
    assert_string_equal(gids(j), "1001 10 50");
    json_decref(j);
    fx->sc.run_as_username = "mallory";
    build_fails(fx, "user \"mallory\" not found in the image's /etc/passwd");
    fx->sc.run_as_username = "";
    uid.value = -1;
    fx->sc.run_as_user = &uid;
    build_fails(fx, "run_as_user -1 is out of range");

    /* A group without a user is refused (critest: "RunAsGroup is set without RunAsUser"). */
    fx->sc.run_as_user = NULL;
    fx->sc.run_as_group = &gid;
    build_fails(fx, "run_as_group is set without run_as_user or run_as_username");
    fx->sc.run_as_username = "alice";
    j = build_ok(fx);
    assert_int_equal(user_id(j, "gid"), 3000);
    json_decref(j);
}

/* The deprecated seccomp_profile_path, read when `seccomp` is unset. */
static void test_seccomp_legacy_path(void **state) {
    struct fx *fx = *state;
    fx->in.seccomp_default_profile = CLEAT_TEST_DATA_DIR "/../../config/seccomp-default.json";
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    fx->sc.seccomp_profile_path = "runtime/default";
    json_t *j = build_ok(fx);
    assert_non_null(json_object_get(json_object_get(j, "linux"), "seccomp"));
    json_decref(j);
    fx->sc.seccomp_profile_path = "unconfined";
    j = build_ok(fx);
    assert_null(json_object_get(json_object_get(j, "linux"), "seccomp"));
    json_decref(j);
    char path[128];
    snprintf(path, sizeof(path), "localhost/%s/p.json", fx->root);
    write_file(fx->root, "p.json", "{\"defaultAction\":\"SCMP_ACT_ERRNO\"}");
    fx->sc.seccomp_profile_path = path;
    j = build_ok(fx);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(j, "linux"), "seccomp"), "defaultAction")),
        "SCMP_ACT_ERRNO");
    json_decref(j);
    fx->sc.seccomp_profile_path = "my-profile.json";
    build_fails(fx, "use runtime/default, unconfined or localhost/<path>");
    fx->sc.seccomp_profile_path = "";
#pragma GCC diagnostic pop
}

/* An image whose /etc/passwd points at the host's must not see the host's users. */
static void test_user_symlink_escape(void **state) {
    struct fx *fx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/etc/passwd", fx->root);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    fx->img.user = "root"; /* the host has root; the image now has no passwd at all */
    build_fails(fx, "user \"root\" not found");
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink("../../../../../../etc/passwd", path), 0);
    build_fails(fx, "user \"root\" not found");
    /* A symlink that stays inside the rootfs is followed. */
    assert_int_equal(unlink(path), 0);
    write_file(fx->root, "etc/passwd.real", "root:x:0:0::/:/bin/sh\nzed:x:77:78::/:/bin/sh\n");
    assert_int_equal(symlink("/etc/passwd.real", path), 0);
    fx->img.user = "zed";
    json_t *j = build_ok(fx);
    assert_int_equal(user_id(j, "uid"), 77);
    assert_int_equal(user_id(j, "gid"), 78);
    json_decref(j);
    /* Numeric users work without any passwd file. */
    assert_int_equal(unlink(path), 0);
    fx->img.user = "123:456";
    j = build_ok(fx);
    assert_int_equal(user_id(j, "uid"), 123);
    assert_int_equal(user_id(j, "gid"), 456);
    json_decref(j);
}

/* --- security --------------------------------------------------------------- */

static int has(const char *list, const char *word) {
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

static void test_capabilities(void **state) {
    struct fx *fx = *state;
    json_t *j = build_ok(fx);
    assert_true(has(joined(j, "caps.bounding"), "CAP_CHOWN"));
    assert_true(has(joined(j, "caps.effective"), "CAP_NET_RAW"));
    assert_false(has(joined(j, "caps.bounding"), "CAP_SYS_ADMIN"));
    assert_string_equal(joined(j, "caps.inheritable"), "");
    json_decref(j);

    Runtime__V1__Capability caps = RUNTIME__V1__CAPABILITY__INIT;
    char *add[] = {"sys_admin", "CAP_NET_ADMIN"}, *drop[] = {"NET_RAW", "cap_chown"};
    caps.add_capabilities = add;
    caps.n_add_capabilities = 2;
    caps.drop_capabilities = drop;
    caps.n_drop_capabilities = 2;
    fx->sc.capabilities = &caps;
    j = build_ok(fx);
    const char *b = joined(j, "caps.permitted");
    assert_true(has(b, "CAP_SYS_ADMIN") && has(b, "CAP_NET_ADMIN") && has(b, "CAP_KILL"));
    assert_false(has(b, "CAP_NET_RAW") || has(b, "CAP_CHOWN"));
    json_decref(j);

    char *all[] = {"ALL"}, *one[] = {"NET_BIND_SERVICE"};
    caps.drop_capabilities = all;
    caps.n_drop_capabilities = 1;
    caps.add_capabilities = one;
    caps.n_add_capabilities = 1;
    j = build_ok(fx);
    assert_string_equal(joined(j, "caps.bounding"), "CAP_NET_BIND_SERVICE");
    json_decref(j);

    caps.add_capabilities = all;
    caps.drop_capabilities = drop;
    caps.n_drop_capabilities = 2;
    j = build_ok(fx);
    b = joined(j, "caps.bounding");
    assert_true(has(b, "CAP_SYS_ADMIN") && has(b, "CAP_SYS_MODULE"));
    assert_false(has(b, "CAP_NET_RAW"));
    json_decref(j);

    char *bad[] = {"CAP_FLY"};
    caps.add_capabilities = bad;
    build_fails(fx, "unknown capability \"CAP_FLY\"");

    /* A capability missing from cleatd's bounding set (CAP_SYS_RESOURCE on the CI host) cannot be granted. */
    if (prctl(PR_CAPBSET_READ, 24UL, 0, 0, 0) == 0) {
        char *res[] = {"SYS_RESOURCE"};
        caps.add_capabilities = res;
        caps.n_drop_capabilities = 0;
        build_fails(fx, "CAP_SYS_RESOURCE is not available on this node");
        caps.add_capabilities = all;
        j = build_ok(fx);
        assert_false(has(joined(j, "caps.bounding"), "CAP_SYS_RESOURCE"));
        json_decref(j);
    }
}

static void test_privileged_readonly_nnp(void **state) {
    struct fx *fx = *state;
    json_t *j = build_ok(fx);
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "linux"), "maskedPaths")), 11);
    assert_true(has(joined(j, "linux.readonlyPaths"), "/proc/sys"));
    assert_false(json_is_true(json_object_get(json_object_get(j, "root"), "readonly")));
    assert_false(json_is_true(json_object_get(json_object_get(j, "process"), "noNewPrivileges")));
    json_decref(j);

    char *masked[] = {"/proc/x"};
    fx->sc.masked_paths = masked;
    fx->sc.n_masked_paths = 1;
    fx->sc.readonly_rootfs = 1;
    fx->sc.no_new_privs = 1;
    j = build_ok(fx);
    assert_string_equal(joined(j, "linux.maskedPaths"), "/proc/x");
    assert_true(json_is_true(json_object_get(json_object_get(j, "root"), "readonly")));
    assert_true(json_is_true(json_object_get(json_object_get(j, "process"), "noNewPrivileges")));
    json_decref(j);

    fx->sc.privileged = 1;
    j = build_ok(fx);
    assert_string_equal(joined(j, "linux.maskedPaths"), "");
    assert_string_equal(joined(j, "linux.readonlyPaths"), "");
    const char *b = joined(j, "caps.bounding");
    assert_true(has(b, "CAP_SYS_ADMIN") && has(b, "CAP_SYS_MODULE") && has(b, "CAP_CHOWN"));
    json_t *dev =
        json_array_get(json_object_get(json_object_get(json_object_get(j, "linux"), "resources"), "devices"), 0);
    assert_true(json_is_true(json_object_get(dev, "allow")));
    json_decref(j);
}

static void test_oom_and_resources(void **state) {
    struct fx *fx = *state;
    fx->res.oom_score_adj = -999;
    json_t *j = build_ok(fx);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "process"), "oomScoreAdj")), -500);
    json_decref(j);
    fx->res.oom_score_adj = 1000;
    fx->res.cpu_shares = 512;
    fx->res.cpu_quota = 50000;
    fx->res.cpu_period = 100000;
    fx->res.cpuset_cpus = "0-1";
    fx->res.memory_limit_in_bytes = 1 << 28;
    fx->res.memory_swap_limit_in_bytes = 1 << 29;
    Runtime__V1__HugepageLimit hp = RUNTIME__V1__HUGEPAGE_LIMIT__INIT, *hps[] = {&hp};
    hp.page_size = "2MB";
    hp.limit = 4194304;
    fx->res.hugepage_limits = hps;
    fx->res.n_hugepage_limits = 1;
    Runtime__V1__LinuxContainerResources__UnifiedEntry u = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
    Runtime__V1__LinuxContainerResources__UnifiedEntry *us[] = {&u};
    u.key = "memory.high";
    u.value = "1000000";
    fx->res.unified = us;
    fx->res.n_unified = 1;
    j = build_ok(fx);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "process"), "oomScoreAdj")), 1000);
    json_t *rs = json_object_get(json_object_get(j, "linux"), "resources");
    json_t *cpu = json_object_get(rs, "cpu"), *mem = json_object_get(rs, "memory");
    assert_int_equal(json_integer_value(json_object_get(cpu, "shares")), 512);
    assert_int_equal(json_integer_value(json_object_get(cpu, "quota")), 50000);
    assert_int_equal(json_integer_value(json_object_get(cpu, "period")), 100000);
    assert_string_equal(json_string_value(json_object_get(cpu, "cpus")), "0-1");
    assert_null(json_object_get(cpu, "mems"));
    assert_int_equal(json_integer_value(json_object_get(mem, "limit")), 1 << 28);
    assert_int_equal(json_integer_value(json_object_get(mem, "swap")), 1 << 29);
    json_t *h = json_array_get(json_object_get(rs, "hugepageLimits"), 0);
    assert_string_equal(json_string_value(json_object_get(h, "pageSize")), "2MB");
    assert_int_equal(json_integer_value(json_object_get(h, "limit")), 4194304);
    assert_string_equal(json_string_value(json_object_get(json_object_get(rs, "unified"), "memory.high")), "1000000");
    json_decref(j);
    fx->res.oom_score_adj = 1001;
    build_fails(fx, "oom_score_adj 1001");
}

/* --- mounts and namespaces ---------------------------------------------------- */

static json_t *mount_at(json_t *j, const char *dest, size_t *ret_index) {
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(j, "mounts"), i, m) {
        if (strcmp(json_string_value(json_object_get(m, "destination")), dest) == 0) {
            if (ret_index)
                *ret_index = i;
            return m;
        }
    }
    return NULL;
}

static const char *mount_opts(json_t *j, const char *dest) {
    static char buf[256];
    json_t *m = mount_at(j, dest, NULL);
    assert_non_null(m);
    buf[0] = '\0';
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(m, "options"), i, v) {
        if (i)
            strcat(buf, " ");
        strncat(buf, json_string_value(v), sizeof(buf) - strlen(buf) - 2);
    }
    return buf;
}

static void test_mounts(void **state) {
    struct fx *fx = *state;
    fx->in.hosts_file = "/pod/hosts";
    fx->in.resolv_conf = "/pod/resolv.conf";
    fx->in.shm_path = "/pod/shm";
    Runtime__V1__Mount m[4] = {RUNTIME__V1__MOUNT__INIT, RUNTIME__V1__MOUNT__INIT, RUNTIME__V1__MOUNT__INIT,
                               RUNTIME__V1__MOUNT__INIT};
    Runtime__V1__Mount *ms[] = {&m[0], &m[1], &m[2], &m[3]};
    m[0] = (Runtime__V1__Mount)RUNTIME__V1__MOUNT__INIT;
    m[0].container_path = "/data/sub";
    m[0].host_path = "/host/sub";
    m[0].readonly = 1;
    m[1].container_path = "/data";
    m[1].host_path = "/host/data";
    m[1].propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER;
    m[2].container_path = "/etc/hosts"; /* kubelet's own hosts file wins over the pod's */
    m[2].host_path = "/kubelet/hosts";
    m[3].container_path = "/rro";
    m[3].host_path = "/host/rro";
    m[3].readonly = 1;
    m[3].recursive_read_only = 1;
    fx->c.mounts = ms;
    fx->c.n_mounts = 4;
    json_t *j = build_ok(fx);
    assert_string_equal(mount_opts(j, "/proc"), "nosuid noexec nodev");
    assert_string_equal(mount_opts(j, "/sys"), "nosuid noexec nodev ro");
    assert_string_equal(mount_opts(j, "/sys/fs/cgroup"), "nosuid noexec nodev relatime ro");
    assert_non_null(mount_at(j, "/dev/pts", NULL));
    assert_non_null(mount_at(j, "/dev/mqueue", NULL));
    assert_string_equal(mount_opts(j, "/dev/shm"), "rbind rprivate rw");
    assert_string_equal(json_string_value(json_object_get(mount_at(j, "/dev/shm", NULL), "source")), "/pod/shm");
    assert_string_equal(mount_opts(j, "/etc/resolv.conf"), "rbind rprivate rw");
    assert_null(mount_at(j, "/etc/hostname", NULL));
    assert_string_equal(json_string_value(json_object_get(mount_at(j, "/etc/hosts", NULL), "source")),
                        "/kubelet/hosts");
    assert_string_equal(mount_opts(j, "/data/sub"), "rbind rprivate ro");
    assert_string_equal(mount_opts(j, "/data"), "rbind rslave rw");
    assert_string_equal(mount_opts(j, "/rro"), "rbind rprivate rro");
    size_t parent, child, dev, pts;
    mount_at(j, "/data", &parent);
    mount_at(j, "/data/sub", &child);
    mount_at(j, "/dev", &dev);
    mount_at(j, "/dev/pts", &pts);
    assert_true(parent < child);
    assert_true(dev < pts);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "linux"), "rootfsPropagation")), "slave");
    json_decref(j);

    m[1].propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL;
    fx->sc.readonly_rootfs = 1;
    fx->sc.privileged = 1;
    j = build_ok(fx);
    assert_string_equal(mount_opts(j, "/data"), "rbind rshared rw");
    assert_string_equal(mount_opts(j, "/etc/resolv.conf"), "rbind rprivate ro");
    assert_string_equal(mount_opts(j, "/sys"), "nosuid noexec nodev rw");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "linux"), "rootfsPropagation")), "shared");
    json_decref(j);

    m[3].readonly = 0;
    build_fails(fx, "recursive read-only needs readonly");
    m[3].readonly = 1;
    m[0].host_path = "relative";
    build_fails(fx, "host path \"relative\" is not absolute");
}

/* An image volume is a read-only bind of the view the caller mounted; without one it cannot be built. */
static void test_image_volume_mounts(void **state) {
    struct fx *fx = *state;
    Runtime__V1__Mount m[2] = {RUNTIME__V1__MOUNT__INIT, RUNTIME__V1__MOUNT__INIT};
    Runtime__V1__Mount *ms[] = {&m[0], &m[1]};
    Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
    img.image = "registry.example/data:1";
    m[0].container_path = "/vol";
    m[0].image = &img;
    m[0].image_sub_path = "data";
    m[1].container_path = "/host";
    m[1].host_path = "/srv/host";
    const char *sources[] = {"/run/cleat/containers/x/volumes/0/data", NULL};
    fx->in.mount_sources = sources;
    fx->c.mounts = ms;
    fx->c.n_mounts = 2;
    json_t *j = build_ok(fx);
    /* Read-only even when the mount does not say so. */
    assert_string_equal(mount_opts(j, "/vol"), "rbind rprivate ro");
    assert_string_equal(json_string_value(json_object_get(mount_at(j, "/vol", NULL), "source")),
                        "/run/cleat/containers/x/volumes/0/data");
    assert_string_equal(json_string_value(json_object_get(mount_at(j, "/host", NULL), "source")), "/srv/host");
    json_decref(j);
    fx->in.mount_sources = NULL;
    build_fails(fx, "image volume registry.example/data:1 has no view to mount");
}

static const char *ns_path(json_t *j, const char *type) {
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(json_object_get(j, "linux"), "namespaces"), i, n) {
        if (strcmp(json_string_value(json_object_get(n, "type")), type) == 0) {
            const char *p = json_string_value(json_object_get(n, "path"));
            return p ? p : "new";
        }
    }
    return "host";
}

static void test_namespaces(void **state) {
    struct fx *fx = *state;
    fx->in.netns_path = "/run/ns/net";
    fx->in.ipcns_path = "/run/ns/ipc";
    fx->in.utsns_path = "/run/ns/uts";
    json_t *j = build_ok(fx); /* no NamespaceOption: all POD */
    assert_string_equal(ns_path(j, "network"), "/run/ns/net");
    assert_string_equal(ns_path(j, "ipc"), "/run/ns/ipc");
    assert_string_equal(ns_path(j, "uts"), "/run/ns/uts");
    assert_string_equal(ns_path(j, "pid"), "new");
    assert_string_equal(ns_path(j, "mount"), "new");
    json_decref(j);

    Runtime__V1__NamespaceOption o = RUNTIME__V1__NAMESPACE_OPTION__INIT;
    o.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
    o.ipc = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
    o.pid = RUNTIME__V1__NAMESPACE_MODE__NODE;
    fx->sc.namespace_options = &o;
    j = build_ok(fx);
    assert_string_equal(ns_path(j, "network"), "host");
    assert_string_equal(ns_path(j, "uts"), "host");
    assert_string_equal(ns_path(j, "ipc"), "new");
    assert_string_equal(ns_path(j, "pid"), "host");
    assert_null(json_object_get(j, "hostname"));
    json_decref(j);

    o.network = RUNTIME__V1__NAMESPACE_MODE__POD;
    o.ipc = RUNTIME__V1__NAMESPACE_MODE__NODE;
    o.pid = RUNTIME__V1__NAMESPACE_MODE__POD;
    fx->in.pidns_path = "/run/ns/pid";
    j = build_ok(fx);
    assert_string_equal(ns_path(j, "ipc"), "host");
    assert_string_equal(ns_path(j, "pid"), "/run/ns/pid");
    assert_string_equal(json_string_value(json_object_get(j, "hostname")), "podhost");
    json_decref(j);

    o.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
    j = build_ok(fx);
    assert_string_equal(ns_path(j, "pid"), "new");
    json_decref(j);

    o.pid = RUNTIME__V1__NAMESPACE_MODE__TARGET;
    o.target_id = "other";
    fx->in.pidns_path = "/proc/42/ns/pid";
    j = build_ok(fx);
    assert_string_equal(ns_path(j, "pid"), "/proc/42/ns/pid");
    json_decref(j);
    fx->in.pidns_path = NULL;
    build_fails(fx, "target container \"other\"");
}

static void test_sysctls_and_cgroups(void **state) {
    struct fx *fx = *state;
    Runtime__V1__LinuxPodSandboxConfig pl = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry s[2] = {
        RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__SYSCTLS_ENTRY__INIT,
        RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__SYSCTLS_ENTRY__INIT};
    Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry *ss[] = {&s[0], &s[1]};
    s[0].key = "net/ipv4/ip_unprivileged_port_start";
    s[0].value = "0";
    s[1].key = "kernel.shmmax";
    s[1].value = "1000";
    pl.sysctls = ss;
    pl.n_sysctls = 2;
    fx->p.linux = &pl;
    fx->in.cgroups_path = "/kubepods/pod1/c1";
    json_t *j = build_ok(fx);
    json_t *sys = json_object_get(json_object_get(j, "linux"), "sysctl");
    assert_string_equal(json_string_value(json_object_get(sys, "net.ipv4.ip_unprivileged_port_start")), "0");
    assert_string_equal(json_string_value(json_object_get(sys, "kernel.shmmax")), "1000");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "linux"), "cgroupsPath")),
                        "/kubepods/pod1/c1");
    json_decref(j);

    /* The pod's NamespaceOption applies when the container has none. */
    Runtime__V1__LinuxSandboxSecurityContext psc;
    runtime__v1__linux_sandbox_security_context__init(&psc);
    Runtime__V1__NamespaceOption o = RUNTIME__V1__NAMESPACE_OPTION__INIT;
    o.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
    psc.namespace_options = &o;
    pl.security_context = &psc;
    build_fails(fx, "sysctl \"net.ipv4.ip_unprivileged_port_start\" is not allowed");
    pl.n_sysctls = 0;
    j = build_ok(fx);
    assert_string_equal(ns_path(j, "network"), "host");
    json_decref(j);
    s[0].key = "vm.swappiness";
    pl.n_sysctls = 1;
    build_fails(fx, "not namespaced");
}

/* --- devices ------------------------------------------------------------------ */

static json_t *device_at(json_t *j, const char *path) {
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(json_object_get(j, "linux"), "devices"), i, d) {
        if (strcmp(json_string_value(json_object_get(d, "path")), path) == 0)
            return d;
    }
    return NULL;
}

static void test_devices(void **state) {
    struct fx *fx = *state;
    json_t *j = build_ok(fx);
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "linux"), "devices")), 0);
    json_decref(j);

    Runtime__V1__Device d = RUNTIME__V1__DEVICE__INIT, *ds[] = {&d};
    d.host_path = "/dev/null";
    d.container_path = "/dev/mynull";
    d.permissions = "rw";
    fx->c.devices = ds;
    fx->c.n_devices = 1;
    j = build_ok(fx);
    json_t *dev = device_at(j, "/dev/mynull");
    assert_non_null(dev);
    assert_string_equal(json_string_value(json_object_get(dev, "type")), "c");
    assert_int_equal(json_integer_value(json_object_get(dev, "major")), 1);
    assert_int_equal(json_integer_value(json_object_get(dev, "minor")), 3);
    json_t *rules = json_object_get(json_object_get(json_object_get(j, "linux"), "resources"), "devices");
    assert_int_equal(json_array_size(rules), 2);
    assert_false(json_is_true(json_object_get(json_array_get(rules, 0), "allow"))); /* deny all first */
    json_t *rule = json_array_get(rules, 1);
    assert_true(json_is_true(json_object_get(rule, "allow")));
    assert_string_equal(json_string_value(json_object_get(rule, "access")), "rw");
    assert_int_equal(json_integer_value(json_object_get(rule, "minor")), 3);
    json_decref(j);

    d.permissions = "rwx";
    build_fails(fx, "permissions \"rwx\"");
    d.permissions = "";
    d.host_path = "/dev/no-such-device";
    build_fails(fx, "/dev/no-such-device");
    char regular[128];
    snprintf(regular, sizeof(regular), "%s/etc/group", fx->root);
    d.host_path = regular;
    build_fails(fx, "not a device node");

    fx->c.n_devices = 0;
    fx->sc.privileged = 1;
    j = build_ok(fx);
    assert_non_null(device_at(j, "/dev/null"));
    assert_non_null(device_at(j, "/dev/zero"));
    json_decref(j);
}

/* --- seccomp ------------------------------------------------------------------ */

static json_t *seccomp_of(json_t *j) {
    return json_object_get(json_object_get(j, "linux"), "seccomp");
}

/* 1 if some rule of the profile names `sys` with `action`. */
static int rule_for(json_t *sec, const char *sys, const char *action) {
    size_t i, k;
    json_t *r, *n;
    json_array_foreach(json_object_get(sec, "syscalls"), i, r) {
        json_array_foreach(json_object_get(r, "names"), k, n) {
            if (strcmp(json_string_value(n), sys) == 0 &&
                strcmp(json_string_value(json_object_get(r, "action")), action) == 0)
                return 1;
        }
    }
    return 0;
}

static void test_seccomp(void **state) {
    struct fx *fx = *state;
    json_t *j = build_ok(fx); /* no profile: unconfined */
    assert_null(seccomp_of(j));
    json_decref(j);

    Runtime__V1__SecurityProfile prof = RUNTIME__V1__SECURITY_PROFILE__INIT; /* RuntimeDefault */
    fx->sc.seccomp = &prof;
    char *s = NULL;
    struct cleat_error *err = NULL;
    expect_error(spec_build(&fx->in, &s, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "no default profile");
    fx->in.seccomp_default_profile = CLEAT_TEST_DATA_DIR "/../../config/seccomp-default.json";
    j = build_ok(fx);
    json_t *sec = seccomp_of(j);
    /* An allowlist (tests/unit/test_spec_seccomp.c checks it in detail). */
    assert_string_equal(json_string_value(json_object_get(sec, "defaultAction")), "SCMP_ACT_ERRNO");
    assert_true(rule_for(sec, "read", "SCMP_ACT_ALLOW") && rule_for(sec, "clone3", "SCMP_ACT_ERRNO"));
    assert_false(rule_for(sec, "bpf", "SCMP_ACT_ALLOW") || rule_for(sec, "kexec_load", "SCMP_ACT_ALLOW"));
    assert_false(rule_for(sec, "mount", "SCMP_ACT_ALLOW") || rule_for(sec, "io_uring_setup", "SCMP_ACT_ALLOW"));
    assert_null(json_object_get(json_array_get(json_object_get(sec, "syscalls"), 0), "comment"));
#if defined(__x86_64__)
    assert_string_equal(json_string_value(json_array_get(json_object_get(sec, "architectures"), 0)),
                        "SCMP_ARCH_X86_64");
#endif
    json_decref(j);

    fx->sc.privileged = 1;
    j = build_ok(fx);
    assert_null(seccomp_of(j));
    json_decref(j);
    fx->sc.privileged = 0;

    /* Localhost, in Docker's form (archMap, "name"). */
    prof.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
    char path[128];
    snprintf(path, sizeof(path), "%s/profile.json", fx->root);
    write_file(fx->root, "profile.json",
               "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1,"
               "\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\",\"subArchitectures\":[\"SCMP_ARCH_X86\"]}],"
               "\"syscalls\":[{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{}},"
               "{\"name\":\"exit\",\"action\":\"SCMP_ACT_ALLOW\"}]}");
    prof.localhost_ref = path;
    j = build_ok(fx);
    sec = seccomp_of(j);
    assert_string_equal(json_string_value(json_object_get(sec, "defaultAction")), "SCMP_ACT_ERRNO");
    assert_int_equal(json_integer_value(json_object_get(sec, "defaultErrnoRet")), 1);
    assert_int_equal(json_array_size(json_object_get(sec, "architectures")), 2);
    assert_true(rule_for(sec, "write", "SCMP_ACT_ALLOW") && rule_for(sec, "exit", "SCMP_ACT_ALLOW"));
    json_decref(j);

    write_file(fx->root, "profile.json",
               "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"bpf\"],"
               "\"action\":\"SCMP_ACT_ERRNO\",\"includes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}}]}");
    build_fails(fx, "includes/excludes");
    write_file(fx->root, "profile.json", "{\"defaultAction\":\"SCMP_ACT_SOMETIMES\"}");
    build_fails(fx, "defaultAction is missing or unknown");
    write_file(fx->root, "profile.json",
               "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"Bad Name\"],"
               "\"action\":\"SCMP_ACT_ERRNO\"}]}");
    build_fails(fx, "syscall name");
    snprintf(path, sizeof(path), "%s/absent.json", fx->root);
    build_fails(fx, "absent.json");
    prof.localhost_ref = "relative.json";
    build_fails(fx, "not absolute");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_args_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_cwd_tty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_default_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_default_root_gids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_path_apart_from_the_rootfs_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_security_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_symlink_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_privileged_readonly_nnp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom_and_resources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_volume_mounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namespaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sysctls_and_cgroups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seccomp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seccomp_legacy_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
