#!/usr/bin/env bash
# make install: programs, library, header, man pages, the shipped model and a
# libcl.pc that a program can be built with.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 2
p=$TMP/prefix
if ! make -s install PREFIX="$p" >"$TMP/log" 2>&1; then
	not_ok "make install PREFIX=... succeeds" "$(tail -5 "$TMP/log")"
	exit 0
fi
ok "make install PREFIX=... succeeds"
missing=
for f in bin/cl-tokenize bin/cl-embed bin/cl-forward bin/cl-sample bin/cl-detok bin/cl-dump bin/cl-complete bin/cl-quantize \
	lib/libcl.a include/cl.h lib/pkgconfig/libcl.pc share/man/man5/cl-stream.5 share/man/man1/cl-forward.1; do
	[ -e "$p/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && ok "programs, library, header, man pages and libcl.pc are installed" ||
	not_ok "programs, library, header, man pages and libcl.pc are installed" "missing:$missing"

name="a program builds against the installed library through pkg-config"
cat >"$TMP/x.c" <<'C'
#include <cl.h>
#include <stdio.h>
int main(void) { printf("%s %s\n", CL_VERSION, cl_dtype_name(CL_DTYPE_BF16)); return 0; }
C
if flags=$(PKG_CONFIG_PATH="$p/lib/pkgconfig" pkg-config --cflags --libs --static libcl 2>&1) &&
	cc -o "$TMP/x" "$TMP/x.c" $flags 2>"$TMP/cc.err" && [ "$("$TMP/x")" = "$(sed -n 's/^#define CL_VERSION "\(.*\)"/\1/p' lib/cl.h) bf16" ]; then
	ok "$name"
else
	not_ok "$name" "$flags" "$(cat "$TMP/cc.err")"
fi

name="installed programs find the installed model without -m"
if [ -f models/cl-python-small/config.json ]; then
	out=$(env -u CL_MODEL "$p/bin/cl-tokenize" --ids "def f(" 2>&1) && [ -n "$out" ] && ok "$name" || not_ok "$name" "$out"
else
	skip "$name" "the shipped model is not in models/ yet"
fi
for prog in cl-tokenize cl-embed cl-forward cl-sample cl-detok cl-dump cl-complete cl-quantize; do
	name="every option $prog --help names is in its man page"
	opts_help=$("$p/bin/$prog" --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
	opts_man=$(sed 's/\\-/-/g' "man/$prog.1" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
	extra=$(comm -23 <(echo "$opts_help") <(echo "$opts_man") | tr '\n' ' ')
	[ -z "$extra" ] && ok "$name" || not_ok "$name" "options in --help but not in the man page: $extra"
done
