#!/usr/bin/env bash
# tests/t-infill.sh - Code Llama's fill-in-the-middle: the prompt's ids equal
# those of Code Llama's reference recipe (BOS <PRE> encode(prefix) <SUF>
# encode_infilling(suffix) <MID>, SentencePiece's own ids), <EOT> ends the
# middle, and cl-complete --suffix, cl-serve's suffix and /infill agree; a
# model without those tokens gets a clear error.  The tokenizer is made from
# Llama 2's by scripts/make-fim-tokenizer (Code Llama's ids 32007-32010).
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/.." && pwd)
need_testdata "fill-in-the-middle" || exit 0
"$top/scripts/make-fim-tokenizer" "$TESTDATA/llama2-tokenizer/tokenizer.model" "$TMP/tokenizer.model" || exit 1
"$top/scripts/make-checkpoint" -q --preset tiny --vocab 32016 --tokenizer "$TMP/tokenizer.model" "$TMP/m" || exit 1
M=$TMP/m
PRE='def add(a, b):'
SUF=$'\n    return a + b\n'

# The ids of Code Llama's recipe for PRE and SUF, from SentencePiece's own
# Python encoder (as written down when this test was made).
c="cl-tokenize --suffix gives the ids of Code Llama's infilling prompt"
want="1 32007 822 788 29898 29874 29892 289 1125 32008 13 1678 736 263 718 289 13 32009"
got=$(cl-tokenize -m "$M" --ids --suffix "$SUF" "$PRE")
[ "$got" = "$want" ] && ok "$c" || not_ok "$c" "got  $got" "want $want"

c="more prefixes and suffixes against SentencePiece's Python encoder"
if /usr/bin/python3 -c 'import sentencepiece' 2>/dev/null; then
	bad=
	while IFS=$'\t' read -r pre suf; do
		pre=$(printf '%b' "$pre") suf=$(printf '%b' "$suf")
		a=$(cl-tokenize -m "$M" --ids --suffix "$suf" "$pre")
		b=$(/usr/bin/python3 - "$TMP/tokenizer.model" "$pre" "$suf" <<'PYEOF'
import sys, sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
pre, suf = sys.argv[2], sys.argv[3]
pid, sid, mid = (sp.piece_to_id(p) for p in ("▁<PRE>", "▁<SUF>", "▁<MID>"))
print(" ".join(map(str, [sp.bos_id(), pid] + sp.encode(pre) + [sid] + sp.encode("☺" + suf)[2:] + [mid])))
PYEOF
)
		[ "$a" = "$b" ] || bad="$bad [$pre|$suf]"
	done <<'CASES'
import os\n\ndef main(	)\n
  x = 1	  return x
class A:\n    def f(self):\n        	\n\nprint(A().f())
# naïve café ✓\n	 end
x	y
CASES
	[ -z "$bad" ] && ok "$c" || not_ok "$c" "differ:$bad"
else
	skip "$c" "Python's sentencepiece module is not installed (scripts/setup --train)"
fi

check_fails "a model without fill-in-the-middle tokens: one clear line" "no fill-in-the-middle tokens" \
	cl-complete -m "$top/models/cl-python-small" --suffix x "def f("

c="<EOT> ends the middle: cl-complete --suffix prints prefix, middle and suffix"
out=$(timeout 60 cl-complete -m "$M" --greedy --logit-bias 32010=100 --suffix "$SUF" "$PRE" 2>"$TMP/err")
[ $? -eq 0 ] && [ "$out" = "$(printf '%s' "$PRE$SUF")" ] && ok "$c" || not_ok "$c" "$out" "$(cat "$TMP/err")"

# The server: suffix in /v1/completions and llama.cpp's /infill.
cl-serve -m "$M" --port 0 --threads 2 2>"$TMP/serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=
for _ in $(seq 1 200); do
	PORT=$(sed -n 's#.*listening on http://127.0.0.1:\([0-9]*\) .*#\1#p' "$TMP/serve.log")
	[ -n "$PORT" ] || { kill -0 $PID 2>/dev/null || break; sleep 0.1; continue; }
	break
done
[ -n "$PORT" ] || { not_ok "cl-serve starts with the infilling model" "$(cat "$TMP/serve.log")"; exit 0; }
URL=http://127.0.0.1:$PORT
mid=$(timeout 60 cl-complete -m "$M" --greedy --max-new-tokens 12 --suffix "$SUF" "$PRE")
mid=${mid#"$PRE"}
mid=${mid%"${SUF%$'\n'}"}
req=$($PY -c 'import json, sys; print(json.dumps({"prompt": sys.argv[1], "suffix": sys.argv[2], "max_tokens": 12, "temperature": 0}))' "$PRE" "$SUF")
c="cl-serve's suffix and /infill give cl-complete --suffix's middle"
a=$(curl -s --max-time 60 -d "$req" "$URL/v1/completions")
b=$(curl -s --max-time 60 -d "$($PY -c 'import json, sys; print(json.dumps({"input_prefix": sys.argv[1], "input_suffix": sys.argv[2], "n_predict": 12, "temperature": 0}))' "$PRE" "$SUF")" "$URL/infill")
$PY - "$a" "$b" "$mid" <<'PYEOF' 2>"$TMP/err" && ok "$c" || not_ok "$c" "$(cat "$TMP/err")"
import json, sys
a, b, mid = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
assert a["choices"][0]["text"] == mid and b["content"] == mid, (a, b, mid)
PYEOF
c="<EOT> ends a served middle with finish_reason stop"
a=$(curl -s --max-time 60 -d "$($PY -c 'import json, sys; print(json.dumps({"prompt": sys.argv[1], "suffix": sys.argv[2], "max_tokens": 12, "temperature": 0, "logit_bias": {"32010": 100}}))' "$PRE" "$SUF")" "$URL/v1/completions")
$PY -c 'import json, sys; c = json.loads(sys.argv[1])["choices"][0]; assert c["text"] == "" and c["finish_reason"] == "stop", c' "$a" 2>"$TMP/err" &&
	ok "$c" || not_ok "$c" "$(cat "$TMP/err")"
kill -TERM $PID; wait $PID
