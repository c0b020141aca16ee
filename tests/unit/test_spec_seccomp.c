/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RuntimeDefault seccomp profile (config/seccomp-default.json) against
 * libseccomp's tables, its socket/personality/clone argument rules worked
 * out value by value, its capability rules resolved by spec_build, every
 * resolved profile loaded into a libseccomp filter the way runc does it,
 * and the checks on Localhost profiles.
 */
#include <errno.h>
#include <jansson.h>
#include <seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "testutil.h"

#include "error.h"
#include "spec.h"
#include "spec_internal.h"

#define PROFILE CLEAT_TEST_DATA_DIR "/../../config/seccomp-default.json"

struct fx {
    char root[64];
    Runtime__V1__ContainerConfig c;
    Runtime__V1__PodSandboxConfig p;
    Runtime__V1__LinuxContainerConfig lc;
    Runtime__V1__LinuxContainerSecurityContext sc;
    Runtime__V1__Capability caps;
    Runtime__V1__SecurityProfile prof;
    struct spec_input in;
};

static int setup(void **state) {
    struct fx *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    temp_dir(fx->root, sizeof(fx->root), "cleat-seccomp");
    static char *cmd[] = {"/bin/true"};
    fx->c = (Runtime__V1__ContainerConfig)RUNTIME__V1__CONTAINER_CONFIG__INIT;
    fx->p = (Runtime__V1__PodSandboxConfig)RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    fx->lc = (Runtime__V1__LinuxContainerConfig)RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
    runtime__v1__linux_container_security_context__init(&fx->sc);
    runtime__v1__capability__init(&fx->caps);
    runtime__v1__security_profile__init(&fx->prof); /* RuntimeDefault */
    fx->c.command = cmd;
    fx->c.n_command = 1;
    fx->sc.capabilities = &fx->caps;
    fx->sc.seccomp = &fx->prof;
    fx->lc.security_context = &fx->sc;
    fx->c.linux = &fx->lc;
    fx->in = (struct spec_input){.container = &fx->c,
                                 .sandbox = &fx->p,
                                 .container_id = "c1",
                                 .sandbox_id = "s1",
                                 .rootfs = fx->root,
                                 .seccomp_default_profile = PROFILE};
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    struct fx *fx = *state;
    rm_rf(fx->root);
    free(fx);
    return 0;
}

/* linux.seccomp of the container's spec. */
static json_t *seccomp_built(struct fx *fx) {
    json_t *j = spec_built(&fx->in);
    json_t *sec = json_incref(json_object_get(json_object_get(j, "linux"), "seccomp"));
    json_decref(j);
    assert_non_null(sec);
    return sec;
}

/* The rules of `sec` naming `sys` with `action`: how many, and whether one is unconditional. */
static int rules_for(json_t *sec, const char *sys, const char *action, int *unconditional) {
    int n = 0;
    size_t i, k;
    json_t *r, *name;
    *unconditional = 0;
    json_array_foreach(json_object_get(sec, "syscalls"), i, r) {
        json_array_foreach(json_object_get(r, "names"), k, name) {
            if (strcmp(json_string_value(name), sys) == 0 &&
                strcmp(json_string_value(json_object_get(r, "action")), action) == 0) {
                n++;
                *unconditional |= json_array_size(json_object_get(r, "args")) == 0;
            }
        }
    }
    return n;
}

/* The first rule naming `sys`. */
static json_t *find_rule(json_t *sec, const char *sys) {
    size_t i, k;
    json_t *r, *name;
    json_array_foreach(json_object_get(sec, "syscalls"), i, r) {
        json_array_foreach(json_object_get(r, "names"), k, name) {
            if (strcmp(json_string_value(name), sys) == 0)
                return r;
        }
    }
    fail_msg("no rule names %s", sys);
    return NULL;
}

static int allowed(json_t *sec, const char *sys) {
    int unconditional;
    return rules_for(sec, sys, "SCMP_ACT_ALLOW", &unconditional) > 0 && unconditional;
}

/* --- the shipped profile against libseccomp ----------------------------------------------- */

/* Every architecture the profile lists (for any host), as libseccomp tokens. */
static size_t all_arches(json_t *prof, uint32_t *out, size_t max) {
    size_t n = 0, i;
    const char *key;
    json_t *list, *a;
    json_object_foreach(json_object_get(prof, "architectures"), key, list) {
        assert_int_not_equal(spec_seccomp_arch(key), 0);
        json_array_foreach(list, i, a) {
            uint32_t tok = spec_seccomp_arch(json_string_value(a));
            if (!tok)
                fail_msg("architecture %s is unknown to libseccomp", json_string_value(a));
            if (n < max)
                out[n++] = tok;
        }
    }
    return n;
}

