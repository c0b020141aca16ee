/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CDI: the device names a container asks for (CDI_devices and the
 * cdi.k8s.io/ annotations), and the resolved edits (cdi_registry.h) applied
 * to its config.json, after everything else, as containerd and cri-o apply
 * them: a CDI entry replaces the container's own at the same environment
 * variable name, device path or mount point.  See spec.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cdi_name.h"
#include "cdi_spec.h"
#include "error.h"
#include "spec_internal.h"

static int is_cdi_annotation(const Runtime__V1__ContainerConfig__AnnotationsEntry *kv) {
    return kv->key && strncmp(kv->key, CDI_ANNOTATION_PREFIX, strlen(CDI_ANNOTATION_PREFIX)) == 0;
}

int spec_cdi_requested(const Runtime__V1__ContainerConfig *c) {
    for (size_t i = 0; c && i < c->n_annotations; i++)
        if (is_cdi_annotation(c->annotations[i]))
            return 1;
    return c && c->n_cdi_devices > 0;
}

static int push(char ***v, size_t *n, const char *s, size_t len) {
    char **nv = realloc(*v, (*n + 2) * sizeof(**v));
    if (!nv)
        return -1;
    *v = nv;
    if (!(nv[*n] = strndup(s, len)))
        return -1;
    nv[++*n] = NULL;
    return 0;
}

