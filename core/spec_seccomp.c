/* SPDX-License-Identifier: Apache-2.0 */
/*
 * linux.seccomp from the CRI SecurityProfile: RuntimeDefault → the profile
 * file cleatd ships (config/seccomp-default.json), Localhost → the node's
 * file at localhost_ref, Unconfined (or none) → no filter.  Profiles are in
 * the OCI form, or Docker's (archMap, "name"), converted; conditional rules
 * (includes/excludes) are refused rather than applied unconditionally.
 */
#include <errno.h>
#include <string.h>

#include "error.h"
#include "spec_internal.h"

static const char *const actions[] = {
    "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE",        "SCMP_ACT_ALLOW",       "SCMP_ACT_LOG",
};

static int bad(const char *path, const char *what, struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "seccomp profile %s: %s", path, what);
}

static int action_ok(json_t *a) {
    for (size_t i = 0; json_is_string(a) && i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(json_string_value(a), actions[i]) == 0)
            return 1;
    return 0;
}

/* A syscall name: lower-case letters, digits and '_' (libseccomp resolves it per architecture at load time). */
static int name_ok(json_t *n) {
    const char *s = json_string_value(n);
    if (!s || !*s || strlen(s) > 64)
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s);
}

static int nonempty(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return v && !(json_is_object(v) && json_object_size(v) == 0) && !(json_is_array(v) && json_array_size(v) == 0);
}

/* One syscalls[] entry, validated and reduced to the OCI fields. */
static int convert_rule(const char *path, json_t *rule, json_t *out, struct cleat_error **reterr) {
    if (!json_is_object(rule) || nonempty(rule, "includes") || nonempty(rule, "excludes"))
        return bad(path, "rules with includes/excludes conditions are not supported", reterr);
    json_t *names = json_object_get(rule, "names"), *name = json_object_get(rule, "name");
    json_t *r = json_object();
    SPEC_APPEND(out, r, reterr);
    json_t *nv = json_array();
    SPEC_SET(r, "names", nv, reterr);
    if (json_is_string(name) && name_ok(name))
        SPEC_APPEND(nv, json_incref(name), reterr);
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        if (!name_ok(n))
            return bad(path, "a syscall name is not a string of [a-z0-9_]", reterr);
        SPEC_APPEND(nv, json_incref(n), reterr);
    }
    if (json_array_size(nv) == 0)
        return bad(path, "a rule names no syscall", reterr);
    if (!action_ok(json_object_get(rule, "action")))
        return bad(path, "a rule has no or an unknown action", reterr);
    SPEC_SET(r, "action", json_incref(json_object_get(rule, "action")), reterr);
    if (json_is_integer(json_object_get(rule, "errnoRet")))
        SPEC_SET(r, "errnoRet", json_incref(json_object_get(rule, "errnoRet")), reterr);
    if (json_is_array(json_object_get(rule, "args")))
        SPEC_SET(r, "args", json_deep_copy(json_object_get(rule, "args")), reterr);
    return 0;
}

/* The profile's architectures, Docker's archMap, or this machine's native and compat ones. */
static int add_arches(json_t *prof, json_t *out, struct cleat_error **reterr) {
    json_t *a = json_object_get(prof, "architectures"), *map = json_object_get(prof, "archMap");
    if (json_is_array(a) && json_array_size(a)) {
        SPEC_SET(out, "architectures", json_deep_copy(a), reterr);
        return 0;
    }
    json_t *arr = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(map, i, m) {
        json_t *arch = json_object_get(m, "architecture");
        if (json_is_string(arch))
            SPEC_APPEND(arr, json_incref(arch), reterr);
        json_array_extend(arr, json_object_get(m, "subArchitectures"));
    }
#if defined(__x86_64__)
    if (!json_array_size(arr))
        json_decref(arr), arr = json_pack("[s,s,s]", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32");
#elif defined(__aarch64__)
    if (!json_array_size(arr))
        json_decref(arr), arr = json_pack("[s,s]", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM");
#endif
    if (json_array_size(arr))
        SPEC_SET(out, "architectures", arr, reterr);
    else
        json_decref(arr);
    return 0;
}

static int convert(const char *path, json_t *prof, json_t *out, struct cleat_error **reterr) {
    if (!json_is_object(prof) || !action_ok(json_object_get(prof, "defaultAction")))
        return bad(path, "defaultAction is missing or unknown", reterr);
    SPEC_SET(out, "defaultAction", json_incref(json_object_get(prof, "defaultAction")), reterr);
    if (json_is_integer(json_object_get(prof, "defaultErrnoRet")))
        SPEC_SET(out, "defaultErrnoRet", json_incref(json_object_get(prof, "defaultErrnoRet")), reterr);
    if (json_is_array(json_object_get(prof, "flags")))
        SPEC_SET(out, "flags", json_deep_copy(json_object_get(prof, "flags")), reterr);
    int r = add_arches(prof, out, reterr);
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
        r = convert_rule(path, rule, out_rules, reterr);
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

int spec_add_seccomp(const struct spec_input *in, json_t *lx, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    const Runtime__V1__SecurityProfile *p = sc ? sc->seccomp : NULL;
    Runtime__V1__SecurityProfile legacy;
    /* Deprecated in the CRI, still what critest 1.26 sends: read on purpose. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const char *legacy_path = sc ? sc->seccomp_profile_path : NULL;
#pragma GCC diagnostic pop
    if (!p && legacy_path && *legacy_path) {
        int r = legacy_profile(legacy_path, &legacy, reterr);
        if (r < 0)
            return r;
        p = &legacy;
    }
    /* Privileged containers run unconfined, as with containerd and Docker. */
    if (!p || sc->privileged || p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined)
        return 0;
    const char *path = p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost
                           ? p->localhost_ref
                           : in->seccomp_default_profile;
    if (!path || !*path)
        return error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOENT,
                         p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost
                             ? "seccomp Localhost profile without a path"
                             : "seccomp RuntimeDefault: no default profile is configured");
    if (path[0] != '/')
        return bad(path, "the path is not absolute", reterr);
    json_error_t je;
    json_t *prof = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!prof)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "seccomp profile %s: %s (line %d)", path,
                         je.text, je.line);
    json_t *out = json_object();
    int r = out ? convert(path, prof, out, reterr) : spec_oom(reterr);
    json_decref(prof);
    if (r < 0) {
        json_decref(out);
        return r;
    }
    SPEC_SET(lx, "seccomp", out, reterr);
    return 0;
}
