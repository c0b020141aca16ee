/* SPDX-License-Identifier: Apache-2.0 */
/*
 * linux.seccomp from the CRI SecurityProfile: RuntimeDefault → the profile
 * file cleatd ships (config/seccomp-default.json), Localhost → the node's
 * file at localhost_ref, Unconfined (or none) → no filter.  Profiles are in
 * the OCI form, Docker's (archMap, "name"), or cleat's own (architectures
 * per host, rules kept or dropped by the container's capabilities with
 * "requires"/"unless"); all become the OCI form runc takes.  Docker's
 * includes/excludes are refused rather than applied unconditionally.
 *
 * Every syscall and architecture name must be one libseccomp knows: runc
 * (through the same library) skips a syscall it cannot resolve without a
 * word, which in a default-allow profile would silently open what the
 * rule meant to close.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fsutil.h"
#include "spec_internal.h"

/* A profile larger than this is not a seccomp profile (Docker's default is ~20 KiB). */
#define SECCOMP_PROFILE_MAX (4u << 20)

static const char *const actions[] = {
    "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE",        "SCMP_ACT_ALLOW",       "SCMP_ACT_LOG",
};

static const char *const operators[] = {
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int bad(const char *path, const char *what, struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "seccomp profile %s: %s", path, what);
}

static int in_list(json_t *s, const char *const *list, size_t n) {
    for (size_t i = 0; json_is_string(s) && i < n; i++)
        if (strcmp(json_string_value(s), list[i]) == 0)
            return 1;
    return 0;
}

static int nonempty(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return v && !(json_is_object(v) && json_object_size(v) == 0) && !(json_is_array(v) && json_array_size(v) == 0);
}

/* A syscall name: lower-case letters, digits and '_', and known to libseccomp on some architecture. */
static int check_name(const char *path, json_t *n, struct cleat_error **reterr) {
    const char *s = json_string_value(n);
    if (!s || !*s || strlen(s) > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(s))
        return bad(path, "a syscall name is not a string of [a-z0-9_]", reterr);
    /* libseccomp's table covers every architecture: a name absent from the native one resolves to a pseudo number. */
    if (seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, s) == __NR_SCMP_ERROR)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "seccomp profile %s: unknown syscall \"%s\" (libseccomp %u.%u.%u does not know it)", path, s,
                         seccomp_version()->major, seccomp_version()->minor, seccomp_version()->micro);
    return 0;
}

uint32_t spec_seccomp_arch(const char *name) {
    char low[32];
    size_t len = name ? strlen(name) : 0;
    if (len <= 10 || len - 10 >= sizeof(low) || strncmp(name, "SCMP_ARCH_", 10) != 0)
        return 0;
    for (size_t i = 10; i <= len; i++)
        low[i - 10] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    return seccomp_arch_resolve_name(low);
}

/* An array of SCMP_ARCH_* names libseccomp knows, copied into a new array at *ret. */
static int check_arches(const char *path, json_t *arr, json_t **ret, struct cleat_error **reterr) {
    if (!json_is_array(arr))
        return bad(path, "an architecture list is not an array", reterr);
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a) {
        if (!spec_seccomp_arch(json_string_value(a)))
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "seccomp profile %s: unknown architecture \"%s\"", path,
                             json_is_string(a) ? json_string_value(a) : "(not a string)");
    }
    if (ret)
        *ret = json_deep_copy(arr);
    return ret && !*ret ? spec_oom(reterr) : 0;
}

