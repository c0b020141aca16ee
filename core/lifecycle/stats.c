/* SPDX-License-Identifier: Apache-2.0 */
/* Container and pod usage: the sample cache, cgroup figures, writable layers, pod networks (see stats.h). */
#include "plugin_calls.h"
#include "stats.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "image_service.h"
#include "metrics.h"
#include "pod_ns.h"
#include "runtime_internal.h"

/* An entry nobody asked about for this long goes at the next insertion (its object was removed meanwhile). */
#define STALE_NS (600LL * 1000000000)

struct sample {
    char id[65];
    int64_t last_used_ns;
    int has_cpu, has_rate;
    int64_t cpu_ts_ns;
    uint64_t cpu_usage_ns, nano_cores;
    int has_layer;
    int64_t layer_ts_ns;
    struct cleat_usage layer;
    int has_kept; /* `kept` is the latest whole measurement (stats_cache_keep) */
    struct object_stats kept;
    int64_t kept_floor_ns; /* a measurement taken before this (a change of limits) is not kept */
    struct net_iface *net; /* pods: the interfaces' counters (malloc'd), measured at net_ts_ns */
    size_t n_net;
    int has_net;
    int64_t net_ts_ns;
};

/*
 * An array sorted by id, searched by bisection: a list of 500 containers
 * looks each up twice or three times, and a linear search made that
 * quadratic.  Inserting moves the tail, which happens once per object.
 *
 * The bisection reads keys[], the first eight bytes of each id, not the
 * entries: these are 568 bytes apart, so each step of a search was a cache
 * miss, and the lookups of a 500-pod ListPodSandboxStats were a tenth of
 * it (perf).  The keys of 1,000 objects are 8 kB.  cap is never more than
 * either array holds.
 */
struct stats_cache {
    pthread_mutex_t mu;
    int64_t layer_max_age_ns;
    struct sample *items;
    uint64_t *keys; /* keys[i] = id_key(items[i].id) */
    size_t n, cap;
};

struct stats_cache *stats_cache_new(int64_t writable_layer_max_age_ns) {
    struct stats_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->layer_max_age_ns = writable_layer_max_age_ns;
    return c;
}

void stats_cache_free(struct stats_cache *c) {
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i].net);
    free(c->items);
    free(c->keys);
    free(c);
}

/* The first eight bytes of id as a big-endian number: keys order as strcmp orders the ids, ties aside. */
static uint64_t id_key(const char *id) {
    uint64_t k = 0;
    size_t i = 0;
    for (; i < 8 && id[i]; i++)
        k = k << 8 | (unsigned char)id[i];
    return i ? k << (8 * (8 - i)) : 0;
}

/* Whether the entry at i sorts before id (of key k). */
static int before_locked(const struct stats_cache *c, size_t i, uint64_t k, const char *id) {
    return c->keys[i] < k || (c->keys[i] == k && strcmp(c->items[i].id, id) < 0);
}

