/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The streaming server's HTTP/1.1 request head (stream_http.c), as
 * stream_server.c reads it: the end of the head is found, the head parsed,
 * then the headers and the query looked up.
 *
 * Invariants: an accepted request's parts are what the request line and the
 * header lines said (the request written out again from them parses to the
 * same), its path and query make up its target, and no header name or value
 * holds a CR or LF.
 */
#include <errno.h>

#include "fuzz.h"
#include "stream_http.h"

/* The request written out again from its parts: request line, "name: value" lines, blank line. */
static struct sbuf rewrite(const struct http_request *req) {
    struct sbuf b = {0};
    char line[32];
    snprintf(line, sizeof(line), " HTTP/1.%d\r\n", req->minor);
    sbuf_append(&b, req->method, strlen(req->method));
    sbuf_append(&b, " ", 1);
    sbuf_append(&b, req->target, strlen(req->target));
    sbuf_append(&b, line, strlen(line));
    for (size_t i = 0; i < req->n_headers; i++) {
        sbuf_append(&b, req->headers[i].name, strlen(req->headers[i].name));
        sbuf_append(&b, ": ", 2);
        sbuf_append(&b, req->headers[i].value, strlen(req->headers[i].value));
        sbuf_append(&b, "\r\n", 2);
    }
    sbuf_append(&b, "\r\n", 2);
    return b;
}

static void check_parts(const struct http_request *req) {
    size_t pl = strlen(req->path);
    FUZZ_CHECK(req->method[0] && req->target[0] == '/' && req->minor >= 0 && req->minor <= 9);
    FUZZ_CHECK(strncmp(req->target, req->path, pl) == 0);
    FUZZ_CHECK(req->target[pl] ? req->target[pl] == '?' && strcmp(req->target + pl + 1, req->query) == 0
                               : req->query[0] == '\0');
    FUZZ_CHECK(req->n_headers <= HTTP_MAX_HEADERS);
    for (size_t i = 0; i < req->n_headers; i++) {
        FUZZ_CHECK(req->headers[i].name[0] && !strpbrk(req->headers[i].name, "\r\n: "));
        FUZZ_CHECK(!strpbrk(req->headers[i].value, "\r\n"));
    }
}

static void check_same(const struct http_request *a, const struct http_request *b) {
    FUZZ_CHECK(strcmp(a->method, b->method) == 0 && strcmp(a->target, b->target) == 0 && a->minor == b->minor);
    FUZZ_CHECK(a->n_headers == b->n_headers);
    for (size_t i = 0; i < a->n_headers; i++)
        FUZZ_CHECK(strcmp(a->headers[i].name, b->headers[i].name) == 0 &&
                   strcmp(a->headers[i].value, b->headers[i].value) == 0);
}

/* What the server asks of a request (stream_server.c, stream_session.c). */
static void lookups(const struct http_request *req) {
    const char *list[16];
    char *storage = NULL;
    size_t n = http_header_list(req, "Sec-WebSocket-Protocol", list, 16, &storage);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(list[i][0] && !strchr(list[i], ','));
    free(storage);
    (void)http_header(req, "Host");
    (void)http_header_has_token(req, "Connection", "upgrade");
    static const char *const keys[] = {"command", "port", "input", "tty"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        char *values = NULL;
        size_t nv = 0;
        if (http_query_values(req->query, keys[k], &values, &nv) == 0) {
            const char *v = values;
            for (size_t i = 0; i < nv; i++)
                v += strlen(v) + 1;
            FUZZ_CHECK((size_t)(v - values) <= strlen(req->query) + 1);
            free(values);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    long end = http_request_end((const char *)data, size);
    FUZZ_CHECK(end == 0 || end == -EMSGSIZE || (end >= 4 && (size_t)end <= size && end <= HTTP_MAX_REQUEST));
    if (end <= 0)
        return 0;
    struct http_request req;
    if (http_request_parse((const char *)data, (size_t)end, &req) < 0)
        return 0;
    check_parts(&req);
    lookups(&req);
    struct sbuf again = rewrite(&req);
    struct http_request req2;
    FUZZ_CHECK(http_request_parse((const char *)sbuf_data(&again), sbuf_avail(&again), &req2) == 0);
    check_same(&req, &req2);
    http_request_clear(&req2);
    sbuf_free(&again);
    http_request_clear(&req);
    return 0;
}
