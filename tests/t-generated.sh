#!/usr/bin/env bash
# opt
# Llama checkpoints of other shapes, made by scripts/make-checkpoint (so this
# runs on any machine, without ../shared): cl-forward against an independent
# NumPy float64 forward pass (tests/llama_ref.py) for grouped-query and
# multi-head attention, an explicit head_dim, tied and untied heads, F32, F16
# and BF16, sharded or not, and linear rope_scaling; and the rope_scaling
# types cl does not implement refused by name.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 2
IDS="1 5 9 200 7 3 250 11 42 99 17 4"

# stream IDS as a token stream without a tokenizer (the checkpoints have none)
tokens() {
	{
		echo '{"kind":"header","stream":"tokens"}'
		p=0
		for t in $IDS; do echo "{\"kind\":\"token\",\"seq\":0,\"pos\":$p,\"token\":$t}"; p=$((p + 1)); done
	} | cl-dump -r
}

# case NAME MAKE-CHECKPOINT-OPTIONS...
case_() {
	local name=$1 d=$TMP/ck; shift
	rm -rf "$d"
	if ! scripts/make-checkpoint -q --family llama --vocab 300 --max-pos 64 "$@" "$d" >"$TMP/mk.log" 2>&1; then
		not_ok "$name" "make-checkpoint failed: $(tail -2 "$TMP/mk.log")"
		return
	fi
	# shellcheck disable=SC2086
	$PY tests/llama_ref.py "$d" $IDS >"$TMP/ref.npy" &&
		tokens | cl-embed -m "$d" | cl-forward -m "$d" >"$TMP/got.cls" &&
		cl-dump --npy "$TMP/got.npy" "$TMP/got.cls" &&
		check "$name" $PY -c "
import numpy as np, sys
a, b = np.load('$TMP/got.npy'), np.load('$TMP/ref.npy')
d = np.abs(a - b).max(); print('max |diff|', d, 'logit std', b.std())
sys.exit(0 if a.shape == b.shape and d <= 1e-4 and b.std() > 0.1 else 1)" ||
		not_ok "$name" "the pipeline failed"
}

case_ "GQA (6 heads, 2 KV heads), rope_theta 1e6, untied, bf16 in 2 shards equals NumPy (1e-4)" \
	--hidden 96 --layers 2 --heads 6 --kv-heads 2 --ffn 160 --rope-theta 1000000 --no-tie --dtype bf16 --shards 2
case_ "linear rope_scaling (factor 4) equals NumPy (1e-4)" \
	--hidden 96 --layers 2 --heads 6 --kv-heads 2 --ffn 160 --rope-theta 1000000 --rope-scaling-factor 4 --dtype bf16
case_ "multi-head attention, tied embeddings, f32 equals NumPy (1e-4)" \
	--hidden 64 --layers 3 --heads 4 --kv-heads 4 --ffn 96 --tie --dtype f32
case_ "an explicit head_dim unlike hidden/heads, multi-query attention, f16 equals NumPy (1e-4)" \
	--hidden 64 --layers 2 --heads 4 --kv-heads 1 --head-dim 24 --ffn 128 --dtype f16 --shards 3

d=$TMP/dyn
scripts/make-checkpoint -q --family llama --hidden 64 --layers 1 --heads 4 --ffn 96 --vocab 300 --max-pos 64 "$d" >/dev/null 2>&1
$PY - "$d/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["rope_scaling"] = {"type": "dynamic", "factor": 2.0}
json.dump(c, open(sys.argv[1], "w"))
PY
check_fails "a rope_scaling type other than linear is refused by name" "rope_scaling: type 'dynamic' is not supported" \
	cl-forward -m "$d"
