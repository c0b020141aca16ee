/* SPDX-License-Identifier: Apache-2.0 */
#include "netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int netaddr_is_cidr(const char *s, size_t len) {
    char buf[INET6_ADDRSTRLEN + 8];
    unsigned char addr[sizeof(struct in6_addr)];
    if (!s || len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/'), *end;
    if (!slash)
        return 0;
    *slash = '\0';
    errno = 0;
    long prefix = strtol(slash + 1, &end, 10);
    if (errno || *end || end == slash + 1 || prefix < 0 || slash[1] == '-' || slash[1] == '+')
        return 0;
    if (inet_pton(AF_INET, buf, addr) == 1)
        return prefix <= 32;
    return inet_pton(AF_INET6, buf, addr) == 1 && prefix <= 128;
}
