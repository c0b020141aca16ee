/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The streaming server's codecs: SPDY/3.1 frames and header compression,
 * WebSocket frames and messages, base64, the HTTP request parser with bad
 * input, and single-use, expiring tokens.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "stream_http.h"
#include "stream_spdy.h"
#include "stream_tokens.h"
#include "stream_ws.h"

/* ---- SPDY ------------------------------------------------------------- */

static void test_spdy_dictionary(void **state) {
    size_t n;
    const uint8_t *d = spdy_dictionary(&n);
    assert_int_equal(n, 1423);
    /* The dictionary ID every SPDY/3 header block announces (zlib FDICT: 38 ea e3 c6 a7 c2). */
    assert_int_equal(adler32(adler32(0, NULL, 0), d, (uInt)n), 0xe3c6a7c2u);
}

static void test_spdy_headers_round_trip(void **state) {
    struct spdy_zlib client, server;
    assert_int_equal(spdy_zlib_init(&client), 0);
    assert_int_equal(spdy_zlib_init(&server), 0);
    struct sbuf out = {0};
    /* Two frames share one compression context: the second must decode after the first. */
    const char *const h1[] = {"streamtype", "stdout", "port", "8080", NULL};
    const char *const h2[] = {"streamtype", "stderr", "requestid", "0", NULL};
    assert_int_equal(spdy_put_syn_stream(&out, &client, 1, 0, h1), 0);
    assert_int_equal(spdy_put_syn_stream(&out, &client, 3, SPDY_FLAG_FIN, h2), 0);
    /* The first header block starts with a zlib header naming the SPDY dictionary (FDICT, its Adler-32). */
    static const uint8_t dict_id[] = {0xe3, 0xc6, 0xa7, 0xc2};
    assert_true(out.p[19] & 0x20);
    assert_memory_equal(out.p + 20, dict_id, sizeof(dict_id));

    struct spdy_frame f;
    ssize_t n = spdy_frame_parse(sbuf_data(&out), sbuf_avail(&out), 1 << 20, &f);
    assert_true(n > 0);
    assert_true(f.control);
    assert_int_equal(f.type, SPDY_SYN_STREAM);
    assert_int_equal(f.stream_id, 1);
    struct spdy_headers h;
    assert_int_equal(spdy_headers_decode(&server, f.data, f.data_len, 65536, &h), 0);
    assert_int_equal(h.n, 2);
    assert_string_equal(spdy_headers_get(&h, "StreamType"), "stdout");
    assert_string_equal(spdy_headers_get(&h, "port"), "8080");
    spdy_headers_clear(&h);
    sbuf_consume(&out, (size_t)n);

    n = spdy_frame_parse(sbuf_data(&out), sbuf_avail(&out), 1 << 20, &f);
    assert_true(n > 0);
    assert_int_equal(f.stream_id, 3);
    assert_int_equal(f.flags, SPDY_FLAG_FIN);
    assert_int_equal(spdy_headers_decode(&server, f.data, f.data_len, 65536, &h), 0);
    assert_string_equal(spdy_headers_get(&h, "streamtype"), "stderr");
    assert_string_equal(spdy_headers_get(&h, "requestid"), "0");
    assert_null(spdy_headers_get(&h, "port"));
    spdy_headers_clear(&h);
    sbuf_consume(&out, (size_t)n);
    assert_int_equal(sbuf_avail(&out), 0);

    /* A reply with no headers, the other direction. */
    assert_int_equal(spdy_put_syn_reply(&out, &server, 1, 0, (const char *const[]){NULL}), 0);
    n = spdy_frame_parse(sbuf_data(&out), sbuf_avail(&out), 1 << 20, &f);
    assert_true(n > 0);
    assert_int_equal(f.type, SPDY_SYN_REPLY);
    assert_int_equal(spdy_headers_decode(&client, f.data, f.data_len, 65536, &h), 0);
    assert_int_equal(h.n, 0);
    spdy_headers_clear(&h);
    sbuf_free(&out);
    spdy_zlib_free(&client);
    spdy_zlib_free(&server);
}

