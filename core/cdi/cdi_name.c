/* SPDX-License-Identifier: Apache-2.0 */
/* CDI device and kind names; the rules are in cdi_name.h. */
#include "cdi_name.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int is_letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(char c) {
    return is_letter(c) || (c >= '0' && c <= '9');
}

/* `len` bytes of `s`: first passes `first`, last is alphanumeric, the ones between are alnum or in `inner`. */
static int segment_ok(const char *s, size_t len, int (*first)(char), const char *inner) {
    if (len == 0 || !first(s[0]) || !is_alnum(s[len - 1]))
        return 0;
    for (size_t i = 1; i + 1 < len; i++)
        if (!is_alnum(s[i]) && !strchr(inner, s[i]))
            return 0;
    return 1;
}

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t size, const char *fmt, ...) {
    if (why && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* "vendor/class" of `len` bytes. */
static int kind_ok(const char *kind, size_t len, int *ret_dotted, char *why, size_t size) {
    const char *slash = memchr(kind, '/', len);
    if (!slash)
        return fail(why, size, "\"%.*s\" has no vendor (vendor/class)", (int)len, kind);
    size_t vlen = (size_t)(slash - kind), clen = len - vlen - 1;
    if (!segment_ok(kind, vlen, is_letter, "_-."))
        return fail(why, size,
                    "vendor \"%.*s\" must start with a letter, end with a letter or digit and hold only "
                    "letters, digits, '_', '-' and '.'",
                    (int)vlen, kind);
    if (!segment_ok(slash + 1, clen, is_letter, "_-."))
        return fail(why, size,
                    "class \"%.*s\" must start with a letter, end with a letter or digit and hold only "
                    "letters, digits, '_', '-' and '.'",
                    (int)clen, slash + 1);
    if (ret_dotted)
        *ret_dotted = memchr(slash + 1, '.', clen) != NULL;
    return 0;
}

int cdi_kind_check(const char *kind, int *ret_dotted_class, char *why, size_t why_size) {
    return kind_ok(kind, strlen(kind), ret_dotted_class, why, why_size);
}

int cdi_device_name_check(const char *name, char *why, size_t why_size) {
    if (!segment_ok(name, strlen(name), is_alnum, "_-.:"))
        return fail(why, why_size,
                    "device name \"%.*s\" must start and end with a letter or digit and hold only "
                    "letters, digits, '_', '-', '.' and ':'",
                    (int)strlen(name), name);
    return 0;
}

int cdi_name_check(const char *name, size_t *ret_kind_len, char *why, size_t why_size) {
    const char *eq = strchr(name, '=');
    if (!eq)
        return fail(why, why_size, "\"%s\" is not a fully-qualified CDI device name (vendor/class=device)", name);
    size_t klen = (size_t)(eq - name);
    if (kind_ok(name, klen, NULL, why, why_size) < 0 || cdi_device_name_check(eq + 1, why, why_size) < 0)
        return -1;
    if (ret_kind_len)
        *ret_kind_len = klen;
    return 0;
}