/* Where id is, or would go to keep the order. */
static size_t position_locked(const struct stats_cache *c, const char *id) {
    size_t lo = 0, hi = c->n;
    uint64_t k = id_key(id);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (before_locked(c, mid, k, id))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct sample *find_locked(struct stats_cache *c, const char *id) {
    size_t i = position_locked(c, id);
    return i < c->n && c->keys[i] == id_key(id) && strcmp(c->items[i].id, id) == 0 ? &c->items[i] : NULL;
}

/* Both arrays to hold cap entries: keys first when growing, items first when shrinking, so cap fits both. */
static int resize_locked(struct stats_cache *c, size_t cap) {
    if (cap > c->cap) {
        uint64_t *keys = realloc(c->keys, cap * sizeof(*keys));
        if (!keys)
            return -1;
        c->keys = keys;
    }
    struct sample *items = realloc(c->items, cap * sizeof(*items));
    if (!items)
        return -1;
    c->items = items;
    if (cap < c->cap) {
        uint64_t *keys = realloc(c->keys, cap * sizeof(*keys));
        if (keys) /* else the larger one is kept, which is harmless */
            c->keys = keys;
    }
    c->cap = cap;
    return 0;
}

/*
 * Give back most of the array once three quarters of it are unused: an entry
 * is 568 bytes, and a node that ran 500 pods kept 1,024 of them (0.6 MiB)
 * after they were all removed.
 */
static void shrink_locked(struct stats_cache *c) {
    if (c->cap <= 32 || c->n > c->cap / 4)
        return;
    resize_locked(c, c->cap / 2); /* on failure the larger array is kept, which is harmless */
}

/* The entry of id, made if needed (NULL when out of memory); drops stale entries first. */
static struct sample *get_locked(struct stats_cache *c, const char *id, int64_t now) {
    struct sample *s = find_locked(c, id);
    if (s) {
        s->last_used_ns = now;
        return s;
    }
    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++)
        if (now - c->items[i].last_used_ns <= STALE_NS) {
            c->keys[kept] = c->keys[i];
            c->items[kept++] = c->items[i];
        } else {
            free(c->items[i].net);
        }
    c->n = kept;
    shrink_locked(c);
    if (c->n == c->cap && resize_locked(c, c->cap ? c->cap * 2 : 32) < 0)
        return NULL;
    size_t at = position_locked(c, id);
    memmove(&c->items[at + 1], &c->items[at], (c->n - at) * sizeof(*c->items));
    memmove(&c->keys[at + 1], &c->keys[at], (c->n - at) * sizeof(*c->keys));
    c->keys[at] = id_key(id);
    c->n++;
    s = &c->items[at];
    *s = (struct sample){.last_used_ns = now};
    snprintf(s->id, sizeof(s->id), "%s", id);
    return s;
}

size_t stats_cache_bytes(struct stats_cache *c) {
    pthread_mutex_lock(&c->mu);
    size_t bytes = c->cap * (sizeof(*c->items) + sizeof(*c->keys));
    for (size_t i = 0; i < c->n; i++)
        bytes += c->items[i].n_net * sizeof(*c->items[i].net);
    pthread_mutex_unlock(&c->mu);
    return bytes;
}

void stats_cache_forget(struct stats_cache *c, const char *id) {
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    struct sample *s = find_locked(c, id);
    if (s) {
        size_t at = (size_t)(s - c->items);
        free(s->net);
        memmove(s, s + 1, (c->n - at - 1) * sizeof(*s));
        memmove(&c->keys[at], &c->keys[at + 1], (c->n - at - 1) * sizeof(*c->keys));
        c->n--;
        shrink_locked(c);
    }
    pthread_mutex_unlock(&c->mu);
}

void stats_cache_keep(struct stats_cache *c, const char *id, const struct object_stats *st) {
    pthread_mutex_lock(&c->mu);
    struct sample *s = get_locked(c, id, now_ns());
    if (s && st->timestamp_ns >= s->kept_floor_ns) {
        s->kept = *st;
        s->has_kept = 1;
    }
    pthread_mutex_unlock(&c->mu);
}

void stats_cache_drop_kept(struct stats_cache *c, const char *id) {
    pthread_mutex_lock(&c->mu);
    struct sample *s = get_locked(c, id, now_ns());
    if (s) {
        s->has_kept = 0;
        s->kept_floor_ns = now_ns(); /* a round measuring since before the change must not bring it back */
    }
    pthread_mutex_unlock(&c->mu);
}

int stats_cache_kept(struct stats_cache *c, const char *id, int64_t since_ns, struct object_stats *ret) {
    pthread_mutex_lock(&c->mu);
    struct sample *s = find_locked(c, id);
    int have = s && s->has_kept && s->kept.timestamp_ns >= since_ns;
    if (have) {
        s->last_used_ns = now_ns();
        *ret = s->kept;
    }
    pthread_mutex_unlock(&c->mu);
    return have;
}

/* A malloc'd copy of n interfaces (one byte for none, so that NULL only means out of memory). */
static struct net_iface *ifaces_dup(const struct net_iface *ifs, size_t n) {
    struct net_iface *copy = malloc(n ? n * sizeof(*ifs) : 1);
    if (copy && n)
        memcpy(copy, ifs, n * sizeof(*ifs));
    return copy;
}

