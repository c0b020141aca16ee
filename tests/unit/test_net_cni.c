/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net-cni through the real plugin loader, with the real CNI plugins of
 * Debian's containernetworking-plugins (/usr/lib/cni: bridge, host-local,
 * portmap) and small shell-script fakes that record what they were given.
 *
 * Needs root.  main() first moves the whole test into a network and mount
 * namespace of its own: the bridge, the veths and portmap's iptables rules
 * live there and die with the process, and the pods' namespaces are pinned
 * on files of the test's temp dir.  host-local's dataDir is in the temp dir
 * too, so that "the IP was released" is "the store has no address file".
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "builders.h"
#include "config.h"
#include "plugin_loader.h"

#define PLUGIN_SO CLEAT_TEST_PLUGIN_DIR "/../../plugins/net-cni/net-cni.so"
#define CNI_BIN "/usr/lib/cni"
#define SUBNET "10.99.0."
#define MAX_PODS 8

static int usable; /* root, plugins present, namespaces made */

struct fx {
    char dir[64];
    char conf[256], bin[256], rec[256], ipam[256];
    char netns[MAX_PODS][256];
    struct config *cfg;
    struct plugins *p;
    const struct cleat_network_ops *ops;
    void *inst;
};

/* The first line of a command's output as an integer. */
static int count_of(const char *cmd) {
    FILE *fp = popen(cmd, "r");
    int n = -1;
    if (fp && fscanf(fp, "%d", &n) != 1)
        n = -1;
    if (fp)
        pclose(fp);
    return n;
}

static int veths(void) {
    return count_of("ip -o link show type veth | wc -l");
}

/* Addresses host-local holds for network `net` (files named by IP). */
static int reserved(struct fx *f, const char *net) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", f->ipam, net);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += (de->d_name[0] >= '0' && de->d_name[0] <= '9') || strchr(de->d_name, ':') != NULL;
    if (d)
        closedir(d);
    return n;
}

/*
 * A recording fake plugin: env and stdin into rec/<CMD>.<pid>.{env,json}.  ADD answers its prevResult
 * (the last key of the request, as jansson keeps insertion order), else rec/result.json.
 */
static void write_recorder(struct fx *f, const char *name) {
    char *text = NULL;
    assert_true(asprintf(&text,
                         "#!/bin/sh\n"
                         "r=%s\n"
                         "env | grep '^CNI_' | sort > $r/$CNI_COMMAND.$$.env\n"
                         "cat > $r/$CNI_COMMAND.$$.json\n"
                         "case $CNI_COMMAND in\n"
                         "ADD) if grep -q '\"prevResult\"' $r/ADD.$$.json; then\n"
                         "       sed 's/.*\"prevResult\"://; s/}$//' $r/ADD.$$.json\n"
                         "     else cat $r/result.json; fi ;;\n"
                         "VERSION) echo '{\"cniVersion\":\"1.1.0\",\"supportedVersions\":"
                         "[\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}' ;;\n"
                         "STATUS) if [ -e $r/not-ready ]; then cat $r/not-ready; exit 1; fi ;;\n"
                         "esac\n",
                         f->rec) > 0);
    write_text(f->bin, name, text);
    free(text);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", f->bin, name);
    chmod(path, 0755);
}

static void write_script(struct fx *f, const char *name, const char *body) {
    char *text = NULL, path[PATH_MAX];
    assert_true(asprintf(&text, "#!/bin/sh\n%s\n", body) > 0);
    write_text(f->bin, name, text);
    free(text);
    snprintf(path, sizeof(path), "%s/%s", f->bin, name);
    chmod(path, 0755);
}

/* The content of the one recorded file rec/<cmd>.*<ext>, malloc'd; NULL if none. */
static char *recorded(struct fx *f, const char *cmd, const char *ext) {
    DIR *d = opendir(f->rec);
    struct dirent *de;
    char *text = NULL, prefix[32];
    snprintf(prefix, sizeof(prefix), "%s.", cmd);
    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name), e = strlen(ext);
        if (strncmp(de->d_name, prefix, strlen(prefix)) || n < e || strcmp(de->d_name + n - e, ext))
            continue;
        if (text)
            fail_msg("more than one %s%s recorded", prefix, ext);
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", f->rec, de->d_name);
        FILE *fp = fopen(path, "re");
        assert_non_null(fp);
        text = calloc(1, 65536);
        assert_true(fread(text, 1, 65535, fp) > 0);
        fclose(fp);
    }
    if (d)
        closedir(d);
    return text;
}

