/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pieces of stats, events and metrics that need no container: the CPU
 * rate cache, /proc/net/dev parsing, the event fan-out (order, several
 * subscribers, a slow one dropped) and the Prometheus text.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "events.h"
#include "metrics.h"
#include "stats.h"

#define SEC 1000000000LL

static void test_cpu_rate(void **state) {
    struct stats_cache *c = stats_cache_new(0);
    uint64_t rate = 0;
    assert_int_equal(stats_cache_cpu_rate(c, "a", 10 * SEC, 5 * SEC, &rate), 0); /* first sample: no rate */
    assert_int_equal(stats_cache_cpu_rate(c, "a", 12 * SEC, 6 * SEC, &rate), 1);
    assert_int_equal(rate, 500000000); /* 1 s of CPU in 2 s: half a core */
    /* Too soon after the last sample: the last rate stands, the sample is not replaced. */
    assert_int_equal(stats_cache_cpu_rate(c, "a", 12 * SEC + 1000, 6 * SEC + 900, &rate), 1);
    assert_int_equal(rate, 500000000);
    assert_int_equal(stats_cache_cpu_rate(c, "a", 13 * SEC, 8 * SEC, &rate), 1);
    assert_int_equal(rate, 2000000000); /* two cores */
    /* Another object has its own samples; a counter going back starts over. */
    assert_int_equal(stats_cache_cpu_rate(c, "b", 13 * SEC, 1, &rate), 0);
    assert_int_equal(stats_cache_cpu_rate(c, "a", 14 * SEC, 1 * SEC, &rate), 0);
    stats_cache_forget(c, "a");
    assert_int_equal(stats_cache_cpu_rate(c, "a", 15 * SEC, 2 * SEC, &rate), 0);
    stats_cache_free(c);
}

/* Memory comes back: after 1,000 objects came and went, the cache holds what it held for a few. */
static void test_cache_shrinks(void **state) {
    struct stats_cache *c = stats_cache_new(0);
    uint64_t rate = 0;
    char id[16];
    stats_cache_cpu_rate(c, "keep", SEC, 1, &rate);
    size_t few = stats_cache_bytes(c);
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "obj-%04d", i);
        stats_cache_cpu_rate(c, id, SEC, 1, &rate);
    }
    assert_true(stats_cache_bytes(c) >= 1000 * few / 32);
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "obj-%04d", i);
        stats_cache_forget(c, id);
    }
    assert_int_equal(stats_cache_bytes(c), few);
    assert_int_equal(stats_cache_cpu_rate(c, "keep", 2 * SEC, 2, &rate), 1); /* the one left is still there */
    stats_cache_free(c);
}

/*
 * The cache's bisection compares the first eight bytes of the ids as numbers, and the whole ids only when
 * those are equal: ids that share them, ids shorter than eight bytes, one the prefix of another, the empty
 * one, each found again after all were added in a scrambled order, and after half of them were forgotten.
 */
static void test_cache_finds_ids_sharing_a_prefix(void **state) {
    struct stats_cache *c = stats_cache_new(0);
    uint64_t rate = 0;
    enum { N = 300 };
    static char ids[N][72];
    for (int i = 0; i < N; i++) {
        switch (i % 5) {
        case 0: /* 64 hex, all sharing their first eight */
            snprintf(ids[i], sizeof(ids[i]), "deadbeef%056x", i * 7919);
            break;
        case 1: /* short ones */
            snprintf(ids[i], sizeof(ids[i]), "%x", i);
            break;
        case 2: /* eight exactly, and the same followed by more */
            snprintf(ids[i], sizeof(ids[i]), "%08x", i / 2);
            break;
        case 3:
            snprintf(ids[i], sizeof(ids[i]), "%08x%d", (i - 1) / 2, i);
            break;
        default: /* bytes past 0x7f */
            snprintf(ids[i], sizeof(ids[i]), "\xff\xfe%d", i);
        }
    }
    snprintf(ids[N - 1], sizeof(ids[N - 1]), "%s", "");
    for (int k = 0; k < N; k++) /* a new one each: no rate yet */
        assert_int_equal(stats_cache_cpu_rate(c, ids[(k * 37) % N], SEC, 1, &rate), 0);
    for (int i = 0; i < N; i++) { /* each found: a rate from its first sample */
        assert_int_equal(stats_cache_cpu_rate(c, ids[i], 2 * SEC, SEC + 1, &rate), 1);
        assert_int_equal(rate, 1000000000);
    }
    for (int i = 0; i < N; i += 2)
        stats_cache_forget(c, ids[i]);
    for (int i = 0; i < N; i++)
        assert_int_equal(stats_cache_cpu_rate(c, ids[i], 3 * SEC, 2 * SEC + 1, &rate), i % 2);
    stats_cache_free(c);
}

