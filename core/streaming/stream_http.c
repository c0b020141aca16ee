/* SPDX-License-Identifier: Apache-2.0 */
#include "stream_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

long http_request_end(const char *buf, size_t len) {
    size_t lim = len < HTTP_MAX_REQUEST ? len : HTTP_MAX_REQUEST;
    for (size_t i = 3; i < lim; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return (long)i + 1;
    return len >= HTTP_MAX_REQUEST ? -EMSGSIZE : 0;
}

static int is_tchar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Split off the next CRLF-terminated line; NULL at the blank line or when there is none. */
static char *next_line(char **p) {
    char *s = *p, *e = strstr(s, "\r\n");
    if (!e || e == s)
        return NULL;
    *e = '\0';
    *p = e + 2;
    return s;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static int parse_request_line(struct http_request *req, char *line) {
    char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || strchr(sp2 + 1, ' '))
        return -EINVAL;
    *sp1 = *sp2 = '\0';
    for (const char *c = line; *c; c++)
        if (!is_tchar(*c))
            return -EINVAL;
    char *target = sp1 + 1, *version = sp2 + 1;
    if (!*line || target[0] != '/' || strncmp(version, "HTTP/1.", 7) != 0 || version[7] < '0' || version[7] > '9' ||
        version[8])
        return -EINVAL;
    for (const char *c = target; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return -EINVAL;
    req->method = line;
    req->target = target;
    req->minor = version[7] - '0';
    return 0;
}

int http_request_parse(const char *buf, size_t len, struct http_request *req) {
    *req = (struct http_request){0};
    if (len < 4 || memcmp(buf + len - 4, "\r\n\r\n", 4) != 0 || memchr(buf, '\0', len))
        return -EINVAL;
    if (!(req->buf = malloc(len * 2 + 2)))
        return -ENOMEM;
    memcpy(req->buf, buf, len);
    req->buf[len] = '\0';
    char *p = req->buf, *line = next_line(&p);
    int r = line ? parse_request_line(req, line) : -EINVAL;
    while (r >= 0 && (line = next_line(&p))) {
        char *colon = strchr(line, ':');
        if (!colon || colon == line || req->n_headers == HTTP_MAX_HEADERS) {
            r = -EINVAL;
            break;
        }
        *colon = '\0';
        for (const char *c = line; *c; c++)
            if (!is_tchar(*c))
                r = -EINVAL;
        for (const char *c = colon + 1; *c; c++)
            if (((unsigned char)*c < ' ' && *c != '\t') || *c == 0x7f)
                r = -EINVAL;
        req->headers[req->n_headers].name = line;
        req->headers[req->n_headers++].value = trim(colon + 1);
    }
    if (r >= 0) { /* path and query, in the second half of buf */
        char *path = req->buf + len + 1;
        strcpy(path, req->target);
        char *q = strchr(path, '?');
        if (q)
            *q++ = '\0';
        req->path = path;
        req->query = q ? q : "";
    }
    if (r < 0)
        http_request_clear(req);
    return r;
}

void http_request_clear(struct http_request *req) {
    free(req->buf);
    *req = (struct http_request){0};
}

const char *http_header(const struct http_request *req, const char *name) {
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

size_t http_header_list(const struct http_request *req, const char *name, const char **out, size_t max,
                        char **storage) {
    size_t total = 1, n = 0;
    *storage = NULL;
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            total += strlen(req->headers[i].value) + 1;
    char *s = malloc(total);
    if (!s)
        return 0;
    *storage = s;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, name) != 0)
            continue;
        strcpy(s, req->headers[i].value);
        char *save = NULL;
        for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            tok = trim(tok);
            if (*tok && n < max)
                out[n++] = tok;
        }
        s += strlen(req->headers[i].value) + 1;
    }
    return n;
}

int http_header_has_token(const struct http_request *req, const char *name, const char *token) {
    const char *v[32];
    char *storage = NULL;
    size_t n = http_header_list(req, name, v, 32, &storage);
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        found = strcasecmp(v[i], token) == 0;
    free(storage);
    return found;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out (NUL-terminated); -EINVAL on a bad escape or an encoded NUL. */
static int pct_decode(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi = n - i >= 3 ? hexval(s[i + 1]) : -1, lo = n - i >= 3 ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -EINVAL;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return 0;
}

int http_query_values(const char *query, const char *key, char **ret, size_t *ret_n) {
    size_t qlen = strlen(query), n = 0, o = 0;
    char *out = malloc(qlen + 2);
    if (!out)
        return -ENOMEM;
    for (const char *p = query; *p;) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *kend = eq ? eq : end;
        char k[64];
        if ((size_t)(kend - p) < sizeof(k) && pct_decode(p, (size_t)(kend - p), k) == 0 && strcmp(k, key) == 0) {
            const char *v = eq ? eq + 1 : end;
            if (pct_decode(v, (size_t)(end - v), out + o) < 0) {
                free(out);
                return -EINVAL;
            }
            o += strlen(out + o) + 1;
            n++;
        }
        p = amp ? amp + 1 : end;
    }
    out[o] = '\0';
    *ret = out;
    *ret_n = n;
    return 0;
}

int http_put_response(struct sbuf *out, int code, const char *reason, const char *extra_headers, const char *body) {
    char head[512];
    size_t bl = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n%s\r\n",
                     code, reason, bl, extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= sizeof(head))
        return -EINVAL;
    int r = sbuf_append(out, head, (size_t)n);
    return r < 0 ? r : sbuf_append(out, body, bl);
}