/*
 * Every name is known to libseccomp (else runc would skip it silently) and
 * is a real syscall on at least one architecture the profile serves (a
 * name that exists only elsewhere is a mistake).  A name the kernel lacks
 * is fine: the rule never matches, and the call fails as it would anyway.
 */
static void test_shipped_names_and_arches(void **state) {
    (void)state;
    json_t *prof = json_load_file(PROFILE, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(prof);
    assert_string_equal(json_string_value(json_object_get(prof, "defaultAction")), "SCMP_ACT_ERRNO");
    assert_int_equal(json_integer_value(json_object_get(prof, "defaultErrnoRet")), EPERM);
    uint32_t arches[16];
    size_t n_arches = all_arches(prof, arches, 16);
    assert_true(n_arches >= 5);
    size_t i, k, names = 0;
    json_t *rule, *name;
    json_array_foreach(json_object_get(prof, "syscalls"), i, rule) {
        json_array_foreach(json_object_get(rule, "names"), k, name) {
            const char *s = json_string_value(name);
            if (seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, s) == __NR_SCMP_ERROR)
                fail_msg("syscall %s is unknown to libseccomp", s);
            int real = 0;
            for (size_t a = 0; a < n_arches; a++)
                real |= seccomp_syscall_resolve_name_arch(arches[a], s) >= 0;
            if (!real)
                fail_msg("syscall %s exists on none of the profile's architectures", s);
            names++;
        }
    }
    assert_true(names > 300);
    json_decref(prof);
}

static int same(json_t *a, json_t *b) {
    return (!a && !b) || json_equal(a, b);
}

/* Two rules naming one syscall must never both apply: only argument rules of one action, or requires X / unless X. */
static int exclusive(json_t *a, json_t *b) {
    json_t *ra = json_object_get(a, "requires"), *ub = json_object_get(b, "unless");
    json_t *rb = json_object_get(b, "requires"), *ua = json_object_get(a, "unless");
    if ((ra && ub && json_equal(ra, ub)) || (rb && ua && json_equal(rb, ua)))
        return 1;
    return json_object_get(a, "args") && json_object_get(b, "args") &&
           json_equal(json_object_get(a, "action"), json_object_get(b, "action")) &&
           same(json_object_get(a, "requires"), json_object_get(b, "requires")) &&
           same(json_object_get(a, "unless"), json_object_get(b, "unless"));
}

static void test_shipped_no_overlap(void **state) {
    (void)state;
    json_t *prof = json_load_file(PROFILE, 0, NULL);
    json_t *rules = json_object_get(prof, "syscalls");
    for (size_t i = 0; i < json_array_size(rules); i++) {
        for (size_t j = i + 1; j < json_array_size(rules); j++) {
            size_t x, y;
            json_t *n, *m;
            json_array_foreach(json_object_get(json_array_get(rules, i), "names"), x, n) {
                json_array_foreach(json_object_get(json_array_get(rules, j), "names"), y, m) {
                    if (json_equal(n, m) && !exclusive(json_array_get(rules, i), json_array_get(rules, j)))
                        fail_msg("syscall %s is in rules %zu and %zu, which can both apply", json_string_value(n), i,
                                 j);
                }
            }
        }
    }
    json_decref(prof);
}

/* --- argument rules, value by value ------------------------------------------------------------- */

static int cmp_matches(json_t *arg, uint64_t v) {
    const char *op = json_string_value(json_object_get(arg, "op"));
    uint64_t a = (uint64_t)json_integer_value(json_object_get(arg, "value"));
    uint64_t b = (uint64_t)json_integer_value(json_object_get(arg, "valueTwo"));
    if (!strcmp(op, "SCMP_CMP_EQ"))
        return v == a;
    if (!strcmp(op, "SCMP_CMP_NE"))
        return v != a;
    if (!strcmp(op, "SCMP_CMP_LT"))
        return v < a;
    if (!strcmp(op, "SCMP_CMP_LE"))
        return v <= a;
    if (!strcmp(op, "SCMP_CMP_GT"))
        return v > a;
    if (!strcmp(op, "SCMP_CMP_GE"))
        return v >= a;
    return (v & a) == b; /* SCMP_CMP_MASKED_EQ */
}

