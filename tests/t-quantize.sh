#!/usr/bin/env bash
# opt
# cl-quantize: a checkpoint converted once into a directory gives exactly the
# logits of --quantize at load, is a valid safetensors file that other readers
# open, and a damaged or foreign one is refused with a one-line error.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 2
M=models/cl-python-small

# logits MODEL EMB OUT.npy [cl-forward options]: embeddings from a file (so the
# batches do not depend on pipe timing) to logits.
logits() {
	local m=$1 e=$2 out=$3; shift 3
	cl-forward -m "$m" "$@" <"$e" >"$TMP/l.cls" && cl-dump --npy "$out" "$TMP/l.cls"
}

# same_logits NAME SRC TYPE QDIR: QDIR's logits equal SRC's with --quantize
# TYPE, bit for bit, batched and one position at a time.
same_logits() {
	local name=$1 src=$2 type=$3 q=$4 bad=
	echo "1 22 333 44 5 66 7 88 9 100 11 12" | cl-tokenize -m "$src" --from-ids | cl-embed -m "$src" >"$TMP/e.cls" ||
		{ not_ok "$name" "the embeddings failed"; return; }
	for b in 64 1; do
		logits "$src" "$TMP/e.cls" "$TMP/a.npy" --quantize "$type" --batch $b &&
			logits "$q" "$TMP/e.cls" "$TMP/b.npy" --batch $b &&
			$PY -c "
import numpy as np, sys
a, b = np.load('$TMP/a.npy'), np.load('$TMP/b.npy')
sys.exit(0 if a.shape == b.shape and (a == b).all() else 1)" || bad="$bad batch=$b"
	done
	[ -z "$bad" ] && ok "$name" || not_ok "$name" "differ:$bad"
}

# valid_file NAME DIR: model.safetensors is well-formed safetensors: offsets
# contiguous from 0 to the end of the file, sizes as dtype x shape, data
# 64-aligned, and every cl.quant key on a U8 tensor of whole blocks.
valid_file() {
	check "$1" $PY - "$2/model.safetensors" <<'PY'
import json, struct, sys
f = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", f[:8])[0]
h = json.loads(f[8:8 + n])
meta = h.pop("__metadata__")
assert meta["cl.format"] == "1", meta.get("cl.format")
size = {"F32": 4, "F16": 2, "BF16": 2, "U8": 1, "I64": 8}
end = 0
for name, t in sorted(h.items(), key=lambda kv: kv[1]["data_offsets"]):
    b, e = t["data_offsets"]
    assert b == end, (name, b, end)
    k = size[t["dtype"]]
    for d in t["shape"]:
        k *= d
    assert e - b == k, (name, e - b, k)
    end = e
assert 8 + n + end == len(f), (8 + n + end, len(f))
assert (8 + n) % 64 == 0
for k, v in meta.items():
    if k.startswith("cl.quant."):
        t = h[k[9:]]
        assert t["dtype"] == "U8" and len(t["shape"]) == 2, k
        assert t["shape"][1] % {"q8_0": 34, "q4_0": 18}[v] == 0, k
PY
}

if [ -f "$M/config.json" ]; then
	for type in q8_0 q4_0 f16; do
		q=$TMP/small-$type
		if cl-quantize -m "$M" --type $type "$q" 2>"$TMP/err"; then
			same_logits "the shipped model through cl-quantize --type $type gives the logits of --quantize $type, bit for bit" "$M" $type "$q"
		else
			not_ok "cl-quantize --type $type on the shipped model" "$(cat "$TMP/err")"
		fi
	done
	valid_file "cl-quantize writes valid safetensors (contiguous offsets, sizes, alignment, cl.quant on U8 blocks)" "$TMP/small-q8_0"
	c="--type f16 writes plain F16 tensors and no cl.quant keys"
	check "$c" $PY -c "
