#!/usr/bin/env bash
# opt
# Custom decoding (scripts/): cl_stream.py reads and writes what the programs
# do; sample.py takes cl-sample's place in the FIFO loop and, greedy, chooses
# what cl-sample --greedy chooses; beam.py searches through one cl-embed |
# cl-forward pair with position rewind: width 1 is greedy, width 3 finds a
# sequence at least as probable, and the log-probability it reports is the
# one a fresh forward pass over its tokens gives (the rewound caches are right).
. "$(dirname "$0")/lib.sh"
S=$(cd "$(dirname "$0")/../scripts" && pwd)
export PYTHONPATH=$S

# cl_stream.py against cl-dump, without a model: every dtype, concatenation,
# alternatives.
got=$($PY - 2>&1 <<'EOF'
import io, json, math, subprocess
from cl_stream import *
out = []
for dt in ("f32", "f16", "bf16"):
    b = io.BytesIO()
    w = Writer(b, {"kind": "vectors", "what": "logits", "width": 3, "dtype": dt})
    w.put(SEQ_BEGIN, 4)
    w.put(VECTOR, 4, 0, 7, SAMPLE, data=[1.0, -2.5, 0.5])
    recs = list(Reader(io.BytesIO(b.getvalue() * 2)))   # `cat a a`
    dump = subprocess.run(["cl-dump"], input=b.getvalue(), capture_output=True, check=True).stdout
    vec = [json.loads(l) for l in dump.splitlines()][2]
    out.append(len(recs) == 4 and list(recs[1].data) == [1.0, -2.5, 0.5] and vec["data"] == [1, -2.5, 0.5]
               and (vec["seq"], vec["pos"], vec["token"], vec["flags"]) == (4, 0, 7, SAMPLE))
lines = ['{"kind":"header","stream":"tokens","tokenizer":"0123456789abcdef"}',
         '{"kind":"token","seq":1,"pos":2,"token":3,"flags":2,"logprob":-0.5,"alts":[[3,-0.5],[9,-1.25]]}']
b = subprocess.run(["cl-dump", "-r"], input="\n".join(lines).encode(), capture_output=True, check=True).stdout
r = Reader(io.BytesIO(b))
(t,) = list(r)
out.append(r.info["tokenizer"] == "0123456789abcdef" and t.kind == TOKEN and t.data == [(3, -0.5), (9, -1.25)]
           and (t.seq, t.pos, t.token, t.flags, t.logprob) == (1, 2, 3, GENERATED, -0.5))
try:
    list(Reader(io.BytesIO(b[:-4])))
    out.append(False)
except StreamError as e:
    out.append("truncated record" in str(e))
print(out)
EOF
)
if [ "$got" = "[True, True, True, True, True]" ]; then
	ok "cl_stream.py reads and writes what cl-dump does (f32, f16, bf16, alternatives, cat, truncation)"
else
	not_ok "cl_stream.py reads and writes what cl-dump does (f32, f16, bf16, alternatives, cat, truncation)" "$got"
fi

printf '%s\n' '{"kind":"header","stream":"tokens"}' '{"kind":"end"}' | cl-dump -r >"$TMP/tokens.cls"
check_fails "sample.py refuses a token stream" "^sample.py: stdin: expected a stream of logits" \
	sh -c '"$1" <"$2"' sh "$S/sample.py" "$TMP/tokens.cls"

