/* SPDX-License-Identifier: MIT */
/*
 * hook.c - named race points for tests (built only with MB_TESTING).  A
 * test installs one callback per volume; the library calls it at each
 * MB_HOOK() site so the test can park a thread inside a race window, run
 * another, and release it.
 */
#include "mb_int.h"

#ifdef MB_TESTING
/* Installs fn (NULL to remove).  Call before other threads use the volume. */
void mb_hook_set(struct mb_volume *vol, mb_hook_fn fn, void *arg)
{
	vol->hook_arg = arg;
	vol->hook_fn = fn;
	mb_tunables_retune(vol); /* a hooked volume takes the regular path */
}

void mb_hook_fire(struct mb_volume *vol, enum mb_hook_id id, mb_grp_t group, int cr)
{
	mb_hook_fn fn = vol->hook_fn;

	if (fn)
		fn(vol->hook_arg, (int)id, group, cr);
}
#endif
