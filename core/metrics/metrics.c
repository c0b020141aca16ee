/* SPDX-License-Identifier: Apache-2.0 */
/* cleatd's counters and their rendering in the Prometheus text format (see metrics.h). */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds of the latency buckets, in seconds (+Inf is implied). */
static const double buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define N_CODES 17 /* gRPC status codes 0..16 */

static const char *const code_names[N_CODES] = {
    "OK",        "CANCELLED",       "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS",  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",    "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED",
};

struct rpc_series {
    char *method;
    uint64_t codes[N_CODES];
    uint64_t bucket[N_BUCKETS]; /* non-cumulative; summed when rendered */
    uint64_t count;
    double sum;
};

struct plugin_series {
    char *key; /* "concern\0instance\0op" joined with '\x1f' */
    uint64_t count;
};

static struct {
    pthread_mutex_t mu;
    struct rpc_series *rpcs;
    size_t n_rpcs, cap_rpcs;
    struct plugin_series *plugins;
    size_t n_plugins, cap_plugins;
    uint64_t pulls_ok, pulls_failed, pull_bytes;
    uint64_t changes[2][4]; /* [objects][changes] */
} m = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Grow an array of `size`-byte items to hold one more; 0 or -1. */
static int grow(void **items, size_t n, size_t *cap, size_t size) {
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*items, c * size);
    if (!p)
        return -1;
    *items = p;
    *cap = c;
    return 0;
}

void metrics_rpc_observe(const char *method, int32_t status, int64_t duration_ns) {
    double secs = (double)duration_ns / 1e9;
    pthread_mutex_lock(&m.mu);
    struct rpc_series *s = NULL;
    for (size_t i = 0; i < m.n_rpcs && !s; i++)
        s = strcmp(m.rpcs[i].method, method) == 0 ? &m.rpcs[i] : NULL;
    if (!s && grow((void **)&m.rpcs, m.n_rpcs, &m.cap_rpcs, sizeof(*m.rpcs)) == 0) {
        char *copy = strdup(method);
        if (copy) {
            s = &m.rpcs[m.n_rpcs++];
            *s = (struct rpc_series){.method = copy};
        }
    }
    if (s) {
        s->codes[status >= 0 && status < N_CODES ? status : 2 /* UNKNOWN */]++;
        size_t b = 0;
        while (b < N_BUCKETS && secs > buckets[b])
            b++;
        if (b < N_BUCKETS)
            s->bucket[b]++;
        s->count++;
        s->sum += secs;
    }
    pthread_mutex_unlock(&m.mu);
}

void metrics_pull_done(int ok) {
    pthread_mutex_lock(&m.mu);
    if (ok)
        m.pulls_ok++;
    else
        m.pulls_failed++;
    pthread_mutex_unlock(&m.mu);
}

void metrics_pull_bytes(uint64_t bytes) {
    pthread_mutex_lock(&m.mu);
    m.pull_bytes += bytes;
    pthread_mutex_unlock(&m.mu);
}

void metrics_plugin_error(const char *concern, const char *instance, const char *op) {
    char *key = NULL;
    if (asprintf(&key, "%s\x1f%s\x1f%s", concern ? concern : "", instance ? instance : "", op ? op : "") < 0)
        return;
    pthread_mutex_lock(&m.mu);
    struct plugin_series *s = NULL;
    for (size_t i = 0; i < m.n_plugins && !s; i++)
        s = strcmp(m.plugins[i].key, key) == 0 ? &m.plugins[i] : NULL;
    if (!s && grow((void **)&m.plugins, m.n_plugins, &m.cap_plugins, sizeof(*m.plugins)) == 0) {
        s = &m.plugins[m.n_plugins++];
        *s = (struct plugin_series){.key = key};
        key = NULL;
    }
    if (s)
        s->count++;
    pthread_mutex_unlock(&m.mu);
    free(key);
}

static const char *const objects[2] = {"pod", "container"};
static const char *const changes[4] = {"created", "started", "stopped", "deleted"};