import json, struct, sys
f = open('$TMP/small-f16/model.safetensors', 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n))
m = h.pop('__metadata__')
assert not [k for k in m if k.startswith('cl.quant.')]
assert h['model.layers.0.mlp.up_proj.weight']['dtype'] == 'F16'"
	c="config.json and tokenizer.model are copied beside the weights"
	check "$c" sh -c "cmp '$M/tokenizer.model' '$TMP/small-q8_0/tokenizer.model' && cmp '$M/config.json' '$TMP/small-q8_0/config.json'"
	rm -rf "$TMP/again"
	check "cl-quantize of a quantized directory to the same type reproduces it" \
		sh -c "cl-quantize -m '$TMP/small-q8_0' --type q8_0 '$TMP/again' && cmp '$TMP/small-q8_0/model.safetensors' '$TMP/again/model.safetensors'"

	# Refusals.
	check_fails "an output directory that is not empty is refused" "exists and is not empty" \
		cl-quantize -m "$M" --type q8_0 "$TMP/small-q8_0"
	check_fails "--type is required" "--type is required" cl-quantize -m "$M" "$TMP/x1"
	check_fails "--type f32 is refused" "--type: expected" cl-quantize -m "$M" --type f32 "$TMP/x2"
	check_fails "a missing output directory is a usage error" "no output directory" cl-quantize -m "$M" --type q8_0
	check_fails "--quantize to another type on a quantized directory names the stored type" \
		"stored as q8_0" cl-forward -m "$TMP/small-q8_0" --quantize q4_0
	# Damaged headers: rewrite the header of the q8_0 file and load it.
	tamper() { # NAME PYTHON-EXPR-ON-h PATTERN
		local d="$TMP/tamper"
		rm -rf "$d" && mkdir "$d" && cp "$TMP/small-q8_0/config.json" "$TMP/small-q8_0/tokenizer.model" "$d/"
		$PY - "$TMP/small-q8_0/model.safetensors" "$d/model.safetensors" "$2" <<'PY'
import json, struct, sys
f = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", f[:8])[0]
h = json.loads(f[8:8 + n])
m = h["__metadata__"]
q = "model.layers.0.mlp.up_proj.weight"
exec(sys.argv[3])
b = json.dumps(h).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(b)) + b + f[8 + n:])
PY
		check_fails "$1" "$3" cl-forward -m "$d"
	}
	tamper "a newer cl.format is refused, naming it" 'm["cl.format"] = "2"' 'cl.format "2"'
	tamper "cl.quant keys without cl.format are refused" 'del m["cl.format"]' "without cl.format"
	tamper "an unknown cl.quant type is refused" 'm["cl.quant." + q] = "q7_x"' "expected a block type"
	tamper "cl.quant on a tensor that is not U8 is refused" \
		'm["cl.quant.model.norm.weight"] = "q8_0"' "wants a 2-D U8 tensor"
	tamper "cl.quant naming no tensor is refused" 'm["cl.quant.nothing"] = "q8_0"' "no such tensor"
	tamper "U8 rows that are not whole blocks are refused" \
		'm["cl.quant." + q] = "q4_0"' "not a whole number of q4_0 blocks"
	tamper "a non-string metadata value is refused" 'm["x"] = 1' "expected a string"
else
	skip "cl-quantize on the shipped model" "$M is not there"
fi

name="stories260K (tied embeddings) through cl-quantize q8_0 and q4_0 gives the logits of --quantize, bit for bit"
if need_testdata "$name"; then
	for type in q8_0 q4_0; do
		cl-quantize -m "$TESTDATA/stories260K-hf-f32" --type $type "$TMP/s-$type" ||
			not_ok "$name" "cl-quantize --type $type failed"
	done
	same_logits "$name (q8_0)" "$TESTDATA/stories260K-hf-f32" q8_0 "$TMP/s-q8_0"
	same_logits "$name (q4_0)" "$TESTDATA/stories260K-hf-f32" q4_0 "$TMP/s-q4_0"
	valid_file "the stories260K q4_0 file is valid safetensors" "$TMP/s-q4_0"
fi

name="the sharded GQA bf16 checkpoint through cl-quantize q4_0 becomes one file with the logits of --quantize q4_0"
if need_testdata "$name"; then
	src=$TESTDATA/synthetic-codellama-like-bf16
	if cl-quantize -m "$src" --type q4_0 "$TMP/g"; then
		[ ! -e "$TMP/g/model.safetensors.index.json" ] || not_ok "$name" "an index was copied"
		same_logits "$name" "$src" q4_0 "$TMP/g"
	else
		not_ok "$name" "cl-quantize failed"
	fi
fi

name="a GPT-2 checkpoint is refused by cl-quantize with a one-line reason"
if need_testdata "$name"; then
	check_fails "$name" "Llama-family checkpoints only" cl-quantize -m "$TESTDATA/gpt2/tiny-f32" --type q8_0 "$TMP/gp"
fi