# tokens FILE: the generated tokens of a token stream, "id id ...".
tokens() {
	$PY -c 'import sys
from cl_stream import *
print(" ".join(str(r.token) for r in Reader(open(sys.argv[1], "rb")) if r.kind == TOKEN))' "$1"
}
# logprob FILE: the sum of the tokens' log-probabilities.
logprob() {
	$PY -c 'import sys
from cl_stream import *
print(sum(r.logprob for r in Reader(open(sys.argv[1], "rb")) if r.kind == TOKEN))' "$1"
}
# loop OUT PROMPTS SAMPLER...: the FIFO loop of cl-sample(1), one prompt a line.
loop() {
	local out=$1 prompts=$2; shift 2
	rm -f "$TMP/fifo"; mkfifo "$TMP/fifo"
	printf '%s\n' "$prompts" >"$TMP/prompts"
	timeout 60 sh -c 'm=$1 p=$2 fifo=$3 out=$4; shift 4
		cl-tokenize -m "$m" --lines -f "$p" | cat - "$fifo" | cl-embed -m "$m" | cl-forward -m "$m" --last |
			"$@" | tee "$out" >"$fifo"' sh "$M" "$TMP/prompts" "$TMP/fifo" "$out" "$@" 2>"$TMP/err"
}

if ! command -v cl-sample >/dev/null || ! command -v cl-embed >/dev/null || ! command -v cl-forward >/dev/null; then
	skip "sample.py and beam.py on stories260K" "cl-sample, cl-embed or cl-forward is not built"
	exit 0
fi
need_testdata "sample.py and beam.py on stories260K" || exit 0
M=$TESTDATA/stories260K-hf-f32
P="Once upon a time"