/* This machine's native and compat architectures, for a profile that names none. */
static json_t *host_arches(void) {
#if defined(__x86_64__)
    return json_pack("[s,s,s]", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32");
#elif defined(__aarch64__)
    return json_pack("[s,s]", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM");
#else
    return json_array();
#endif
}

/* cleat's form: {"SCMP_ARCH_<native>": [list], ...}; the entry for this host's native architecture. */
static int arches_by_host(const char *path, json_t *map, json_t **ret, struct cleat_error **reterr) {
    const char *key;
    json_t *list, *found = NULL;
    json_object_foreach(map, key, list) {
        uint32_t tok = spec_seccomp_arch(key);
        int r = tok ? check_arches(path, list, NULL, reterr)
                    : error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                                "seccomp profile %s: unknown architecture \"%s\"", path, key);
        if (r < 0)
            return r;
        if (tok == seccomp_arch_native())
            found = list;
    }
    if (!found)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                         "seccomp profile %s has no architectures for this host", path);
    return check_arches(path, found, ret, reterr);
}

/* Docker's archMap: the entry of this host's native architecture with its subArchitectures (as moby does). */
static int arches_from_map(const char *path, json_t *map, json_t **ret, struct cleat_error **reterr) {
    size_t i;
    json_t *m;
    json_array_foreach(map, i, m) {
        json_t *arch = json_object_get(m, "architecture"), *subs = json_object_get(m, "subArchitectures");
        json_t *one = json_pack("[O]", arch ? arch : json_null());
        int r = one ? check_arches(path, one, NULL, reterr) : spec_oom(reterr);
        json_decref(one);
        if (r >= 0 && subs && !json_is_null(subs))
            r = check_arches(path, subs, NULL, reterr);
        if (r < 0)
            return r;
        if (!*ret && spec_seccomp_arch(json_string_value(arch)) == seccomp_arch_native()) {
            *ret = json_pack("[O]", arch);
            if (!*ret || (json_is_array(subs) && json_array_extend(*ret, subs) < 0))
                return spec_oom(reterr);
        }
    }
    return 0;
}

/* The OCI "architectures": the profile's list, its entry for this host, or this host's own. */
static int add_arches(const char *path, json_t *prof, json_t *out, struct cleat_error **reterr) {
    json_t *a = json_object_get(prof, "architectures"), *map = json_object_get(prof, "archMap"), *arr = NULL;
    int r = 0;
    if (json_is_object(a))
        r = arches_by_host(path, a, &arr, reterr);
    else if (a && !(json_is_array(a) && json_array_size(a) == 0))
        r = check_arches(path, a, &arr, reterr);
    else if (map)
        r = json_is_array(map) ? arches_from_map(path, map, &arr, reterr)
                               : bad(path, "archMap is not an array", reterr);
    if (r >= 0 && !arr && !(arr = host_arches()))
        r = spec_oom(reterr);
    if (r < 0 || json_array_size(arr) == 0) {
        json_decref(arr);
        return r;
    }
    SPEC_SET(out, "architectures", arr, reterr);
    return 0;
}

/* 1 when the bounding set `caps` holds one of `list`; unknown capability names are refused. */
static int holds_any(const char *path, json_t *list, json_t *caps, struct cleat_error **reterr) {
    if (!json_is_array(list))
        return bad(path, "requires/unless is not an array of capability names", reterr);
    int found = 0;
    size_t i, k;
    json_t *c, *have;
    json_array_foreach(list, i, c) {
        if (!json_is_string(c) || strncmp(json_string_value(c), "CAP_", 4) != 0 ||
            spec_cap_index(json_string_value(c)) < 0)
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "seccomp profile %s: unknown capability \"%s\" in requires/unless", path,
                             json_is_string(c) ? json_string_value(c) : "(not a string)");
        json_array_foreach(caps, k, have) {
            if (json_equal(have, c))
                found = 1;
        }
    }
    return found;
}

/* 1 when a rule applies to a container with bounding set `caps` (cleat's "requires" / "unless"), else 0. */
static int rule_applies(const char *path, json_t *rule, json_t *caps, struct cleat_error **reterr) {
    json_t *req = json_object_get(rule, "requires"), *unless = json_object_get(rule, "unless");
    int r = req ? holds_any(path, req, caps, reterr) : 1;
    if (r > 0 && unless) {
        r = holds_any(path, unless, caps, reterr);
        if (r >= 0)
            r = !r;
    }
    return r;
}

