#!/bin/sh
# Installs the build into a scratch prefix and builds examples/hello.c
# against it through pkg-config, shared and static; then runs both.
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name mballoc.pc)
[ -n "$pc" ] || { echo "no mballoc.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags mballoc)
libs=$(pkg-config --libs mballoc)
libdir=$(pkg-config --variable=libdir mballoc)
cc $flags "$src/examples/hello.c" $libs -o "$tmp/hello_shared"
cc $flags "$src/examples/hello.c" "$libdir/libmballoc.a" -lpthread -o "$tmp/hello_static"
LD_LIBRARY_PATH=$libdir "$tmp/hello_shared" | grep -q "16 blocks at"
"$tmp/hello_static" | grep -q "16 blocks at"
# only mb_* symbols are exported from the shared library
bad=$(nm -D --defined-only "$libdir/libmballoc.so" | awk '$2 ~ /[TDB]/ && $3 !~ /^mb_/ {print $3}')
[ -z "$bad" ] || { echo "unexpected exports: $bad"; exit 1; }
echo "install: ok"