void stats_cache_keep_net(struct stats_cache *c, const char *id, int64_t ts_ns, const struct net_iface *ifs, size_t n) {
    struct net_iface *copy = ifaces_dup(ifs, n);
    if (!copy)
        return; /* nothing kept: the next call reads the namespace itself */
    pthread_mutex_lock(&c->mu);
    struct sample *s = get_locked(c, id, now_ns());
    if (s) {
        free(s->net);
        s->net = copy;
        s->n_net = n;
        s->net_ts_ns = ts_ns;
        s->has_net = 1;
        copy = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    free(copy);
}

int stats_cache_net(struct stats_cache *c, const char *id, int64_t since_ns, struct net_iface **ret, size_t *ret_n,
                    int64_t *ret_ts_ns) {
    pthread_mutex_lock(&c->mu);
    struct sample *s = find_locked(c, id);
    int have = s && s->has_net && s->net_ts_ns >= since_ns && (*ret = ifaces_dup(s->net, s->n_net)) != NULL;
    if (have) {
        s->last_used_ns = now_ns();
        *ret_n = s->n_net;
        *ret_ts_ns = s->net_ts_ns;
    }
    pthread_mutex_unlock(&c->mu);
    return have;
}

int stats_cache_cpu_rate(struct stats_cache *c, const char *id, int64_t ts_ns, uint64_t usage_ns,
                         uint64_t *ret_nano_cores) {
    pthread_mutex_lock(&c->mu);
    struct sample *s = get_locked(c, id, ts_ns);
    int have = 0;
    if (s && s->has_cpu && ts_ns - s->cpu_ts_ns < STATS_MIN_INTERVAL_NS && ts_ns >= s->cpu_ts_ns) {
        have = s->has_rate; /* too soon for a new rate: the last one stands */
        *ret_nano_cores = s->nano_cores;
    } else if (s) {
        if (s->has_cpu && ts_ns > s->cpu_ts_ns && usage_ns >= s->cpu_usage_ns) {
            double rate = (double)(usage_ns - s->cpu_usage_ns) * 1e9 / (double)(ts_ns - s->cpu_ts_ns);
            s->nano_cores = (uint64_t)rate;
            s->has_rate = have = 1;
            *ret_nano_cores = s->nano_cores;
        } else {
            s->has_rate = 0; /* the first sample, or the counter went back (a new cgroup) */
        }
        s->has_cpu = 1;
        s->cpu_ts_ns = ts_ns;
        s->cpu_usage_ns = usage_ns;
    }
    pthread_mutex_unlock(&c->mu);
    return have;
}

/* The writable layer's use, measured again only when the kept figure is older than max_age_ns. */
static int layer_usage(struct runtime_service *rs, const container_record *rec, int64_t now, int64_t max_age_ns,
                       struct object_stats *st) {
    struct stats_cache *c = rs->stats;
    struct plugin_instance *sn = rec->snapshotter && *rec->snapshotter
                                     ? plugins_find(rs->deps.plugins, CLEAT_CONCERN_SNAPSHOTTER, rec->snapshotter)
                                     : NULL;
    if (!sn)
        sn = image_service_snapshotter(rs->deps.images);
    if (!sn || !plugin_has_op(sn, "usage"))
        return -1;
    st->layer_mountpoint = sn->root_dir;
    pthread_mutex_lock(&c->mu);
    struct sample *s = get_locked(c, rec->id, now);
    int fresh = s && s->has_layer && now - s->layer_ts_ns <= max_age_ns;
    if (fresh) {
        st->layer = s->layer;
        st->layer_timestamp_ns = s->layer_ts_ns;
    }
    pthread_mutex_unlock(&c->mu);
    if (fresh)
        return 0;
    struct cleat_usage u = {0};
    struct cleat_error *err = NULL;
    int r = plugin_snapshotter_usage(sn, rec->id, &u, &err);
    if (r < 0 && error_status(err) != CLEAT_STATUS_NOT_FOUND)
        metrics_plugin_error("snapshotter", sn->name, "usage");
    error_free(err);
    if (r < 0)
        return -1; /* no snapshot (any more): no writable layer figure */
    pthread_mutex_lock(&c->mu);
    if ((s = get_locked(c, rec->id, now))) {
        s->has_layer = 1;
        s->layer = u;
        s->layer_ts_ns = now;
    }
    pthread_mutex_unlock(&c->mu);
    st->layer = u;
    st->layer_timestamp_ns = now;
    return 0;
}

/* Cgroup figures of hierarchy-relative `path`, and the CPU rate kept under `id`; nothing when it is gone. */
static int read_cgroup(struct runtime_service *rs, const char *id, const char *path, struct object_stats *st,
                       struct cleat_error **reterr) {
    struct cgroup_dirs dirs = {0};
    struct cleat_error *err = NULL;
    if (!rs->cgroups)
        return 0;
    int r = cgroup_dirs_of(rs->cgroups, path, &dirs, reterr);
    if (r < 0)
        return r;
    if (cgroup_stats_read(&dirs, &st->cg, &err) < 0) {
        int gone = error_status(err) == CLEAT_STATUS_NOT_FOUND;
        st->cg.have = 0;
        if (!gone) {
            *reterr = err;
            cgroup_dirs_clear(&dirs);
            return -1;
        }
        error_free(err);
    }
    cgroup_dirs_clear(&dirs);
    if (st->cg.have & CGS_CPU)
        st->has_nano_cores =
            stats_cache_cpu_rate(rs->stats, id, st->timestamp_ns, st->cg.cpu_usage_ns, &st->nano_cores);
    return 0;
}

/*
 * Figures the runtime measures itself (its stats op, ABI 1.1: a VM's), and the CPU rate kept under `id`.
 * 0 with none when the runtime does not know `id` (a stopped container, a pod without a sandbox task).
 */
static int read_runtime(struct runtime_service *rs, struct plugin_instance *rt, const char *id, struct object_stats *st,
                        struct cleat_error **reterr) {
    struct cleat_runtime_stats s = {.struct_size = sizeof(s)};
    struct cleat_error *err = NULL;
    if (plugin_runtime_stats(rt, id, &s, &err) < 0) {
        if (error_status(err) == CLEAT_STATUS_NOT_FOUND) {
            error_free(err);
            return 0;
        }
        metrics_plugin_error("runtime", rt->name, "stats");
        *reterr = error_wrap(err, "runtime '%s'", rt->name);
        return -1;
    }
    if (s.timestamp_ns > 0)
        st->timestamp_ns = s.timestamp_ns;
    st->cg = (struct cgroup_stats){
        .have = CGS_CPU | CGS_MEMORY | CGS_MEMORY_STAT | CGS_PIDS,
        .cpu_usage_ns = s.cpu_usage_ns,
        .memory_usage = s.memory_usage_bytes,
        .memory_working_set = s.memory_working_set_bytes,
        .memory_rss = s.memory_rss_bytes,
        .page_faults = s.memory_page_faults,
        .major_page_faults = s.memory_major_page_faults,
        .pids = s.pids,
    };
    if (s.memory_limit_bytes) {
        st->cg.memory_limit = s.memory_limit_bytes;
        st->cg.have |= CGS_MEMORY_LIMIT;
    }
    st->has_nano_cores = stats_cache_cpu_rate(rs->stats, id, st->timestamp_ns, s.cpu_usage_ns, &st->nano_cores);
    return 0;
}

/* The runtime instance when it measures usage itself (has the stats op), else NULL: the host cgroups are read. */
static struct plugin_instance *measuring_runtime(struct plugin_instance *rt) {
    return rt && plugin_has_op(rt, "stats") ? rt : NULL;
}

static int measure_container(struct runtime_service *rs, const container_record *rec, int64_t layer_max_age_ns,
                             struct object_stats *ret, struct cleat_error **reterr) {
    struct object_stats st = {.timestamp_ns = now_ns()};
    char *path = NULL;
    int r = 0;
    int live = rec->state == CSTATE_RUNNING || rec->state == CSTATE_CREATED;
    struct plugin_instance *rt = live ? measuring_runtime(container_runtime(rs, rec)) : NULL;
    if (rt) {
        if (read_runtime(rs, rt, rec->id, &st, reterr) < 0)
            return error_prefix(-1, reterr, "stats of container %s", rec->id);
    } else if (live && rec->cgroups_path && *rec->cgroups_path) {
        /* An exited container's cgroup is gone or holds nothing of it any more. */
        r = cgroup_dir_of(rec->cgroups_path, &path, reterr);
        if (r >= 0)
            r = read_cgroup(rs, rec->id, path, &st, reterr);
        free(path);
        if (r < 0)
            return error_prefix(r, reterr, "stats of container %s", rec->id);
    }
    st.has_layer = layer_usage(rs, rec, st.timestamp_ns, layer_max_age_ns, &st) == 0;
    *ret = st;
    return 0;
}

int stats_measure_container(struct runtime_service *rs, const container_record *rec, struct object_stats *ret,
                            struct cleat_error **reterr) {
    return measure_container(rs, rec, rs->stats->layer_max_age_ns, ret, reterr);
}

/*
 * The calls serve a round's measurement for up to a period after the next
 * round began, and walk the layer again when its figure is older than
 * writable_layer_max_age_seconds by then.  With the default 10 s of both, a
 * figure one round old always was: each kubelet poll walked every layer
 * itself (7% of a 500-pod ListPodSandboxStats).  The round walks it instead
 * once it would be that old before the next round.
 */
int stats_collect_container(struct runtime_service *rs, const container_record *rec, int64_t period_ns,
                            struct object_stats *ret, struct cleat_error **reterr) {
    int64_t max_age = rs->stats->layer_max_age_ns - period_ns;
    return measure_container(rs, rec, max_age > 0 ? max_age : 0, ret, reterr);
}

int stats_measure_pod(struct runtime_service *rs, const sandbox_record *rec, struct object_stats *ret,
                      struct cleat_error **reterr) {
    struct object_stats st = {.timestamp_ns = now_ns()};
    int ready = rec->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
    struct plugin_instance *rt = ready ? measuring_runtime(runtime_instance(rs, rec->runtime_handler)) : NULL;
    if (rt) { /* the whole pod's, by its sandbox id; else the caller sums the containers' */
        if (read_runtime(rs, rt, rec->id, &st, reterr) < 0)
            return error_prefix(-1, reterr, "stats of pod %s", rec->id);
        *ret = st;
        return 0;
    }
    Runtime__V1__PodSandboxConfig *cfg =
        runtime__v1__pod_sandbox_config__unpack(NULL, rec->cri_config.len, rec->cri_config.data);
    const char *parent = cfg && cfg->linux && cfg->linux->cgroup_parent ? cfg->linux->cgroup_parent : "";
    char *dir = NULL;
    int r = 0;
    /* Without a parent of its own the pod's containers sit in the root cgroup: that is not the pod's. */
    if (*parent && ready && (r = pod_cgroup_path(rs, parent, &dir, reterr)) >= 0 && strcmp(dir, "/") != 0)
        r = read_cgroup(rs, rec->id, dir, &st, reterr);
    free(dir);
    if (cfg)
        runtime__v1__pod_sandbox_config__free_unpacked(cfg, NULL);
    if (r < 0)
        return error_prefix(r, reterr, "stats of pod %s", rec->id);
    *ret = st;
    return 0;
}

/* The collector's period while it runs; 0 while none does. */
static int64_t collector_period(struct runtime_service *rs) {
    return __atomic_load_n(&rs->stats_period_ns, __ATOMIC_RELAXED);
}

/* The collector's measurement of a live object while it is younger than two periods: 1 and *ret; else 0. */
static int collected(struct runtime_service *rs, const char *id, int live, struct object_stats *ret) {
    int64_t period = collector_period(rs);
    return live && period > 0 && stats_cache_kept(rs->stats, id, now_ns() - 2 * period, ret);
}

/*
 * A measurement a call had to take itself is kept as the collector's would be,
 * so that the next call (kubelet asks every few seconds) does not read the
 * cgroups again before the collector's round comes to it.
 */
static int measured_kept(struct runtime_service *rs, const char *id, int live, int r, const struct object_stats *st) {
    if (r >= 0 && live && collector_period(rs) > 0)
        stats_cache_keep(rs->stats, id, st);
    return r;
}

int stats_container(struct runtime_service *rs, const container_record *rec, struct object_stats *ret,
                    struct cleat_error **reterr) {
    int live = rec->state == CSTATE_RUNNING || rec->state == CSTATE_CREATED;
    if (!collected(rs, rec->id, live, ret))
        return measured_kept(rs, rec->id, live, stats_measure_container(rs, rec, ret, reterr), ret);
    /* A kept measurement may hold a layer figure older than writable_layer_max_age_seconds promises. */
    int64_t now = now_ns();
    if (ret->has_layer && now - ret->layer_timestamp_ns > rs->stats->layer_max_age_ns)
        ret->has_layer = layer_usage(rs, rec, now, rs->stats->layer_max_age_ns, ret) == 0;
    return 0;
}

int stats_pod(struct runtime_service *rs, const sandbox_record *rec, struct object_stats *ret,
              struct cleat_error **reterr) {
    int ready = rec->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
    return collected(rs, rec->id, ready, ret)
               ? 0
               : measured_kept(rs, rec->id, ready, stats_measure_pod(rs, rec, ret, reterr), ret);
}

/* --- network ------------------------------------------------------------------- */

int stats_parse_net_dev(const char *text, struct net_iface **ret, size_t *ret_n) {
    size_t n = 0, cap = 0;
    struct net_iface *out = NULL;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        const char *colon = strchr(p, ':'), *eol = strchr(p, '\n');
        if (!colon || (eol && colon > eol))
            continue; /* the two header lines */
        struct net_iface f = {0};
        const char *name = p;
        while (*name == ' ')
            name++;
        if (colon - name <= 0 || (size_t)(colon - name) > IF_NAMESIZE) {
            free(out);
            return -EINVAL;
        }
        memcpy(f.name, name, (size_t)(colon - name));
        unsigned long long v[16];
        if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &v[12], &v[13],
                   &v[14], &v[15]) != 16) {
            free(out);
            return -EINVAL;
        }
        f.rx_bytes = v[0];
        f.rx_errors = v[2];
        f.tx_bytes = v[8];
        f.tx_errors = v[10];
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct net_iface *grown = realloc(out, cap * sizeof(*out));
            if (!grown) {
                free(out);
                return -ENOMEM;
            }
            out = grown;
        }
        out[n++] = f;
    }
    *ret = out;
    *ret_n = n;
    return 0;
}

