/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CDI device names: "vendor/class=device", the fully-qualified form the CRI's
 * CDI_devices and the cdi.k8s.io/ annotations carry, and a spec file's kind
 * ("vendor/class").  The rules are the CDI specification's:
 *  - vendor: a letter first, a letter or digit last, letters, digits, '_',
 *    '-' and '.' between (a DNS-like prefix such as "vendor.example");
 *  - class: the same (a '.' in it is new in CDI 0.6.0, see cdi_kind_check);
 *  - device: a letter or digit first and last, letters, digits, '_', '-',
 *    '.' and ':' between (a digit first is new in CDI 0.5.0).
 * Pure functions: no allocation, no side effects.
 */
#ifndef CLEAT_CORE_CDI_NAME_H
#define CLEAT_CORE_CDI_NAME_H

#include <stddef.h>

/* The annotation key prefix of CDI device requests (kubelet's device plugins, older DRA drivers). */
#define CDI_ANNOTATION_PREFIX "cdi.k8s.io/"

/*
 * Check a fully-qualified device name.  0 and *ret_kind_len = strlen("vendor/class")
 * when it is one; -1 with a short reason in `why` (NUL-terminated, truncated
 * to `why_size`) when not.
 */
int cdi_name_check(const char *name, size_t *ret_kind_len, char *why, size_t why_size);

/*
 * Check a spec file's kind, "vendor/class".  0, or -1 with the reason in `why`.
 * *ret_dotted_class (may be NULL) says whether the class holds a '.', which
 * a spec older than 0.6.0 may not use.
 */
int cdi_kind_check(const char *kind, int *ret_dotted_class, char *why, size_t why_size);

/* Check a device's own name (the part after '='), as a spec file's devices[].name gives it. */
int cdi_device_name_check(const char *name, char *why, size_t why_size);

#endif