/* Whether some ALLOW rule of `sec` for `sys` lets argument 0 = v through (one condition per rule, as shipped). */
static int arg0_allowed(json_t *sec, const char *sys, uint64_t v) {
    size_t i, k;
    json_t *r, *name;
    json_array_foreach(json_object_get(sec, "syscalls"), i, r) {
        json_array_foreach(json_object_get(r, "names"), k, name) {
            if (strcmp(json_string_value(name), sys) != 0 ||
                strcmp(json_string_value(json_object_get(r, "action")), "SCMP_ACT_ALLOW") != 0)
                continue;
            json_t *args = json_object_get(r, "args");
            if (json_array_size(args) == 0)
                return 1;
            assert_int_equal(json_array_size(args), 1);
            assert_int_equal(json_integer_value(json_object_get(json_array_get(args, 0), "index")), 0);
            if (cmp_matches(json_array_get(args, 0), v))
                return 1;
        }
    }
    return 0;
}

static void test_socket_families(void **state) {
    json_t *sec = seccomp_built(*state);
    for (uint64_t fam = 0; fam < 64; fam++) {
        int want = fam < 46 && fam != 38 /* AF_ALG */ && fam != 40 /* AF_VSOCK */;
        if (arg0_allowed(sec, "socket", fam) != want)
            fail_msg("socket family %llu: allowed %d, want %d", (unsigned long long)fam, !want, want);
        /* The kernel reads an int: high bits must not turn a refused family into an allowed value. */
        assert_false(arg0_allowed(sec, "socket", fam | (1ULL << 32)));
        assert_false(arg0_allowed(sec, "socket", fam | 0xffffffff00000000ULL));
    }
    json_decref(sec);
}

static void test_personality_values(void **state) {
    json_t *sec = seccomp_built(*state);
    const uint64_t ok[] = {0, 0x8, 0x20000, 0x20008, 0xffffffff};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_true(arg0_allowed(sec, "personality", ok[i]));
    /* ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, ADDR_LIMIT_3GB, PER_BSD, the query with high bits */
    const uint64_t refused[] = {0x40000, 0x400000, 0x100000, 0x8000000, 0x6, 0x1ffffffffULL, 0x48};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_false(arg0_allowed(sec, "personality", refused[i]));
    json_decref(sec);
}

/* Without CAP_SYS_ADMIN: clone() with no namespace flag only; clone3 → ENOSYS; no mount or unshare. */
static void test_clone_without_sys_admin(void **state) {
    json_t *sec = seccomp_built(*state);
    const uint64_t ns[] = {0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000};
    assert_true(arg0_allowed(sec, "clone", 0x11 /* SIGCHLD */ | 0x100 | 0x200 | 0x400 | 0x800 | 0x10000));
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
        assert_false(arg0_allowed(sec, "clone", ns[i] | 0x11));
    int unconditional;
    assert_int_equal(rules_for(sec, "clone3", "SCMP_ACT_ERRNO", &unconditional), 1);
    json_t *r = find_rule(sec, "clone3");
    assert_int_equal(json_integer_value(json_object_get(r, "errnoRet")), ENOSYS);
    assert_false(allowed(sec, "unshare") || allowed(sec, "mount") || allowed(sec, "setns") || allowed(sec, "bpf"));
    assert_false(allowed(sec, "io_uring_setup") || allowed(sec, "io_uring_enter") || allowed(sec, "keyctl"));
    assert_false(allowed(sec, "kexec_load") || allowed(sec, "userfaultfd") || allowed(sec, "kcmp"));
    assert_true(allowed(sec, "chroot"));       /* CAP_SYS_CHROOT is in the default set */
    assert_null(json_object_get(r, "unless")); /* resolved: cleat's own keys do not reach runc */
    json_decref(sec);
}

static void test_capability_groups(void **state) {
    struct fx *fx = *state;
    char *add[] = {"SYS_ADMIN", "CAP_SYS_PTRACE", "BPF"};
    fx->caps.add_capabilities = add;
    fx->caps.n_add_capabilities = 3;
    json_t *sec = seccomp_built(fx);
    int unconditional;
    assert_int_equal(rules_for(sec, "clone", "SCMP_ACT_ALLOW", &unconditional), 1);
    assert_true(unconditional);
    assert_int_equal(rules_for(sec, "clone3", "SCMP_ACT_ERRNO", &unconditional), 0);
    assert_true(allowed(sec, "clone3") && allowed(sec, "unshare") && allowed(sec, "mount") && allowed(sec, "kcmp"));
    /* bpf is named once though two of its capabilities are held */
    assert_int_equal(rules_for(sec, "bpf", "SCMP_ACT_ALLOW", &unconditional), 1);
    assert_false(allowed(sec, "init_module") || allowed(sec, "reboot") || allowed(sec, "settimeofday"));
    json_decref(sec);

    char *drop[] = {"ALL"};
    fx->caps.n_add_capabilities = 0;
    fx->caps.drop_capabilities = drop;
    fx->caps.n_drop_capabilities = 1;
    sec = seccomp_built(fx);
    assert_false(allowed(sec, "chroot"));
    assert_true(allowed(sec, "read"));
    json_decref(sec);
}

