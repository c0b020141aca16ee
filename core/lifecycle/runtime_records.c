/* SPDX-License-Identifier: Apache-2.0 */
/* Pod and container records in the store, and small helpers of the runtime service. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "log.h"
#include "registry.h"
#include "strlist.h"
#include "fsutil.h"
#include "runtime_internal.h"

int record_set_string(char **field, const char *value, struct cleat_error **reterr) {
    char *copy = strdup(value ? value : "");
    if (!copy)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    if (*field && *field != protobuf_c_empty_string)
        free(*field);
    *field = copy;
    return 0;
}

static int load(struct runtime_service *rs, enum store_kind kind, const char *id,
                const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret, struct cleat_error **reterr) {
    void *data = NULL;
    size_t len = 0;
    int r = store_get(rs->deps.store, kind, id, &data, &len, reterr);
    if (r < 0)
        return r;
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, data);
    free(data);
    if (!m)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "the stored %s record %s is corrupt",
                         store_kind_name(kind), id);
    *ret = m;
    return 0;
}

struct unpacked {
    const ProtobufCMessageDescriptor *desc;
    ProtobufCAllocator *alloc; /* NULL: malloc */
    enum store_kind kind;
    ProtobufCMessage **v; /* as many slots as IDs asked for, and one more */
    size_t n;
};

static int unpack_one(void *ctx, const char *id, const char *name_key, const void *data, size_t len) {
    struct unpacked *u = ctx;
    (void)name_key;
    ProtobufCMessage *m = protobuf_c_message_unpack(u->desc, u->alloc, len, data);
    if (m)
        u->v[u->n++] = m;
    else /* one bad record must not hide the others from a list */
        log_warning("the stored %s record %s is corrupt; left out", store_kind_name(u->kind), id);
    return 0;
}

/*
 * The records object_ids names that still exist, read in one transaction; a
 * NULL-ended array.  In arena a when given: a 500-pod stats list unpacked
 * 1,000 records with a malloc per string and map entry, and freed them one
 * by one (protobuf_c_message_free_unpacked alone was 4% of the call).
 */
static int list_records(struct runtime_service *rs, struct arena *a, enum store_kind kind,
                        const ProtobufCMessageDescriptor *desc, const char *id_prefix, const char *pod_prefix,
                        ProtobufCMessage ***ret, size_t *ret_n, struct cleat_error **reterr) {
    char **ids = NULL;
    size_t n = 0;
    int r = object_ids(rs, kind, id_prefix, pod_prefix, &ids, &n, reterr);
    if (r < 0)
        return r;
    ProtobufCAllocator alloc = a ? arena_protobuf_allocator(a) : (ProtobufCAllocator){0};
    struct unpacked u = {.desc = desc,
                         .alloc = a ? &alloc : NULL,
                         .kind = kind,
                         .v = a ? arena_array(a, n + 1, sizeof(*u.v)) : calloc(n + 1, sizeof(*u.v))};
    if (!u.v)
        r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    size_t bad = 0;
    if (r >= 0)
        r = store_get_each(rs->deps.store, kind, ids, n, unpack_one, &u, &bad, reterr);
    if (bad)
        log_warning("%zu stored %s records are malformed; left out", bad, store_kind_name(kind));
    free_ids(ids, n);
    if (r < 0) {
        for (size_t i = 0; !a && i < u.n; i++)
            protobuf_c_message_free_unpacked(u.v[i], NULL);
        if (!a)
            free(u.v);
        return r;
    }
    *ret = u.v;
    *ret_n = u.n;
    return 0;
}

static int pack(const ProtobufCMessage *m, void **ret, size_t *ret_len, struct cleat_error **reterr) {
    size_t len = protobuf_c_message_get_packed_size(m);
    void *buf = malloc(len ? len : 1);
    if (!buf)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    protobuf_c_message_pack(m, buf);
    *ret = buf;
    *ret_len = len;
    return 0;
}