/* args[]: index 0-5, a known operator, unsigned values; copied with only the OCI fields. */
static int convert_args(const char *path, json_t *args, json_t *r, struct cleat_error **reterr) {
    if (!json_is_array(args))
        return bad(path, "a rule's args is not an array", reterr);
    json_t *out = json_array();
    SPEC_SET(r, "args", out, reterr);
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a) {
        json_t *idx = json_object_get(a, "index"), *v = json_object_get(a, "value"),
               *v2 = json_object_get(a, "valueTwo");
        json_t *op = json_object_get(a, "op");
        if (!json_is_integer(idx) || json_integer_value(idx) < 0 || json_integer_value(idx) > 5)
            return bad(path, "an argument index is not 0 to 5", reterr);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (v2 && (!json_is_integer(v2) || json_integer_value(v2) < 0)))
            return bad(path, "an argument value is not an unsigned integer", reterr);
        if (!in_list(op, operators, N(operators)))
            return bad(path, "an argument has no or an unknown op", reterr);
        json_t *c = json_pack("{s:O,s:O,s:O}", "index", idx, "value", v, "op", op);
        SPEC_APPEND(out, c, reterr);
        if (v2)
            SPEC_SET(c, "valueTwo", json_incref(v2), reterr);
    }
    return 0;
}

/* One syscalls[] entry, validated and reduced to the OCI fields; skipped when its capability test says so. */
static int convert_rule(const char *path, json_t *rule, json_t *caps, json_t *out, struct cleat_error **reterr) {
    if (!json_is_object(rule) || nonempty(rule, "includes") || nonempty(rule, "excludes"))
        return bad(path, "rules with includes/excludes conditions are not supported", reterr);
    json_t *names = json_object_get(rule, "names"), *name = json_object_get(rule, "name");
    json_t *nv = json_array();
    if (!nv || (name && json_array_append(nv, name) < 0) || (json_is_array(names) && json_array_extend(nv, names) < 0))
        return json_decref(nv), spec_oom(reterr);
    int r = json_array_size(nv) ? 0 : bad(path, "a rule names no syscall", reterr);
    size_t i;
    json_t *n;
    json_array_foreach(nv, i, n) {
        if (r >= 0)
            r = check_name(path, n, reterr);
    }
    if (r >= 0 && !in_list(json_object_get(rule, "action"), actions, N(actions)))
        r = bad(path, "a rule has no or an unknown action", reterr);
    if (r >= 0)
        r = rule_applies(path, rule, caps, reterr);
    if (r <= 0)
        return json_decref(nv), r;
    json_t *o = json_pack("{s:o,s:O}", "names", nv, "action", json_object_get(rule, "action"));
    SPEC_APPEND(out, o, reterr);
    json_t *eret = json_object_get(rule, "errnoRet");
    if (json_is_integer(eret))
        SPEC_SET(o, "errnoRet", json_incref(eret), reterr);
    return json_object_get(rule, "args") ? convert_args(path, json_object_get(rule, "args"), o, reterr) : 0;
}