static void test_spdy_headers_limits(void **state) {
    struct spdy_zlib a, b;
    assert_int_equal(spdy_zlib_init(&a), 0);
    assert_int_equal(spdy_zlib_init(&b), 0);
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct sbuf out = {0};
    assert_int_equal(spdy_put_syn_stream(&out, &a, 1, 0, (const char *const[]){"a", big, NULL}), 0);
    struct spdy_frame f;
    struct spdy_headers h;
    assert_true(spdy_frame_parse(out.p, out.len, 1 << 20, &f) > 0);
    assert_int_equal(spdy_headers_decode(&b, f.data, f.data_len, 1024, &h), -EMSGSIZE);
    /* Garbage instead of a compressed block. */
    struct spdy_zlib c;
    assert_int_equal(spdy_zlib_init(&c), 0);
    static const uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_true(spdy_headers_decode(&c, junk, sizeof(junk), 65536, &h) < 0);
    sbuf_free(&out);
    spdy_zlib_free(&a);
    spdy_zlib_free(&b);
    spdy_zlib_free(&c);
}

static void test_spdy_frames(void **state) {
    struct sbuf out = {0};
    assert_int_equal(spdy_put_data(&out, 5, SPDY_FLAG_FIN, "hello", 5), 0);
    assert_int_equal(spdy_put_rst_stream(&out, 7, SPDY_CANCEL), 0);
    assert_int_equal(spdy_put_window_update(&out, 0, 1000), 0);
    assert_int_equal(spdy_put_ping(&out, 3), 0);
    assert_int_equal(spdy_put_goaway(&out, 9, 0), 0);
    static const uint8_t data_hdr[] = {0, 0, 0, 5, 1, 0, 0, 5};
    assert_memory_equal(out.p, data_hdr, 8);
    struct spdy_frame f;
    ssize_t n = spdy_frame_parse(sbuf_data(&out), sbuf_avail(&out), 1 << 20, &f);
    assert_int_equal(n, 13);
    assert_false(f.control);
    assert_int_equal(f.stream_id, 5);
    assert_int_equal(f.data_len, 5);
    assert_memory_equal(f.data, "hello", 5);
    sbuf_consume(&out, 13);
    static const struct {
        uint16_t type;
        uint32_t stream, value;
    } want[] = {
        {SPDY_RST_STREAM, 7, SPDY_CANCEL}, {SPDY_WINDOW_UPDATE, 0, 1000}, {SPDY_PING, 0, 3}, {SPDY_GOAWAY, 0, 9}};
    for (size_t i = 0; i < 4; i++) {
        n = spdy_frame_parse(sbuf_data(&out), sbuf_avail(&out), 1 << 20, &f);
        assert_true(n > 0);
        assert_true(f.control);
        assert_int_equal(f.version, 3);
        assert_int_equal(f.type, want[i].type);
        assert_int_equal(f.stream_id, want[i].stream);
        assert_int_equal(f.value, want[i].value);
        sbuf_consume(&out, (size_t)n);
    }
    /* Incomplete input asks for more; every prefix of a frame does. */
    assert_int_equal(spdy_put_data(&out, 1, 0, "abc", 3), 0);
    for (size_t i = 0; i < out.len; i++)
        assert_int_equal(spdy_frame_parse(out.p, i, 1 << 20, &f), 0);
    /* Too large, and malformed. */
    assert_int_equal(spdy_frame_parse(out.p, out.len, 2, &f), -EMSGSIZE);
    static const uint8_t zero_stream[] = {0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(spdy_frame_parse(zero_stream, 8, 100, &f), -EPROTO);
    static const uint8_t bad_version[] = {0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1};
    assert_int_equal(spdy_frame_parse(bad_version, sizeof(bad_version), 100, &f), -EPROTO);
    static const uint8_t short_rst[] = {0x80, 3, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1};
    assert_int_equal(spdy_frame_parse(short_rst, sizeof(short_rst), 100, &f), -EPROTO);
    static const uint8_t bad_settings[] = {0x80, 3, 0, 4, 0, 0, 0, 4, 0, 0, 0, 9};
    assert_int_equal(spdy_frame_parse(bad_settings, sizeof(bad_settings), 100, &f), -EPROTO);
    sbuf_free(&out);
}

/* ---- WebSocket --------------------------------------------------------- */

static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};

