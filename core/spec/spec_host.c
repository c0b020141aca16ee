/* SPDX-License-Identifier: Apache-2.0 */
/* The host paths the spec builder looks at (security modules and their tools), each overridable for tests. */
#include <sys/stat.h>

#include "spec_internal.h"

const char *spec_host_path(const struct spec_host *host, enum spec_host_path which) {
    switch (which) {
    case SPEC_HOST_APPARMOR_FS:
        return host && host->apparmor_fs ? host->apparmor_fs : "/sys/kernel/security/apparmor";
    case SPEC_HOST_APPARMOR_ETC:
        return host && host->apparmor_etc ? host->apparmor_etc : "/etc/apparmor.d";
    case SPEC_HOST_APPARMOR_PARSER: /* looked up in PATH, as containerd does */
        return host && host->apparmor_parser ? host->apparmor_parser : "apparmor_parser";
    default:
        return host && host->selinux_fs ? host->selinux_fs : "/sys/fs/selinux";
    }
}

int spec_host_has(const struct spec_host *host, enum spec_host_path which) {
    struct stat st;
    return stat(spec_host_path(host, which), &st) == 0;
}
