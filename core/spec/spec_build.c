/* SPDX-License-Identifier: Apache-2.0 */
/* spec_build: the process (args, env, cwd, user, terminal), root, hostname and annotations; see spec.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image_manifest.h"
#include "log.h"
#include "spec_internal.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int strv_append(json_t *arr, char *const *v, size_t n, struct cleat_error **reterr) {
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_string(v[i]);
        if (!s)
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "argument %zu is not valid UTF-8", i);
        SPEC_APPEND(arr, s, reterr);
    }
    return 0;
}

static size_t strv_len(char *const *v) {
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/*
 * kubelet/docker: a command replaces the Entrypoint and drops the image Cmd;
 * args replace the Cmd.  containerd's CRI plugin does the same.
 */
static int add_args(const struct spec_input *in, json_t *process, struct cleat_error **reterr) {
    const Runtime__V1__ContainerConfig *c = in->container;
    const struct image_config *img = in->image;
    json_t *args = json_array();
    SPEC_SET(process, "args", args, reterr);
    int r = 0;
    if (c->n_command > 0)
        r = strv_append(args, c->command, c->n_command, reterr);
    else if (img)
        r = strv_append(args, img->entrypoint, strv_len(img->entrypoint), reterr);
    if (r >= 0 && c->n_args > 0)
        r = strv_append(args, c->args, c->n_args, reterr);
    else if (r >= 0 && c->n_command == 0 && img)
        r = strv_append(args, img->cmd, strv_len(img->cmd), reterr);
    if (r >= 0 && json_array_size(args) == 0)
        r = error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                      "no command specified: neither the container nor the image sets one");
    return r;
}

int spec_env_set(json_t *env, const char *kv, size_t len, struct cleat_error **reterr) {
    const char *eq = memchr(kv, '=', len);
    size_t nlen = eq ? (size_t)(eq - kv) : len;
    json_t *s = json_stringn(kv, len);
    if (!s || memchr(kv, '\0', len))
        return json_decref(s), error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                                         "environment variable \"%.*s\" is not valid UTF-8 or holds a NUL",
                                         (int)(nlen > 64 ? 64 : nlen), kv);
    for (size_t i = 0; i < json_array_size(env); i++) {
        const char *old = json_string_value(json_array_get(env, i));
        if (strncmp(old, kv, nlen) == 0 && (old[nlen] == '=' || old[nlen] == '\0'))
            return json_array_set_new(env, i, s) < 0 ? spec_oom(reterr) : 0;
    }
    SPEC_APPEND(env, s, reterr);
    return 0;
}

static int add_env(const struct spec_input *in, json_t *process, struct cleat_error **reterr) {
    json_t *env = json_array();
    SPEC_SET(process, "env", env, reterr);
    int r = spec_env_set(env, DEFAULT_PATH, strlen(DEFAULT_PATH), reterr);
    const char *host = in->sandbox->hostname;
    if (r >= 0 && host && *host) {
        char *kv = NULL;
        if (asprintf(&kv, "HOSTNAME=%s", host) < 0)
            return spec_oom(reterr);
        r = spec_env_set(env, kv, strlen(kv), reterr);
        free(kv);
    }
    for (size_t i = 0; r >= 0 && in->image && in->image->env && in->image->env[i]; i++)
        r = spec_env_set(env, in->image->env[i], strlen(in->image->env[i]), reterr);
    for (size_t i = 0; r >= 0 && i < in->container->n_envs; i++) {
        const Runtime__V1__KeyValue *kv = in->container->envs[i];
        if (!kv->key || !*kv->key || strchr(kv->key, '='))
            return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                             "environment variable name \"%s\" is invalid", kv->key ? kv->key : "");
        size_t klen = strlen(kv->key), len = klen + 1 + kv->value.len;
        char *s = malloc(len + 1);
        if (!s)
            return spec_oom(reterr);
        memcpy(s, kv->key, klen);
        s[klen] = '=';
        if (kv->value.len)
            memcpy(s + klen + 1, kv->value.data, kv->value.len);
        s[len] = '\0';
        r = spec_env_set(env, s, len, reterr);
        free(s);
    }
    return r;
}

static int add_user(const struct spec_input *in, json_t *process, struct cleat_error **reterr) {
    struct spec_user u;
    int r = spec_user_resolve(in, &u, reterr);
    if (r < 0)
        return r;
    json_t *user = json_pack("{s:I,s:I}", "uid", (json_int_t)u.uid, "gid", (json_int_t)u.gid);
    json_t *gids = json_array();
    for (size_t i = 0; user && gids && i < u.n_gids; i++)
        if (json_array_append_new(gids, json_integer(u.gids[i])) < 0)
            break;
    free(u.gids);
    if (!user || !gids || json_array_size(gids) != u.n_gids) {
        json_decref(user);
        json_decref(gids);
        return spec_oom(reterr);
    }
    if (json_object_set_new(user, "additionalGids", gids) < 0) {
        json_decref(user);
        return spec_oom(reterr);
    }
    SPEC_SET(process, "user", user, reterr);
    return 0;
}

