/* SPDX-License-Identifier: MIT */
/*
 * crash_dev.h - the tests' crash shim (crash_dev.c), a struct mb_dev
 * backend for the mballoc format store.
 */
#ifndef MB_CRASH_DEV_H
#define MB_CRASH_DEV_H

#include "dev.h"

/*
 * The crash shim: a memory device that remembers which writes are not yet
 * synced.  Armed with crash_at = N, the N-th write is recorded and then the
 * device "loses power": every later call returns -EIO.  mb_dev_crash_image
 * then builds the surviving image: the synced state plus, for each unsynced
 * write in order, the write kept, dropped, or torn (each 512-byte sector
 * kept or not), chosen by `seed`.
 */
int mb_dev_crash_open(const void *image, size_t size, struct mb_dev **out);
void mb_dev_crash_arm(struct mb_dev *dev, uint64_t crash_at);
bool mb_dev_crashed(struct mb_dev *dev);
struct mb_crash_fates {
	uint64_t kept, dropped, torn;
};
int mb_dev_crash_image(struct mb_dev *dev, uint64_t seed, struct mb_crash_fates *fates,
		       struct mb_dev **out);

#endif /* MB_CRASH_DEV_H */
