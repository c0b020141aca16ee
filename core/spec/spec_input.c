/* SPDX-License-Identifier: Apache-2.0 */
/* What every part of the spec builder reads of its input, and its one out-of-memory error. */
#include <errno.h>

#include "error.h"
#include "spec_internal.h"

int spec_oom(struct cleat_error **reterr) {
    return error_set(reterr, CLEAT_STATUS_INTERNAL, ENOMEM, "out of memory building the OCI spec");
}

const Runtime__V1__LinuxContainerSecurityContext *spec_secctx(const struct spec_input *in) {
    return in->container->linux ? in->container->linux->security_context : NULL;
}

const Runtime__V1__NamespaceOption *spec_nsopts(const struct spec_input *in) {
    const Runtime__V1__LinuxContainerSecurityContext *sc = spec_secctx(in);
    if (sc && sc->namespace_options)
        return sc->namespace_options;
    const Runtime__V1__LinuxPodSandboxConfig *pl = in->sandbox->linux;
    return pl && pl->security_context ? pl->security_context->namespace_options : NULL;
}
