/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host table for plugin parsers compiled into a fuzz target: the one
 * cleatd hands every plugin instance (plugin_host_init), for an instance
 * named "fuzz", so that errors, logging and net_result_add_ip are the real
 * ones.
 */
#include "fuzz.h"
#include "log.h"
#include "plugin_loader.h"

const struct cleat_host *fuzz_host(void) {
    static struct plugin_instance pi;
    if (!pi.name) {
        log_set_level(CLEAT_LOG_ERROR);
        pi.name = "fuzz";
        pi.log_prefix = "fuzz";
        pi.root_dir = "/nonexistent/fuzz-root";
        pi.state_dir = "/nonexistent/fuzz-state";
        plugin_host_init(&pi.host, &pi, NULL);
    }
    return &pi.host;
}