/* oom_score_adj, never below cleatd's own: lowering it needs CAP_SYS_RESOURCE, which root here lacks. */
static int add_oom(const struct spec_input *in, json_t *process, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerResources *res = in->container->linux ? in->container->linux->resources : NULL;
    int64_t adj = res ? res->oom_score_adj : 0;
    if (adj < -1000 || adj > 1000)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "oom_score_adj %lld is outside [-1000, 1000]",
                         (long long)adj);
    if (adj < in->min_oom_score_adj) {
        log_msg(CLEAT_LOG_INFO, "spec", "container %s: oom_score_adj %lld raised to %lld, cleatd's own",
                in->container_id, (long long)adj, (long long)in->min_oom_score_adj);
        adj = in->min_oom_score_adj;
    }
    SPEC_SET(process, "oomScoreAdj", json_integer(adj), reterr);
    return 0;
}

static int add_process(const struct spec_input *in, json_t *root, struct cleat_error **reterr) {
    const Runtime__V1__ContainerConfig *c = in->container;
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    json_t *process = json_object();
    SPEC_SET(root, "process", process, reterr);
    SPEC_SET(process, "terminal", json_boolean(c->tty), reterr);
    const char *cwd = c->working_dir && *c->working_dir                                ? c->working_dir
                      : in->image && in->image->working_dir && *in->image->working_dir ? in->image->working_dir
                                                                                       : "/";
    if (*cwd != '/')
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "working directory \"%s\" is not absolute",
                         cwd);
    SPEC_SET(process, "cwd", json_string(cwd), reterr);
    SPEC_SET(process, "noNewPrivileges", json_boolean(sc && sc->no_new_privs), reterr);
    /* containerd's default: 1024 open files. */
    SPEC_SET(process, "rlimits", json_pack("[{s:s,s:i,s:i}]", "type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024),
             reterr);
    int r = add_args(in, process, reterr);
    if (r >= 0)
        r = add_env(in, process, reterr);
    if (r >= 0)
        r = add_user(in, process, reterr);
    if (r >= 0)
        r = add_oom(in, process, reterr);
    if (r >= 0)
        r = spec_add_capabilities(in, process, reterr);
    if (r >= 0)
        r = spec_add_apparmor(in, process, reterr);
    return r;
}

static int add_annotations(const struct spec_input *in, json_t *root, struct cleat_error **reterr) {
    const Runtime__V1__PodSandboxMetadata *pm = in->sandbox->metadata;
    const Runtime__V1__ContainerMetadata *cm = in->container->metadata;
    const Runtime__V1__ImageSpec *img = in->container->image;
    json_t *a = json_object();
    SPEC_SET(root, "annotations", a, reterr);
    SPEC_SET(a, "io.kubernetes.cri.container-type", json_string("container"), reterr);
    SPEC_SET(a, "io.kubernetes.cri.sandbox-id", json_string(in->sandbox_id), reterr);
    if (cm && cm->name)
        SPEC_SET(a, "io.kubernetes.cri.container-name", json_string(cm->name), reterr);
    if (pm && pm->name)
        SPEC_SET(a, "io.kubernetes.cri.sandbox-name", json_string(pm->name), reterr);
    if (pm && pm->namespace_)
        SPEC_SET(a, "io.kubernetes.cri.sandbox-namespace", json_string(pm->namespace_), reterr);
    if (pm && pm->uid)
        SPEC_SET(a, "io.kubernetes.cri.sandbox-uid", json_string(pm->uid), reterr);
    if (img && img->image && *img->image)
        SPEC_SET(a, "io.kubernetes.cri.image-name", json_string(img->image), reterr);
    return 0;
}

static int build(const struct spec_input *in, json_t *root, struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    const Runtime__V1__NamespaceOption *ns = spec_nsopts(in);
    SPEC_SET(root, "ociVersion", json_string("1.0.2"), reterr);
    const char *path = in->root_path ? in->root_path : in->rootfs;
    SPEC_SET(root, "root", json_pack("{s:s,s:b}", "path", path, "readonly", sc && sc->readonly_rootfs), reterr);
    /* Only a container with its own UTS namespace may set a hostname; host network means host UTS. */
    const char *host = in->sandbox->hostname;
    if (host && *host && !(ns && ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE))
        SPEC_SET(root, "hostname", json_string(host), reterr);
    int r = add_process(in, root, reterr);
    if (r >= 0)
        r = spec_add_linux(in, root, reterr);
    if (r >= 0)
        r = spec_add_mounts(in, root, reterr);
    if (r >= 0)
        r = add_annotations(in, root, reterr);
    return r;
}

int spec_build(const struct spec_input *in, char **ret_json, struct cleat_error **reterr) {
    if (!in || !in->container || !in->sandbox || !in->rootfs || in->rootfs[0] != '/' || !in->container_id ||
        !in->sandbox_id)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "OCI spec: container, sandbox, ids and an absolute rootfs are required");
    int r = spec_check_container(in->container, in->host, reterr);
    /* The caller resolves the devices (cdi_registry_resolve): without them the container would lack them. */
    if (r >= 0 && spec_cdi_requested(in->container) && !in->cdi)
        r = error_set(reterr, CLEAT_STATUS_FAILED_PRECONDITION, ENOTSUP,
                      "the container asks for CDI devices but they were not resolved");
    json_t *root = r < 0 ? NULL : json_object();
    if (r >= 0 && !root)
        r = spec_oom(reterr);
    if (r >= 0)
        r = build(in, root, reterr);
    if (r >= 0 && in->cdi)
        r = spec_apply_cdi(in->cdi, root, reterr);
    if (r < 0) {
        json_decref(root);
        return error_prefix(r, reterr, "container %s", in->container_id);
    }
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!s)
        return spec_oom(reterr);
    *ret_json = s;
    return 0;
}
