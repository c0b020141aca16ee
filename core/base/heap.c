/* SPDX-License-Identifier: Apache-2.0 */
/* Handing free heap pages back to the system (see heap.h). */
#include "heap.h"

#include <malloc.h>

void heap_give_back(void) {
#ifndef CLEAT_SANITIZED
    malloc_trim(0);
#endif
}
