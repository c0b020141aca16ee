/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP gate over real loopback sockets: a flood of idle connections
 * evicts itself (oldest first) and a request made after it is served; a
 * trickling client is cut off at its deadline; a taken connection keeps the
 * bytes sent after its head; answers that are never read are bounded in
 * bytes; and accept failing for want of fds drops the oldest connection
 * rather than locking everyone out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_gate.h"
#include "testutil.h"

#define BIG_BODY (1u << 20)

struct fixture {
    int lfd;
    uint16_t port;
    struct http_gate *g;
};

static int64_t ms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "/take": the connection is taken and gets back what followed the head; "/big": 1 MiB; else a short 200. */
static void on_request(void *ctx, struct http_gate_conn *c, struct http_request *req) {
    (void)ctx;
    struct sbuf *out = http_gate_answer(c);
    if (strcmp(req->path, "/take") == 0) {
        int fd = -1;
        SSL *ssl = NULL;
        struct sbuf rest = {0};
        http_gate_take(c, &fd, &ssl, &rest);
        assert_null(ssl);
        assert_true(send(fd, "taken:", 6, MSG_NOSIGNAL) == 6);
        assert_true(send(fd, sbuf_data(&rest), sbuf_avail(&rest), MSG_NOSIGNAL) == (ssize_t)sbuf_avail(&rest));
        sbuf_free(&rest);
        close(fd);
        return;
    }
    if (strcmp(req->path, "/big") == 0) {
        char *body = malloc(BIG_BODY + 1);
        memset(body, 'x', BIG_BODY);
        body[BIG_BODY] = '\0';
        http_put_response(out, 200, "OK", NULL, body);
        free(body);
        return;
    }
    http_put_response(out, 200, "OK", NULL, "hello\n");
}

static void gate_up(struct fixture *f, uint32_t max_conns, int timeout_ms, size_t max_answer) {
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 512), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    struct http_gate_options o = {.name = "test",
                                  .listen_fds = &f->lfd,
                                  .n_listen = 1,
                                  .max_conns = max_conns,
                                  .timeout_ms = timeout_ms,
                                  .max_answer_bytes = max_answer,
                                  .on_request = on_request};
    struct cleat_error *err = NULL;
    check(http_gate_start(&o, &f->g, &err), err);
}

static void gate_down(struct fixture *f) {
    http_gate_stop(f->g);
    close(f->lfd);
}

static void connect_to(int fd, uint16_t port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
}

static int dial(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    connect_to(fd, port);
    return fd;
}

/* Everything the server sends until it closes (at most `max` bytes, within 10 s). */
static size_t read_all(int fd, char *buf, size_t max) {
    size_t n = 0;
    int64_t deadline = ms_now() + 10000;
    while (n < max) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - ms_now();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            fail_msg("nothing more after %zu bytes for 10 s", n);
        ssize_t r = recv(fd, buf + n, max - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    return n;
}

/* Non-zero once the server closed fd (EOF or reset), waiting up to wait_ms. */
static int closed_by_server(int fd, int wait_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, wait_ms) <= 0)
        return 0;
    char c;
    return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

static void expect_hello(uint16_t port, int fd) {
    if (fd < 0)
        fd = dial(port);
    static const char req[] = "GET /x HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), sizeof(req) - 1);
    char buf[512] = "";
    read_all(fd, buf, sizeof(buf) - 1);
    assert_int_equal(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17), 0);
    assert_non_null(strstr(buf, "\r\n\r\nhello\n"));
    close(fd);
}

static void test_idle_flood_evicts_itself(void **state) {
    (void)state;
    struct fixture f;
    gate_up(&f, 8, 10000, 1 << 20);
    int idle[20];
    for (int i = 0; i < 20; i++)
        idle[i] = dial(f.port);
    expect_hello(f.port, -1); /* after the flood, at once */
    /* 21 connections through a gate of 8: the 13 oldest made room, the 7 newest idle ones are still held. */
    for (int i = 0; i < 13; i++)
        assert_true(closed_by_server(idle[i], 2000));
    for (int i = 13; i < 20; i++)
        assert_false(closed_by_server(idle[i], 0));
    for (int i = 0; i < 20; i++)
        close(idle[i]);
    gate_down(&f);
}

static void test_trickle_does_not_extend_the_deadline(void **state) {
    (void)state;
    struct fixture f;
    gate_up(&f, 8, 500, 1 << 20);
    int fd = dial(f.port);
    int64_t start = ms_now();
    static const char req[] = "GET /x HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    size_t i = 0;
    /* A byte every 50 ms, each one well within any per-read timeout. */
    while (i < sizeof(req) - 1 && send(fd, req + i, 1, MSG_NOSIGNAL) == 1 && !closed_by_server(fd, 50))
        i++;
    int64_t took = ms_now() - start;
    assert_true(i < sizeof(req) - 1);
    if (took < 450 || took > 1500)
        fail_msg("the trickling client was dropped after %lld ms, not at its 500 ms deadline", (long long)took);
    close(fd);
    /* An idle one goes at the deadline too, and the gate still serves. */
    fd = dial(f.port);
    assert_true(closed_by_server(fd, 1500));
    close(fd);
    expect_hello(f.port, -1);
    gate_down(&f);
}