static int convert(const char *path, json_t *prof, json_t *caps, json_t *out, struct cleat_error **reterr) {
    if (!json_is_object(prof) || !in_list(json_object_get(prof, "defaultAction"), actions, N(actions)))
        return bad(path, "defaultAction is missing or unknown", reterr);
    SPEC_SET(out, "defaultAction", json_incref(json_object_get(prof, "defaultAction")), reterr);
    if (json_is_integer(json_object_get(prof, "defaultErrnoRet")))
        SPEC_SET(out, "defaultErrnoRet", json_incref(json_object_get(prof, "defaultErrnoRet")), reterr);
    if (json_is_array(json_object_get(prof, "flags")))
        SPEC_SET(out, "flags", json_deep_copy(json_object_get(prof, "flags")), reterr);
    int r = add_arches(path, prof, out, reterr);
    json_t *rules = json_object_get(prof, "syscalls");
    if (r < 0 || !rules)
        return r;
    if (!json_is_array(rules))
        return bad(path, "syscalls is not an array", reterr);
    json_t *out_rules = json_array();
    SPEC_SET(out, "syscalls", out_rules, reterr);
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule) {
        r = convert_rule(path, rule, caps, out_rules, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

/*
 * The deprecated seccomp_profile_path, which older kubelets and critest
 * still send when `seccomp` is unset: "runtime/default" and "docker/default",
 * "unconfined", "localhost/<absolute path>"; anything else is refused.
 */
static int legacy_profile(const char *s, Runtime__V1__SecurityProfile *ret, struct cleat_error **reterr) {
    runtime__v1__security_profile__init(ret);
    if (strcmp(s, "runtime/default") == 0 || strcmp(s, "docker/default") == 0) {
        ret->profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
    } else if (strcmp(s, "unconfined") == 0) {
        ret->profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
    } else if (strncmp(s, "localhost/", 10) == 0) {
        ret->profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
        ret->localhost_ref = (char *)s + 9; /* keeps the leading '/' of the absolute path */
    } else {
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "seccomp_profile_path \"%s\": use runtime/default, unconfined or localhost/<path>", s);
    }
    return 0;
}

/* The profile file for the container, or NULL for none (Unconfined, unset, privileged). */
static int profile_path(const struct spec_input *in, Runtime__V1__SecurityProfile *legacy, const char **ret,
                        struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    const Runtime__V1__SecurityProfile *p = sc ? sc->seccomp : NULL;
    /* Deprecated in the CRI, still what critest 1.26 sends: read on purpose. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const char *legacy_path = sc ? sc->seccomp_profile_path : NULL;
#pragma GCC diagnostic pop
    if (!p && legacy_path && *legacy_path) {
        int r = legacy_profile(legacy_path, legacy, reterr);
        if (r < 0)
            return r;
        p = legacy;
    }
    *ret = NULL;
    /* Privileged containers run unconfined, as with containerd and Docker. */
    if (!p || sc->privileged || p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined)
        return 0;
    int local = p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
    const char *path = local ? p->localhost_ref : in->seccomp_default_profile;
    if (!path || !*path)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT,
                         local ? "seccomp Localhost profile without a path"
                               : "seccomp RuntimeDefault: no default profile is configured");
    if (path[0] != '/')
        return bad(path, "the path is not absolute", reterr);
    *ret = path;
    return 0;
}

int spec_add_seccomp(const struct spec_input *in, json_t *caps, json_t *lx, struct cleat_error **reterr) {
    Runtime__V1__SecurityProfile legacy;
    const char *path;
    int r = profile_path(in, &legacy, &path, reterr);
    if (r < 0 || !path)
        return r;
    /* Not json_load_file(): its fopen() is not close-on-exec, and it would read a FIFO or device as well. */
    char *text = NULL;
    size_t len = 0;
    struct cleat_error *rerr = NULL;
    r = read_file(path, SECCOMP_PROFILE_MAX, &text, &len, &rerr);
    if (r < 0) {
        /* The path comes with the request: one that cannot be read is the request's fault. */
        r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, -r, "seccomp profile: %s", error_message(rerr));
        error_free(rerr);
        return r;
    }
    json_error_t je;
    json_t *prof = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!prof)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "seccomp profile %s: %s (line %d)", path,
                         je.text, je.line);
    json_t *out = json_object();
    r = out ? convert(path, prof, caps, out, reterr) : spec_oom(reterr);
    json_decref(prof);
    if (r < 0) {
        json_decref(out);
        return r;
    }
    SPEC_SET(lx, "seccomp", out, reterr);
    return 0;
}