static void test_ws_frames(void **state) {
    static const size_t sizes[] = {0, 1, 125, 126, 65535, 65536, 200000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t *data = malloc(sizes[i] + 1);
        for (size_t j = 0; j < sizes[i]; j++)
            data[j] = (uint8_t)(j * 7);
        struct sbuf out = {0};
        assert_int_equal(ws_put_frame(&out, WS_BINARY, 1, data, sizes[i], mask), 0);
        size_t hdr = sizes[i] < 126 ? 2 : sizes[i] <= 65535 ? 4 : 10;
        assert_int_equal(out.len, hdr + 4 + sizes[i]);
        for (size_t cut = 0; cut < hdr + 4; cut++) {
            struct ws_frame f;
            assert_int_equal(ws_frame_parse(out.p, cut, 1 << 20, 1, &f), 0);
        }
        struct ws_frame f;
        assert_int_equal(ws_frame_parse(out.p, out.len, 1 << 20, 1, &f), (ssize_t)out.len);
        assert_true(f.fin);
        assert_true(f.masked);
        assert_int_equal(f.opcode, WS_BINARY);
        assert_int_equal(f.len, sizes[i]);
        if (sizes[i])
            assert_memory_equal(f.payload, data, sizes[i]);
        free(data);
        sbuf_free(&out);
    }
}

static void test_ws_frames_bad(void **state) {
    struct ws_frame f;
    uint8_t unmasked[] = {0x82, 0x01, 0x00};
    assert_int_equal(ws_frame_parse(unmasked, sizeof(unmasked), 100, 1, &f), -EPROTO);
    assert_int_equal(ws_frame_parse(unmasked, sizeof(unmasked), 100, 0, &f), 3);
    uint8_t rsv[] = {0xc2, 0x80, 0, 0, 0, 0};
    assert_int_equal(ws_frame_parse(rsv, sizeof(rsv), 100, 1, &f), -EPROTO);
    uint8_t opcode[] = {0x83, 0x80, 0, 0, 0, 0};
    assert_int_equal(ws_frame_parse(opcode, sizeof(opcode), 100, 1, &f), -EPROTO);
    uint8_t frag_ping[] = {0x09, 0x80, 0, 0, 0, 0};
    assert_int_equal(ws_frame_parse(frag_ping, sizeof(frag_ping), 100, 1, &f), -EPROTO);
    uint8_t long_ping[] = {0x89, 0xfe, 0, 126};
    assert_int_equal(ws_frame_parse(long_ping, sizeof(long_ping), 1000, 1, &f), -EPROTO);
    uint8_t not_minimal[] = {0x82, 0xfe, 0, 5, 0, 0, 0, 0};
    assert_int_equal(ws_frame_parse(not_minimal, sizeof(not_minimal), 100, 1, &f), -EPROTO);
    uint8_t huge[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(ws_frame_parse(huge, sizeof(huge), 100, 1, &f), -EPROTO);
    uint8_t big[] = {0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0};
    assert_int_equal(ws_frame_parse(big, sizeof(big), 100, 1, &f), -EMSGSIZE);
}

static void test_ws_fragmented_messages(void **state) {
    struct sbuf in = {0};
    struct ws_assembler a = {0};
    /* "hel" + ping + "lo" (continuation, fin), then a close. */
    assert_int_equal(ws_put_frame(&in, WS_TEXT, 0, "hel", 3, mask), 0);
    assert_int_equal(ws_put_frame(&in, WS_PING, 1, "p", 1, mask), 0);
    assert_int_equal(ws_put_frame(&in, WS_CONT, 1, "lo", 2, mask), 0);
    assert_int_equal(ws_put_frame(&in, WS_CLOSE, 1, "\x03\xe8", 2, mask), 0);
    int op;
    uint8_t *data;
    size_t len;
    assert_int_equal(ws_next_message(&a, &in, 1000, 1, &op, &data, &len), 1);
    assert_int_equal(op, WS_PING);
    assert_int_equal(len, 1);
    assert_memory_equal(data, "p", 1);
    assert_int_equal(ws_next_message(&a, &in, 1000, 1, &op, &data, &len), 1);
    assert_int_equal(op, WS_TEXT);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 5);
    assert_int_equal(ws_next_message(&a, &in, 1000, 1, &op, &data, &len), 1);
    assert_int_equal(op, WS_CLOSE);
    assert_int_equal(ws_next_message(&a, &in, 1000, 1, &op, &data, &len), 0);
    /* A continuation without a start, a new message inside one, a message over the limit. */
    assert_int_equal(ws_put_frame(&in, WS_CONT, 1, "x", 1, mask), 0);
    assert_int_equal(ws_next_message(&a, &in, 1000, 1, &op, &data, &len), -EPROTO);
    in.off = in.len = 0;
    assert_int_equal(ws_put_frame(&in, WS_BINARY, 0, "x", 1, mask), 0);
    assert_int_equal(ws_put_frame(&in, WS_BINARY, 1, "y", 1, mask), 0);
    assert_int_equal(ws_next_message(&a, &in, 1000, 1, &op, &data, &len), -EPROTO);
    ws_assembler_free(&a);
    in.off = in.len = 0;
    assert_int_equal(ws_put_frame(&in, WS_BINARY, 0, "abc", 3, mask), 0);
    assert_int_equal(ws_put_frame(&in, WS_CONT, 1, "def", 3, mask), 0);
    assert_int_equal(ws_next_message(&a, &in, 4, 1, &op, &data, &len), -EMSGSIZE);
    ws_assembler_free(&a);
    sbuf_free(&in);
}

