/* SPDX-License-Identifier: Apache-2.0 */
/* GPG simple signing through gpgme, in an ephemeral GnuPG home (see trust_gpg.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif

#include "trust_gpg.h"

#include <errno.h>
#include <stdarg.h>
#include <gpgme.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "trust_why.h"
#include "fsutil.h"

static pthread_once_t gpgme_once = PTHREAD_ONCE_INIT;

static void gpgme_init(void) {
    gpgme_check_version(NULL);
}

/* A GnuPG context on its own fresh home directory. */
struct ephemeral {
    char home[64];
    gpgme_ctx_t ctx;
};

static int gpg_unavailable(struct cleat_error **reterr, const char *what, gpgme_error_t e) {
    return error_set(reterr, CLEAT_STATUS_UNAVAILABLE, EIO, "GnuPG: %s: %s", what, gpgme_strerror(e));
}

static int ephemeral_open(struct ephemeral *g, struct cleat_error **reterr) {
    pthread_once(&gpgme_once, gpgme_init);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || tmp[0] != '/' || strlen(tmp) > 32)
        tmp = "/tmp";
    snprintf(g->home, sizeof(g->home), "%s/cleat-gpg-XXXXXX", tmp);
    g->ctx = NULL;
    if (!mkdtemp(g->home)) {
        g->home[0] = '\0';
        return error_set(reterr, CLEAT_STATUS_UNAVAILABLE, errno, "GnuPG: making a temporary home under %s: %m", tmp);
    }
    gpgme_error_t e = gpgme_new(&g->ctx);
    if (!e)
        e = gpgme_set_protocol(g->ctx, GPGME_PROTOCOL_OpenPGP);
    if (!e)
        e = gpgme_ctx_set_engine_info(g->ctx, GPGME_PROTOCOL_OpenPGP, NULL, g->home);
    return e ? gpg_unavailable(reterr, "starting", e) : 0;
}

static void ephemeral_close(struct ephemeral *g) {
    if (g->ctx)
        gpgme_release(g->ctx);
    g->ctx = NULL;
    if (g->home[0])
        rm_tree(g->home, NULL);
    g->home[0] = '\0';
}

/* Import one keyring; the number of keys taken into *ret_n, secret keys into *ret_secret. */
static int import(struct ephemeral *g, const void *data, size_t len, int *ret_n, int *ret_secret,
                  struct cleat_error **reterr) {
    gpgme_data_t d = NULL;
    gpgme_error_t e = gpgme_data_new_from_mem(&d, data, len, 0);
    if (!e)
        e = gpgme_op_import(g->ctx, d);
    gpgme_data_release(d);
    if (e && gpgme_err_code(e) != GPG_ERR_NO_DATA)
        return gpg_unavailable(reterr, "importing keys", e);
    gpgme_import_result_t res = e ? NULL : gpgme_op_import_result(g->ctx);
    *ret_n = res ? res->imported + res->unchanged : 0;
    *ret_secret = res ? res->secret_read : 0;
    return 0;
}

int trust_gpg_keys_check(const void *data, size_t len, const char *what, struct cleat_error **reterr) {
    struct ephemeral g;
    int n = 0, secret = 0;
    int r = ephemeral_open(&g, reterr);
    if (r >= 0)
        r = import(&g, data, len, &n, &secret, reterr);
    ephemeral_close(&g);
    if (r < 0)
        return error_prefix(r, reterr, "%s", what);
    if (secret)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL,
                         "%s: holds a secret key; give the public keys only", what);
    if (n == 0)
        return error_set(reterr, CLEAT_STATUS_INVALID_ARGUMENT, EINVAL, "%s: no OpenPGP public key in it", what);
    return 0;
}

/* The single signature's verdict: 1 good, 0 not (with why). */
static int judge(gpgme_verify_result_t res, char **ret_why) {
    gpgme_signature_t sig = res ? res->signatures : NULL;
    if (!sig)
        return trust_why(ret_why, 0, "the blob is not an OpenPGP signed message");
    if (sig->next)
        return trust_why(ret_why, 0, "the blob holds more than one signature");
    switch (gpgme_err_code(sig->status)) {
    case GPG_ERR_NO_ERROR:
        return 1;
    case GPG_ERR_NO_PUBKEY:
        return trust_why(ret_why, 0, "signed by key %s, which is not one of the requirement's keys",
                         sig->fpr ? sig->fpr : "(unknown)");
    default:
        return trust_why(ret_why, 0, "the signature does not verify: %s", gpgme_strerror(sig->status));
    }
}

static int verify_in(struct ephemeral *g, const void *blob, size_t len, char **ret_payload, size_t *ret_len,
                     char **ret_why, struct cleat_error **reterr) {
    gpgme_data_t sig = NULL, plain = NULL;
    gpgme_error_t e = gpgme_data_new_from_mem(&sig, blob, len, 0);
    if (!e)
        e = gpgme_data_new(&plain);
    if (!e)
        e = gpgme_op_verify(g->ctx, sig, NULL, plain);
    gpgme_data_release(sig);
    int r;
    if (e) {
        /* Bytes that are no OpenPGP at all come back as errors of the data, not of GnuPG. */
        r = trust_why(ret_why, 0, "the blob is not an OpenPGP signed message: %s", gpgme_strerror(e));
    } else if ((r = judge(gpgme_op_verify_result(g->ctx), ret_why)) == 1) {
        size_t n = 0;
        char *text = gpgme_data_release_and_get_mem(plain, &n);
        plain = NULL;
        *ret_payload = malloc(n + 1);
        if (*ret_payload) {
            memcpy(*ret_payload, text, n);
            (*ret_payload)[n] = '\0';
            *ret_len = n;
        }
        gpgme_free(text);
        if (!*ret_payload)
            r = error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    }
    gpgme_data_release(plain);
    return r;
}

int trust_gpg_verify(const struct trust_requirement *req, const void *blob, size_t len, char **ret_payload,
                     size_t *ret_len, char **ret_why, struct cleat_error **reterr) {
    struct ephemeral g;
    *ret_why = NULL;
    *ret_payload = NULL;
    int r = ephemeral_open(&g, reterr);
    for (size_t i = 0; r >= 0 && i < req->n_keys; i++) {
        int n = 0, secret = 0;
        r = import(&g, req->keys[i].data, req->keys[i].len, &n, &secret, reterr);
    }
    if (r >= 0)
        r = verify_in(&g, blob, len, ret_payload, ret_len, ret_why, reterr);
    ephemeral_close(&g);
    return r;
}
