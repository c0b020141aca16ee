/* SPDX-License-Identifier: Apache-2.0 */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(struct strbuf *b, size_t more) {
    if (b->failed)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->failed = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void strbuf_append(struct strbuf *b, const char *s, size_t n) {
    if (reserve(b, n) < 0)
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void strbuf_puts(struct strbuf *b, const char *s) {
    strbuf_append(b, s, strlen(s));
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && reserve(b, (size_t)n) == 0) {
        vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void strbuf_json_string(struct strbuf *b, const char *s) {
    strbuf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"':
            strbuf_append(b, "\\\"", 2);
            break;
        case '\\':
            strbuf_append(b, "\\\\", 2);
            break;
        case '\n':
            strbuf_append(b, "\\n", 2);
            break;
        case '\r':
            strbuf_append(b, "\\r", 2);
            break;
        case '\t':
            strbuf_append(b, "\\t", 2);
            break;
        default:
            if (*p < 0x20)
                strbuf_printf(b, "\\u%04x", *p);
            else
                strbuf_append(b, (const char *)p, 1);
        }
    }
    strbuf_append(b, "\"", 1);
}

char *strbuf_steal(struct strbuf *b) {
    char *s = b->failed ? NULL : b->s;
    if (b->failed)
        free(b->s);
    if (!s && !b->failed)
        s = strdup("");
    *b = (struct strbuf){0};
    return s;
}

void strbuf_free(struct strbuf *b) {
    free(b->s);
    *b = (struct strbuf){0};
}
