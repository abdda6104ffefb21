#!/usr/bin/env bash
# opt
# The generation loop: the sampled tokens flow back into cl-embed, through a
# FIFO (plain sh) or a bash coproc.  Greedy runs on stories260K must give
# llama2.c run.c's tokens and text exactly; the same seed must give the same
# tokens whatever cl-forward's thread count.  Every loop runs under
# `timeout 60`, so a deadlock fails a case instead of hanging the suite.
. "$(dirname "$0")/lib.sh"

need_testdata "the generation loop" || exit 0
M=$TESTDATA/stories260K-hf-f32
REF=$TESTDATA/stories260K/runc_greedy.json

# ref NAME FIELD: a field of one of run.c's runs: prompt, n (generated ids),
# ids (one per line), text (its stdout after the prompt, without the newline
# run.c adds at the end).
ref() {
	$PY - "$REF" "$1" "$2" <<'EOF'
import json, sys
run = {r["name"]: r for r in json.load(open(sys.argv[1]))["runs"]}[sys.argv[2]]
f = sys.argv[3]
if f == "prompt": sys.stdout.write(run["prompt"])
elif f == "n": print(len(run["generated_ids"]))
elif f == "ids": print("\n".join(map(str, run["generated_ids"])))
else:
    out = run["stdout"]
    assert out.startswith(run["prompt"]) and out.endswith("\n")
    sys.stdout.write(out[len(run["prompt"]):-1])
EOF
}

# fifo_loop NAME PROMPT FORWARD_OPTS SAMPLE_OPTS...: the plain sh recipe.
# cat reads the prompt's stream until cl-tokenize ends, then the FIFO, which
# tee fills with cl-sample's tokens; cl-sample ends the stream when every
# sequence is over, and the loop drains.  Leaves $TMP/NAME.cls (the sampled
# tokens) and $TMP/NAME.txt (their text).
fifo_loop() {
	local name=$1 prompt=$2 fwd=$3
	shift 3
	rm -f "$TMP/fifo"
	mkfifo "$TMP/fifo"
	timeout 60 sh -c 'm=$1 prompt=$2 fwd=$3 fifo=$4 out=$5; shift 5
		cl-tokenize -m "$m" "$prompt" | cat - "$fifo" | cl-embed -m "$m" |
			cl-forward -m "$m" --last $fwd | cl-sample -m "$m" "$@" |
			tee "$fifo" "$out.cls" | cl-detok -m "$m" >"$out.txt"' \
		sh "$M" "$prompt" "$fwd" "$TMP/fifo" "$TMP/$name" "$@"
}

# coproc_loop NAME PROMPT SAMPLE_OPTS...: the bash recipe of the README.
# cl-sample is the coprocess; the shell copies its fds to 3 and 4 (bash
# passes a coprocess's fds to no subshell), closes its own, runs the loop in
# the background, closes 3 and 4 and waits, so that it holds no end of the
# loop's pipes; each part closes the fd it does not use.  The group sends the
# prompt's stream and then the coprocess's tokens into cl-embed, and
# cl-forward's logits go back to the coprocess.  When cl-sample ends, tee sees
# the end of its input, the group ends, and cl-embed and cl-forward drain.
coproc_loop() {
	local name=$1 prompt=$2
	shift 2
	timeout 60 bash -c 'm=$1 prompt=$2 out=$3; shift 3
		coproc cl-sample -m "$m" "$@"
		exec 3<&"${COPROC[0]}" 4>&"${COPROC[1]}" {COPROC[0]}<&- {COPROC[1]}>&-
		{ cl-tokenize -m "$m" "$prompt"; tee "$out.cls" <&3; } 4>&- |
			cl-embed -m "$m" 4>&- | cl-forward -m "$m" --last >&4 &
		exec 3<&- 4>&-
		wait $! || exit
		cl-detok -m "$m" <"$out.cls" >"$out.txt"' \
		bash "$M" "$prompt" "$TMP/$name" "$@"
}

