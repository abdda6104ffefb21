#!/usr/bin/env bash
# make install: programs, libraries (libcl.so.0 and libcl.a), header, man
# pages, the shipped model and a libcl.pc that programs build with.  The
# example at the top of cl.h is compiled against the installed library, the
# shared one and the archive, and run from elsewhere with no -m.
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
	bin/cl-serve bin/cl-score bin/cl-batch share/cl/cl-batch.sbatch lib/libcl.a lib/libcl.so lib/libcl.so.0 include/cl.h lib/pkgconfig/libcl.pc \
	share/man/man5/cl-stream.5 share/man/man1/cl-forward.1 share/man/man1/cl-serve.1 share/man/man1/cl-batch.1; do
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
	cc -o "$TMP/x" "$TMP/x.c" $flags 2>"$TMP/cc.err" && [ "$(LD_LIBRARY_PATH="$p/lib" "$TMP/x")" = "$(sed -n 's/^#define CL_VERSION "\(.*\)"/\1/p' lib/cl.h) bf16" ]; then
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
# The example of cl.h, as a user would build it (the lines between its
# markers, without the comment's indentation).
sed -n '/^ \* example begin$/,/^ \* example end$/p' lib/cl.h | sed '1d;$d' | sed 's/^ \*     //; s/^ \*$//' >"$TMP/ex.c"
want="$(env -u CL_MODEL "$p/bin/cl-tokenize" --ids "def f(" 2>/dev/null) -> "
export PKG_CONFIG_PATH=$p/lib/pkgconfig
name="cl.h's example builds with pkg-config --cflags --libs libcl against libcl.so, without DT_TEXTREL, and runs from / without -m"
if grep -q cl_model_forward "$TMP/ex.c" && cc -o "$TMP/ex" "$TMP/ex.c" $(pkg-config --cflags --libs libcl) 2>"$TMP/cc.err" &&
	! grep -q TEXTREL "$TMP/cc.err" && ldd "$TMP/ex" | grep -q "libcl.so.0 => $p/lib/libcl.so.0" 2>/dev/null ||
	LD_LIBRARY_PATH=$p/lib ldd "$TMP/ex" | grep -q "libcl.so.0 => $p/lib/libcl.so.0"; then
	out=$(cd / && env -u CL_MODEL LD_LIBRARY_PATH="$p/lib" "$TMP/ex" 2>&1)
	[ "${out#"$want"}" != "$out" ] && ok "$name" || not_ok "$name" "got: $out" "want: $want..."
else
	not_ok "$name" "$(cat "$TMP/cc.err")" "$(LD_LIBRARY_PATH=$p/lib ldd "$TMP/ex" 2>&1 | head -3)"
fi
name="the example builds with pkg-config --static --libs against libcl.a and runs from / without -m"
if cc -o "$TMP/ex-a" "$TMP/ex.c" $(pkg-config --cflags libcl) $(pkg-config --static --libs libcl | sed 's/-lcl\b/-l:libcl.a/') \
	2>"$TMP/cc.err" && ! grep -q TEXTREL "$TMP/cc.err" && ! ldd "$TMP/ex-a" | grep -q libcl; then
	out=$(cd / && env -u CL_MODEL "$TMP/ex-a" 2>&1)
	[ "${out#"$want"}" != "$out" ] && ok "$name" || not_ok "$name" "got: $out" "want: $want..."
else
	not_ok "$name" "$(cat "$TMP/cc.err")"
fi
name="libcl.so has soname libcl.so.0 and exports only cl_ symbols"
soname=$(objdump -p "$p/lib/libcl.so" 2>/dev/null | awk '$1 == "SONAME" { print $2 }')
others=$(nm -D --defined-only "$p/lib/libcl.so" | awk '{ print $3 }' | grep -v '^cl_' | head -5)
n=$(nm -D --defined-only "$p/lib/libcl.so" | grep -c ' cl_')
[ "$soname" = libcl.so.0 ] && [ -z "$others" ] && [ "$n" -gt 40 ] && ok "$name" ||
	not_ok "$name" "soname $soname; $n cl_ symbols; others: $others"
name="make install DESTDIR=... PREFIX=...: files under DESTDIR, and the staged programs find their model"
st=$TMP/stage
if make -s install DESTDIR="$st" PREFIX=/opt/cl-test >"$TMP/log" 2>&1 && [ -x "$st/opt/cl-test/bin/cl-complete" ] &&
	[ -e "$st/opt/cl-test/lib/libcl.so.0" ] && grep -q '^prefix=/opt/cl-test$' "$st/opt/cl-test/lib/pkgconfig/libcl.pc" &&
	[ ! -e /opt/cl-test ]; then
	out=$(cd / && env -u CL_MODEL "$st/opt/cl-test/bin/cl-tokenize" --ids "def f(" 2>&1)
	[ "$out ->" = "${want% }" ] && ok "$name" || not_ok "$name" "$out"
else
	not_ok "$name" "$(tail -5 "$TMP/log")"
fi

for prog in cl-tokenize cl-embed cl-forward cl-sample cl-detok cl-dump cl-complete cl-quantize cl-serve cl-score cl-batch; do
	name="every option $prog --help names is in its man page"
	opts_help=$("$p/bin/$prog" --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
	opts_man=$(sed 's/\\-/-/g' "man/$prog.1" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
	extra=$(comm -23 <(echo "$opts_help") <(echo "$opts_man") | tr '\n' ' ')
	[ -z "$extra" ] && ok "$name" || not_ok "$name" "options in --help but not in the man page: $extra"
done
