/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Why a signature or an identity does not satisfy a requirement: the checks
 * say it in a malloc'd sentence that the policy check puts into the refusal.
 */
#ifndef CLEAT_CORE_TRUST_WHY_H
#define CLEAT_CORE_TRUST_WHY_H

/*
 * Set *ret_why to the formatted sentence (NULL if memory ran out: the caller
 * then says something generic) and return `ret`, so that a check can end
 * with `return trust_why(ret_why, -EINVAL, "...", ...)`.  *ret_why must not
 * hold a sentence already: it is overwritten, not freed.
 */
int trust_why(char **ret_why, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