/* --- every resolved profile loads into libseccomp as runc loads it ---------------------------------- */

static uint32_t action_of(json_t *o, const char *key_action, const char *key_errno) {
    const char *a = json_string_value(json_object_get(o, key_action));
    json_t *e = json_object_get(o, key_errno);
    if (!strcmp(a, "SCMP_ACT_ALLOW"))
        return SCMP_ACT_ALLOW;
    assert_string_equal(a, "SCMP_ACT_ERRNO");
    return SCMP_ACT_ERRNO(e ? (uint16_t)json_integer_value(e) : EPERM);
}

/* runc 1.1: a rule equal to the default is skipped; conditions on one argument become separate rules. */
static void load_like_runc(json_t *sec) {
    uint32_t def = action_of(sec, "defaultAction", "defaultErrnoRet");
    scmp_filter_ctx ctx = seccomp_init(def);
    assert_non_null(ctx);
    size_t i, k;
    json_t *a, *r, *name;
    json_array_foreach(json_object_get(sec, "architectures"), i, a) {
        int rc = seccomp_arch_add(ctx, spec_seccomp_arch(json_string_value(a)));
        assert_true(rc == 0 || rc == -EEXIST);
    }
    json_array_foreach(json_object_get(sec, "syscalls"), i, r) {
        uint32_t act = action_of(r, "action", "errnoRet");
        json_t *args = json_object_get(r, "args");
        struct scmp_arg_cmp cmp[6];
        size_t n = json_array_size(args);
        assert_true(n <= 1); /* the shipped profile never needs runc's split */
        for (size_t c = 0; c < n; c++) {
            json_t *arg = json_array_get(args, c);
            const char *op = json_string_value(json_object_get(arg, "op"));
            cmp[c] = (struct scmp_arg_cmp){
                .arg = (unsigned)json_integer_value(json_object_get(arg, "index")),
                .op = !strcmp(op, "SCMP_CMP_EQ")          ? SCMP_CMP_EQ
                      : !strcmp(op, "SCMP_CMP_LT")        ? SCMP_CMP_LT
                      : !strcmp(op, "SCMP_CMP_MASKED_EQ") ? SCMP_CMP_MASKED_EQ
                                                          : _SCMP_CMP_MIN,
                .datum_a = (scmp_datum_t)json_integer_value(json_object_get(arg, "value")),
                .datum_b = (scmp_datum_t)json_integer_value(json_object_get(arg, "valueTwo")),
            };
            assert_int_not_equal(cmp[c].op, _SCMP_CMP_MIN);
        }
        json_array_foreach(json_object_get(r, "names"), k, name) {
            if (act == def)
                continue;
            int nr = seccomp_syscall_resolve_name(json_string_value(name));
            int rc = seccomp_rule_add_array(ctx, act, nr, (unsigned)n, cmp);
            if (rc < 0)
                fail_msg("libseccomp refuses the rule for %s: %s", json_string_value(name), strerror(-rc));
        }
    }
    seccomp_release(ctx);
}

static void test_loads_in_libseccomp(void **state) {
    struct fx *fx = *state;
    char *sets[][3] = {{NULL}, {"SYS_ADMIN"}, {"SYS_ADMIN", "BPF", "PERFMON"}, {"SYS_PTRACE", "SYS_NICE", "SYSLOG"}};
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        size_t n = 0;
        while (n < 3 && sets[i][n])
            n++;
        fx->caps.add_capabilities = sets[i];
        fx->caps.n_add_capabilities = n;
        json_t *sec = seccomp_built(fx);
        load_like_runc(sec);
        json_decref(sec);
    }
}

/* --- Localhost profiles ---------------------------------------------------------------------- */

static void localhost(struct fx *fx, const char *text) {
    write_text(fx->root, "profile.json", text);
    static char path[128];
    snprintf(path, sizeof(path), "%s/profile.json", fx->root);
    fx->prof.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
    fx->prof.localhost_ref = path;
}