static void test_net_dev(void **state) {
    static const char text[] =
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls "
        "carrier compressed\n"
        "    lo: 3650143016  270877    0    0    0     0          0         0 3650143016  270877    0    0    0     0 "
        "      0          0\n"
        "  eth0: 50283845    1501    7    0    0     0          0         0    81264    1027    9    0    0     0    "
        "   0          0\n";
    struct net_iface *ifs = NULL;
    size_t n = 0;
    assert_int_equal(stats_parse_net_dev(text, &ifs, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ifs[0].name, "lo");
    assert_true(ifs[0].rx_bytes == 3650143016ULL && ifs[0].tx_bytes == 3650143016ULL);
    assert_string_equal(ifs[1].name, "eth0");
    assert_int_equal(ifs[1].rx_bytes, 50283845);
    assert_int_equal(ifs[1].rx_errors, 7);
    assert_int_equal(ifs[1].tx_bytes, 81264);
    assert_int_equal(ifs[1].tx_errors, 9);
    free(ifs);
    assert_int_equal(stats_parse_net_dev("  lo: 1 2 3\n", &ifs, &n), -EINVAL);
}

/* A pod's kept interface counters: copied in and out, younger than asked, replaced, gone with the pod. */
static void test_net_kept(void **state) {
    struct stats_cache *c = stats_cache_new(0);
    struct net_iface two[2] = {{.name = "lo", .rx_bytes = 1}, {.name = "eth0", .rx_bytes = 2, .tx_errors = 3}};
    struct net_iface *got = NULL;
    size_t n = 0;
    int64_t ts = 0;
    assert_int_equal(stats_cache_net(c, "p", 0, &got, &n, &ts), 0); /* nothing kept yet */
    stats_cache_keep_net(c, "p", 10 * SEC, two, 2);
    two[1].rx_bytes = 99; /* the cache holds its own copy */
    assert_int_equal(stats_cache_net(c, "p", 10 * SEC, &got, &n, &ts), 1);
    assert_int_equal(n, 2);
    assert_int_equal(ts, 10 * SEC);
    assert_string_equal(got[1].name, "eth0");
    assert_int_equal(got[1].rx_bytes, 2);
    assert_int_equal(got[1].tx_errors, 3);
    free(got);
    assert_int_equal(stats_cache_net(c, "p", 11 * SEC, &got, &n, &ts), 0); /* older than asked */
    stats_cache_keep_net(c, "p", 12 * SEC, two, 0);                        /* a namespace with no interface */
    assert_int_equal(stats_cache_net(c, "p", 11 * SEC, &got, &n, &ts), 1);
    assert_int_equal(n, 0);
    free(got);
    stats_cache_keep_net(c, "q", 12 * SEC, two, 1);
    stats_cache_forget(c, "p");
    assert_int_equal(stats_cache_net(c, "p", 0, &got, &n, &ts), 0);
    stats_cache_free(c); /* frees q's copy: ASan's leak check says so */
}

static int next_byte(struct event_hub *h, struct event_sub *s) {
    void *data = NULL;
    size_t len = 0;
    int r = event_sub_next(h, s, 0, &data, &len);
    if (r <= 0)
        return r;
    assert_int_equal(len, 1);
    int v = *(unsigned char *)data;
    free(data);
    return 0x100 | v;
}

static void test_event_fanout(void **state) {
    struct event_hub *h = event_hub_new(4);
    struct event_sub *fast = event_hub_subscribe(h), *slow = event_hub_subscribe(h);
    assert_int_equal(event_hub_subscribers(h), 2);
    for (unsigned char i = 0; i < 3; i++)
        event_hub_publish(h, &i, 1);
    for (int i = 0; i < 3; i++) /* in order */
        assert_int_equal(next_byte(h, fast), 0x100 | i);
    assert_int_equal(next_byte(h, fast), 0); /* nothing more, no wait */
    /* The slow one never reads: its fifth waiting event drops it; the fast one goes on. */
    for (unsigned char i = 3; i < 8; i++) {
        event_hub_publish(h, &i, 1);
        assert_int_equal(next_byte(h, fast), 0x100 | i);
    }
    assert_int_equal(next_byte(h, slow), -EPIPE);
    uint64_t published = 0, dropped = 0;
    event_hub_counts(h, &published, &dropped);
    assert_int_equal(published, 8);
    assert_int_equal(dropped, 1);
    event_hub_unsubscribe(h, slow);
    /* A late subscriber sees only what comes after it. */
    struct event_sub *late = event_hub_subscribe(h);
    unsigned char x = 42;
    event_hub_publish(h, &x, 1);
    assert_int_equal(next_byte(h, late), 0x100 | 42);
    assert_int_equal(next_byte(h, fast), 0x100 | 42);
    /* A wait with nothing to come times out. */
    void *data = NULL;
    size_t len = 0;
    assert_int_equal(event_sub_next(h, late, 20, &data, &len), 0);
    event_hub_unsubscribe(h, late);
    event_hub_unsubscribe(h, fast);
    assert_int_equal(event_hub_subscribers(h), 0);
    event_hub_free(h);
}

static void test_metrics_text(void **state) {
    metrics_rpc_observe("/runtime.v1.RuntimeService/Version", 0, 2000000);    /* 2 ms */
    metrics_rpc_observe("/runtime.v1.RuntimeService/Version", 0, 3000000000); /* 3 s */
    metrics_rpc_observe("/runtime.v1.RuntimeService/Version", 5, 1000);
    metrics_pull_done(1);
    metrics_pull_bytes(1234);
    metrics_plugin_error("runtime", "runc", "start");
    metrics_plugin_error("runtime", "runc", "start");
    struct strbuf sb = {0};
    metrics_render(&sb);
    assert_false(sb.failed);
    const char *t = sb.s;
    assert_non_null(strstr(t, "# TYPE cleat_grpc_requests_total counter\n"));
    assert_non_null(
        strstr(t, "cleat_grpc_requests_total{method=\"/runtime.v1.RuntimeService/Version\",code=\"OK\"} 2\n"));
    assert_non_null(
        strstr(t, "cleat_grpc_requests_total{method=\"/runtime.v1.RuntimeService/Version\",code=\"NOT_FOUND\"} 1\n"));
    /* Cumulative buckets: 1 µs and 2 ms are under 5 ms, 3 s only under 5 s. */
    assert_non_null(strstr(t, "cleat_grpc_request_duration_seconds_bucket{method=\"/runtime.v1.RuntimeService/"
                              "Version\",le=\"0.005\"} 2\n"));
    assert_non_null(strstr(
        t, "cleat_grpc_request_duration_seconds_bucket{method=\"/runtime.v1.RuntimeService/Version\",le=\"2.5\"} 2\n"));
    assert_non_null(strstr(
        t, "cleat_grpc_request_duration_seconds_bucket{method=\"/runtime.v1.RuntimeService/Version\",le=\"5\"} 3\n"));
    assert_non_null(strstr(t, "cleat_grpc_request_duration_seconds_bucket{method=\"/runtime.v1.RuntimeService/"
                              "Version\",le=\"+Inf\"} 3\n"));
    assert_non_null(
        strstr(t, "cleat_grpc_request_duration_seconds_count{method=\"/runtime.v1.RuntimeService/Version\"} 3\n"));
    assert_non_null(strstr(t, "cleat_image_pulls_total{result=\"ok\"} 1\n"));
    assert_non_null(strstr(t, "cleat_image_pull_bytes_total 1234\n"));
    assert_non_null(strstr(t, "cleat_plugin_errors_total{concern=\"runtime\",instance=\"runc\",op=\"start\"} 2\n"));
    strbuf_free(&sb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_rate),
        cmocka_unit_test(test_cache_shrinks),
        cmocka_unit_test(test_cache_finds_ids_sharing_a_prefix),
        cmocka_unit_test(test_net_dev),
        cmocka_unit_test(test_net_kept),
        cmocka_unit_test(test_event_fanout),
        cmocka_unit_test(test_metrics_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