name="load_logits gives one row of logits per prompt position"
got=$(printf %s "$P" | cl-tokenize -m "$M" | cl-embed -m "$M" | cl-forward -m "$M" >"$TMP/logits.cls" &&
	$PY -c 'import sys
from cl_stream import load_logits
meta, x = load_logits(sys.argv[1])
print(x.shape, [m["pos"] for m in meta], [m["token"] for m in meta][1:], x[-1].argmax())' "$TMP/logits.cls" 2>&1)
# "Once upon a time": BOS 403 407 261 378; run.c's greedy continuation begins with 432.
if [ "$got" = "(5, 512) [0, 1, 2, 3, 4] [403, 407, 261, 378] 432" ]; then ok "$name"; else not_ok "$name" "$got"; fi

name="sample.py --greedy in the FIFO loop chooses what cl-sample --greedy does"
if loop "$TMP/c.cls" "$P" cl-sample -m "$M" --greedy --max-new-tokens 40 &&
	loop "$TMP/p.cls" "$P" "$S/sample.py" --greedy --max-new-tokens 40; then
	a=$(tokens "$TMP/c.cls") b=$(tokens "$TMP/p.cls")
	if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$(wc -w <<<"$a")" -eq 40 ] &&
		$PY -c 'import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 1e-3)' \
			"$(logprob "$TMP/c.cls")" "$(logprob "$TMP/p.cls")"; then
		ok "$name"
	else
		not_ok "$name" "cl-sample: $a" "sample.py: $b"
	fi
else
	not_ok "$name" "a loop failed or hung" "$(cat "$TMP/err")"
fi

# Two prompts, temperature and top-k: each sequence ends with an unflagged
# token and SEQ_END, END comes last, and the same seed draws the same tokens.
name="sample.py with temperature and top-k ends every sequence, then the stream, and repeats with its seed"
two="Once upon a time
The dog"
if loop "$TMP/s1.cls" "$two" "$S/sample.py" --temperature 0.8 --top-k 20 --seed 5 --max-new-tokens 12 &&
	loop "$TMP/s2.cls" "$two" "$S/sample.py" --temperature 0.8 --top-k 20 --seed 5 --max-new-tokens 12; then
	got=$($PY -c 'import sys
from cl_stream import *
recs = list(Reader(open(sys.argv[1], "rb")))
ok = recs[-1].kind == END
for s in (0, 1):
    r = [x for x in recs if x.seq == s and x.kind != END]
    ok = ok and len(r) == 13 and r[-1].kind == SEQ_END and r[-2].flags == GENERATED
    ok = ok and all(x.flags == GENERATED | SAMPLE for x in r[:-2])
print(ok)' "$TMP/s1.cls" 2>&1)
	# Tokens by sequence and position, not bytes: the two sequences may
	# interleave otherwise, and the logprobs differ in the last bit where
	# cl-forward batched the prompt's positions differently.
	bypos() {
		$PY -c 'import sys
from cl_stream import *
print(sorted((r.seq, r.pos, r.token) for r in Reader(open(sys.argv[1], "rb")) if r.kind == TOKEN))' "$1"
	}
	if [ "$got" = True ] && [ "$(bypos "$TMP/s1.cls")" = "$(bypos "$TMP/s2.cls")" ]; then ok "$name"
	else not_ok "$name" "$got" "$(bypos "$TMP/s1.cls")" "$(bypos "$TMP/s2.cls")"; fi
else
	not_ok "$name" "a loop failed or hung" "$(cat "$TMP/err")"
fi

# beam.py: greedy's tokens and log-probability from the cl-sample loop above.
greedy=$(tokens "$TMP/c.cls") greedy_lp=$(logprob "$TMP/c.cls")
beam() { # OUT WIDTH
	timeout 60 "$S/beam.py" -m "$M" --width "$2" --max-new-tokens 40 --json "$P" >"$1" 2>"$TMP/err"
}
field() { # FILE KEY
	$PY -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]
print(" ".join(map(str, v)) if isinstance(v, list) else v)' "$1" "$2"
}

name="beam.py --width 1 is greedy search"
if beam "$TMP/b1.json" 1; then
	got=$(field "$TMP/b1.json" tokens)
	if [ "$got" = "$greedy" ] &&
		$PY -c 'import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 1e-3)' \
			"$(field "$TMP/b1.json" logprob)" "$greedy_lp"; then
		ok "$name"
	else
		not_ok "$name" "beam: $got" "greedy: $greedy"
	fi
else
	not_ok "$name" "beam.py failed" "$(cat "$TMP/err")"
fi

name="beam.py --width 3 rewinds and finds a sequence at least as probable as greedy's"
if beam "$TMP/b3.json" 3; then
	lp=$(field "$TMP/b3.json" logprob) rw=$(field "$TMP/b3.json" rewinds)
	if $PY -c 'import sys; sys.exit(not float(sys.argv[1]) >= float(sys.argv[2]) - 1e-4)' "$lp" "$greedy_lp" &&
		[ "$rw" -gt 0 ]; then
		ok "$name"
	else
		not_ok "$name" "width 3: $lp with $rw rewinds; greedy: $greedy_lp"
	fi
else
	not_ok "$name" "beam.py failed" "$(cat "$TMP/err")"
fi

# The sequence beam.py found, scored by one fresh forward pass (no rewind).
name="beam.py's log-probability is what a fresh forward pass over its tokens gives"
if [ -s "$TMP/b3.json" ]; then
	got=$($PY - "$TMP/b3.json" "$M" 2>&1 <<'EOF'
import io, json, subprocess, sys
import numpy as np
from cl_stream import *
o = json.load(open(sys.argv[1]))
ids = o["prompt_tokens"] + o["tokens"]
src = io.BytesIO()
w = Writer(src, {"kind": "tokens"})
for i, t in enumerate(ids):
    w.put(TOKEN, 0, i, t)
m = ["-m", sys.argv[2]]
emb = subprocess.run(["cl-embed"] + m, input=src.getvalue(), capture_output=True, check=True).stdout
fwd = subprocess.run(["cl-forward"] + m, input=emb, capture_output=True, check=True).stdout
rows = [r.data for r in Reader(io.BytesIO(fwd)) if r.kind == VECTOR]
x = np.array(rows, np.float64)
lp = x - np.logaddexp.reduce(x, axis=1, keepdims=True)
n = len(o["prompt_tokens"])
want = sum(lp[i - 1, ids[i]] for i in range(n, len(ids)))
print("ok" if abs(want - o["logprob"]) < 1e-3 else "fresh pass %.6f, beam.py %.6f" % (want, o["logprob"]))
EOF
)
	if [ "$got" = ok ]; then ok "$name"; else not_ok "$name" "$got"; fi
else
	skip "$name" "beam.py gave no output"
fi