static int save(struct runtime_service *rs, enum store_kind kind, const ProtobufCMessage *m, const char *id,
                struct cleat_error **reterr) {
    void *buf = NULL;
    size_t len = 0;
    int r = pack(m, &buf, &len, reterr);
    if (r < 0)
        return r;
    r = registry_update(rs->deps.registry, kind, id, buf, len, reterr);
    free(buf);
    return r;
}

int record_add(struct runtime_service *rs, enum store_kind kind, const ProtobufCMessage *msg, const char *id,
               const char *name_key, const char *parent, struct cleat_error **reterr) {
    void *buf = NULL;
    size_t len = 0;
    int r = pack(msg, &buf, &len, reterr);
    if (r < 0)
        return r;
    r = registry_add(rs->deps.registry, kind, id, name_key, parent, buf, len, reterr);
    free(buf);
    return r;
}

int sandbox_record_load(struct runtime_service *rs, const char *id, sandbox_record **ret, struct cleat_error **reterr) {
    return load(rs, STORE_SANDBOX, id, &cleat__store__v1__sandbox_record__descriptor, (ProtobufCMessage **)ret, reterr);
}

int sandbox_record_save(struct runtime_service *rs, const sandbox_record *rec, struct cleat_error **reterr) {
    return save(rs, STORE_SANDBOX, &rec->base, rec->id, reterr);
}

int container_record_load(struct runtime_service *rs, const char *id, container_record **ret,
                          struct cleat_error **reterr) {
    return load(rs, STORE_CONTAINER, id, &cleat__store__v1__container_record__descriptor, (ProtobufCMessage **)ret,
                reterr);
}

int container_record_save(struct runtime_service *rs, const container_record *rec, struct cleat_error **reterr) {
    return save(rs, STORE_CONTAINER, &rec->base, rec->id, reterr);
}

int sandbox_records_list(struct runtime_service *rs, struct arena *a, const char *id_prefix, sandbox_record ***ret,
                         size_t *ret_n, struct cleat_error **reterr) {
    return list_records(rs, a, STORE_SANDBOX, &cleat__store__v1__sandbox_record__descriptor, id_prefix, NULL,
                        (ProtobufCMessage ***)ret, ret_n, reterr);
}

int container_records_list(struct runtime_service *rs, struct arena *a, const char *id_prefix, const char *pod_prefix,
                           container_record ***ret, size_t *ret_n, struct cleat_error **reterr) {
    return list_records(rs, a, STORE_CONTAINER, &cleat__store__v1__container_record__descriptor, id_prefix, pod_prefix,
                        (ProtobufCMessage ***)ret, ret_n, reterr);
}

void sandbox_record_free(sandbox_record *rec) {
    if (rec)
        cleat__store__v1__sandbox_record__free_unpacked(rec, NULL);
}

void sandbox_records_free(sandbox_record **recs, size_t n) {
    for (size_t i = 0; recs && i < n; i++)
        sandbox_record_free(recs[i]);
    free(recs);
}

void container_record_free(container_record *rec) {
    if (rec)
        cleat__store__v1__container_record__free_unpacked(rec, NULL);
}

void container_records_free(container_record **recs, size_t n) {
    for (size_t i = 0; recs && i < n; i++)
        container_record_free(recs[i]);
    free(recs);
}

struct plugin_instance *runtime_instance(struct runtime_service *rs, const char *handler) {
    if (!handler || !*handler)
        handler = rs->deps.cfg->default_runtime_handler;
    return handler ? plugins_find(rs->deps.plugins, CLEAT_CONCERN_RUNTIME, handler) : NULL;
}

void free_ids(char **ids, size_t n) {
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}

struct collect {
    const char *id_prefix; /* "": all */
    struct strlist ids;
    int oom;
};

