/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A registry's WWW-Authenticate challenge (image-docker's dk_challenge_parse,
 * compiled in), as a 401 answer hands it to the token flow.
 *
 * Invariants: the scheme is non-empty, lower case, without blanks; the
 * challenge written out again (scheme, then the parameters it kept as
 * quoted strings with '"' and '\' escaped) parses to the same fields.
 */
#include <errno.h>

#include "docker.h"
#include "fuzz.h"

static void put_param(FILE *f, const char *name, const char *value) {
    if (!value)
        return;
    fprintf(f, ", %s=\"", name);
    for (const char *c = value; *c; c++)
        fprintf(f, "%s%c", *c == '"' || *c == '\\' ? "\\" : "", *c);
    fputc('"', f);
}

static char *rewrite(const struct dk_challenge *ch) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    FUZZ_CHECK(f);
    fputs(ch->scheme, f);
    fputc(' ', f);
    put_param(f, "realm", ch->realm);
    put_param(f, "service", ch->service);
    put_param(f, "scope", ch->scope);
    put_param(f, "error", ch->error);
    FUZZ_CHECK(fclose(f) == 0);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *value = fuzz_text(data, size);
    if (!value)
        return 0;
    struct dk_challenge ch, again;
    int r = dk_challenge_parse(value, &ch);
    FUZZ_CHECK(r == 0 || r == -EINVAL);
    if (r == 0) {
        FUZZ_CHECK(ch.scheme && ch.scheme[0] && !strpbrk(ch.scheme, " \t"));
        for (const char *c = ch.scheme; *c; c++)
            FUZZ_CHECK(*c < 'A' || *c > 'Z');
        char *text = rewrite(&ch);
        FUZZ_CHECK(dk_challenge_parse(text, &again) == 0);
        FUZZ_CHECK(strcmp(again.scheme, ch.scheme) == 0 && fuzz_streq(again.realm, ch.realm) &&
                   fuzz_streq(again.service, ch.service) && fuzz_streq(again.scope, ch.scope) &&
                   fuzz_streq(again.error, ch.error));
        dk_challenge_done(&again);
        free(text);
        dk_challenge_done(&ch);
    }
    free(value);
    return 0;
}
