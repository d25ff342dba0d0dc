/* SPDX-License-Identifier: MIT */
/*
 * persist.h - the layer above the stores (persist.c): the public
 * format/open/close/info/verify/commit calls, and their device-level forms
 * that tests and tools use on memory images.
 */
#ifndef MB_PERSIST_H
#define MB_PERSIST_H

#include "dev.h"
#include "mballoc.h"

int mb_volume_format_dev(struct mb_dev *dev, const struct mb_geometry *geo,
			 const struct mb_open_opts *opts);
/* On success the volume owns dev; on failure the caller still does. */
int mb_volume_open_dev(struct mb_dev *dev, const struct mb_open_opts *opts,
		       struct mb_volume **out);

/* Sets what mb_volume_open_error() answers on this thread (NULL: nothing);
   for opens built elsewhere (e2fs.c). */
void mb_volume_open_error_set(const char *why);

#endif /* MB_PERSIST_H */
