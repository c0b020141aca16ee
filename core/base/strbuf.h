/* SPDX-License-Identifier: Apache-2.0 */
/* A growable string, with JSON string quoting (for `verbose` info and the like). */
#ifndef CLEAT_CORE_STRBUF_H
#define CLEAT_CORE_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *s; /* always NUL-terminated once anything was appended; NULL before */
    size_t len, cap;
    int failed; /* an allocation failed: the content is incomplete */
};

void strbuf_append(struct strbuf *b, const char *s, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append `s` as a JSON string literal, quotes included. */
void strbuf_json_string(struct strbuf *b, const char *s);
/* Hand over the string (NULL if an allocation failed) and reset the buffer. */
char *strbuf_steal(struct strbuf *b);
void strbuf_free(struct strbuf *b);

#endif
