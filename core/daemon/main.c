/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleatd: parse the command line, load the configuration, open the daemon
 * state, serve CRI on the unix socket until SIGTERM/SIGINT; reload the
 * configuration on SIGHUP (reload.h).
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "config_tree.h"
#include "clocks.h"
#include "cri.h"
#include "daemon.h"
#include "fsutil.h"
#include "image_service.h"
#include "log.h"
#include "metrics_http.h"
#include "reload.h"

struct options {
    const char *config_path; /* NULL: /etc/cleat/cleat.yaml if it exists */
    const char *dropin_dir;  /* NULL: /etc/cleat/cleat.d */
    const char *log_level;   /* overrides the config */
    int check_config, print_config;
};

static void usage(FILE *out) {
    fprintf(out, "Usage: cleatd [OPTIONS]\n"
                 "A Kubernetes container runtime (CRI runtime.v1 over a unix socket).\n\n"
                 "  -c, --config FILE      read FILE instead of /etc/cleat/cleat.yaml\n"
                 "      --dropin-dir DIR   read drop-ins from DIR instead of /etc/cleat/cleat.d\n"
                 "      --log-level LEVEL  error, warning, notice, info or debug (overrides the config)\n"
                 "      --check-config     validate the configuration and the plugins it names, then exit\n"
                 "      --print-config     print the effective configuration as YAML, then exit\n"
                 "  -v, --version          print the version and exit\n"
                 "  -h, --help             print this help and exit\n\n"
                 "Without a configuration file cleatd runs with its embedded defaults\n"
                 "(see `cleatd --print-config`).\n");
}

/* 0 to go on, 1 to exit successfully, -1 to exit with an error. */
static int parse_args(int argc, char **argv, struct options *o) {
    enum { OPT_DROPIN = 256, OPT_LOG_LEVEL, OPT_CHECK, OPT_PRINT };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"dropin-dir", required_argument, NULL, OPT_DROPIN},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"print-config", no_argument, NULL, OPT_PRINT},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config_path = optarg;
            break;
        case OPT_DROPIN:
            o->dropin_dir = optarg;
            break;
        case OPT_LOG_LEVEL:
            if (log_level_from_name(optarg) < 0) {
                fprintf(stderr, "cleatd: unknown log level '%s' (error, warning, notice, info, debug)\n", optarg);
                return -1;
            }
            o->log_level = optarg;
            break;
        case OPT_CHECK:
            o->check_config = 1;
            break;
        case OPT_PRINT:
            o->print_config = 1;
            break;
        case 'v':
            printf("cleatd %s (CRI runtime.v1, plugin ABI %d.%d)\n", CLEAT_VERSION, CLEAT_ABI_MAJOR, CLEAT_ABI_MINOR);
            return 1;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cleatd: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* --check-config: the file, then every plugin it names (ABI and options), without side effects. */
static int check_config(struct config *cfg) {
    struct plugins *p = NULL;
    struct cleat_error *err = NULL;
    if (plugins_load(cfg, PLUGINS_VALIDATE, &p, &err) < 0) {
        fprintf(stderr, "%s\n", error_message(err));
        error_free(err);
        return EXIT_FAILURE;
    }
    size_t n = p->n;
    plugins_free(p);
    struct image_service_options io = {.signature_policy = cfg->images_signature_policy,
                                       .registries_d = cfg->images_registries_d};
    if (image_service_check_trust(&io, &err) < 0 ||
        image_service_check_pins((const char *const *)cfg->images_pinned, &err) < 0) {
        fprintf(stderr, "%s\n", error_message(err));
        error_free(err);
        return EXIT_FAILURE;
    }
    printf("configuration OK (%zu plugin instance%s)\n", n, n == 1 ? "" : "s");
    if (cfg->images_signature_policy)
        printf("image signature policy %s OK\n", cfg->images_signature_policy);
    return EXIT_SUCCESS;
}

/*
 * Signals are blocked in every thread and taken here with sigwait(), on the
 * main thread: no handler runs, so a reload or a shutdown is ordinary code
 * that may lock and allocate, and an RPC thread is never interrupted.
 */
