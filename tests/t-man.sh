#!/usr/bin/env bash
# tests/t-man.sh - the documentation says what the code does: every man page
# lints clean under mandoc and renders without stray font escapes, the .TH
# lines share one style, each program's --help lists in its usage lines
# exactly the options it describes, and a stray argument gets the same words
# in every program.
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/.." && pwd)
if command -v mandoc >/dev/null 2>&1; then
	for f in "$top"/man/*.[15]; do
		c="mandoc -T lint finds nothing in man/$(basename "$f")"
		out=$(mandoc -T lint -W style "$f" 2>&1)
		[ -z "$out" ] && ok "$c" || not_ok "$c" "$out"
		c="man/$(basename "$f") renders without a stray font escape"
		out=$(mandoc -T utf8 "$f" 2>&1 | col -b | grep -nP '[\x00-\x08\x0b-\x1f]|\\f')
		[ -z "$out" ] && ok "$c" || not_ok "$c" "$out"
	done
else
	skip "mandoc -T lint on every page" "mandoc is not installed (scripts/setup installs it)"
fi

c="every page's .TH names the page, its section, one date, \"cl 0.1.0\" and its manual"
bad=$(for f in "$top"/man/*.[15]; do
	n=$(basename "$f"); sec=${n##*.}; name=$(echo "${n%.*}" | tr a-z A-Z)
	manual='cl Manual'; [ "$sec" = 5 ] && manual='File Formats'
	head -1 "$f" | grep -qxF ".TH $name $sec $(head -1 "$top/man/cl-complete.1" | cut -d' ' -f4) \"cl 0.1.0\" \"$manual\"" ||
		echo "$n: $(head -1 "$f")"
done)
[ -z "$bad" ] && ok "$c" || not_ok "$c" "$bad"

for p in "$BIN"/cl-* "$top/scripts/cl-batch"; do
	n=$(basename "$p")
	c="$n --help: the usage lines list exactly the options described below them"
	out=$($PY - "$p" <<'PYEOF'
import re, subprocess, sys
h = subprocess.run([sys.argv[1], "--help"], capture_output=True, text=True).stdout.split("\n")
usage, body, in_usage = [], [], True
for l in h:
    if in_usage and (l.startswith("usage:") or l.startswith("       ")):
        usage.append(l)
    else:
        in_usage = False
        body.append(l)
u = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", " ".join(usage)))
b = set()
for l in body:
    m = re.match(r"\s{1,4}(-[\w-]+)(?:,\s*(--[\w-]+))?", l)
    if m:
        b.update(x for x in m.groups() if x)
b -= {"-h", "--help"}
u -= {"--"}
if u != b:
    print("in the usage only:", sorted(u - b), "described only:", sorted(b - u))
if not {"-h", "--help"} <= set(re.findall(r"--?[\w-]+", "\n".join(body))):
    print("-h, --help is not described")
PYEOF
)
	[ -z "$out" ] && ok "$c" || not_ok "$c" "$out"
done

for p in cl-embed cl-forward cl-sample; do
	check_fails "$p: a stray argument is an unexpected argument" "^$p: unexpected argument 'x' \(see --help\)$" \
		"$p" x
	check_fails "$p: an unknown option is an unknown option" "^$p: unknown option '--x' \(see --help\)$" "$p" --x
done