/*
 * A buffer nothing was ever appended to has p == NULL: its data must still be
 * a valid (empty) pointer, since NULL + 0 is undefined behaviour that a
 * UBSan build aborts on (the fuzzer found it through ws_next_message with
 * the input 00 00: fuzz/corpus/ws_frames/regress-sbuf-null).
 */
static void test_sbuf_never_allocated(void **state) {
    struct sbuf in = {0};
    assert_non_null(sbuf_data(&in));
    assert_int_equal(sbuf_avail(&in), 0);
    struct ws_assembler a = {0};
    int op = -1;
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(ws_next_message(&a, &in, 1000, 1, &op, &data, &len), 0);
    /* An empty message: its data is a valid pointer too, though its buffer was never allocated. */
    assert_int_equal(ws_put_frame(&in, WS_BINARY, 1, NULL, 0, mask), 0);
    assert_int_equal(ws_next_message(&a, &in, 1000, 1, &op, &data, &len), 1);
    assert_int_equal(op, WS_BINARY);
    assert_int_equal(len, 0);
    assert_non_null(data);
    /* Consumed to empty, a buffer keeps its memory and its data pointer stays inside it. */
    assert_int_equal(sbuf_append(&in, "ab", 2), 0);
    sbuf_consume(&in, 2);
    assert_ptr_equal(sbuf_data(&in), in.p);
    sbuf_free(&in);
    assert_non_null(sbuf_data(&in));
    ws_assembler_free(&a);
}

static void test_ws_server_frames(void **state) {
    struct sbuf out = {0};
    assert_int_equal(ws_put_header(&out, WS_BINARY, 300), 0);
    static const uint8_t want[] = {0x82, 126, 1, 44};
    assert_memory_equal(out.p, want, 4);
    out.off = out.len = 0;
    assert_int_equal(ws_put_close(&out, 1000, "bye"), 0);
    static const uint8_t close[] = {0x88, 5, 0x03, 0xe8, 'b', 'y', 'e'};
    assert_int_equal(out.len, sizeof(close));
    assert_memory_equal(out.p, close, sizeof(close));
    sbuf_free(&out);
}

