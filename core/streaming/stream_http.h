/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP/1.1 side of the streaming server: parsing the one request a
 * connection makes (it is then upgraded or answered and closed), header
 * lookups, and plain responses.
 */
#ifndef CLEAT_CORE_STREAM_HTTP_H
#define CLEAT_CORE_STREAM_HTTP_H

#include <stddef.h>

#include "stream_buf.h"

#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_REQUEST 16384 /* request line and headers */

struct http_request {
    char *buf;                                  /* owned copy of the header block; the fields below point into it */
    const char *method, *target, *path, *query; /* query: after '?', or "" */
    int minor;                                  /* HTTP/1.<minor> */
    size_t n_headers;
    struct {
        const char *name, *value;
    } headers[HTTP_MAX_HEADERS];
};

/*
 * The length of the header block at buf (through the blank line), 0 when it
 * is not complete yet, -EMSGSIZE when it cannot be within HTTP_MAX_REQUEST.
 */
long http_request_end(const char *buf, size_t len);
/* Parse a complete header block of `len` bytes; 0, or -EINVAL for a malformed request. */
int http_request_parse(const char *buf, size_t len, struct http_request *ret);
void http_request_clear(struct http_request *req);

/* The first value of a header (case-insensitive name), or NULL. */
const char *http_header(const struct http_request *req, const char *name);
/* Non-zero if any value of the header holds `token` in its comma-separated list (case-insensitive). */
int http_header_has_token(const struct http_request *req, const char *name, const char *token);
/*
 * The comma-separated values of every instance of a header, in order,
 * trimmed, into out (at most max, each borrowed into *storage, a malloc'd
 * copy to free()).  Returns how many.
 */
size_t http_header_list(const struct http_request *req, const char *name, const char **out, size_t max, char **storage);
/*
 * The values of query parameter `key` in a query string, percent-decoded,
 * as one malloc'd NUL-separated list; *ret_n says how many.  -EINVAL for bad
 * percent-encoding.
 */
int http_query_values(const char *query, const char *key, char **ret, size_t *ret_n);

/* A complete response with a text body, for errors: "HTTP/1.1 <code> <reason>" and Connection: close. */
int http_put_response(struct sbuf *out, int code, const char *reason, const char *extra_headers, const char *body);

#endif