/* Localhost profiles spec_build refuses, and why. */
static const struct {
    int32_t status;
    const char *needle, *profile;
} bad_profiles[] = {
    {CLEAT_STATUS_INVALID_ARGUMENT, "unknown syscall \"raed\"",
     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\",\"raed\"],\"action\":\"SCMP_ACT_ALLOW\"}"
     "]}"},
    /* A denylist rule runc would drop unseen: the same refusal. */
    {CLEAT_STATUS_INVALID_ARGUMENT, "unknown syscall \"mseal_typo\"",
     "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"name\":\"mseal_typo\",\"action\":\"SCMP_ACT_ERRNO\"}]}"},
    {CLEAT_STATUS_INVALID_ARGUMENT, "unknown architecture \"SCMP_ARCH_Z80\"",
     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_Z80\"]}"},
    {CLEAT_STATUS_INVALID_ARGUMENT, "unknown architecture \"x86_64\"",
     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"x86_64\"]}"},
    {CLEAT_STATUS_INVALID_ARGUMENT, "unknown architecture \"SCMP_ARCH_8086\"",
     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\","
     "\"subArchitectures\":[\"SCMP_ARCH_8086\"]}]}"},
    {CLEAT_STATUS_INVALID_ARGUMENT, "index is not 0 to 5",
     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\","
     "\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}"},
    {CLEAT_STATUS_INVALID_ARGUMENT, "unknown op",
     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\","
     "\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_ABOUT\"}]}]}"},
    {CLEAT_STATUS_INVALID_ARGUMENT, "not an unsigned integer",
     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\","
     "\"args\":[{\"index\":0,\"value\":-1,\"op\":\"SCMP_CMP_EQ\"}]}]}"},
    {CLEAT_STATUS_INVALID_ARGUMENT, "unknown capability \"CAP_SYS_WIZARD\"",
     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\","
     "\"requires\":[\"CAP_SYS_WIZARD\"]}]}"},
    /* cleat's per-host architectures: a host the profile does not cover is a precondition, not a bad profile. */
    {CLEAT_STATUS_FAILED_PRECONDITION, "no architectures for this host",
     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":{\"SCMP_ARCH_S390X\":[\"SCMP_ARCH_S390X\"]}}"},
};

static void test_localhost_refused(void **state) {
    struct fx *fx = *state;
    for (size_t i = 0; i < sizeof(bad_profiles) / sizeof(bad_profiles[0]); i++) {
        localhost(fx, bad_profiles[i].profile);
        spec_refused(&fx->in, bad_profiles[i].status, bad_profiles[i].needle);
    }
    /* Arch-specific names are known to libseccomp on every host. */
    localhost(fx, "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"arm_fadvise64_64\","
                  "\"arch_prctl\",\"socketcall\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
    json_decref(seccomp_built(fx));
}

/* Docker's archMap: only the entry of this host (runc refuses architectures it does not know). */
static void test_localhost_arch_map(void **state) {
    struct fx *fx = *state;
    localhost(fx, "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"archMap\":["
                  "{\"architecture\":\"SCMP_ARCH_S390X\",\"subArchitectures\":[\"SCMP_ARCH_S390\"]},"
                  "{\"architecture\":\"SCMP_ARCH_X86_64\",\"subArchitectures\":[\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"]},"
                  "{\"architecture\":\"SCMP_ARCH_AARCH64\",\"subArchitectures\":[\"SCMP_ARCH_ARM\"]}]}");
    json_t *sec = seccomp_built(fx);
    json_t *arches = json_object_get(sec, "architectures");
#if defined(__x86_64__)
    assert_int_equal(json_array_size(arches), 3);
    assert_string_equal(json_string_value(json_array_get(arches, 0)), "SCMP_ARCH_X86_64");
#elif defined(__aarch64__)
    assert_int_equal(json_array_size(arches), 2);
    assert_string_equal(json_string_value(json_array_get(arches, 0)), "SCMP_ARCH_AARCH64");
#endif
    for (size_t i = 0; i < json_array_size(arches); i++)
        assert_null(strstr(json_string_value(json_array_get(arches, i)), "S390"));
    json_decref(sec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_names_and_arches),
        cmocka_unit_test(test_shipped_no_overlap),
        cmocka_unit_test_setup_teardown(test_socket_families, setup, teardown),
        cmocka_unit_test_setup_teardown(test_personality_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clone_without_sys_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capability_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loads_in_libseccomp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localhost_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_localhost_arch_map, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