static int serve(struct daemon *d, const sigset_t *signals, const struct reload_source *src) {
    struct rpc_method *methods = NULL;
    size_t n_methods = 0;
    struct rpc_server *server = NULL;
    struct cleat_error *err = NULL;
    char *dir = strdup(d->cfg->socket_path);
    int r = dir ? 0 : -ENOMEM;
    if (r == 0)
        r = mkdir_p(dirname(dir), 0711, &err);
    free(dir);
    struct rpc_server_options so = {.socket_path = d->cfg->socket_path,
                                    .socket_mode = 0660,
                                    .workers = d->cfg->grpc_workers,
                                    .max_message_bytes = d->cfg->grpc_max_message_bytes};
    /* Metrics listen before the CRI socket appears: clients take the socket as "cleatd is up". */
    struct metrics_server *metrics = NULL;
    if (r >= 0 && *d->cfg->metrics_address)
        r = metrics_server_start(d, d->cfg->metrics_address, &metrics, &err);
    if (r >= 0)
        r = cri_methods_new(&d->cri, &methods, &n_methods, &err);
    if (r >= 0)
        r = rpc_server_new(&so, methods, n_methods, &server, &err);
    if (r >= 0)
        r = rpc_server_start(server, &err);
    if (r < 0) {
        log_error("%s", err ? error_message(err) : strerror(-r));
        error_free(err);
        metrics_server_stop(metrics);
        rpc_server_free(server);
        cri_methods_free(methods, n_methods);
        return EXIT_FAILURE;
    }
    log_info("cleatd %s serving CRI on unix://%s with %u workers", CLEAT_VERSION, d->cfg->socket_path,
             d->cfg->grpc_workers);
    sd_notifyf(0, "READY=1\nSTATUS=serving CRI on unix://%s\nMAINPID=%d", d->cfg->socket_path, (int)getpid());
    for (;;) {
        int sig = 0;
        if (sigwait(signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            /* systemd wants the monotonic time with RELOADING=1 (sd_notify(3)). */
            sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld", (long long)(monotonic_ns() / 1000));
            daemon_reload(d, src);
            sd_notify(0, "READY=1");
            continue;
        }
        log_info("%s: shutting down", strsignal(sig));
        break;
    }
    sd_notify(0, "STOPPING=1");
    /* Let calls in flight finish briefly; containers live in their shims and are not touched. */
    rpc_server_shutdown(server, 5000);
    metrics_server_stop(metrics);
    rpc_server_free(server);
    cri_methods_free(methods, n_methods);
    return EXIT_SUCCESS;
}

/*
 * Two malloc arenas at most, unless the environment says otherwise.  glibc
 * gives threads up to 8 per core, and each gRPC worker, the stats collector
 * and the plugins' threads touching one of its own left cleatd's anonymous
 * memory 1 MiB higher at the start (4.15 MiB against 3.12 with two), and
 * higher after churn.  cleatd allocates little per call, so the shared
 * arenas' lock is not where its time goes.
 *
 * And a fixed mmap threshold (glibc's own initial 128 KiB): by default glibc
 * raises it to the size of any mmap'd block freed, so the next unpack
 * buffer of a MiB came from the second arena's heap, whose top malloc_trim
 * never gives back.  One start in three then kept 1 MiB more (4.1 MiB
 * against 3.1).  A block this large now always comes from mmap and goes
 * back whole when freed.
 */
static void tune_malloc(void) {
    if (getenv("MALLOC_ARENA_MAX") || getenv("GLIBC_TUNABLES") || getenv("MALLOC_MMAP_THRESHOLD_") ||
        getenv("MALLOC_TRIM_THRESHOLD_"))
        return; /* the operator's settings stand */
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}

int main(int argc, char **argv) {
    tune_malloc();
    struct options o = {0};
    struct config *cfg = NULL;
    struct cleat_error *err = NULL;
    int r = parse_args(argc, argv, &o);
    if (r != 0)
        return r > 0 ? EXIT_SUCCESS : EXIT_FAILURE;

    if (config_load(o.config_path, o.dropin_dir, &cfg, &err) < 0) {
        fprintf(stderr, "%s\n", error_message(err));
        error_free(err);
        return EXIT_FAILURE;
    }
    if (o.print_config) {
        r = config_tree_emit_yaml(cfg->tree, stdout) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        config_free(cfg);
        return r;
    }
    log_set_level(o.log_level ? log_level_from_name(o.log_level) : cfg->log_level);
    if (o.check_config) {
        r = check_config(cfg);
        config_free(cfg);
        return r;
    }

    /*
     * Only the serving daemon waits for signals.  Block them before any thread
     * exists (plugins may start threads in init), so every thread inherits the mask.
     */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct daemon *d = NULL;
    if (daemon_open(cfg, &d, &err) < 0) {
        log_error("%s", error_message(err));
        error_free(err);
        return EXIT_FAILURE;
    }
    struct reload_source src = {
        .config_path = o.config_path, .dropin_dir = o.dropin_dir, .log_level_override = o.log_level};
    r = serve(d, &signals, &src);
    daemon_close(d);
    return r;
}