static void test_take_keeps_the_bytes_after_the_head(void **state) {
    (void)state;
    struct fixture f;
    gate_up(&f, 8, 5000, 1 << 20);
    int fd = dial(f.port);
    static const char req[] = "GET /take HTTP/1.1\r\n\r\nearly bytes";
    assert_int_equal(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), sizeof(req) - 1);
    char buf[128] = "";
    read_all(fd, buf, sizeof(buf) - 1);
    assert_string_equal(buf, "taken:early bytes");
    close(fd);
    /* Malformed and oversized heads are answered by the gate itself. */
    fd = dial(f.port);
    assert_int_equal(send(fd, "GET nope\r\n\r\n", 12, MSG_NOSIGNAL), 12);
    memset(buf, 0, sizeof(buf));
    read_all(fd, buf, sizeof(buf) - 1);
    assert_int_equal(strncmp(buf, "HTTP/1.1 400 ", 13), 0);
    close(fd);
    fd = dial(f.port);
    char *huge = malloc(HTTP_MAX_REQUEST + 100);
    memset(huge, 'a', HTTP_MAX_REQUEST + 100);
    memcpy(huge, "GET /x HTTP/1.1\r\nX: ", 20);
    assert_int_equal(send(fd, huge, HTTP_MAX_REQUEST + 100, MSG_NOSIGNAL), HTTP_MAX_REQUEST + 100);
    free(huge);
    memset(buf, 0, sizeof(buf));
    read_all(fd, buf, sizeof(buf) - 1);
    assert_int_equal(strncmp(buf, "HTTP/1.1 431 ", 13), 0);
    close(fd);
    gate_down(&f);
}

static void test_unread_answers_are_bounded(void **state) {
    (void)state;
    struct fixture f;
    gate_up(&f, 64, 10000, 3 * BIG_BODY);
    /* Accepted sockets inherit it: the kernel's send buffers (autotuned to MiBs on the loopback) take little. */
    int sndbuf = 16384;
    assert_int_equal(setsockopt(f.lfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    enum { N = 8 };
    int fds[N];
    static const char req[] = "GET /big HTTP/1.1\r\n\r\n";
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int small = 4096; /* the answer cannot hide in the client's socket buffer */
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        connect_to(fds[i], f.port);
        assert_int_equal(send(fds[i], req, sizeof(req) - 1, MSG_NOSIGNAL), sizeof(req) - 1);
    }
    char *buf = malloc(2 * BIG_BODY);
    /* The newest gets all of it (and once it has, the gate has seen every request). */
    size_t last = read_all(fds[N - 1], buf, 2 * BIG_BODY);
    assert_true(last > BIG_BODY);
    /* The gate held at most 3 MiB of answers: the oldest were dropped before they were read. */
    int cut = 0;
    for (int i = 0; i < N - 1; i++)
        cut += read_all(fds[i], buf, 2 * BIG_BODY) < last;
    if (cut < N - 4)
        fail_msg("only %d of %d unread 1 MiB answers were dropped with a 3 MiB bound", cut, N - 1);
    free(buf);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    gate_down(&f);
}

static void count_fds(int *max_fd) {
    *max_fd = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            *max_fd = fd;
}

/* A child (an fd table of its own) holds `n` idle connections until killed. */
static pid_t flood_from_child(uint16_t port, int n, const struct rlimit *lim) {
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setrlimit(RLIMIT_NOFILE, lim);
        for (int i = 0; i < n; i++)
            dial(port);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    return pid;
}

static void test_no_fd_left_drops_the_oldest(void **state) {
    (void)state;
    struct fixture f;
    gate_up(&f, 1000, 10000, 1 << 20);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* made now: connect needs no new fd */
    struct rlimit saved;
    getrlimit(RLIMIT_NOFILE, &saved);
    int max_fd;
    count_fds(&max_fd);
    /* Room for a few accepted connections (4, and any holes below max_fd), far below the gate's own limit. */
    struct rlimit low = {.rlim_cur = (rlim_t)max_fd + 5, .rlim_max = saved.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    pid_t child = flood_from_child(f.port, 40, &saved);
    usleep(200000); /* the gate takes the flood in, and runs out of fds */
    connect_to(fd, f.port);
    expect_hello(f.port, fd);
    setrlimit(RLIMIT_NOFILE, &saved);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    gate_down(&f);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_flood_evicts_itself),
        cmocka_unit_test(test_trickle_does_not_extend_the_deadline),
        cmocka_unit_test(test_take_keeps_the_bytes_after_the_head),
        cmocka_unit_test(test_unread_answers_are_bounded),
        cmocka_unit_test(test_no_fd_left_drops_the_oldest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
