/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The streaming server's HTTP front, plain and TLS: what it answers before
 * any upgrade (unknown, spent and mistyped tokens, bad requests), the URLs
 * it registers, and that connections without a request hold no session slot
 * (idle ones are dropped at their deadline, the oldest first when too many
 * wait).  Sessions themselves run in the e2e tests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "stream_server.h"
#include "testutil.h"

static uint16_t port_of(const struct stream_server *s) {
    const char *colon = strrchr(stream_server_base_url(s), ':');
    return (uint16_t)atoi(colon + 1);
}

/* Send `req` and return the whole answer (the server closes), over TLS when ctx is set. */
static char *roundtrip(uint16_t port, SSL_CTX *ctx, const char *req, size_t len) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    SSL *ssl = NULL;
    if (ctx) {
        ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        assert_int_equal(SSL_connect(ssl), 1);
        assert_int_equal(SSL_write(ssl, req, (int)len), (int)len);
    } else {
        assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    }
    char *out = calloc(1, 65536);
    size_t n = 0;
    for (;;) {
        ssize_t r = ssl ? SSL_read(ssl, out + n, (int)(65535 - n)) : recv(fd, out + n, 65535 - n, 0);
        if (r <= 0 || (n += (size_t)r) == 65535)
            break;
    }
    if (ssl)
        SSL_free(ssl);
    close(fd);
    return out;
}

