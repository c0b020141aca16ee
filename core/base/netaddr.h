/* SPDX-License-Identifier: Apache-2.0 */
/* Address syntax checks shared by the network result builder and the pod CIDR. */
#ifndef CLEAT_CORE_NETADDR_H
#define CLEAT_CORE_NETADDR_H

#include <stddef.h>

/* Non-zero if the `len` bytes at `s` are "A.B.C.D/N" (N ≤ 32) or "v6addr/N" (N ≤ 128). */
int netaddr_is_cidr(const char *s, size_t len);

#endif
