/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A CNI plugin's ADD result (net-cni, compiled in), as ops.c takes it: the
 * plugin's stdout parsed, converted to the network's CNI version
 * (nc_result_convert), passed to the next plugin as prevResult
 * (nc_plugin_request), and at the end reported to the host as the pod's
 * addresses (nc_report, with the daemon's real net_result_add_ip).
 *
 * Invariants: a converted result names the version it was converted to; in
 * 1.x no ip has "version", before it every ip object has one; converting
 * twice is converting once; the request carries the result as prevResult;
 * the reported addresses are CIDRs on the pod's interface, at most as many
 * as the result lists, the primary first (IPv4 first unless ip_pref says
 * otherwise).
 */
#include <errno.h>

#include "builders.h"
#include "cni.h"
#include "fuzz.h"

static const char *const versions[] = {"0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

static void check_converted(const json_t *res, const char *version) {
    FUZZ_CHECK(json_is_object(res) && strcmp(json_string_value(json_object_get(res, "cniVersion")), version) == 0);
    if (nc_version_num(version) < 0x000300)
        return;
    FUZZ_CHECK(!json_object_get(res, "ip4") || json_object_get(res, "ips"));
    size_t i;
    const json_t *ip;
    json_array_foreach(json_object_get(res, "ips"), i, ip) {
        if (json_is_object(ip))
            FUZZ_CHECK((json_object_get(ip, "version") != NULL) == (nc_version_num(version) < 0x010000));
    }
    json_t *twice = nc_result_convert(res, version);
    FUZZ_CHECK(twice && json_equal(twice, res));
    json_decref(twice);
}

static void check_request(const json_t *res, const char *version) {
    json_t *plugin = json_pack("{s:s}", "type", "bridge");
    json_t *req = nc_plugin_request(plugin, "net", version, NULL, res);
    FUZZ_CHECK(req && json_equal(json_object_get(req, "prevResult"), res));
    json_decref(req);
    json_decref(plugin);
}

static void check_report(const json_t *res, int ip_pref) {
    struct nc nc = {.host = fuzz_host(), .ip_pref = ip_pref};
    struct cleat_net_result *out = net_result_new();
    struct cleat_error *err = NULL;
    FUZZ_CHECK(out);
    if (nc_report(&nc, res, "eth0", out, &err) == 0) {
        size_t listed = json_array_size(json_object_get(res, "ips"));
        FUZZ_CHECK(out->n <= (listed ? listed : 2)); /* a 0.2.0 result: ip4 and ip6 */
        int v6_first = out->n && strchr(out->ips[0].address, ':');
        for (size_t i = 0; i < out->n; i++) {
            FUZZ_CHECK(strcmp(out->ips[i].ifname, "eth0") == 0);
            if (ip_pref != NC_IP_PREF_CNI && (strchr(out->ips[i].address, ':') != NULL) == (ip_pref == NC_IP_PREF_IPV6))
                FUZZ_CHECK(v6_first == (ip_pref == NC_IP_PREF_IPV6));
        }
    } else {
        FUZZ_CHECK(err);
        nc.host->error_free(err);
    }
    net_result_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *res = json_loadb((const char *)data, size, 0, NULL);
    if (!json_is_object(res)) {
        json_decref(res);
        return 0;
    }
    for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
        json_t *conv = nc_result_convert(res, versions[v]);
        check_converted(conv, versions[v]);
        check_request(conv, versions[v]);
        if (v == 3)
            for (int pref = NC_IP_PREF_IPV4; pref <= NC_IP_PREF_CNI; pref++)
                check_report(conv, pref);
        json_decref(conv);
    }
    json_decref(res);
    return 0;
}