static int dial(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Non-zero once the server closed fd, waiting up to wait_ms. */
static int closed_by_server(int fd, int wait_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;
    return poll(&p, 1, wait_ms) > 0 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

static struct stream_request *request(enum stream_kind kind);

/* A request with a fresh, valid token but no upgrade: a session answers it 400 (the gate would not). */
static void expect_session(struct stream_server *s, SSL_CTX *ctx) {
    char *url = NULL, req[256];
    struct cleat_error *err = NULL;
    check(stream_server_register(s, request(STREAM_EXEC), &url, &err), err);
    snprintf(req, sizeof(req), "GET /exec/%s HTTP/1.1\r\n\r\n", strrchr(url, '/') + 1);
    char *out = roundtrip(port_of(s), ctx, req, strlen(req));
    if (!strstr(out, "Upgrade request required"))
        fail_msg("a valid token was answered '%.80s', not by a session", out);
    free(out);
    free(url);
}

static struct stream_request *request(enum stream_kind kind) {
    struct stream_request *r = calloc(1, sizeof(*r));
    r->kind = kind;
    strcpy(r->id, "0123");
    return r;
}

static void expect_status(uint16_t port, SSL_CTX *ctx, const char *req, const char *status) {
    char *out = roundtrip(port, ctx, req, strlen(req));
    if (strncmp(out, status, strlen(status)) != 0)
        fail_msg("request %s: answered '%.80s', want '%s'", req, out, status);
    free(out);
}

static void exercise(struct stream_server *s, SSL_CTX *ctx) {
    uint16_t port = port_of(s);
    expect_status(port, ctx, "GET /exec/nope HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 ");
    expect_status(port, ctx, "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 ");
    expect_status(port, ctx, "BREW /exec/x HTTP/1.1\r\n\r\n", "HTTP/1.1 405 ");
    expect_status(port, ctx, "GET nope\r\n\r\n", "HTTP/1.1 400 ");

    char *url = NULL;
    struct cleat_error *err = NULL;
    check(stream_server_register(s, request(STREAM_EXEC), &url, &err), err);
    assert_non_null(strstr(url, "/exec/"));
    assert_int_equal(strncmp(url, stream_server_base_url(s), strlen(stream_server_base_url(s))), 0);
    const char *token = strrchr(url, '/') + 1;
    /* No upgrade: refused, and the token is spent. */
    char req[256];
    snprintf(req, sizeof(req), "GET /exec/%s HTTP/1.1\r\n\r\n", token);
    expect_status(port, ctx, req, "HTTP/1.1 400 ");
    expect_status(port, ctx, req, "HTTP/1.1 404 ");
    free(url);
    /* A token on the wrong path is spent too. */
    check(stream_server_register(s, request(STREAM_PORTFORWARD), &url, &err), err);
    assert_non_null(strstr(url, "/portforward/"));
    snprintf(req, sizeof(req), "GET /attach/%s HTTP/1.1\r\n\r\n", strrchr(url, '/') + 1);
    expect_status(port, ctx, req, "HTTP/1.1 404 ");
    snprintf(req, sizeof(req), "GET /portforward/%s HTTP/1.1\r\n\r\n", strrchr(url, '/') + 1);
    expect_status(port, ctx, req, "HTTP/1.1 404 ");
    free(url);
    /* SPDY without a protocol version, and with an unknown one. */
    check(stream_server_register(s, request(STREAM_EXEC), &url, &err), err);
    snprintf(req, sizeof(req),
             "GET /exec/%s HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
             "X-Stream-Protocol-Version: v9.channel.k8s.io\r\n\r\n",
             strrchr(url, '/') + 1);
    char *out = roundtrip(port, ctx, req, strlen(req));
    assert_int_equal(strncmp(out, "HTTP/1.1 403 ", 13), 0);
    assert_non_null(strstr(out, "X-Accepted-Stream-Protocol-Versions: v4.channel.k8s.io"));
    free(out);
    free(url);
    /* A request that never ends within the limit. */
    size_t big = 20000;
    char *huge = malloc(big);
    memcpy(huge, "GET /exec/x HTTP/1.1\r\nX: ", 25);
    memset(huge + 25, 'a', big - 25);
    out = roundtrip(port, ctx, huge, big);
    assert_int_equal(strncmp(out, "HTTP/1.1 431 ", 13), 0);
    free(out);
    free(huge);
}

static void test_plain(void **state) {
    struct stream_server_options o = {.address = "127.0.0.1", .token_ttl_seconds = 60, .max_sessions = 4};
    struct stream_server *s = NULL;
    struct cleat_error *err = NULL;
    check(stream_server_start(NULL, &o, &s, &err), err);
    assert_int_equal(strncmp(stream_server_base_url(s), "http://127.0.0.1:", 17), 0);
    exercise(s, NULL);
    stream_server_stop(s);
}

static void test_idle_connections_hold_no_session(void **state) {
    struct stream_server_options o = {.address = "127.0.0.1", .token_ttl_seconds = 60, .max_sessions = 1};
    struct stream_server *s = NULL;
    struct cleat_error *err = NULL;
    check(stream_server_start(NULL, &o, &s, &err), err);
    int idle[50];
    for (int i = 0; i < 50; i++)
        idle[i] = dial(port_of(s));
    expect_session(s, NULL);
    for (int i = 0; i < 50; i++) {
        assert_false(closed_by_server(idle[i], 0)); /* within their deadline and the limit: still there */
        close(idle[i]);
    }
    stream_server_stop(s);
}

static void test_pending_limit_and_deadline(void **state) {
    struct stream_server_options o = {
        .address = "127.0.0.1", .token_ttl_seconds = 60, .max_sessions = 4, .max_pending = 4, .request_timeout_ms = 400};
    struct stream_server *s = NULL;
    struct cleat_error *err = NULL;
    check(stream_server_start(NULL, &o, &s, &err), err);
    int idle[4];
    for (int i = 0; i < 4; i++)
        idle[i] = dial(port_of(s));
    expect_session(s, NULL); /* the fifth connection: the oldest idle one made room */
    assert_true(closed_by_server(idle[0], 1000));
    for (int i = 1; i < 4; i++) /* and the others go at their deadline */
        assert_true(closed_by_server(idle[i], 1500));
    for (int i = 0; i < 4; i++)
        close(idle[i]);
    stream_server_stop(s);
}

static void test_bad_options(void **state) {
    struct stream_server *s = NULL;
    struct cleat_error *err = NULL;
    struct stream_server_options o = {.address = "localhost", .token_ttl_seconds = 60};
    expect_error(stream_server_start(NULL, &o, &s, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "not an IPv4");
    o = (struct stream_server_options){
        .address = "127.0.0.1", .tls_cert_file = "/nonexistent.pem", .tls_key_file = "/nonexistent.key"};
    expect_error(stream_server_start(NULL, &o, &s, &err), &err, CLEAT_STATUS_INVALID_ARGUMENT, "/nonexistent.pem");
    /* A wildcard is named by its loopback in URLs. */
    o = (struct stream_server_options){.address = "::"};
    check(stream_server_start(NULL, &o, &s, &err), err);
    assert_int_equal(strncmp(stream_server_base_url(s), "http://[::1]:", 13), 0);
    stream_server_stop(s);
}

/* A self-signed P-256 certificate and its key, as PEM files in dir. */
static void make_cert(const char *dir, char *cert, char *key, size_t size) {
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(pk);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
    snprintf(cert, size, "%s/cert.pem", dir);
    snprintf(key, size, "%s/key.pem", dir);
    FILE *f = fopen(cert, "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key, "w");
    PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
}

static void test_tls(void **state) {
    char dir[256], cert[300], key[300];
    temp_dir(dir, sizeof(dir), "cleat-stream-tls");
    make_cert(dir, cert, key, sizeof(cert));
    struct stream_server_options o = {
        .address = "127.0.0.1", .tls_cert_file = cert, .tls_key_file = key, .token_ttl_seconds = 60, .max_sessions = 4};
    struct stream_server *s = NULL;
    struct cleat_error *err = NULL;
    check(stream_server_start(NULL, &o, &s, &err), err);
    assert_int_equal(strncmp(stream_server_base_url(s), "https://127.0.0.1:", 18), 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* More connections that never start their handshake than there are session slots. */
    int idle[10];
    for (int i = 0; i < 10; i++)
        idle[i] = dial(port_of(s));
    exercise(s, ctx);
    expect_session(s, ctx);
    for (int i = 0; i < 10; i++)
        close(idle[i]);
    SSL_CTX_free(ctx);
    stream_server_stop(s);
    rm_rf(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_idle_connections_hold_no_session),
        cmocka_unit_test(test_pending_limit_and_deadline),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
