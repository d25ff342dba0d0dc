/* SPDX-License-Identifier: MIT */
/*
 * bench_script.c - where `mballoc bench --kernel` finds kernel_ext4.sh:
 * relative to the running binary, never a path compiled in, so the
 * installed CLI names nothing of the build tree (t-install-paths checks).
 * Installed, it is MB_LIBEXEC_REL from the binary (libexecdir/mballoc); in
 * a build tree the build copies the script beside the binary.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"

const char *mb_bench_kernel_script(char *buf, size_t n)
{
	static const char *const dirs[] = {"/" MB_LIBEXEC_REL, ""};
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (len <= 0)
		return "kernel_ext4.sh"; /* no /proc: the caller's note says it failed */
	exe[len] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(buf, n, "%s%s/kernel_ext4.sh", exe, dirs[i]);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	/* Neither: name the installed place in the "cannot run" note. */
	snprintf(buf, n, "%s%s/kernel_ext4.sh", exe, dirs[0]);
	return buf;
}
