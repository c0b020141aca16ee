/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SIGHUP: read the configuration again and put in force what can change
 * without a restart (reload.h).
 *
 * Each reloadable part of the daemon is one row of reload_parts[] below:
 * which settings it owns, how it checks them and builds what it will put in
 * force (prepare: no effect on the daemon), and how it puts that in force
 * (apply).  Every part is prepared before any is applied, so a problem
 * anywhere keeps every running setting.  Adding a reloadable section is one
 * more row and its four functions.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strdup under -std=c11 */
#endif

#include "reload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_diff.h"
#include "config_tree.h"
#include "daemon.h"
#include "log.h"
#include "plugin_calls.h"
#include "strbuf.h"
#include "strlist.h"

/* One reload in progress. */
struct reload {
    struct daemon *d;
    const struct reload_source *src;
    const struct config *old; /* d->live: the reloadable settings in force */
    const struct config *new; /* just read and checked against the schema */
};

struct reload_part {
    const char *name; /* for the log */
    /* Non-zero when the setting at `path` (a config_diff path) is this part's to reload. */
    int (*owns)(const struct reload *rl, const char *path);
    /*
     * Check the new settings and build what apply() puts in force, into
     * *state; leave *state NULL when nothing of the part changed.  No effect
     * on the running daemon.  Fails (naming the file and the problem) when a
     * new setting cannot be used.
     */
    int (*prepare)(const struct reload *rl, void **state, struct cleat_error **reterr);
    /*
     * Put *state in force; what it hands over to the daemon it takes out of
     * *state (setting it NULL).  Returns 1 when that changed a setting (it
     * logs which), 0 when what it put in force equals what ran before.  A
     * part whose apply() may fail comes before every part whose apply()
     * cannot, and undoes its own half-done work before it returns the
     * error; undo() (may be NULL) takes back a part applied before a later
     * part failed.
     */
    int (*apply)(const struct reload *rl, void **state, struct cleat_error **reterr);
    void (*undo)(const struct reload *rl, void *state);
    /*
     * Free `state`, applied or not (what apply() handed over is no longer in
     * it).  NULL-safe.  May be NULL when the state is borrowed (from rl->new,
     * say, which outlives the reload's apply).
     */
    void (*discard)(void *state);
};

/* ------------------------------------------------------------------------- */
/* transports: their `options:` (registry mirrors, TLS files), through reconfigure (ABI 1.4) */

struct transport_change {
    struct plugin_instance *pi;
    const struct config_instance *from, *to;
};

struct transports_state {
    size_t n;
    struct transport_change changes[]; /* one per transport whose options changed */
};

static const struct config_instance *find_instance(const struct config *cfg, uint32_t concern, const char *name) {
    for (size_t i = 0; i < cfg->n_instances; i++)
        if (cfg->instances[i].concern == concern && strcmp(cfg->instances[i].name, name) == 0)
            return &cfg->instances[i];
    return NULL;
}

/*
 * The new config's entry for running transport `pi` when its options can be
 * handed over live: the plugin can take them and the instance is still the
 * same plugin file serving the same schemes (else that needs a restart).
 */
static const struct config_instance *live_transport(const struct reload *rl, struct plugin_instance *pi) {
    const struct config_instance *to = find_instance(rl->new, pi->concern, pi->name);
    if (!to || !plugin_has_op(pi, "reconfigure") || !str_equal(to->plugin, pi->conf->plugin) ||
        !str_equal(to->path, pi->conf->path))
        return NULL;
    for (size_t i = 0; to->schemes[i] || pi->conf->schemes[i]; i++)
        if (!str_equal(to->schemes[i], pi->conf->schemes[i]))
            return NULL;
    return to;
}

static int transports_owns(const struct reload *rl, const char *path) {
    const struct plugins *p = rl->d->plugins;
    for (size_t i = 0; i < p->n; i++) {
        if (p->items[i]->concern != CLEAT_CONCERN_TRANSPORT || !live_transport(rl, p->items[i]))
            continue;
        char *name = config_diff_path("transports", p->items[i]->name);
        int mine = name && strncmp(path, name, strlen(name)) == 0 && strcmp(path + strlen(name), ".options") == 0;
        free(name);
        if (mine)
            return 1;
    }
    return 0;
}

