#!/bin/sh
# SPDX-License-Identifier: MIT
# t0300-man.sh - the man pages render without warnings, and mballoc.1 has a
# section for every command `mballoc --help` lists, naming every long option
# of that command's --help; each page's .TH names the version `mballoc
# --version` prints (CMake's project version).  Skips (77) without groff or
# man.
# Usage: t0300-man.sh MBALLOC
MB=${1:?usage: $0 MBALLOC}
MAN=$(cd "$(dirname "$0")/../../man" && pwd) || exit 1
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }

if command -v groff >/dev/null; then
	render() { groff -man -ww -z -Tutf8 "$1"; }
elif command -v man >/dev/null; then
	render() { LC_ALL=C.UTF-8 man --warnings -l -E UTF-8 "$1" >/dev/null; }
else
	echo "skip: neither groff nor man is installed"
	exit 77
fi
for page in mballoc.1 mballoc.3; do
	if render "$MAN/$page" >"$T/warn" 2>&1 && [ ! -s "$T/warn" ]; then
		ok "$page renders without warnings"
	else
		bad "$page renders with warnings:"
		cat "$T/warn"
	fi
done

# The version in each page's title line is the program's (CMake's project()).
ver=$("$MB" --version | sed -n 's/^mballoc \([0-9][0-9.]*\)$/\1/p')
[ -n "$ver" ] || bad "mballoc --version prints 'mballoc X.Y.Z'"
for page in mballoc.1 mballoc.3; do
	th=$(sed -n 's/^\.TH .*"mballoc \([0-9][0-9.]*\)".*/\1/p' "$MAN/$page")
	if [ -n "$ver" ] && [ "$th" = "$ver" ]; then
		ok "$page names version $ver"
	else
		bad "$page names version '$th', mballoc --version '$ver'"
	fi
done

# The roff source with \- as -, so options read as on the command line.
sed 's/\\-/-/g' "$MAN/mballoc.1" >"$T/page"
"$MB" --help >"$T/help" || bad "mballoc --help exits 0"
cmds=$(sed -n '/^commands:/,/^$/s/^  \([a-z][a-z]*\) .*/\1/p' "$T/help")
[ -n "$cmds" ] || bad "mballoc --help lists commands"
for c in $cmds; do
	# the command's section: from its .SS line to the next .SS or .SH
	awk -v c="$c" '/^\.S[SH] /{ on = index($0, "\"mballoc " c " ") == 5 } on' \
		"$T/page" >"$T/sect"
	if [ ! -s "$T/sect" ]; then
		bad "mballoc.1 has no section '.SS \"mballoc $c ...\"'"
		continue
	fi
	ok "mballoc.1 documents $c"
	"$MB" "$c" --help >"$T/chelp" || bad "mballoc $c --help exits 0"
	for o in $(grep -o -- '--[a-z][a-z-]*' "$T/chelp" | sort -u); do
		grep -q -- "$o" "$T/sect" || bad "mballoc.1: $c section lacks $o"
	done
done
[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
[ $fails = 0 ]
