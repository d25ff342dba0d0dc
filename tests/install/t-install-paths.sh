#!/bin/sh
# The installed files name nothing of the trees they were built in: no
# source or build path in the CLI, the libraries (code, strings or debug
# info), and the bench's kernel script is installed where the CLI looks
# for it (libexecdir/mballoc, relative to bindir).
set -eu
build=$(cd "$1" && pwd -P) src=$(cd "$2" && pwd -P)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cli=$tmp/prefix/bin/mballoc
[ -x "$cli" ] || { echo "no installed CLI at $cli"; exit 1; }
bad=0
for f in "$cli" $(find "$tmp/prefix" -name 'libmballoc.*' -type f); do
	for tree in "$src" "$build"; do
		if strings -a "$f" | grep -F -q "$tree"; then
			echo "$f embeds $tree:"
			strings -a "$f" | grep -F "$tree" | sort -u | head -5
			bad=1
		fi
	done
done
[ $bad = 0 ] || exit 1
[ -x "$tmp/prefix/libexec/mballoc/kernel_ext4.sh" ] ||
	{ echo "kernel_ext4.sh not installed in libexec/mballoc"; find "$tmp/prefix" -name '*.sh'; exit 1; }
"$cli" -V >/dev/null
echo "install-paths: ok"