# same_as_runc CASE NAME RUN: the loop's tokens and text against run.c's.
same_as_runc() {
	local case=$1 name=$2 run=$3
	cl-detok -m "$M" --pieces <"$TMP/$name.cls" | cut -f3 >"$TMP/$name.ids"
	ref "$run" ids >"$TMP/$name.want-ids"
	ref "$run" text >"$TMP/$name.want-txt"
	if ! cmp -s "$TMP/$name.ids" "$TMP/$name.want-ids"; then
		not_ok "$case" "token ids differ from run.c's (got, want):" \
			"$(diff "$TMP/$name.ids" "$TMP/$name.want-ids" | head -n 6)"
	elif ! cmp -s "$TMP/$name.txt" "$TMP/$name.want-txt"; then
		not_ok "$case" "text differs from run.c's:" "$(head -c 300 "$TMP/$name.txt")"
	else
		ok "$case"
	fi
}

# run.c stops when the model produces BOS (id 1), but the model's EOS is 2,
# where cl-sample stops.  So each run gets --max-new-tokens equal to run.c's
# count of generated ids: a run that stopped on BOS ends with that BOS as its
# last token (which decodes to no text, as run.c prints none), and the ids are
# compared in full, the final BOS included.
for run in empty_256 once_upon_a_time_256 the_little_dog_256; do
	c="the FIFO loop reproduces run.c's greedy run $run token for token"
	if fifo_loop "$run" "$(ref $run prompt)" "" --greedy --max-new-tokens "$(ref $run n)"; then
		same_as_runc "$c" "$run" "$run"
	else
		not_ok "$c" "the loop failed or hung (exit $?)"
	fi
done

# test_all_py is the same run as empty_256, 200 steps: a prefix of it.
c="run.c's 200-step run (llama2.c's test_all.py) is the start of the 256-step one"
head -n "$(ref test_all_py n)" "$TMP/empty_256.ids" >"$TMP/t200.ids" 2>/dev/null
if ref test_all_py ids | cmp -s - "$TMP/t200.ids"; then ok "$c"; else not_ok "$c"; fi

c="the bash coproc loop reproduces run.c's greedy run the_little_dog_256 (stopped on BOS)"
run=the_little_dog_256
if coproc_loop coproc "$(ref $run prompt)" --greedy --max-new-tokens "$(ref $run n)"; then
	same_as_runc "$c" coproc "$run"
else
	not_ok "$c" "the loop failed or hung (exit $?)"
fi

# Sampling: the draw depends only on (seed, sequence, position), and the
# logits must not depend on how cl-forward splits its work.
c="the same --seed gives the same tokens with cl-forward --threads 1 and --threads 2"
opts=(--temperature 0.8 --top-p 0.9 --seed 42 --max-new-tokens 120)
if fifo_loop t1 "Once upon a time" "--threads 1" "${opts[@]}" &&
	fifo_loop t2 "Once upon a time" "--threads 2" "${opts[@]}"; then
	a=$(cl-detok -m "$M" --pieces <"$TMP/t1.cls" | cut -f1-4)
	b=$(cl-detok -m "$M" --pieces <"$TMP/t2.cls" | cut -f1-4)
	if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$(wc -l <<<"$a")" -gt 10 ]; then
		ok "$c"
	else
		not_ok "$c" "threads 1: $(head -c 200 "$TMP/t1.txt")" "threads 2: $(head -c 200 "$TMP/t2.txt")"
	fi
else
	not_ok "$c" "a loop failed or hung"
fi

c="another --seed gives other tokens"
if fifo_loop t3 "Once upon a time" "--threads 2" --temperature 0.8 --top-p 0.9 --seed 43 --max-new-tokens 120 &&
	! cmp -s "$TMP/t1.txt" "$TMP/t3.txt"; then
	ok "$c"
else
	not_ok "$c" "$(head -c 200 "$TMP/t3.txt")"
fi