static int name_index(const char *const *names, size_t n, const char *name) {
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

void metrics_lifecycle_change(const char *object, const char *change) {
    int o = name_index(objects, 2, object), c = name_index(changes, 4, change);
    if (o < 0 || c < 0)
        return;
    pthread_mutex_lock(&m.mu);
    m.changes[o][c]++;
    pthread_mutex_unlock(&m.mu);
}

/* --- rendering ------------------------------------------------------------------ */

/* A label value with '\\', '"' and newlines escaped. */
static void label_value(struct strbuf *out, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            strbuf_printf(out, "\\%c", *s);
        else if (*s == '\n')
            strbuf_puts(out, "\\n");
        else
            strbuf_append(out, s, 1);
    }
}

void metrics_header(struct strbuf *out, const char *name, const char *type, const char *help) {
    strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_rpcs(struct strbuf *out) {
    metrics_header(out, "cleat_grpc_requests_total", "counter", "CRI calls handled, by method and gRPC status code.");
    for (size_t i = 0; i < m.n_rpcs; i++)
        for (size_t c = 0; c < N_CODES; c++)
            if (m.rpcs[i].codes[c]) {
                strbuf_puts(out, "cleat_grpc_requests_total{method=\"");
                label_value(out, m.rpcs[i].method);
                strbuf_printf(out, "\",code=\"%s\"} %llu\n", code_names[c], (unsigned long long)m.rpcs[i].codes[c]);
            }
    metrics_header(out, "cleat_grpc_request_duration_seconds", "histogram",
                   "Time from a CRI call's arrival to its answer (to its end, for a stream).");
    for (size_t i = 0; i < m.n_rpcs; i++) {
        const struct rpc_series *s = &m.rpcs[i];
        uint64_t cum = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            cum += b < N_BUCKETS ? s->bucket[b] : 0;
            strbuf_puts(out, "cleat_grpc_request_duration_seconds_bucket{method=\"");
            label_value(out, s->method);
            if (b < N_BUCKETS)
                strbuf_printf(out, "\",le=\"%g\"} %llu\n", buckets[b], (unsigned long long)cum);
            else
                strbuf_printf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)s->count);
        }
        strbuf_puts(out, "cleat_grpc_request_duration_seconds_sum{method=\"");
        label_value(out, s->method);
        strbuf_printf(out, "\"} %.9f\n", s->sum);
        strbuf_puts(out, "cleat_grpc_request_duration_seconds_count{method=\"");
        label_value(out, s->method);
        strbuf_printf(out, "\"} %llu\n", (unsigned long long)s->count);
    }
}

static void render_counters(struct strbuf *out) {
    metrics_header(out, "cleat_image_pulls_total", "counter",
                   "Image pulls run (a pull joined by concurrent callers counts once).");
    strbuf_printf(out, "cleat_image_pulls_total{result=\"ok\"} %llu\n", (unsigned long long)m.pulls_ok);
    strbuf_printf(out, "cleat_image_pulls_total{result=\"error\"} %llu\n", (unsigned long long)m.pulls_failed);
    metrics_header(out, "cleat_image_pull_bytes_total", "counter", "Blob bytes fetched by image pulls.");
    strbuf_printf(out, "cleat_image_pull_bytes_total %llu\n", (unsigned long long)m.pull_bytes);
    metrics_header(out, "cleat_plugin_errors_total", "counter",
                   "Failed plugin calls, by concern, instance and operation.");
    for (size_t i = 0; i < m.n_plugins; i++) {
        const char *concern = m.plugins[i].key, *instance = strchr(concern, '\x1f') + 1,
                   *op = strchr(instance, '\x1f') + 1;
        strbuf_printf(out, "cleat_plugin_errors_total{concern=\"%.*s\",instance=\"", (int)(instance - 1 - concern),
                      concern);
        strbuf_append(out, instance, (size_t)(op - 1 - instance));
        strbuf_printf(out, "\",op=\"%s\"} %llu\n", op, (unsigned long long)m.plugins[i].count);
    }
}

static void render_changes(struct strbuf *out) {
    metrics_header(out, "cleat_lifecycle_changes_total", "counter",
                   "Pods and containers created, started, stopped and deleted.");
    for (size_t o = 0; o < 2; o++)
        for (size_t c = 0; c < 4; c++)
            strbuf_printf(out, "cleat_lifecycle_changes_total{object=\"%s\",change=\"%s\"} %llu\n", objects[o],
                          changes[c], (unsigned long long)m.changes[o][c]);
}

void metrics_render(struct strbuf *out) {
    pthread_mutex_lock(&m.mu);
    render_rpcs(out);
    render_counters(out);
    render_changes(out);
    pthread_mutex_unlock(&m.mu);
}
