#!/usr/bin/env bash
# opt
# Inside the model: taps (the residual stream at every layer boundary) and
# attention probabilities against the NumPy reference (tests/llama_ref.py
# --inside), any split into stages equal to the whole model for every k,
# the logit lens at the last layer equal to the model's logits, and
# cl-score's log-probabilities and perplexity against the reference.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH=$top/scripts TOP=$top
SM=$top/models/cl-python-small

c="taps and attention equal the NumPy reference"
need_testdata "$c" || { counts; exit 0; }
for case in "stories260K-hf-f32|Once upon a time, there was a little girl named Lily." \
	"synthetic-codellama-like-bf16|def fibonacci(n):\n    return n"; do
	M=$TESTDATA/${case%%|*} text=${case#*|} name=${case%%|*}
	printf "$text" >"$TMP/text"
	ids=$(cl-tokenize -m "$M" --ids -f "$TMP/text")
	mkdir -p "$TMP/ref-$name"
	$PY "$top/tests/llama_ref.py" --inside "$TMP/ref-$name" "$M" $ids >"$TMP/ref-$name/logits.npy" 2>"$TMP/err" ||
		{ not_ok "$name: the NumPy reference runs" "$(cat "$TMP/err")"; continue; }
	cl-tokenize -m "$M" -f "$TMP/text" | cl-embed -m "$M" |
		cl-forward -m "$M" --tap all "$TMP/tap-$name.cls" --attn "$TMP/attn-$name.cls" >"$TMP/lg-$name.cls" 2>"$TMP/err" ||
		{ not_ok "$name: cl-forward --tap all --attn runs" "$(cat "$TMP/err")"; continue; }
	out=$($PY - "$TMP/ref-$name" "$TMP/tap-$name.cls" "$TMP/attn-$name.cls" <<'PYEOF'
import sys
import numpy as np
from cl_stream import Reader, VECTOR
ref, tap, att = sys.argv[1:]
h, a = np.load(ref + "/hidden.npy"), np.load(ref + "/attn.npy")
L, T = a.shape[0], h.shape[1]
got, seen = np.full_like(h, np.nan), 0
r = Reader(open(tap, "rb"))
assert r.info["what"] == "hidden" and "layer" not in r.info, r.info
for rec in r:
    if rec.kind == VECTOR:
        got[rec.aux, rec.pos] = rec.data
        seen += 1
ga, sums, tail = np.full_like(a, np.nan), [], 0.0
r = Reader(open(att, "rb"))
assert r.info["what"] == "attention" and r.info["heads"] == a.shape[1], r.info
for rec in r:
    if rec.kind == VECTOR:
        l, hd = rec.aux >> 16, rec.aux & 0xFFFF
        ga[l, hd, rec.pos] = rec.data[:T]
        sums.append(float(rec.data[:rec.pos + 1].astype(np.float64).sum()))
        tail = max(tail, float(np.abs(rec.data[rec.pos + 1:]).max(initial=0)))
print("%d %.3g %.3g %.3g %.3g %d" % (seen, np.abs(got - h).max(), np.abs(ga - a).max(),
      max(abs(s - 1) for s in sums), tail, (L + 1) * T))
PYEOF
)
	read -r seen dh da dsum tail want <<<"$out"
	[ "$seen" = "$want" ] && awk -v d="$dh" 'BEGIN { exit !(d <= 1e-4) }' &&
		ok "$name: the residual stream at all $want boundaries x positions equals NumPy's (max |d| $dh)" ||
		not_ok "$name: the residual stream at every boundary equals NumPy's" "$out"
	awk -v d="$da" 'BEGIN { exit !(d <= 1e-4) }' &&
		ok "$name: attention probabilities of every layer and head equal NumPy's (max |d| $da)" ||
		not_ok "$name: attention probabilities equal NumPy's" "$out"
	awk -v d="$dsum" -v t="$tail" 'BEGIN { exit !(d <= 1e-5 && t == 0) }' &&
		ok "$name: each attention row sums to 1 (max |sum-1| $dsum) and is 0 past its position" ||
		not_ok "$name: each attention row sums to 1 and is 0 past its position" "$out"
done

# Any split equals the whole, for every k; the logit lens at the last layer
# equals the logits.
for M in "$TESTDATA/stories260K-hf-f32" "$TESTDATA/synthetic-codellama-like-bf16" "$TESTDATA/gpt2/tiny-f32" "$SM"; do
	name=$(basename "$M")
	NL=$($PY -c 'import json, sys; c = json.load(open(sys.argv[1])); print(c.get("num_hidden_layers", c.get("n_layer")))' "$M/config.json")
	printf 'def fibonacci(n):\n    if n < 2:\n        return n\n' | cl-tokenize -m "$M" | cl-embed -m "$M" >"$TMP/e.cls"
	cl-forward -m "$M" <"$TMP/e.cls" >"$TMP/whole.cls"
	bad=
	for ((k = 0; k < NL; k++)); do
		# Through a file: from a pipe, a stage batches what has arrived.
		cl-forward -m "$M" --layers 0:$k <"$TMP/e.cls" >"$TMP/h.cls" 2>"$TMP/err" &&
			cl-forward -m "$M" --layers $k: <"$TMP/h.cls" >"$TMP/split.cls" 2>>"$TMP/err" &&
			cmp -s "$TMP/split.cls" "$TMP/whole.cls" || bad="$bad $k"
	done
	[ -z "$bad" ] && ok "$name: --layers 0:k | --layers k: equals the whole model bit for bit for every k (0..$((NL - 1)))" ||
		not_ok "$name: --layers 0:k | --layers k: equals the whole model for every k" "differs at k =$bad" "$(cat "$TMP/err")"
	# A one-layer tap is a stage's output: the next stage takes it as it is.
	k=$((NL / 2))
	cl-forward -m "$M" --tap $k "$TMP/t1.cls" <"$TMP/e.cls" >/dev/null &&
		cl-forward -m "$M" --layers $k: <"$TMP/t1.cls" | cmp -s - "$TMP/whole.cls" &&
		ok "$name: --tap $k FILE is a stage's input: --layers $k: on it gives the whole model's logits" ||
		not_ok "$name: --tap $k FILE is a stage's input"
	cl-forward -m "$M" --tap $NL "$TMP/tl.cls" <"$TMP/e.cls" >/dev/null &&
		cl-forward -m "$M" --head <"$TMP/tl.cls" | cmp -s - "$TMP/whole.cls" &&
		ok "$name: the logit lens at the last layer equals the model's logits bit for bit" ||
		not_ok "$name: the logit lens at the last layer equals the model's logits"
done

# A lens over several taps at once: each layer's logits come back named.
M=$TESTDATA/stories260K-hf-f32
printf 'Once upon a time' | cl-tokenize -m "$M" | cl-embed -m "$M" | cl-forward -m "$M" --tap 0,2,5 "$TMP/t3.cls" >/dev/null
out=$(cl-forward -m "$M" --head <"$TMP/t3.cls" | cl-dump | grep -c '"kind":"vector"')
layers=$(cl-forward -m "$M" --head <"$TMP/t3.cls" | cl-dump | grep -o '"layer":[0-9]*' | sort -u | tr '\n' ' ')
[ "$out" = 15 ] && [ "$layers" = '"layer":2 "layer":5 ' ] &&
	ok "--head on a tap stream of layers 0,2,5 gives each position's logits for each layer, named" ||
	not_ok "--head on a tap stream of layers 0,2,5 gives each layer's logits, named" "$out vectors, $layers"

# cl-score against the reference.
M=$TESTDATA/stories260K-hf-f32
printf 'Once upon a time, there was a little girl named Lily.' >"$TMP/text"
cl-score -m "$M" --json -f "$TMP/text" >"$TMP/score.json" 2>"$TMP/err"
out=$($PY - "$TMP/score.json" "$TMP/ref-stories260K-hf-f32" <<'PYEOF'
import json, sys
import numpy as np
s = json.loads(open(sys.argv[1]).read())
lp = np.load(sys.argv[2] + "/logprobs.npy")
ppl = float(open(sys.argv[2] + "/ppl.txt").read())
got = np.array(s["logprobs"][1:], float)
print("%.3g %.3g %s" % (abs(s["perplexity"] / ppl - 1), np.abs(got - lp).max(), s["logprobs"][0] is None and s["scored"] == len(lp)))
PYEOF
)
read -r rel dlp first <<<"$out"
awk -v r="$rel" 'BEGIN { exit !(r <= 1e-4) }' && ok "cl-score: stories260K's perplexity equals the NumPy reference's (relative $rel)" ||
	not_ok "cl-score: stories260K's perplexity equals the NumPy reference's" "$out" "$(cat "$TMP/err")"
awk -v d="$dlp" 'BEGIN { exit !(d <= 1e-4) }' && [ "$first" = True ] &&
	ok "cl-score: every token's log-probability equals NumPy's (max |d| $dlp), the first unscored" ||
	not_ok "cl-score: every token's log-probability equals NumPy's" "$out"

# Windows: --ctx 6 --stride 4 scores each token once, from windows that run
# from an empty cache (Hugging Face's sliding-window perplexity).
ids=$(cl-tokenize -m "$M" --ids -f "$TMP/text")
cl-score -m "$M" --json --ctx 6 --stride 4 -f "$TMP/text" >"$TMP/win.json"
out=$($PY - "$TMP/win.json" "$M" $ids <<'PYEOF'
import json, sys
import numpy as np
import importlib.util, os
spec = importlib.util.spec_from_file_location("ref", os.environ["TOP"] + "/tests/llama_ref.py")
ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
s = json.loads(open(sys.argv[1]).read())
d, ids = sys.argv[2], [int(t) for t in sys.argv[3:]]
W, S, want, prev = 6, 4, [None] * len(ids), 0
for b in range(0, len(ids), S):
    e = min(b + W, len(ids))
    lg = ref.forward(d, ids[b:e])
    z = lg - lg.max(-1, keepdims=True)
    lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    for t in range(max(prev, b + 1), e):
        want[t] = lp[t - 1 - b, ids[t]]
    prev = e
    if e == len(ids):
        break
got = s["logprobs"]
ok = all((g is None) == (w is None) for g, w in zip(got, want))
print("%s %.3g" % (ok, max(abs(g - w) for g, w in zip(got, want) if w is not None)))
PYEOF
)
read -r same dw <<<"$out"
[ "$same" = True ] && awk -v d="$dw" 'BEGIN { exit !(d <= 1e-4) }' &&
	ok "cl-score --ctx 6 --stride 4: the sliding windows score what NumPy's do (max |d| $dw)" ||
	not_ok "cl-score --ctx 6 --stride 4: the sliding windows score what NumPy's do" "$out"

a=$(cl-score -m "$M" --json -f "$TMP/text" | sed 's/"seq":[0-9]*,//')
b=$(cl-tokenize -m "$M" -f "$TMP/text" | cl-score -m "$M" --json | sed 's/"seq":[0-9]*,//')
[ -n "$a" ] && [ "$a" = "$b" ] && ok "cl-score: a token stream in scores as its text does" || not_ok "cl-score: a token stream in scores as its text does" "$a" "$b"
n=$(printf 'Once upon a time\nThe cat sat.\n' | cl-score -m "$M" --json --lines | grep -c perplexity)
[ "$n" = 2 ] && ok "cl-score --lines: one answer per line" || not_ok "cl-score --lines: one answer per line" "$n"
cl-score -m "$M" -f "$TMP/text" | cl-dump | grep -q '"kind":"token","seq":0,"pos":1,"token":[0-9]*,"flags":4,"logprob":-' &&
	ok "cl-score's stream carries each token's log-probability" || not_ok "cl-score's stream carries each token's log-probability"

# Activation patching (scripts/patch-activation): the residual of the
# position where the prompts differ, copied at layer 0, restores the clean
# run exactly; at the last boundary only the last position's matters.
P=$top/scripts/patch-activation
args=(-m "$M" --clean "Lily went to the park. Then" --corrupt "Tim went to the park. Then" --answer she --wrong he)
out=$($PY "$P" "${args[@]}" --sweep --json 2>&1)
res=$($PY -c '
import json, sys
d = json.loads(sys.argv[1]); r = d["recovered"]; T = len(d["positions"])
print(d["patched"][0][1] == d["clean"], r[0][1] == 1, all(v == 0 for v in r[0][:1] + r[0][2:]),
      r[-1][-1] == 1, all(v == 0 for v in r[-1][:-1]), d["clean"] - d["corrupt"] > 1, len(r) == 6)' "$out" 2>&1)
[ "$res" = "True True True True True True True" ] &&
	ok "patch-activation: layer 0 at the differing position restores the clean logit difference exactly, the last boundary only at the last position" ||
	not_ok "patch-activation: the sweep's corners are exact" "$res" "$out"
out=$($PY "$P" "${args[@]}" --layer 3 --pos 1 2>&1)
echo "$out" | grep -q '^patched at layer 3, position 1: .* (recovered ' && ok "patch-activation --layer 3 --pos 1 reports one patch" ||
	not_ok "patch-activation --layer 3 --pos 1 reports one patch" "$out"
out=$($PY "$P" -m "$M" --clean "Lily went to the park." --corrupt "Tom went to the park." --answer she --wrong he --sweep 2>&1)
[ "$out" = "patch-activation: the clean prompt is 10 tokens, the corrupted 11: they must match" ] &&
	ok "patch-activation: prompts of other lengths are refused in one line" || not_ok "patch-activation: prompts of other lengths are refused" "$out"

check_fails "--tap outside the stage is refused" "tap at layer 1: the stage runs layers 2 to 3" \
	bash -c 'cl-forward -m "$1" --layers 2:4 --tap 1 /dev/null </dev/null' _ "$M"
check_fails "--tap past the model's layers is refused" "--tap: layer 9: the model has 5 layers" \
	cl-forward -m "$M" --tap 9 /dev/null
check_fails "--attn with --head is refused" "--attn: this stage has no layers" cl-forward -m "$M" --head --attn /dev/null
check_fails "a stage refuses a tap stream of several layers" "hidden states of several layers" \
	bash -c 'cl-forward -m "$1" --layers 2: <"$2"' _ "$M" "$TMP/t3.cls"
check_fails "cl-score --stride longer than the window is refused" "--stride: 9 is longer than the window of 8" \
	cl-score -m "$M" --json --ctx 8 --stride 9 x
printf '%s\n' '{"kind":"header","stream":"tokens","what":"tokens","vocab_size":512}' \
	'{"kind":"token","seq":0,"pos":0,"token":1}' '{"kind":"token","seq":0,"pos":1,"token":600}' | cl-dump -r >"$TMP/oov.cls"
check_fails "cl-score refuses a token outside the vocabulary" "token 600 at position 1 is outside the vocabulary of 512" \
	bash -c 'cl-score -m "$1" --json <"$2"' _ "$M" "$TMP/oov.cls"
counts
