# SPDX-License-Identifier: MIT
# lib.sh - the checks every tNNNN script shares.  Source it after setting
# T (a scratch directory) and fails=0; each check prints "ok" or "FAIL"
# and counts failures in $fails.
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
expect() { # expect CODE NAME CMD...: CMD exits CODE; its output in $T/out, $T/err
	want=$1 name=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" = "$want" ]; then ok "$name"; else
		bad "$name (exit $got, want $want)"; cat "$T/out" "$T/err"; fi
}
has() { # has FILE TEXT NAME
	if grep -q -- "$2" "$1"; then ok "$3"; else bad "$3: '$2' not in:"; cat "$1"; fi
}
same() { # same A B NAME: byte for byte
	if cmp -s "$1" "$2"; then ok "$3"; else bad "$3: the file changed"; fi
}