static int transports_prepare(const struct reload *rl, void **state, struct cleat_error **reterr) {
    const struct plugins *p = rl->d->plugins;
    struct transports_state *s = calloc(1, sizeof(*s) + p->n * sizeof(s->changes[0]));
    if (!s)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    for (size_t i = 0; i < p->n; i++) {
        struct plugin_instance *pi = p->items[i];
        const struct config_instance *to = pi->concern == CLEAT_CONCERN_TRANSPORT ? live_transport(rl, pi) : NULL;
        const struct config_instance *from = to ? find_instance(rl->old, pi->concern, pi->name) : NULL;
        if (!to || !from || config_tree_equal(from->options, to->options))
            continue;
        int r = plugin_validate_options(pi, to->options, reterr);
        if (r < 0) {
            free(s);
            return r;
        }
        s->changes[s->n++] = (struct transport_change){.pi = pi, .from = from, .to = to};
    }
    if (s->n == 0)
        free(s);
    else
        *state = s;
    return 0;
}

/* Give the first `n` changed transports their running options back. */
static void transports_restore(struct transports_state *s, size_t n) {
    while (n-- > 0) {
        struct cleat_error *err = NULL;
        if (plugin_transport_reconfigure(s->changes[n].pi, s->changes[n].from->options, &err) < 0)
            log_error("SIGHUP: %s could not take its running options back: %s", s->changes[n].pi->log_prefix,
                      error_message(err));
        error_free(err);
    }
}

static int transports_apply(const struct reload *rl, void **state, struct cleat_error **reterr) {
    (void)rl;
    struct transports_state *s = *state;
    for (size_t i = 0; i < s->n; i++) {
        int r = plugin_transport_reconfigure(s->changes[i].pi, s->changes[i].to->options, reterr);
        if (r < 0) {
            transports_restore(s, i);
            return error_prefix(r, reterr, "%s", s->changes[i].pi->log_prefix);
        }
        log_notice("SIGHUP: %s: new options in force (pulls already running keep the ones they started with)",
                   s->changes[i].pi->log_prefix);
    }
    return 1;
}

static void transports_undo(const struct reload *rl, void *state) {
    (void)rl;
    struct transports_state *s = state;
    transports_restore(s, s->n);
}

/* ------------------------------------------------------------------------- */
/* cdi: the spec directories (the files in them are read again at each CreateContainer anyway) */

static int cdi_owns(const struct reload *rl, const char *path) {
    (void)rl;
    return strcmp(path, "cdi.spec_dirs") == 0;
}

/* The new list, borrowed from rl->new (which outlives the apply): nothing to discard. */
static int cdi_prepare(const struct reload *rl, void **state, struct cleat_error **reterr) {
    (void)reterr;
    if (!strv_equal(rl->old->cdi_spec_dirs, rl->new->cdi_spec_dirs))
        *state = rl->new->cdi_spec_dirs;
    return 0;
}

static int cdi_apply(const struct reload *rl, void **state, struct cleat_error **reterr) {
    char *const *dirs = *state;
    int r = cdi_registry_set_dirs(rl->d->cdi, (const char *const *)dirs, reterr);
    if (r < 0)
        return error_prefix(r, reterr, "cdi.spec_dirs");
    struct strbuf b = {0};
    for (size_t i = 0; dirs && dirs[i]; i++)
        strbuf_printf(&b, "%s%s", i ? ", " : "", dirs[i]);
    log_notice("SIGHUP: cdi.spec_dirs: now [%s]", b.s ? b.s : "");
    strbuf_free(&b);
    return 1;
}

/* ------------------------------------------------------------------------- */
/* images: the signature policy (re-read every time: its content is what operators edit), registries.d, pins */

static int images_owns(const struct reload *rl, const char *path) {
    (void)rl;
    return strcmp(path, "images.signature_policy") == 0 || strcmp(path, "images.registries_d") == 0 ||
           strcmp(path, "images.pinned") == 0;
}

/* Read every time: a policy file and registries.d change on disk under the same paths. */
static int images_prepare(const struct reload *rl, void **state, struct cleat_error **reterr) {
    const struct config *n = rl->new;
    struct image_service_options io = {.signature_policy = n->images_signature_policy,
                                       .registries_d = n->images_registries_d,
                                       .pinned = (const char *const *)n->images_pinned};
    struct image_settings *s = NULL;
    int r = image_settings_load(&io, &s, reterr);
    if (r < 0)
        return r;
    *state = s;
    return 0;
}

