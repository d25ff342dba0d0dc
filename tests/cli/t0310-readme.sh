#!/bin/sh
# SPDX-License-Identifier: MIT
# t0310-readme.sh - the README works for a fresh clone: it names no path
# outside the repository (../), and every file or folder under one of the
# repository's folders that it names in backquotes or links to exists.
# Usage: t0310-readme.sh MBALLOC (unused: the check reads the source tree)
ROOT=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }

if grep -n '\.\./' "$ROOT/README.md"; then
	bad "README.md names paths outside the repository (above)"
else
	ok "README.md names no path outside the repository"
fi
# `dir/file.ext` or `dir/` in backquotes, and (links) in markdown.
paths=$( (grep -o '`[A-Za-z0-9_.-]*/[A-Za-z0-9_./-]*`' "$ROOT/README.md" | tr -d '`'
	  grep -o '](\([^)#:]*\))' "$ROOT/README.md" | sed 's/^](\(.*\))$/\1/') | sort -u)
for p in $paths; do
	case $p in /*|*://*) continue ;; esac # absolute system paths, URLs
	[ -e "$ROOT/${p%%/*}" ] || continue # not a repository folder: sys/sdt.h
	if [ -e "$ROOT/$p" ]; then ok "$p exists"; else bad "README.md names $p, not in the repository"; fi
done
[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
[ $fails = 0 ]