struct net_read {
    char *text;
    int err;
};

/* In the pod's network namespace: /proc/thread-self, as /proc/self/net is the main thread's namespace. */
static int read_net_dev(void *ctx) {
    struct net_read *nr = ctx;
    struct cleat_error *err = NULL;
    if (read_file("/proc/thread-self/net/dev", 1 << 20, &nr->text, NULL, &err) < 0) {
        nr->err = error_errno(err) ? error_errno(err) : EIO;
        error_free(err);
        return -1;
    }
    return 0;
}

int stats_measure_pod_network(struct runtime_service *rs, const sandbox_record *rec, struct net_iface **ret,
                              size_t *ret_n, struct cleat_error **reterr) {
    if (!stats_pod_has_network(rec))
        return error_set(reterr, CLEAT_STATUS_NOT_FOUND, ENOENT, "pod %s has no network namespace of its own", rec->id);
    char *dir = pod_dir(rs, rec->id), ns[4200];
    if (!dir)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    snprintf(ns, sizeof(ns), "%s/ns/net", dir);
    free(dir);
    struct net_read nr = {0};
    int r = pod_ns_run_in(ns, CLONE_NEWNET, read_net_dev, &nr, reterr);
    if (r < 0 && nr.err)
        r = error_set(reterr, CLEAT_STATUS_INTERNAL, nr.err,
                      "pod %s: cannot read /proc/net/dev in its network namespace: %s", rec->id, strerror(nr.err));
    if (r >= 0 && stats_parse_net_dev(nr.text, ret, ret_n) < 0)
        r = error_set(reterr, CLEAT_STATUS_INTERNAL, EINVAL, "pod %s: /proc/net/dev does not parse", rec->id);
    free(nr.text);
    return r;
}

int stats_pod_has_network(const sandbox_record *rec) {
    return (rec->pinned_namespaces & POD_NS_NET) && rec->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
}

int stats_pod_network(struct runtime_service *rs, const sandbox_record *rec, struct net_iface **ret, size_t *ret_n,
                      int64_t *ret_ts_ns, struct cleat_error **reterr) {
    int64_t period = collector_period(rs), now = now_ns();
    if (period > 0 && stats_pod_has_network(rec) &&
        stats_cache_net(rs->stats, rec->id, now - 2 * period, ret, ret_n, ret_ts_ns))
        return 0;
    int r = stats_measure_pod_network(rs, rec, ret, ret_n, reterr);
    *ret_ts_ns = now;
    if (r >= 0 && period > 0) /* kept for the calls after this one, as a container's figures are */
        stats_cache_keep_net(rs->stats, rec->id, now, *ret, *ret_n);
    return r;
}
