#!/usr/bin/env bash
# opt
# The model that ships (models/cl-python-small): cl-forward against the
# logits its training framework computed, greedy generation through the loop
# against the framework's greedy continuation, and the README's first command.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 2
M=models/cl-python-small
if [ ! -f "$M/config.json" ]; then
	skip "the shipped model" "$M is not there"
	exit 0
fi
for j in "$M"/reference/*.json; do
	[ -f "$j" ] || continue
	r=${j%.json} n=$(basename "$r")
	ids=$($PY -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['input_ids'])))" "$j")
	c="cl-forward equals the training framework's logits at every position for '$n' (max |d| 1e-4)"
	if echo "$ids" | cl-tokenize -m "$M" --from-ids | cl-embed -m "$M" | cl-forward -m "$M" >"$TMP/$n.cls" &&
		cl-dump --npy "$TMP/$n.npy" "$TMP/$n.cls"; then
		check "$c" $PY tests/refcheck.py "$TMP/$n.npy" "$r.f32" 1e-4
	else
		not_ok "$c" "the pipeline failed"
	fi
	c="greedy generation through the loop gives the framework's greedy tokens for '$n'"
	want=$($PY -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['greedy_ids'])))" "$j")
	nw=$(echo "$want" | wc -w)
	rm -f "$TMP/fifo" && mkfifo "$TMP/fifo"
	echo "$ids" | cl-tokenize -m "$M" --from-ids | cat - "$TMP/fifo" | cl-embed -m "$M" | cl-forward -m "$M" --last |
		timeout 60 cl-sample -m "$M" --greedy --max-new-tokens "$nw" | tee "$TMP/fifo" >"$TMP/$n.gen"
	got=$(cl-detok -m "$M" --pieces <"$TMP/$n.gen" | cut -f3 | tr '\n' ' ' | sed 's/ $//')
	[ "$got" = "$want" ] && ok "$c" || not_ok "$c" "got:  $got" "want: $want"
done
# make demo's command, as the Makefile has it, prints the README's demo.
c="make demo's command prints the completion the README shows"
cmd=$(sed -n 's/^\tbin\/\(cl-complete .*\)$/\1/p' Makefile | head -1)
want=$(awk '/^`make demo` runs/ { f = 1 }
	f && /^    / { for (; blank > 0; blank--) print ""; sub(/^    /, ""); print; g = 1; next }
	g && /^$/ { blank++; next } g { exit }' README.md)
got=$(eval "env -u CL_MODEL timeout 120 $cmd" 2>&1)
[ -n "$cmd" ] && [ -n "$want" ] && [ "$got" = "$want" ] && ok "$c" || not_ok "$c" "command: $cmd" "got:" "$got" "README:" "$want"