static int images_apply(const struct reload *rl, void **state, struct cleat_error **reterr) {
    (void)reterr;
    const struct config *o = rl->old, *n = rl->new;
    unsigned changes = image_service_settings_changes(rl->d->images, *state);
    image_service_set_settings(rl->d->images, *state); /* the service's now */
    *state = NULL;
    if ((changes & IMAGE_SETTINGS_POLICY) && !str_equal(o->images_signature_policy, n->images_signature_policy))
        log_notice("SIGHUP: images.signature_policy: now %s",
                   n->images_signature_policy ? n->images_signature_policy : "none (every image is accepted)");
    else if (changes & IMAGE_SETTINGS_POLICY)
        log_notice("SIGHUP: images.signature_policy: %s changed on disk, now in force", n->images_signature_policy);
    if (n->images_signature_policy && !str_equal(o->images_registries_d, n->images_registries_d)) {
        log_notice("SIGHUP: images.registries_d: now %s", n->images_registries_d);
        changes |= IMAGE_SETTINGS_POLICY;
    }
    if (changes & IMAGE_SETTINGS_PINS) {
        size_t count = 0;
        while (n->images_pinned && n->images_pinned[count])
            count++;
        log_notice("SIGHUP: images.pinned: now %zu reference%s", count, count == 1 ? "" : "s");
    }
    return changes != 0;
}

static void images_discard(void *state) {
    image_settings_unref(state);
}

/* ------------------------------------------------------------------------- */
/* log_level (unless --log-level was given: the command line keeps winning) */

struct log_state {
    int32_t level;
};

static int log_owns(const struct reload *rl, const char *path) {
    (void)rl;
    return strcmp(path, "log_level") == 0;
}

static int log_prepare(const struct reload *rl, void **state, struct cleat_error **reterr) {
    if (rl->new->log_level == rl->old->log_level)
        return 0;
    struct log_state *s = malloc(sizeof(*s));
    if (!s)
        return error_set(reterr, CLEAT_STATUS_RESOURCE_EXHAUSTED, ENOMEM, "out of memory");
    s->level = rl->new->log_level;
    *state = s;
    return 0;
}

static int log_apply(const struct reload *rl, void **state, struct cleat_error **reterr) {
    (void)reterr;
    const struct log_state *s = *state;
    if (rl->src->log_level_override) {
        log_notice("SIGHUP: log_level: the file now says %s, but --log-level %s from the command line stays",
                   log_level_name(s->level), rl->src->log_level_override);
        return 1;
    }
    int32_t was = log_get_level();
    /* Said at the more verbose of the two levels, so that the line is seen whichever way the level goes. */
    if (s->level < was)
        log_notice("SIGHUP: log_level: %s (was %s)", log_level_name(s->level), log_level_name(was));
    log_set_level(s->level);
    if (s->level >= was)
        log_notice("SIGHUP: log_level: %s (was %s)", log_level_name(s->level), log_level_name(was));
    return 1;
}

/* ------------------------------------------------------------------------- */
/* the table */

static const struct reload_part reload_parts[] = {
    /* First: the only part whose apply() may fail (a plugin's reconfigure). */
    {"transports", transports_owns, transports_prepare, transports_apply, transports_undo, free},
    /* cdi_registry_set_dirs may fail (out of memory) too; it leaves the running list when it does. */
    {"cdi", cdi_owns, cdi_prepare, cdi_apply, NULL, NULL},
    {"images", images_owns, images_prepare, images_apply, NULL, images_discard},
    {"log_level", log_owns, log_prepare, log_apply, NULL, free},
};
#define N_PARTS (sizeof(reload_parts) / sizeof(reload_parts[0]))

/* ------------------------------------------------------------------------- */
/* the settings that need a restart */

struct restart_walk {
    const struct reload *rl;
    size_t n; /* settings reported */
};

static int owned_by_a_part(void *ctx, const char *path) {
    const struct restart_walk *w = ctx;
    for (size_t i = 0; i < N_PARTS; i++)
        if (reload_parts[i].owns(w->rl, path))
            return 1;
    return 0;
}