static void test_ws_accept_and_base64(void **state) {
    char accept[29];
    /* The example of RFC 6455 section 1.3. */
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept), 0);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    static const struct {
        const char *plain, *b64;
    } v[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foo\n", "Zm9vCg=="}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char enc[32];
        uint8_t dec[32];
        assert_int_equal(b64_encode((const uint8_t *)v[i].plain, strlen(v[i].plain), enc), strlen(v[i].b64));
        assert_string_equal(enc, v[i].b64);
        assert_int_equal(b64_decode(v[i].b64, strlen(v[i].b64), dec), (ssize_t)strlen(v[i].plain));
        assert_memory_equal(dec, v[i].plain, strlen(v[i].plain));
    }
    uint8_t dec[32];
    assert_int_equal(b64_decode("Zg=", 3, dec), -1);
    assert_int_equal(b64_decode("Z===", 4, dec), -1);
    assert_int_equal(b64_decode("Zg==Zg==", 8, dec), -1);
    assert_int_equal(b64_decode("Z!==", 4, dec), -1);
}

/* ---- HTTP -------------------------------------------------------------- */

static int parse(const char *text, struct http_request *req) {
    return http_request_parse(text, strlen(text), req);
}

static void test_http_request(void **state) {
    const char *text = "GET /exec/abc?port=80&port=81,82&x=%41 HTTP/1.1\r\n"
                       "Host: 127.0.0.1\r\n"
                       "Connection: keep-alive, Upgrade\r\n"
                       "Upgrade: SPDY/3.1\r\n"
                       "X-Stream-Protocol-Version: v5.channel.k8s.io\r\n"
                       "X-Stream-Protocol-Version:  v4.channel.k8s.io , channel.k8s.io\r\n"
                       "\r\n";
    assert_int_equal(http_request_end(text, strlen(text)), (long)strlen(text));
    assert_int_equal(http_request_end(text, strlen(text) - 1), 0);
    struct http_request req;
    assert_int_equal(parse(text, &req), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.path, "/exec/abc");
    assert_string_equal(req.query, "port=80&port=81,82&x=%41");
    assert_int_equal(req.minor, 1);
    assert_string_equal(http_header(&req, "upgrade"), "SPDY/3.1");
    assert_true(http_header_has_token(&req, "Connection", "upgrade"));
    assert_false(http_header_has_token(&req, "Connection", "close"));
    const char *v[8];
    char *storage = NULL;
    assert_int_equal(http_header_list(&req, "x-stream-protocol-version", v, 8, &storage), 3);
    assert_string_equal(v[0], "v5.channel.k8s.io");
    assert_string_equal(v[1], "v4.channel.k8s.io");
    assert_string_equal(v[2], "channel.k8s.io");
    free(storage);
    char *vals = NULL;
    size_t n = 0;
    assert_int_equal(http_query_values(req.query, "port", &vals, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(vals, "80");
    assert_string_equal(vals + 3, "81,82");
    free(vals);
    assert_int_equal(http_query_values(req.query, "x", &vals, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(vals, "A");
    free(vals);
    assert_int_equal(http_query_values("port=%4", "port", &vals, &n), -EINVAL);
    assert_int_equal(http_query_values("port=%00", "port", &vals, &n), -EINVAL);
    http_request_clear(&req);
}

static void test_http_bad_requests(void **state) {
    static const char *const bad[] = {
        "",
        "\r\n\r\n",
        "GET\r\n\r\n",
        "GET /x\r\n\r\n",
        "GET /x HTTP/2.0\r\n\r\n",
        "GET x HTTP/1.1\r\n\r\n",
        "GET /x HTTP/1.1 extra\r\n\r\n",
        "G(T /x HTTP/1.1\r\n\r\n",
        "GET /x HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET /x HTTP/1.1\r\n: empty\r\n\r\n",
        "GET /x HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET /x HTTP/1.1\r\nA: b\nc\r\n\r\n",
        "GET /x\x01 HTTP/1.1\r\n\r\n",
        "GET /x HTTP/1.1\r\nA: b\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_request req;
        assert_int_equal(parse(bad[i], &req), -EINVAL);
    }
    /* Too many headers, and a request too long to ever end. */
    char *many = malloc(HTTP_MAX_HEADERS * 8 + 64);
    strcpy(many, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    struct http_request req;
    assert_int_equal(parse(many, &req), -EINVAL);
    free(many);
    char *big = malloc(HTTP_MAX_REQUEST + 10);
    memset(big, 'a', HTTP_MAX_REQUEST + 10);
    assert_int_equal(http_request_end(big, HTTP_MAX_REQUEST + 10), -EMSGSIZE);
    free(big);
    /* Random bytes never crash the parser. */
    srand(42);
    for (int round = 0; round < 2000; round++) {
        char buf[96];
        size_t n = (size_t)(rand() % 90);
        for (size_t j = 0; j < n; j++)
            buf[j] = "GET /ab HTTP/1.1\r\n:x \t\x01"[rand() % 24];
        memcpy(buf + n, "\r\n\r\n", 4);
        if (parse(buf, &req) == 0) { /* a chance hit is a well-formed request */
            assert_non_null(req.path);
            http_request_clear(&req);
        }
        http_request_end(buf, n + 4);
    }
}

/* ---- tokens ------------------------------------------------------------ */

static int64_t fake_now;
static int64_t fake_clock(void) {
    return fake_now;
}

static struct stream_request *request(enum stream_kind kind) {
    struct stream_request *r = calloc(1, sizeof(*r));
    r->kind = kind;
    strcpy(r->id, "c1");
    return r;
}

static void test_tokens(void **state) {
    struct stream_tokens *t = stream_tokens_new(60LL * 1000000000, 3);
    stream_tokens_set_clock(t, fake_clock);
    fake_now = 1000;
    char a[STREAM_TOKEN_LEN + 1], b[STREAM_TOKEN_LEN + 1];
    assert_int_equal(stream_tokens_put(t, request(STREAM_EXEC), a), 0);
    assert_int_equal(stream_tokens_put(t, request(STREAM_ATTACH), b), 0);
    assert_int_equal(strlen(a), STREAM_TOKEN_LEN);
    assert_string_not_equal(a, b);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), STREAM_TOKEN_LEN);
    /* Single use. */
    struct stream_request *r = stream_tokens_take(t, a, STREAM_EXEC);
    assert_non_null(r);
    assert_string_equal(r->id, "c1");
    stream_request_free(r);
    assert_null(stream_tokens_take(t, a, STREAM_EXEC));
    /* The wrong kind spends the token too. */
    assert_null(stream_tokens_take(t, b, STREAM_EXEC));
    assert_null(stream_tokens_take(t, b, STREAM_ATTACH));
    /* Expiry. */
    assert_int_equal(stream_tokens_put(t, request(STREAM_EXEC), a), 0);
    fake_now += 60LL * 1000000000;
    assert_null(stream_tokens_take(t, a, STREAM_EXEC));
    assert_int_equal(stream_tokens_put(t, request(STREAM_EXEC), a), 0);
    fake_now += 59LL * 1000000000;
    r = stream_tokens_take(t, a, STREAM_EXEC);
    assert_non_null(r);
    stream_request_free(r);
    /* At most 3 wait: the oldest goes. */
    char c[4][STREAM_TOKEN_LEN + 1];
    for (int i = 0; i < 4; i++)
        assert_int_equal(stream_tokens_put(t, request(STREAM_PORTFORWARD), c[i]), 0);
    assert_null(stream_tokens_take(t, c[0], STREAM_PORTFORWARD));
    for (int i = 1; i < 4; i++) {
        r = stream_tokens_take(t, c[i], STREAM_PORTFORWARD);
        assert_non_null(r);
        stream_request_free(r);
    }
    /* Wrong lengths, and junk. */
    assert_null(stream_tokens_take(t, "", STREAM_EXEC));
    assert_null(stream_tokens_take(t, "short", STREAM_EXEC));
    stream_tokens_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spdy_dictionary),
        cmocka_unit_test(test_spdy_headers_round_trip),
        cmocka_unit_test(test_spdy_headers_limits),
        cmocka_unit_test(test_spdy_frames),
        cmocka_unit_test(test_ws_frames),
        cmocka_unit_test(test_ws_frames_bad),
        cmocka_unit_test(test_ws_fragmented_messages),
        cmocka_unit_test(test_sbuf_never_allocated),
        cmocka_unit_test(test_ws_server_frames),
        cmocka_unit_test(test_ws_accept_and_base64),
        cmocka_unit_test(test_http_request),
        cmocka_unit_test(test_http_bad_requests),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
