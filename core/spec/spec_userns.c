/* SPDX-License-Identifier: Apache-2.0 */
/*
 * User namespaces (kubelet's hostUsers: false): the pod's userns_options
 * checked, and the container's config.json joining the pod's user
 * namespace with the same maps (see spec.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "spec_internal.h"
#include "userns.h"

static const Runtime__V1__NamespaceOption *pod_nsopts(const Runtime__V1__PodSandboxConfig *pod) {
    return pod && pod->linux && pod->linux->security_context ? pod->linux->security_context->namespace_options : NULL;
}

const Runtime__V1__UserNamespace *spec_pod_userns(const Runtime__V1__PodSandboxConfig *pod) {
    const Runtime__V1__NamespaceOption *o = pod_nsopts(pod);
    const Runtime__V1__UserNamespace *u = o ? o->userns_options : NULL;
    return u && u->mode == RUNTIME__V1__NAMESPACE_MODE__POD ? u : NULL;
}

static struct userns_range *ranges_of(Runtime__V1__IDMapping *const *v, size_t n) {
    struct userns_range *r = calloc(n ? n : 1, sizeof(*r));
    for (size_t i = 0; r && i < n; i++)
        r[i] = (struct userns_range){.inside = v[i]->container_id, .outside = v[i]->host_id, .length = v[i]->length};
    return r;
}

int spec_userns_maps(const Runtime__V1__UserNamespace *u, struct userns_maps *ret, struct cleat_error **reterr) {
    struct userns_range *uids = ranges_of(u->uids, u->n_uids), *gids = ranges_of(u->gids, u->n_gids);
    if (!uids || !gids) {
        free(uids);
        free(gids);
        return spec_oom(reterr);
    }
    *ret = (struct userns_maps){.uids = uids, .n_uids = u->n_uids, .gids = gids, .n_gids = u->n_gids};
    return 0;
}

void spec_userns_maps_free(struct userns_maps *m) {
    if (!m)
        return;
    free((void *)m->uids);
    free((void *)m->gids);
    *m = (struct userns_maps){0};
}

/* Mode POD with sound maps, NODE without maps, or none: fine. */
static int check_option(const char *field, const Runtime__V1__UserNamespace *u, struct cleat_error **reterr) {
    if (!u || (u->mode == RUNTIME__V1__NAMESPACE_MODE__NODE && !u->n_uids && !u->n_gids))
        return 0;
    if (u->mode == RUNTIME__V1__NAMESPACE_MODE__NODE)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s.userns_options: uid/gid mappings need mode POD, not NODE", field);
    if (u->mode != RUNTIME__V1__NAMESPACE_MODE__POD)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s.userns_options: mode %s: a user namespace is the node's (NODE) or the pod's (POD), "
                         "never a container's own",
                         field, u->mode == RUNTIME__V1__NAMESPACE_MODE__CONTAINER ? "CONTAINER" : "TARGET");
    struct userns_maps m;
    char what[256];
    snprintf(what, sizeof(what), "%s.userns_options", field);
    int r = spec_userns_maps(u, &m, reterr);
    if (r >= 0)
        r = userns_check_maps(what, &m, reterr);
    spec_userns_maps_free(&m);
    return r;
}

int spec_check_userns_pod(const char *field, const Runtime__V1__NamespaceOption *o, struct cleat_error **reterr) {
    const Runtime__V1__UserNamespace *u = o ? o->userns_options : NULL;
    int r = check_option(field, u, reterr);
    if (r < 0 || !u || u->mode != RUNTIME__V1__NAMESPACE_MODE__POD)
        return r;
    /* kubelet refuses these too: the host's namespaces belong to the host's user namespace. */
    const char *host = o->network == RUNTIME__V1__NAMESPACE_MODE__NODE ? "network"
                       : o->pid == RUNTIME__V1__NAMESPACE_MODE__NODE   ? "pid"
                       : o->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE   ? "ipc"
                                                                       : NULL;
    if (host)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s.userns_options: a pod with its own user namespace cannot use the node's %s namespace "
                         "(%s NODE)",
                         field, host, host);
    return 0;
}

int spec_check_userns_container(const char *field, const Runtime__V1__NamespaceOption *o, struct cleat_error **reterr) {
    return check_option(field, o ? o->userns_options : NULL, reterr);
}

static int same_maps(Runtime__V1__IDMapping *const *a, size_t na, Runtime__V1__IDMapping *const *b, size_t nb) {
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i]->host_id != b[i]->host_id || a[i]->container_id != b[i]->container_id || a[i]->length != b[i]->length)
            return 0;
    return 1;
}

/* The container's own userns_options, if any, must say what the pod's do: one user namespace per pod. */
static int check_container_matches_pod(const struct spec_input *in, const Runtime__V1__UserNamespace *pod,
                                       struct cleat_error **reterr) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    const Runtime__V1__UserNamespace *c = sc && sc->namespace_options ? sc->namespace_options->userns_options : NULL;
    if (!c)
        return 0;
    const char *field = "linux.security_context.namespace_options.userns_options";
    if (!pod && c->mode == RUNTIME__V1__NAMESPACE_MODE__POD)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s: mode POD, but the pod was made without a user namespace of its own", field);
    if (pod && c->mode != RUNTIME__V1__NAMESPACE_MODE__POD)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s: the pod has its own user namespace, which all its containers share: mode must be POD",
                         field);
    if (pod && (c->n_uids || c->n_gids) &&
        (!same_maps(c->uids, c->n_uids, pod->uids, pod->n_uids) ||
         !same_maps(c->gids, c->n_gids, pod->gids, pod->n_gids)))
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s: the mappings differ from the pod's, whose user namespace the container joins", field);
    return 0;
}

static json_t *maps_json(Runtime__V1__IDMapping *const *v, size_t n) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr,
                                  json_pack("{s:I,s:I,s:I}", "containerID", (json_int_t)v[i]->container_id, "hostID",
                                            (json_int_t)v[i]->host_id, "size", (json_int_t)v[i]->length)) < 0) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

int spec_add_userns(const struct spec_input *in, json_t *lx, json_t *namespaces, struct cleat_error **reterr) {
    const Runtime__V1__UserNamespace *u = spec_pod_userns(in->sandbox);
    int r = check_container_matches_pod(in, u, reterr);
    if (r < 0 || !u)
        return r;
    if (!in->userns_path)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "the pod's user namespace is not pinned");
    SPEC_APPEND(namespaces, json_pack("{s:s,s:s}", "type", "user", "path", in->userns_path), reterr);
    /* The runtime joins the namespace by path; it still wants the maps (runc: to own its files as the pod's root). */
    json_t *uids = maps_json(u->uids, u->n_uids), *gids = maps_json(u->gids, u->n_gids);
    if (!uids || !gids) {
        json_decref(uids);
        json_decref(gids);
        return spec_oom(reterr);
    }
    SPEC_SET(lx, "uidMappings", uids, reterr);
    SPEC_SET(lx, "gidMappings", gids, reterr);
    return 0;
}