static void expect_contains(const char *hay, const char *needle) {
    if (!hay || !strstr(hay, needle))
        fail_msg("expected '%s' in:\n%s", needle, hay ? hay : "(nothing)");
}

/* --- fixture ---------------------------------------------------------------- */

static int setup(void **state) {
    if (!usable)
        skip();
    struct fx *f = calloc(1, sizeof(*f));
    temp_dir(f->dir, sizeof(f->dir), "cleat-cni");
    snprintf(f->conf, sizeof(f->conf), "%s/net.d", f->dir);
    snprintf(f->bin, sizeof(f->bin), "%s/bin", f->dir);
    snprintf(f->rec, sizeof(f->rec), "%s/rec", f->dir);
    snprintf(f->ipam, sizeof(f->ipam), "%s/ipam", f->dir);
    run_cmd("mkdir -p %s %s %s %s %s/ns", f->conf, f->bin, f->rec, f->ipam, f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fx *f = *state;
    for (int i = 0; i < MAX_PODS; i++)
        if (f->netns[i][0])
            umount2(f->netns[i], MNT_DETACH);
    plugins_free(f->p);
    config_free(f->cfg);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static int try_load(struct fx *f, const char *options, struct cleat_error **reterr) {
    char so[PATH_MAX], *text = NULL;
    if (!realpath(PLUGIN_SO, so))
        fail_msg("%s: %s (build the net-cni target)", PLUGIN_SO, strerror(errno));
    plugins_free(f->p);
    f->p = NULL;
    config_free(f->cfg);
    assert_true(asprintf(&text,
                         "root_dir: %s/root\nstate_dir: %s/state\nsocket: %s/s.sock\nplugin_dirs: [%s]\n"
                         "snapshotter: null\ntransports: null\n"
                         "network:\n  plugin: net-cni\n  path: %s\n"
                         "  options: {conf_dir: %s, bin_dirs: [%s, " CNI_BIN "]%s%s}\n",
                         f->dir, f->dir, f->dir, CLEAT_TEST_PLUGIN_DIR, so, f->conf, f->bin, options[0] ? ", " : "",
                         options) > 0);
    f->cfg = config_over_defaults(text);
    free(text);
    int r = plugins_load(f->cfg, PLUGINS_INIT, &f->p, reterr);
    if (r < 0)
        return r;
    struct plugin_instance *pi = plugins_first(f->p, CLEAT_CONCERN_NETWORK);
    assert_non_null(pi);
    assert_string_equal(pi->desc->name, "net-cni");
    f->ops = &pi->ops.network;
    f->inst = pi->instance;
    return 0;
}

static void load(struct fx *f, const char *options) {
    struct cleat_error *err = NULL;
    if (try_load(f, options, &err) < 0)
        fail_msg("load: %s", error_message(err));
}

/* The bridge + host-local (+ extra plugins) conflist at `version`, as conf_dir/<file>. */
static void write_bridge_conf(struct fx *f, const char *file, const char *name, const char *version,
                              const char *bridge_extra, const char *more_plugins) {
    char *text = NULL;
    assert_true(asprintf(&text,
                         "{\"cniVersion\":\"%s\",\"name\":\"%s\",\"plugins\":[{\"type\":\"bridge\","
                         "\"bridge\":\"cnitest0\",\"isGateway\":true%s,\"ipam\":{\"type\":\"host-local\","
                         "\"dataDir\":\"%s\",\"ranges\":[[{\"subnet\":\"" SUBNET "0/24\"}]],"
                         "\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}}%s]}",
                         version, name, bridge_extra, f->ipam, more_plugins) > 0);
    write_text(f->conf, file, text);
    free(text);
}

/* A pod pinned on <dir>/ns/pod<i>. */
static struct cleat_network_pod make_pod(struct fx *f, int i, char *id, size_t idsize) {
    snprintf(id, idsize, "%064x", 0xc1ea7000 + i);
    if (!f->netns[i][0]) {
        /* Formatted apart, then copied: gcc 12 at -O2 and -Os (RelWithDebInfo, MinSizeRel)
           takes f->dir and f->netns[i], two members of *f, for overlapping arguments (-Wrestrict). */
        char path[sizeof(f->netns[i])];
        snprintf(path, sizeof(path), "%s/ns/pod%d", f->dir, i);
        memcpy(f->netns[i], path, sizeof(path));
        run_cmd("touch %s && unshare --net=%s true", f->netns[i], f->netns[i]);
    }
    return (struct cleat_network_pod){.struct_size = sizeof(struct cleat_network_pod),
                                      .sandbox_id = id,
                                      .name = "web",
                                      .kube_namespace = "default",
                                      .uid = "uid-1234",
                                      .netns_path = f->netns[i]};
}

static void drop_netns(struct fx *f, int i) {
    assert_int_equal(umount2(f->netns[i], MNT_DETACH), 0);
    assert_int_equal(unlink(f->netns[i]), 0);
    f->netns[i][0] = '\0';
}

/* setup() and its first reported address (bare, no prefix length). */
static void add_pod(struct fx *f, const struct cleat_network_pod *pod, char *ip, size_t size) {
    struct cleat_error *err = NULL;
    struct cleat_net_result *res = net_result_new();
    OK(f->ops->setup(f->inst, pod, res, &err));
    assert_true(res->n >= 1);
    assert_string_equal(res->ips[0].ifname, "eth0");
    snprintf(ip, size, "%s", res->ips[0].address);
    char *slash = strchr(ip, '/');
    if (slash)
        *slash = '\0';
    net_result_free(res);
}

static void del_pod(struct fx *f, const struct cleat_network_pod *pod) {
    struct cleat_error *err = NULL;
    OK(f->ops->teardown(f->inst, pod, &err));
}

/* --- options and conf selection ------------------------------------------------ */

static void test_options(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    expect_error(try_load(f, "nope: 1", &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "nope");
    expect_error(try_load(f, "ip_pref: ipv5", &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "ip_pref");
    expect_error(try_load(f, "cache_dir: relative", &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "absolute");
    expect_error(try_load(f, "plugin_timeout_seconds: 0", &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "test.yaml");
    load(f, "network_name: mynet, ifname: net0, plugin_timeout_seconds: 5, ip_pref: cni");
}

static void test_status_follows_conf_dir(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    load(f, "");
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "no valid network config found in %s", f->conf);
    expect_error(f->ops->status(f->inst, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, want);
    /* A broken file is named with its problem. */
    write_text(f->conf, "05-broken.conflist", "{\"cniVersion\": \"1.0.0\", \"name\": ");
    expect_error(f->ops->status(f->inst, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "05-broken.conflist: invalid JSON");
    /* A CNI daemonset installs its config later: noticed without a restart. */
    write_bridge_conf(f, "10-net.conflist", "testnet", "1.0.0", "", "");
    OK(f->ops->status(f->inst, &err));
    OK(f->ops->status(f->inst, &err)); /* nothing changed: the cached choice */
    /* A plugin binary that is not there: not ready, and said which. */
    write_text(f->conf, "01-first.conflist",
               "{\"cniVersion\":\"1.0.0\",\"name\":\"first\",\"plugins\":[{\"type\":\"nosuch\"}]}");
    expect_error(f->ops->status(f->inst, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "plugin nosuch not found");
    run_cmd("rm %s/01-first.conflist %s/10-net.conflist", f->conf, f->conf);
    expect_error(f->ops->status(f->inst, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "no valid network config");
}

static void test_conf_selection(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    write_recorder(f, "recorder");
    write_text(f->rec, "result.json", "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.1.2.3/24\"}]}");
    write_text(f->conf, "00-broken.conf", "not json");
    write_text(f->conf, "10-b.conflist",
               "{\"cniVersion\":\"1.0.0\",\"name\":\"bnet\",\"plugins\":[{\"type\":\"recorder\"}]}");
    write_text(f->conf, "20-a.conf", "{\"cniVersion\":\"1.0.0\",\"name\":\"anet\",\"type\":\"recorder\",\"x\":1}");
    write_text(f->conf, "05-ignored.txt", "{}");
    write_text(f->conf, "07-nolist.conflist", "{\"cniVersion\":\"1.0.0\",\"name\":\"nolist\",\"type\":\"recorder\"}");
    load(f, "");
    OK(f->ops->status(f->inst, &err));
    char id[80], ip[64];
    struct cleat_network_pod pod = make_pod(f, 0, id, sizeof(id));
    add_pod(f, &pod, ip, sizeof(ip));
    assert_string_equal(ip, "10.1.2.3");
    char *in = recorded(f, "ADD", ".json");
    expect_contains(in, "\"name\":\"bnet\"");
    free(in);
    del_pod(f, &pod);
    run_cmd("rm -f %s/*", f->rec);
    write_text(f->rec, "result.json", "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.1.2.4/24\"}]}");

    /* network_name picks another file; a single-plugin .conf is wrapped into a list. */
    load(f, "network_name: anet");
    add_pod(f, &pod, ip, sizeof(ip));
    in = recorded(f, "ADD", ".json");
    expect_contains(in, "\"name\":\"anet\"");
    expect_contains(in, "\"x\":1");
    expect_contains(in, "\"cniVersion\":\"1.0.0\"");
    free(in);
    del_pod(f, &pod);
    load(f, "network_name: other");
    expect_error(f->ops->status(f->inst, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION, "named 'other'");
}

/* --- real plugins ------------------------------------------------------------- */

static void add_del_two_pods(struct fx *f, const char *version) {
    struct cleat_error *err = NULL;
    write_bridge_conf(f, "10-net.conflist", "testnet", version, "",
                      ",{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}");
    load(f, "");
    OK(f->ops->status(f->inst, &err));
    char id0[80], id1[80], ip0[64], ip1[64];
    struct cleat_network_pod p0 = make_pod(f, 0, id0, sizeof(id0)), p1 = make_pod(f, 1, id1, sizeof(id1));
    add_pod(f, &p0, ip0, sizeof(ip0));
    add_pod(f, &p1, ip1, sizeof(ip1));
    assert_true(strncmp(ip0, SUBNET, strlen(SUBNET)) == 0);
    assert_true(strncmp(ip1, SUBNET, strlen(SUBNET)) == 0);
    assert_string_not_equal(ip0, ip1);
    assert_int_equal(reserved(f, "testnet"), 2);
    assert_int_equal(veths(), 2);
    run_cmd("nsenter --net=%s ip -o addr show eth0 | grep -q 'inet %s/24'", f->netns[0], ip0);
    OK(f->ops->check(f->inst, &p0, &err));
    del_pod(f, &p0);
    assert_int_equal(reserved(f, "testnet"), 1);
    del_pod(f, &p0); /* twice is fine */
    del_pod(f, &p1);
    assert_int_equal(reserved(f, "testnet"), 0);
    assert_int_equal(veths(), 0);
    /* CHECK after DEL: nothing cached. */
    expect_error(f->ops->check(f->inst, &p0, &err), &err, CLEAT_STATUS_NOT_FOUND, "no CNI result");
}

static void test_add_del_031(void **state) {
    add_del_two_pods(*state, "0.3.1");
}

static void test_add_del_040(void **state) {
    add_del_two_pods(*state, "0.4.0");
}

static void test_add_del_100(void **state) {
    add_del_two_pods(*state, "1.0.0");
}

/* cniVersions offers 1.1.0, but bridge 1.1 only speaks up to 1.0.0: VERSION settles on 1.0.0. */
static void test_version_negotiation(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    char *text = NULL;
    assert_true(asprintf(&text,
                         "{\"cniVersion\":\"1.0.0\",\"cniVersions\":[\"0.4.0\",\"1.0.0\",\"1.1.0\"],\"name\":\"vnet\","
                         "\"plugins\":[{\"type\":\"bridge\",\"bridge\":\"cnitest0\",\"ipam\":{\"type\":\"host-local\","
                         "\"dataDir\":\"%s\",\"ranges\":[[{\"subnet\":\"" SUBNET "0/24\"}]]}}]}",
                         f->ipam) > 0);
    write_text(f->conf, "10-v.conflist", text);
    free(text);
    load(f, "");
    OK(f->ops->status(f->inst, &err));
    char id[80], ip[64];
    struct cleat_network_pod pod = make_pod(f, 0, id, sizeof(id));
    add_pod(f, &pod, ip, sizeof(ip));
    del_pod(f, &pod);
    assert_int_equal(reserved(f, "vnet"), 0);
}

/* DEL uses the cached conf: the conf dir changed (even emptied) since ADD. */
static void test_del_uses_cache(void **state) {
    struct fx *f = *state;
    write_bridge_conf(f, "10-net.conflist", "testnet", "1.0.0", "", "");
    load(f, "");
    char id[80], ip[64];
    struct cleat_network_pod pod = make_pod(f, 0, id, sizeof(id));
    add_pod(f, &pod, ip, sizeof(ip));
    assert_int_equal(reserved(f, "testnet"), 1);
    run_cmd("rm %s/10-net.conflist", f->conf);
    write_text(f->conf, "10-other.conflist",
               "{\"cniVersion\":\"1.0.0\",\"name\":\"other\",\"plugins\":[{\"type\":\"nosuch\"}]}");
    load(f, ""); /* and a restart of cleatd */
    del_pod(f, &pod);
    assert_int_equal(reserved(f, "testnet"), 0);
    assert_int_equal(veths(), 0);
    run_cmd("rm %s/10-other.conflist", f->conf);
    del_pod(f, &pod); /* no cache, no conf: nothing to do */
}

/* The pod's netns is gone (a reboot, a crash): DEL still releases the address. */
static void test_del_netns_gone(void **state) {
    struct fx *f = *state;
    write_recorder(f, "recorder");
    write_bridge_conf(f, "10-net.conflist", "testnet", "1.0.0", "", ",{\"type\":\"recorder\"}");
    load(f, "");
    char id[80], ip[64];
    struct cleat_network_pod pod = make_pod(f, 0, id, sizeof(id));
    add_pod(f, &pod, ip, sizeof(ip));
    drop_netns(f, 0);
    del_pod(f, &pod);
    assert_int_equal(reserved(f, "testnet"), 0);
    char *env = recorded(f, "DEL", ".env");
    expect_contains(env, "CNI_NETNS=\n");
    free(env);
}

static void expect_nothing_left(struct fx *f) {
    assert_int_equal(reserved(f, "testnet"), 0);
    assert_int_equal(veths(), 0);
}

static void test_failing_plugin(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    write_script(f, "failer",
                 "cat >/dev/null\n[ \"$CNI_COMMAND\" = ADD ] || exit 0\n"
                 "echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"no luck\",\"details\":\"try again\"}'\nexit 1");
    write_bridge_conf(f, "10-net.conflist", "testnet", "1.0.0", "", ",{\"type\":\"failer\"}");
    load(f, "");
    char id[80];
    struct cleat_network_pod pod = make_pod(f, 0, id, sizeof(id));
    struct cleat_net_result *res = net_result_new();
    expect_error(f->ops->setup(f->inst, &pod, res, &err), &err, CLEAT_STATUS_UNKNOWN,
                 "plugin failer failed: no luck: try again");
    expect_nothing_left(f);
    del_pod(f, &pod); /* what the core does next */

    /* A plugin that does not exist. */
    write_bridge_conf(f, "10-net.conflist", "testnet", "1.0.0", "", ",{\"type\":\"nosuch\"}");
    expect_error(f->ops->setup(f->inst, &pod, res, &err), &err, CLEAT_STATUS_FAILED_PRECONDITION,
                 "plugin nosuch not found in");
    expect_nothing_left(f);
    del_pod(f, &pod);

    /* bridge refusing its own config. */
    write_bridge_conf(f, "10-net.conflist", "testnet", "1.0.0", ",\"mtu\":\"big\"", "");
    expect_error(f->ops->setup(f->inst, &pod, res, &err), &err, CLEAT_STATUS_UNKNOWN, "plugin bridge failed: ");
    expect_nothing_left(f);
    assert_int_equal(res->n, 0);
    net_result_free(res);
}

static void test_timeout(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    write_script(f, "sleeper", "cat >/dev/null; sleep 30");
    write_text(f->conf, "10-s.conflist",
               "{\"cniVersion\":\"1.0.0\",\"name\":\"snet\",\"plugins\":[{\"type\":\"sleeper\"}]}");
    load(f, "plugin_timeout_seconds: 1");
    char id[80];
    struct cleat_network_pod pod = make_pod(f, 0, id, sizeof(id));
    struct cleat_net_result *res = net_result_new();
    time_t t0 = time(NULL);
    expect_error(f->ops->setup(f->inst, &pod, res, &err), &err, CLEAT_STATUS_DEADLINE_EXCEEDED,
                 "plugin sleeper (ADD) timed out after 1 s");
    assert_true(time(NULL) - t0 < 10);
    net_result_free(res);
}

/* --- the protocol in detail (a recording plugin chained after bridge) ------------ */

static const struct cleat_port_mapping ports[] = {
    {.protocol = CLEAT_PROTO_TCP, .container_port = 80, .host_port = 8080},
    {.protocol = CLEAT_PROTO_UDP, .container_port = 53, .host_port = 5353, .host_ip = "127.0.0.1"},
    {.protocol = CLEAT_PROTO_TCP, .container_port = 9000, .host_port = 0},
};

static void test_protocol(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    write_recorder(f, "recorder");
    write_bridge_conf(f, "10-net.conflist", "testnet", "1.0.0", "",
                      ",{\"type\":\"recorder\",\"capabilities\":{\"portMappings\":true,\"bandwidth\":true,"
                      "\"ipRanges\":true,\"dns\":true,\"cgroupPath\":true,\"ips\":true,\"mac\":true,\"aliases\":true},"
                      "\"custom\":{\"k\":\"v\"}}");
    load(f, "");
    OK(f->ops->update_pod_cidr(f->inst, "10.99.0.0/24,fd00:99::/64", &err));
    char id[80], ip[64];
    struct cleat_network_pod pod = make_pod(f, 0, id, sizeof(id));
    const char *servers[] = {"10.96.0.10", NULL}, *searches[] = {"default.svc.cluster.local", NULL};
    const char *ann[] = {"kubernetes.io/ingress-bandwidth",
                         "10M",
                         "kubernetes.io/egress-bandwidth",
                         "1.5Mi",
                         "cni.cleat.io/mac",
                         "02:42:ac:11:00:02",
                         NULL};
    pod.port_mappings = ports;
    pod.n_port_mappings = 3;
    pod.dns_servers = servers;
    pod.dns_searches = searches;
    pod.annotations = ann;
    pod.cgroup_parent = "/kubepods/pod-uid-1234";
    add_pod(f, &pod, ip, sizeof(ip)); /* the recorder passes bridge's result through */
    assert_true(strncmp(ip, SUBNET, strlen(SUBNET)) == 0);

    char *env = recorded(f, "ADD", ".env"), want[PATH_MAX * 2];
    expect_contains(env, "CNI_COMMAND=ADD\n");
    snprintf(want, sizeof(want), "CNI_CONTAINERID=%s\n", id);
    expect_contains(env, want);
    snprintf(want, sizeof(want), "CNI_NETNS=%s\n", f->netns[0]);
    expect_contains(env, want);
    expect_contains(env, "CNI_IFNAME=eth0\n");
    snprintf(want, sizeof(want),
             "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=%s;"
             "K8S_POD_UID=uid-1234\n",
             id);
    expect_contains(env, want);
    snprintf(want, sizeof(want), "CNI_PATH=%s:" CNI_BIN "\n", f->bin);
    expect_contains(env, want);
    free(env);

    char *in = recorded(f, "ADD", ".json");
    expect_contains(in, "\"name\":\"testnet\"");
    expect_contains(in, "\"cniVersion\":\"1.0.0\"");
    expect_contains(in, "\"custom\":{\"k\":\"v\"}");
    expect_contains(in, "\"portMappings\":[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"},"
                        "{\"hostPort\":5353,\"containerPort\":53,\"protocol\":\"udp\",\"hostIP\":\"127.0.0.1\"}]");
    expect_contains(in, "\"ingressRate\":10000000");
    expect_contains(in, "\"egressRate\":1572864");
    expect_contains(in, "\"ipRanges\":[[{\"subnet\":\"10.99.0.0/24\"}],[{\"subnet\":\"fd00:99::/64\"}]]");
    expect_contains(in, "\"dns\":{\"servers\":[\"10.96.0.10\"],\"searches\":[\"default.svc.cluster.local\"]}");
    expect_contains(in, "\"cgroupPath\":\"/kubepods/pod-uid-1234\"");
    expect_contains(in, "\"mac\":\"02:42:ac:11:00:02\"");
    snprintf(want, sizeof(want), "\"prevResult\":{\"cniVersion\":\"1.0.0\"");
    expect_contains(in, want);
    snprintf(want, sizeof(want), "\"address\":\"%s/24\"", ip);
    expect_contains(in, want); /* bridge's result, chained */
    assert_null(strstr(in, "\"capabilities\""));
    assert_null(strstr(in, "\"aliases\"")); /* declared, but nothing to give */
    assert_null(strstr(in, "\"ips\":[\""));
    free(in);

    OK(f->ops->check(f->inst, &pod, &err));
    in = recorded(f, "CHECK", ".json");
    expect_contains(in, want); /* the cached result as prevResult */
    free(in);

    load(f, ""); /* cleatd restarted: no pod CIDR pushed yet; DEL uses the cached capability args */
    del_pod(f, &pod);
    env = recorded(f, "DEL", ".env");
    expect_contains(env, "CNI_COMMAND=DEL\n");
    snprintf(want, sizeof(want), "CNI_NETNS=%s\n", f->netns[0]);
    expect_contains(env, want);
    free(env);
    in = recorded(f, "DEL", ".json");
    expect_contains(in, "\"ipRanges\":[[{\"subnet\":\"10.99.0.0/24\"}]");
    expect_contains(in, "\"portMappings\":[{\"hostPort\":8080");
    snprintf(want, sizeof(want), "\"address\":\"%s/24\"", ip);
    expect_contains(in, want);
    free(in);
    assert_int_equal(reserved(f, "testnet"), 0);
}

static void test_bad_bandwidth(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    write_recorder(f, "recorder");
    write_text(f->conf, "10-r.conflist",
               "{\"cniVersion\":\"1.0.0\",\"name\":\"rnet\",\"plugins\":[{\"type\":\"recorder\"}]}");
    load(f, "");
    char id[80];
    struct cleat_network_pod pod = make_pod(f, 0, id, sizeof(id));
    const char *ann[] = {"kubernetes.io/ingress-bandwidth", "lots", NULL};
    pod.annotations = ann;
    struct cleat_net_result *res = net_result_new();
    expect_error(f->ops->setup(f->inst, &pod, res, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT,
                 "kubernetes.io/ingress-bandwidth: 'lots' is not a quantity");
    net_result_free(res);
}

/* Dual stack: only the pod's interface counts, IPv4 is primary (ip_pref), a 0.4.0 result is read as well. */
static void test_primary_ip(void **state) {
    struct fx *f = *state;
    write_recorder(f, "recorder");
    write_text(f->rec, "result.json",
               "{\"cniVersion\":\"0.4.0\",\"interfaces\":[{\"name\":\"cni0\"},{\"name\":\"eth0\",\"sandbox\":\"/x\"}],"
               "\"ips\":[{\"version\":\"4\",\"address\":\"10.0.0.1/24\",\"interface\":0},"
               "{\"version\":\"6\",\"address\":\"fd00::5/64\",\"interface\":1},"
               "{\"version\":\"4\",\"address\":\"10.0.0.5/24\",\"gateway\":\"10.0.0.1\",\"interface\":1}]}");
    write_text(f->conf, "10-r.conflist",
               "{\"cniVersion\":\"0.4.0\",\"name\":\"rnet\",\"plugins\":[{\"type\":\"recorder\"}]}");
    load(f, "");
    char id[80];
    struct cleat_error *err = NULL;
    struct cleat_network_pod pod = make_pod(f, 0, id, sizeof(id));
    struct cleat_net_result *res = net_result_new();
    OK(f->ops->setup(f->inst, &pod, res, &err));
    assert_int_equal(res->n, 2);
    assert_string_equal(res->ips[0].address, "10.0.0.5/24");
    assert_string_equal(res->ips[0].gateway, "10.0.0.1");
    assert_string_equal(res->ips[1].address, "fd00::5/64");
    net_result_free(res);
    del_pod(f, &pod);

    load(f, "ip_pref: cni");
    res = net_result_new();
    OK(f->ops->setup(f->inst, &pod, res, &err));
    assert_string_equal(res->ips[0].address, "fd00::5/64");
    net_result_free(res);
    del_pod(f, &pod);
}

/* CNI 1.1: STATUS is asked, and its error is the reason the network is not ready. */
static void test_status_verb(void **state) {
    struct fx *f = *state;
    struct cleat_error *err = NULL;
    write_recorder(f, "recorder");
    write_text(f->conf, "10-r.conflist",
               "{\"cniVersion\":\"1.1.0\",\"name\":\"rnet\",\"plugins\":[{\"type\":\"recorder\"}]}");
    load(f, "");
    OK(f->ops->status(f->inst, &err));
    char *in = recorded(f, "STATUS", ".json");
    expect_contains(in, "\"cniVersion\":\"1.1.0\"");
    free(in);
    write_text(f->rec, "not-ready", "{\"cniVersion\":\"1.1.0\",\"code\":50,\"msg\":\"daemon is down\"}");
    expect_error(f->ops->status(f->inst, &err), &err, CLEAT_STATUS_UNKNOWN, "network 'rnet' (");
    expect_error(f->ops->status(f->inst, &err), &err, CLEAT_STATUS_UNKNOWN, "plugin recorder failed: daemon is down");
}

struct par {
    struct fx *f;
    int i;
    char id[80], ip[64];
    struct cleat_network_pod pod;
    int r;
    struct cleat_error *err;
};

static void *par_add(void *arg) {
    struct par *p = arg;
    struct cleat_net_result *res = net_result_new();
    p->r = p->f->ops->setup(p->f->inst, &p->pod, res, &p->err);
    if (p->r >= 0 && res->n)
        snprintf(p->ip, sizeof(p->ip), "%s", res->ips[0].address);
    net_result_free(res);
    return NULL;
}

static void test_parallel(void **state) {
    struct fx *f = *state;
    write_bridge_conf(f, "10-net.conflist", "testnet", "1.0.0", "", "");
    load(f, "");
    struct par p[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        p[i] = (struct par){.f = f, .i = i};
        p[i].pod = make_pod(f, i, p[i].id, sizeof(p[i].id));
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, par_add, &p[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) {
        check(p[i].r, p[i].err);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(p[i].ip, p[j].ip);
    }
    assert_int_equal(reserved(f, "testnet"), 4);
    for (int i = 0; i < 4; i++)
        del_pod(f, &p[i].pod);
    expect_nothing_left(f);
}

/* Everything runs in a network and mount namespace of the test's own. */
static void enter_namespaces(void) {
    if (geteuid() != 0 || access(CNI_BIN "/bridge", X_OK) != 0 || access(CNI_BIN "/host-local", X_OK) != 0) {
        fprintf(stderr, "net-cni tests need root and the CNI plugins in " CNI_BIN "\n");
        return;
    }
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        fprintf(stderr, "net-cni tests: cannot make private namespaces: %s\n", strerror(errno));
        return;
    }
    usable = system("ip link set lo up") == 0;
}

int main(void) {
    enter_namespaces();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_follows_conf_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conf_selection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_del_031, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_del_040, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_del_100, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_negotiation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_del_uses_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_del_netns_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_plugin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protocol, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bandwidth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_primary_ip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_verb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