static int say_needs_restart(void *ctx, const char *path, const struct cleat_config *was,
                             const struct cleat_config *now) {
    struct restart_walk *c = ctx;
    char where[256];
    config_where(config_kind(now) != CLEAT_CONFIG_ABSENT ? now : was, where, sizeof(where));
    log_warning("SIGHUP: %s changed (%s): it needs a restart of cleatd; the running value stays", path, where);
    c->n++;
    return 0;
}

/*
 * Settings outside every part are compared with what cleatd started with
 * (they cannot have changed since), so each SIGHUP says it again until the
 * restart.
 */
static int report_restart_only(const struct reload *rl, size_t *ret_n) {
    struct restart_walk c = {.rl = rl};
    int r = config_diff(rl->d->cfg->tree, rl->new->tree, owned_by_a_part, say_needs_restart, &c);
    *ret_n = c.n;
    return r;
}

/* ------------------------------------------------------------------------- */
/* the reload */

/* A multi-line error (config_load says every problem, a line each) as one log line. */
static void log_refused(const struct cleat_error *err) {
    char *msg = strdup(err ? error_message(err) : "unknown error");
    for (char *nl = msg ? strchr(msg, '\n') : NULL; nl; nl = strchr(nl, '\n'))
        *nl = ';';
    log_error("SIGHUP: configuration not reloaded, every running setting stays: %s", msg ? msg : "out of memory");
    free(msg);
}

/* Prepare every part; on failure nothing stays prepared. */
static int prepare_all(const struct reload *rl, void *states[N_PARTS]) {
    for (size_t i = 0; i < N_PARTS; i++) {
        struct cleat_error *err = NULL;
        if (reload_parts[i].prepare(rl, &states[i], &err) < 0) {
            log_refused(err);
            error_free(err);
            for (size_t j = 0; j <= i; j++)
                if (reload_parts[j].discard)
                    reload_parts[j].discard(states[j]);
            return -1;
        }
    }
    return 0;
}

/*
 * Apply every prepared part, then discard every state.  Returns the number
 * of parts that changed a setting (their names in *changed, ", "-separated),
 * or -1 when one failed (all undone).
 */
static int apply_all(const struct reload *rl, void *states[N_PARTS], struct strbuf *changed) {
    int applied = 0, r = 0;
    for (size_t i = 0; i < N_PARTS && r >= 0; i++) {
        struct cleat_error *err = NULL;
        if (!states[i])
            continue;
        r = reload_parts[i].apply(rl, &states[i], &err);
        if (r < 0) {
            log_refused(err);
            for (size_t j = i; j-- > 0;)
                if (states[j] && reload_parts[j].undo)
                    reload_parts[j].undo(rl, states[j]);
        } else if (r > 0) {
            strbuf_printf(changed, "%s%s", applied++ ? ", " : "", reload_parts[i].name);
        }
        error_free(err);
    }
    for (size_t j = 0; j < N_PARTS; j++)
        if (reload_parts[j].discard)
            reload_parts[j].discard(states[j]);
    return r < 0 ? -1 : applied;
}

int daemon_reload(struct daemon *d, const struct reload_source *src) {
    struct config *cfg = NULL;
    struct cleat_error *err = NULL;
    log_info("SIGHUP: reading the configuration again");
    if (config_load(src->config_path, src->dropin_dir, &cfg, &err) < 0) {
        log_refused(err);
        error_free(err);
        return -1;
    }
    struct reload rl = {.d = d, .src = src, .old = d->live, .new = cfg};
    void *states[N_PARTS] = {0};
    struct strbuf changed = {0};
    int applied = prepare_all(&rl, states) < 0 ? -1 : apply_all(&rl, states, &changed);
    if (applied < 0) {
        strbuf_free(&changed);
        config_free(cfg);
        return -1;
    }
    size_t restart = 0;
    if (report_restart_only(&rl, &restart) < 0)
        log_warning("SIGHUP: out of memory while comparing the settings that need a restart");
    if (d->live != d->cfg)
        config_free(d->live);
    d->live = cfg;
    if (applied == 0 && restart == 0)
        log_info("SIGHUP: configuration reloaded: nothing changed");
    else
        log_info("SIGHUP: configuration reloaded: changed live: %s; %zu setting%s need%s a restart",
                 applied && changed.s ? changed.s : "nothing", restart, restart == 1 ? "" : "s",
                 restart == 1 ? "s" : "");
    strbuf_free(&changed);
    return 0;
}
