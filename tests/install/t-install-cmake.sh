#!/bin/sh
# Installs the build into a scratch prefix and builds examples/hello.c
# through find_package(mballoc) (tests/install/consumer), against
# mballoc::mballoc and mballoc::mballoc_static; then runs both and checks
# that the shared one really loaded the installed libmballoc.so.
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cfg=$(find "$tmp/prefix" -name mballocConfig.cmake)
[ -n "$cfg" ] || { echo "no mballocConfig.cmake installed"; exit 1; }
cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" \
	-DCMAKE_PREFIX_PATH="$tmp/prefix" -DMB_HELLO="$src/examples/hello.c" \
	>"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/consumer" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
libdir=$(dirname "$(find "$tmp/prefix" -name libmballoc.a)")
"$tmp/consumer/hello_shared" | grep -q "16 blocks at"
"$tmp/consumer/hello_static" | grep -q "16 blocks at"
# shared means shared: the installed .so is in the executable's needs
ldd "$tmp/consumer/hello_shared" | grep -q "$libdir/libmballoc.so" ||
	{ echo "hello_shared does not load $libdir/libmballoc.so"; ldd "$tmp/consumer/hello_shared"; exit 1; }
if ldd "$tmp/consumer/hello_static" | grep -q libmballoc; then
	echo "hello_static loads libmballoc.so"; exit 1
fi
# a version the package does not provide is refused
sed 's/find_package(mballoc 0.3 REQUIRED)/find_package(mballoc 99 REQUIRED)/' \
	"$src/tests/install/consumer/CMakeLists.txt" >"$tmp/CMakeLists.txt"
mkdir "$tmp/v99" && cp "$tmp/CMakeLists.txt" "$tmp/v99/"
if cmake -S "$tmp/v99" -B "$tmp/v99/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null 2>&1; then
	echo "find_package(mballoc 99) succeeded"; exit 1
fi
echo "install-cmake: ok"
