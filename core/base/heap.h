/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's heap, in one place: glibc keeps memory freed inside its
 * arenas mapped (only a free top of the heap goes back by itself), so an
 * idle cleatd would carry the peak of its last pull or of the most pods it
 * ever ran.  Its callers hand that back at the few moments that free a lot.
 */
#ifndef CLEAT_CORE_HEAP_H
#define CLEAT_CORE_HEAP_H

/*
 * Return the free whole pages of every malloc arena to the system
 * (malloc_trim).  Costs well under a millisecond at cleatd's size; safe from
 * any thread, any number of times.  Does nothing in a sanitizer build: that
 * allocator replaces glibc's, whose never-initialised arenas concurrent
 * malloc_trim() calls then corrupt (glibc asserts at thread exit).
 */
void heap_give_back(void);

#endif
