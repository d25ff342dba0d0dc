#!/bin/sh
# SPDX-License-Identifier: MIT
# legacy_rate.sh MBALLOC [stress options...]
#
# Runs the seed scenario under mb_enospc_policy=legacy (the allocator as it
# was before the 2020 series) and prints how often it answered a spurious
# ENOSPC.  Spurious ENOSPC is the expected defect of that policy, so it does
# not fail the test: the figure is recorded for the lead to judge.  A block
# allocated twice, an mb_check() failure, an unexpected error, a usage error
# or a crash are bugs under any policy and do fail it.
mballoc=$1
shift

out=$("$mballoc" stress --policy legacy --mode seed --json --no-progress "$@")
rc=$?
echo "$out"

# field NAME: the value of "NAME" in the one-line JSON object
field() {
	printf '%s\n' "$out" | sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p"
}

if [ $rc -gt 1 ] || [ -z "$out" ]; then
	echo "legacy_rate: mballoc stress exited with status $rc" >&2
	exit 1
fi
iters=$(field iterations)
failed=$(field failed_iterations)
spurious=$(field spurious_enospc)
echo "legacy policy: $failed of $iters iterations hit ENOSPC;" \
	"spurious ENOSPC: $spurious; fill reached (min): $(field fill_reached);" \
	"most blocks free at an ENOSPC: $(field max_free_at_enospc)"
if [ "$(field double_allocations)" != 0 ] || [ "$(field check_ok)" != true ] ||
	[ "$(field errors)" != 0 ]; then
	echo "legacy_rate: double allocation, check failure or error (a bug under any policy)" >&2
	exit 1
fi
exit 0
