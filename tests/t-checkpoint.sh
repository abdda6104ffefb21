#!/usr/bin/env bash
# scripts/make-checkpoint writes checkpoints that our safetensors reader opens
# (single file and shards, f32/bf16/f16, Llama and GPT-2) and that follow the
# format as Hugging Face writes it.  Needs no ../shared.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/.." && pwd)
MC=$top/scripts/make-checkpoint
# The unit-test binary beside the programs under test has an --open mode.
TW=$BIN/../tests/test-weights
[ -x "$TW" ] || TW=$top/build/opt/tests/test-weights

# opens DIR N: our reader opens DIR and lists N tensors.
opens() {
	local out n
	out=$("$TW" --open "$1" 2>&1) || { echo "$out"; return 1; }
	n=$(grep -c . <<<"$out")
	[ "$n" -eq "$2" ] || { echo "expected $2 tensors, listed $n"; echo "$out" | head -3; return 1; }
}

# The format as the safetensors library writes it, checked independently of
# our C reader: 8-byte aligned header, tensors back to back with no gap or
# overlap up to the end of the file, the index covering every tensor with the
# right total_size.
pycheck() {
	$PY - "$@" <<'EOF'
import json, os, struct, sys
d, dtype = sys.argv[1], sys.argv[2]
idx = os.path.join(d, "model.safetensors.index.json")
files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
seen, total = {}, 0
for f in files:
    b = open(os.path.join(d, f), "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    assert n % 8 == 0, "%s: header length %d not a multiple of 8" % (f, n)
    h = json.loads(b[8:8 + n])
    assert h.pop("__metadata__") == {"format": "pt"}
    at = 0
    for k in sorted(h, key=lambda k: h[k]["data_offsets"]):
        v = h[k]
        assert v["dtype"] == dtype, (k, v["dtype"])
        s, e = v["data_offsets"]
        assert s == at, (f, k, s, at)
        at = e
        seen[k] = f
    assert 8 + n + at == len(b), (f, 8 + n + at, len(b))
    total += at
if os.path.exists(idx):
    j = json.load(open(idx))
    assert j["metadata"]["total_size"] == total, (j["metadata"], total)
    assert j["weight_map"] == seen, "weight_map differs from the shards' contents"
else:
    assert files == ["model.safetensors"], files
c = json.load(open(os.path.join(d, "config.json")))
assert c["torch_dtype"] == {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
EOF
}

for dt in f32 bf16 f16; do
	for sh in 1 3; do
		d=$TMP/llama-$dt-$sh
		name="a tiny Llama checkpoint in $dt, $sh file(s), is written"
		if ! out=$($MC --preset tiny --dtype $dt --shards $sh -q "$d" 2>&1); then
			not_ok "$name" "$out"
			continue
		fi
		ok "$name"
		check "our reader opens the tiny Llama checkpoint in $dt, $sh file(s), with its 21 tensors" opens "$d" 21
		check "the tiny Llama checkpoint in $dt, $sh file(s), is laid out as safetensors writes it" \
			pycheck "$d" "$(tr a-z A-Z <<<$dt)"
	done
done

# The same seed gives the same weights however they are sharded, and the
# 16-bit files hold the f32 values rounded to nearest even (as torch does).
check "the same seed gives the same weights sharded or not, and bf16/f16 round the f32 values" \
	$PY - "$TMP" <<'EOF'
import json, os, struct, sys
import numpy as np
def load(d):
    out = {}
    for f in os.listdir(d):
        if not f.endswith(".safetensors"):
            continue
        b = open(os.path.join(d, f), "rb").read()
        n = struct.unpack("<Q", b[:8])[0]
        for k, v in json.loads(b[8:8 + n]).items():
            if k == "__metadata__":
                continue
            s, e = v["data_offsets"]
            raw = b[8 + n + s:8 + n + e]
            if v["dtype"] == "F32":
                a = np.frombuffer(raw, "<f4")
            elif v["dtype"] == "F16":
                a = np.frombuffer(raw, "<f2").astype(np.float32)
            else:
                a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
            out[k] = a.reshape(v["shape"])
    return out
t = sys.argv[1]
f1, f3 = load(t + "/llama-f32-1"), load(t + "/llama-f32-3")
assert f1.keys() == f3.keys() and all(np.array_equal(f1[k], f3[k]) for k in f1)
h, b = load(t + "/llama-f16-3"), load(t + "/llama-bf16-1")
for k, x in f1.items():
    assert np.array_equal(x.astype(np.float16).astype(np.float32), h[k]), k
    u = x.view(np.uint32).astype(np.uint64)
    r = (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
    assert np.array_equal(r, b[k]), k
    assert np.isfinite(x).all() and x.std() > 0, k
assert abs(f1["model.norm.weight"].mean() - 1) < 0.1
EOF

check "a tiny Llama config.json has the LlamaForCausalLM fields and the flags given" \
	bash -c "$MC --preset tiny --heads 8 --kv-heads 2 --rope-theta 1e6 --tie --max-pos 4096 -q $TMP/cfg &&
	$PY -c '
import json, sys
c = json.load(open(sys.argv[1]))
want = dict(architectures=[\"LlamaForCausalLM\"], model_type=\"llama\", hidden_size=64,
            num_attention_heads=8, num_key_value_heads=2, head_dim=8, rope_theta=1e6,
            tie_word_embeddings=True, max_position_embeddings=4096, vocab_size=512,
            hidden_act=\"silu\", bos_token_id=1, eos_token_id=2, torch_dtype=\"float32\")
for k, v in want.items():
    assert c[k] == v, (k, c[k], v)
for k in (\"intermediate_size\", \"num_hidden_layers\", \"rms_norm_eps\"):
    assert k in c, k
' $TMP/cfg/config.json"
check "a tied tiny Llama checkpoint has no lm_head.weight (20 tensors)" opens "$TMP/cfg" 20

d=$TMP/gpt2
if out=$($MC --preset tiny --family gpt2 --dtype f16 --shards 2 --with-attn-bias-buffers \
	--prefix-transformer -q "$d" 2>&1); then
	ok "a tiny GPT-2 checkpoint with attn.bias buffers is written in 2 shards"
	# 2 embeddings, 12 per layer + 2 buffers, ln_f weight and bias.
	check "our reader opens the tiny GPT-2 checkpoint with its 2 + 2*14 + 2 tensors" opens "$d" 32
	check "the tiny GPT-2 checkpoint is laid out as safetensors writes it" pycheck "$d" F16
	check "the tiny GPT-2 checkpoint has transformer.-prefixed Conv1D [in, out] weights" \
		bash -c "'$TW' --open '$d' | grep -qxF 'transformer.h.1.attn.c_attn.weight F16 [48, 144]' &&
		'$TW' --open '$d' | grep -qxF 'transformer.h.0.mlp.c_proj.weight F16 [192, 48]' &&
		'$TW' --open '$d' | grep -qxF 'transformer.h.0.attn.bias F16 [1, 1, 128, 128]'"
else
	not_ok "a tiny GPT-2 checkpoint with attn.bias buffers is written in 2 shards" "$out"
fi
check "a GPT-2 checkpoint without the transformer. prefix has bare names and the GPT2LMHeadModel fields" \
	bash -c "$MC --family gpt2 --hidden 32 --layers 1 --heads 2 --vocab 100 --n-positions 16 \
		--activation gelu --no-prefix-transformer -q $TMP/g2 &&
	'$TW' --open $TMP/g2 | grep -qxF 'wte.weight F32 [100, 32]' &&
	$PY -c '
import json, sys
c = json.load(open(sys.argv[1]))
want = dict(model_type=\"gpt2\", n_embd=32, n_layer=1, n_head=2, n_inner=128, n_positions=16,
            n_ctx=16, activation_function=\"gelu\", vocab_size=100, tie_word_embeddings=True,
            scale_attn_weights=True, layer_norm_epsilon=1e-5)
for k, v in want.items():
    assert c[k] == v, (k, c[k], v)
' $TMP/g2/config.json"

printf 'not really a tokenizer\n' >"$TMP/tok.model"
mkdir -p "$TMP/gtok" && printf '{"a": 0}\n' >"$TMP/gtok/vocab.json" && printf '#version: 0.2\n' >"$TMP/gtok/merges.txt"
check "--tokenizer is copied to tokenizer.model, --tokenizer-dir gives vocab.json and merges.txt" \
	bash -c "$MC --preset tiny --tokenizer $TMP/tok.model -q $TMP/tk && cmp $TMP/tok.model $TMP/tk/tokenizer.model &&
	$MC --preset tiny --family gpt2 --tokenizer-dir $TMP/gtok -q $TMP/gk &&
	cmp $TMP/gtok/vocab.json $TMP/gk/vocab.json && cmp $TMP/gtok/merges.txt $TMP/gk/merges.txt"
check "a checkpoint written again with another shard count leaves no stale shard behind" \
	bash -c "$MC --preset tiny --shards 3 -q $TMP/re && $MC --preset tiny -q $TMP/re &&
	[ \"\$(ls $TMP/re | grep -c safetensors)\" = 1 ] && '$TW' --open $TMP/re >/dev/null"

check "make-checkpoint --help exits 0" $MC --help
check_fails "make-checkpoint refuses heads that are not a multiple of kv-heads" "not a multiple" \
	$MC --heads 6 --kv-heads 4 -q "$TMP/bad"
check_fails "make-checkpoint refuses a zero dimension" "hidden: expected a positive integer" \
	$MC --hidden 0 -q "$TMP/bad"
