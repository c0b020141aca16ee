/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reloading the configuration on SIGHUP, without a restart.
 *
 * The files are read again exactly as at start (the main file and the
 * drop-ins, the same paths) and the whole new configuration is checked
 * first: the schema, then what each reloadable part reads beyond it (the
 * signature policy file and registries.d, the pins, a transport's options
 * with its plugin's validate(), which reads its TLS files).  Any problem
 * keeps every running setting and is logged as one line naming the file
 * and the problem.  Otherwise each part whose settings changed puts them in
 * force (reload_parts in reload.c), and every other changed setting is
 * logged, one line per key, as needing a restart; its running value stays.
 */
#ifndef CLEAT_CORE_RELOAD_H
#define CLEAT_CORE_RELOAD_H

struct daemon;

/* Where the configuration came from at start, and what the command line overrides. */
struct reload_source {
    const char *config_path;        /* --config, or NULL for CONFIG_MAIN_PATH */
    const char *dropin_dir;         /* --dropin-dir, or NULL for CONFIG_DROPIN_DIR */
    const char *log_level_override; /* --log-level, which keeps winning over the file; or NULL */
};

/*
 * Reload on the daemon's main thread (never in a signal handler).  RPCs
 * running meanwhile see each part's old or new settings, never a mix
 * within a part.  Returns 0 when the new configuration was taken (even if
 * some settings need a restart), negative when it was refused (nothing
 * changed).  Calling it twice with unchanged files changes nothing and
 * logs that nothing changed; after a restart the files are read at start.
 */
int daemon_reload(struct daemon *d, const struct reload_source *src);

#endif