static int add_name(char ***v, size_t *n, const char *field, const char *s, size_t len, struct cleat_error **reterr) {
    if (push(v, n, s, len) < 0)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    char why[256];
    if (cdi_name_check((*v)[*n - 1], NULL, why, sizeof(why)) < 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s: %s", field, why);
    return 0;
}

/*
 * Only the container's annotations: kubelet puts a device plugin's CDI
 * annotations there.  A pod's annotations are not read, as in containerd:
 * kubelet copies any annotation of the Pod object into them, so whoever may
 * create a pod could otherwise name any device of the node.
 */
int spec_cdi_names(const Runtime__V1__ContainerConfig *c, char ***ret, size_t *ret_n, struct cleat_error **reterr) {
    char **v = NULL;
    size_t n = 0;
    char field[300];
    int r = 0;
    for (size_t i = 0; r >= 0 && i < c->n_cdi_devices; i++) {
        snprintf(field, sizeof(field), "CDI_devices[%zu]", i);
        const char *name = c->cdi_devices[i]->name ? c->cdi_devices[i]->name : "";
        r = add_name(&v, &n, field, name, strlen(name), reterr);
    }
    for (size_t i = 0; r >= 0 && i < c->n_annotations; i++) {
        const Runtime__V1__ContainerConfig__AnnotationsEntry *kv = c->annotations[i];
        if (!is_cdi_annotation(kv))
            continue;
        snprintf(field, sizeof(field), "annotation \"%.200s\"", kv->key);
        /* A comma-separated list of fully-qualified names, as the CDI library writes it. */
        for (const char *s = kv->value ? kv->value : ""; r >= 0; s++) {
            size_t len = strcspn(s, ",");
            r = add_name(&v, &n, field, s, len, reterr);
            s += len;
            if (!*s)
                break;
        }
    }
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

static int apply_env(const struct cdi_edits *e, json_t *process, struct cleat_error **reterr) {
    json_t *env = json_object_get(process, "env");
    int r = env ? 0 : spec_oom(reterr);
    for (size_t i = 0; r >= 0 && i < e->n_env; i++)
        r = spec_env_set(env, e->env[i].kv, strlen(e->env[i].kv), reterr);
    return r;
}

/* The node's owner: as given, else the container's user (so that it may open it), as the CDI library does. */
static json_int_t owner(int has, uint32_t id, const json_t *user, const char *key) {
    return has ? (json_int_t)id : json_integer_value(json_object_get(user, key));
}

static int apply_node(const struct cdi_device_node *d, json_t *devs, json_t *rules, const json_t *user,
                      struct cleat_error **reterr) {
    for (size_t i = json_array_size(devs); i-- > 0;)
        if (strcmp(json_string_value(json_object_get(json_array_get(devs, i), "path")), d->path) == 0)
            json_array_remove(devs, i);
    char type[2] = {d->type, '\0'};
    json_t *o = json_pack("{s:s,s:s}", "path", d->path, "type", type);
    if (o && d->type != 'p' &&
        (json_object_set_new(o, "major", json_integer(d->major)) < 0 ||
         json_object_set_new(o, "minor", json_integer(d->minor)) < 0))
        o = (json_decref(o), NULL);
    if (o && d->has_file_mode && json_object_set_new(o, "fileMode", json_integer(d->file_mode)) < 0)
        o = (json_decref(o), NULL);
    json_int_t uid = owner(d->has_uid, d->uid, user, "uid"), gid = owner(d->has_gid, d->gid, user, "gid");
    if (o && uid > 0 && json_object_set_new(o, "uid", json_integer(uid)) < 0)
        o = (json_decref(o), NULL);
    if (o && gid > 0 && json_object_set_new(o, "gid", json_integer(gid)) < 0)
        o = (json_decref(o), NULL);
    SPEC_APPEND(devs, o, reterr);
    /* A FIFO needs no cgroup rule; "none" asks for no access; 'u' is a character device to the cgroup. */
    if (d->type == 'p' || (d->permissions && !*d->permissions))
        return 0;
    SPEC_APPEND(rules,
                json_pack("{s:b,s:s,s:I,s:I,s:s}", "allow", 1, "type", d->type == 'b' ? "b" : "c", "major",
                          (json_int_t)d->major, "minor", (json_int_t)d->minor, "access",
                          d->permissions ? d->permissions : "rwm"),
                reterr);
    return 0;
}

static int has_option(char *const *opts, const char *a, const char *b) {
    for (size_t i = 0; opts[i]; i++)
        if (strcmp(opts[i], a) == 0 || strcmp(opts[i], b) == 0)
            return 1;
    return 0;
}

/*
 * A CDI mount without a type is a bind mount (what vendors write, with
 * "bind" among the options); it gets the type, and "bind" if the options
 * name neither bind nor rbind, so that runc does not read it as a mount of
 * a filesystem called "".
 */
static int apply_mount(const struct cdi_mount *m, json_t *mounts, struct cleat_error **reterr) {
    for (size_t i = json_array_size(mounts); i-- > 0;) {
        const char *dest = json_string_value(json_object_get(json_array_get(mounts, i), "destination"));
        if (dest && spec_same_path(dest, m->container_path))
            json_array_remove(mounts, i);
    }
    json_t *opts = json_array();
    for (size_t i = 0; opts && m->options[i]; i++)
        if (json_array_append_new(opts, json_string(m->options[i])) < 0)
            opts = (json_decref(opts), NULL);
    if (opts && !m->type && !has_option(m->options, "bind", "rbind") &&
        json_array_append_new(opts, json_string("bind")) < 0)
        opts = (json_decref(opts), NULL);
    if (!opts)
        return spec_oom(reterr);
    SPEC_APPEND(mounts,
                json_pack("{s:s,s:s,s:s,s:o}", "destination", m->container_path, "type", m->type ? m->type : "bind",
                          "source", m->host_path, "options", opts),
                reterr);
    return 0;
}

static int apply_hook(const struct cdi_hook *h, json_t *root, struct cleat_error **reterr) {
    json_t *hooks = json_object_get(root, "hooks");
    if (!hooks) {
        hooks = json_object();
        SPEC_SET(root, "hooks", hooks, reterr);
    }
    const char *point = cdi_hook_point_name(h->point);
    json_t *list = json_object_get(hooks, point);
    if (!list) {
        list = json_array();
        SPEC_SET(hooks, point, list, reterr);
    }
    json_t *o = json_pack("{s:s}", "path", h->path);
    json_t *args = json_array(), *env = json_array();
    for (size_t i = 0; args && h->args[i]; i++)
        if (json_array_append_new(args, json_string(h->args[i])) < 0)
            args = (json_decref(args), NULL);
    for (size_t i = 0; env && h->env[i]; i++)
        if (json_array_append_new(env, json_string(h->env[i])) < 0)
            env = (json_decref(env), NULL);
    int ok = o && args && env;
    if (ok && json_array_size(args))
        ok = json_object_set(o, "args", args) == 0;
    if (ok && json_array_size(env))
        ok = json_object_set(o, "env", env) == 0;
    if (ok && h->timeout)
        ok = json_object_set_new(o, "timeout", json_integer(h->timeout)) == 0;
    json_decref(args);
    json_decref(env);
    if (!ok)
        return json_decref(o), spec_oom(reterr);
    SPEC_APPEND(list, o, reterr);
    return 0;
}

static int apply_gids(const struct cdi_edits *e, json_t *user, struct cleat_error **reterr) {
    json_t *gids = json_object_get(user, "additionalGids");
    if (!gids)
        return spec_oom(reterr);
    for (size_t i = 0; i < e->n_gids; i++) {
        size_t j = 0;
        while (j < json_array_size(gids) && json_integer_value(json_array_get(gids, j)) != (json_int_t)e->gids[i])
            j++;
        if (j == json_array_size(gids))
            SPEC_APPEND(gids, json_integer(e->gids[i]), reterr);
    }
    return 0;
}

int spec_apply_cdi(const struct cdi_edits *e, json_t *root, struct cleat_error **reterr) {
    json_t *process = json_object_get(root, "process"), *user = json_object_get(process, "user");
    json_t *lx = json_object_get(root, "linux"), *devs = json_object_get(lx, "devices");
    json_t *rules = json_object_get(json_object_get(lx, "resources"), "devices");
    json_t *mounts = json_object_get(root, "mounts");
    if (!process || !user || !devs || !rules || !mounts)
        return spec_oom(reterr); /* spec_build made them all */
    int r = apply_env(e, process, reterr);
    for (size_t i = 0; r >= 0 && i < e->n_nodes; i++)
        r = apply_node(&e->nodes[i], devs, rules, user, reterr);
    for (size_t i = 0; r >= 0 && i < e->n_mounts; i++)
        r = apply_mount(&e->mounts[i], mounts, reterr);
    if (r >= 0 && e->n_mounts)
        spec_sort_mounts(mounts);
    for (size_t i = 0; r >= 0 && i < e->n_hooks; i++)
        r = apply_hook(&e->hooks[i], root, reterr);
    if (r >= 0)
        r = apply_gids(e, user, reterr);
    return r;
}