static int collect_one(void *ctx, const char *id) {
    struct collect *c = ctx;
    if (strncmp(id, c->id_prefix, strlen(c->id_prefix)) != 0)
        return 0;
    if (strlist_add(&c->ids, id) < 0)
        return c->oom = 1;
    return 0;
}

int object_ids(struct runtime_service *rs, enum store_kind kind, const char *id_prefix, const char *pod_prefix,
               char ***ret, size_t *ret_n, struct cleat_error **reterr) {
    struct collect c = {.id_prefix = id_prefix ? id_prefix : ""};
    int r = kind == STORE_CONTAINER && pod_prefix && *pod_prefix
                ? registry_foreach_child(rs->deps.registry, kind, pod_prefix, collect_one, &c)
                : registry_foreach_prefix(rs->deps.registry, kind, c.id_prefix, collect_one, &c);
    if (r != 0 || c.oom) {
        strlist_free(&c.ids);
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    *ret = c.ids.v; /* free_ids frees it */
    *ret_n = c.ids.n;
    return 0;
}

int pod_container_ids(struct runtime_service *rs, const char *pod_id, char ***ret, size_t *ret_n,
                      struct cleat_error **reterr) {
    /* A full ID is the prefix of no other ID: the pod's containers, and only them. */
    return object_ids(rs, STORE_CONTAINER, NULL, pod_id, ret, ret_n, reterr);
}

static char *join(const char *base, const char *id) {
    size_t n = strlen(base) + strlen(id) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", base, id);
    return p;
}

char *pod_dir(struct runtime_service *rs, const char *id) {
    return join(rs->pods_dir, id);
}

char *container_dir(struct runtime_service *rs, const char *id) {
    return join(rs->containers_dir, id);
}

int object_resolve(struct runtime_service *rs, enum store_kind kind, const char *id_or_prefix, char id[65],
                   struct cleat_error **reterr) {
    const char *what = kind == STORE_SANDBOX ? "pod sandbox" : "container";
    if (!id_or_prefix || !*id_or_prefix)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "a %s ID is required", what);
    int r = registry_resolve(rs->deps.registry, kind, id_or_prefix, id, reterr);
    if (r < 0 && error_status(*reterr) == CLEAT_STATUS_NOT_FOUND) {
        /* The registry's words name the store; the CRI's caller wants the object it asked for. */
        error_free(*reterr);
        *reterr = NULL;
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "%s \"%s\" not found", what, id_or_prefix);
    }
    return r;
}

int object_resolve_present(struct runtime_service *rs, enum store_kind kind, const char *id_or_prefix, char id[65],
                           struct cleat_error **reterr) {
    struct cleat_error *err = NULL;
    if (object_resolve(rs, kind, id_or_prefix, id, &err) >= 0)
        return 1;
    if (error_status(err) != CLEAT_STATUS_NOT_FOUND) {
        *reterr = err;
        return -1;
    }
    error_free(err);
    return 0;
}

struct plugin_instance *container_runtime(struct runtime_service *rs, const container_record *rec) {
    sandbox_record *pod = NULL;
    struct cleat_error *err = NULL;
    struct plugin_instance *rt = NULL;
    if (sandbox_record_load(rs, rec->sandbox_id, &pod, &err) >= 0)
        rt = runtime_instance(rs, pod->runtime_handler);
    error_free(err);
    sandbox_record_free(pod);
    return rt;
}

int container_spec_load(struct runtime_service *rs, const char *id, json_t **ret, struct cleat_error **reterr) {
    char *dir = container_dir(rs, id), *text = NULL;
    char path[4200];
    snprintf(path, sizeof(path), "%s/config.json", dir ? dir : "");
    free(dir);
    int r = read_file(path, 16 << 20, &text, NULL, reterr);
    if (r < 0)
        return r;
    json_error_t je;
    json_t *spec = json_loads(text, 0, &je);
    free(text);
    if (!spec)
        return error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "%s: %s", path, je.text);
    *ret = spec;
    return 0;
}
