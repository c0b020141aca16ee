/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object IDs and CRI name keys.
 *
 * An ID is 64 lowercase hex characters (32 random bytes), the shape kubelet
 * and crictl expect from containerd and CRI-O; crictl lets users type any
 * unique prefix of one (see registry_resolve).
 *
 * A name key is what the store reserves so that two objects with the same
 * CRI metadata cannot exist at once: kubelet retries RunPodSandbox and
 * CreateContainer with the same metadata and relies on the second call
 * failing instead of creating a twin.  Keys are built exactly like
 * containerd's (pkg/cri/util.MakeSandboxName / MakeContainerName), joined
 * with '_', which Kubernetes names, namespaces and UIDs never contain.
 */
#ifndef CLEAT_CORE_IDS_H
#define CLEAT_CORE_IDS_H

#include <stdint.h>

struct cleat_error;

#define ID_HEX_LEN 64

/* Fill ret_id with a fresh ID (64 lowercase hex + NUL) from getrandom(2). */
int id_generate(char ret_id[ID_HEX_LEN + 1], struct cleat_error **reterr);

/* Non-zero if id is exactly 64 lowercase hex characters. */
int id_is_valid(const char *id);
/* Non-zero if p is 1 to 64 lowercase hex characters. */
int id_is_valid_prefix(const char *p);

/*
 * "name_namespace_uid_attempt" for a pod sandbox;
 * "containername_podname_podnamespace_poduid_attempt" for a container, where
 * attempt is the container's own attempt.  NULL strings read as "".
 * malloc'd; NULL (errno ENOMEM) if out of memory.
 */
char *id_sandbox_name_key(const char *name, const char *ns, const char *uid, uint32_t attempt);
char *id_container_name_key(const char *cname, uint32_t cattempt, const char *pod_name, const char *pod_ns,
                            const char *pod_uid);

#endif
