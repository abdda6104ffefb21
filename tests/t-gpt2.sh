#!/usr/bin/env bash
# opt
# The GPT-2 family through the real programs: cl-tokenize | cl-embed |
# cl-forward on the tiny random checkpoints of testdata/gpt2 against their
# float64 reference logits, cl-complete's greedy continuation, the byte-level
# BPE round trip through cl-detok, and generated checkpoints (tanh GELU,
# untied, no "transformer." prefix, bf16/f16) against a NumPy forward pass
# (2e-5: float32 is about 2e-6 from it; erf GELU for tanh moves logits 1e-3).
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 2
G=${TESTDATA:+$TESTDATA/gpt2}

field() { $PY -c "import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(v if isinstance(v, str) else ' '.join(map(str, v)), end='')" "$@"; }

# The prompts' reference ids have no leading 50256: Hugging Face's GPT-2
# tokenizer adds no BOS, and neither does cl-tokenize by default for it.
for p in fib life; do
	name="cl-tokenize gives the reference ids of the '$p' prompt, with no BOS by default"
	if need_testdata "$name"; then
		want=$(field "$G/tiny-logits-$p.json" prompt_ids)
		got=$(cl-tokenize -m "$G/tiny-f32" --ids "$(field "$G/tiny-logits-$p.json" prompt)" 2>&1)
		[ "$got" = "$want" ] && ok "$name" || not_ok "$name" "got:  $got" "want: $want"
	fi
done

# The pipeline on each prompt and each dtype; --no-bos spells out what the
# reference did.
for m in tiny-f32 tiny-f16; do
	for p in fib life; do
		name="cl-tokenize | cl-embed | cl-forward on gpt2/$m gives the '$p' reference logits (max |d| 1e-5)"
		need_testdata "$name" || continue
		if cl-tokenize -m "$G/$m" --no-bos "$(field "$G/tiny-logits-$p.json" prompt)" |
			cl-embed -m "$G/$m" | cl-forward -m "$G/$m" --threads 2 >"$TMP/l.cls" &&
			cl-dump --npy "$TMP/l.npy" "$TMP/l.cls"; then
			check "$name" $PY tests/refcheck.py "$TMP/l.npy" "$G/tiny-logits-$p.f32" 1e-5
		else
			not_ok "$name" "the pipeline failed"
		fi
	done
done

name="cl-forward --last gives the reference logits of the last position, one thread"
if need_testdata "$name"; then
	m=$G/tiny-f32
	cl-tokenize -m "$m" "$(field "$G/tiny-logits-fib.json" prompt)" | cl-embed -m "$m" |
		cl-forward -m "$m" --last --threads 1 >"$TMP/last.cls" && cl-dump --npy "$TMP/last.npy" "$TMP/last.cls" &&
		check "$name" $PY tests/refcheck.py "$TMP/last.npy" "$G/tiny-logits-fib.f32" 1e-5 --last ||
		not_ok "$name" "the pipeline failed"
fi

for p in fib life; do
	name="cl-complete --greedy on gpt2/tiny-f32 continues '$p' with the reference's 32 tokens"
	need_testdata "$name" || continue
	prompt=$(field "$G/tiny-logits-$p.json" prompt)
	want=$prompt$(field "$G/tiny-logits-$p.json" greedy_text)
	got=$(cl-complete -m "$G/tiny-f32" --greedy --max-new-tokens 32 --ignore-eos --raw --threads 2 "$prompt" 2>&1)
	[ "$got" = "$want" ] && ok "$name" || not_ok "$name" "got:  $got" "want: $want"
done

# Byte-exact round trips through the byte-level BPE, and a check that they
# are not trivially short: every string takes several tokens.
texts=(
	"def fibonacci(n):
    if n < 2:
        return n"
	"	tabs,  double  spaces and a trailing space "
	"emoji: 🦙🐍👩‍💻 done"
	"中文和日本語のテキスト、한국어도"
	"<|endoftext|> as plain text"
	"naïve café — “quotes” ½"
)
for t in "${texts[@]}"; do
	name="cl-tokenize | cl-detok on gpt2/tiny-f32 gives back '${t%%$'\n'*}' byte for byte"
	need_testdata "$name" || continue
	printf '%s' "$t" >"$TMP/want.txt"
	if cl-tokenize -m "$G/tiny-f32" -f "$TMP/want.txt" | cl-detok -m "$G/tiny-f32" >"$TMP/got.txt"; then
		n=$(cl-tokenize -m "$G/tiny-f32" --ids -f "$TMP/want.txt" | wc -w)
		if cmp -s "$TMP/want.txt" "$TMP/got.txt" && [ "$n" -gt 3 ]; then ok "$name"
		else not_ok "$name" "$n tokens; got: $(od -c "$TMP/got.txt" | head -n 4)"; fi
	else
		not_ok "$name" "the pipeline failed"
	fi
done

# A GPT-2 forward pass in NumPy, float64, from config.json and the
# safetensors file(s) alone: the logits (T, V) of ids 0..T-1 given as
# arguments, to stdout as .npy.
cat >"$TMP/ref.py" <<'PY'
import glob, json, struct, sys
import numpy as np
d, ids = sys.argv[1], [int(a) for a in sys.argv[2:]]
cfg = json.load(open(d + "/config.json"))
W = {}
for f in glob.glob(d + "/*.safetensors"):
    raw = open(f, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    for k, v in json.loads(raw[8:8 + n]).items():
        if k == "__metadata__" or v["dtype"] not in ("F32", "F16", "BF16"):
            continue
        b, e = v["data_offsets"]
        buf = raw[8 + n + b:8 + n + e]
        if v["dtype"] == "F32": a = np.frombuffer(buf, "<f4")
        elif v["dtype"] == "F16": a = np.frombuffer(buf, "<f2")
        else: a = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32)
        W[k[len("transformer."):] if k.startswith("transformer.") else k] = a.astype(np.float64).reshape(v["shape"])
D, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
eps = cfg.get("layer_norm_epsilon", 1e-5)
hd = D // H
def ln(x, p):
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * W[p + ".weight"] + W[p + ".bias"]
if cfg.get("activation_function", "gelu_new") == "gelu":
    from math import erf
    act = np.vectorize(lambda v: 0.5 * v * (1 + erf(v / np.sqrt(2))))
else:
    act = lambda v: 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v ** 3)))
T = len(ids)
x = W["wte.weight"][ids] + W["wpe.weight"][:T]
mask = np.triu(np.full((T, T), -np.inf), 1)
for l in range(L):
    p = "h.%d." % l
    qkv = ln(x, p + "ln_1") @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]
    q, k, v = (qkv[:, i * D:(i + 1) * D].reshape(T, H, hd).transpose(1, 0, 2) for i in range(3))
    s = q @ k.transpose(0, 2, 1) / np.sqrt(hd) + mask
    s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
    y = (s @ v).transpose(1, 0, 2).reshape(T, D)
    x = x + y @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
    f = act(ln(x, p + "ln_2") @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"])
    x = x + f @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
head = W["wte.weight"] if cfg.get("tie_word_embeddings", True) else W["lm_head.weight"]
np.save(sys.stdout.buffer, (ln(x, "ln_f") @ head.T).astype(np.float32))
PY

# gen_case NAME ARGS...: a generated checkpoint against the NumPy forward.
gen_case() {
	local name=$1 d="$TMP/gen"; shift
	rm -rf "$d"
	if ! $PY scripts/make-checkpoint -q --family gpt2 --vocab 300 --max-pos 64 "$@" "$d" >/dev/null 2>"$TMP/err"; then
		not_ok "$name" "scripts/make-checkpoint failed" "$(cat "$TMP/err")"
		return
	fi
	local ids="5 17 299 0 42 42 7 101 250 3 64 128 9 33 1 200 77 150 11 2"
	$PY "$TMP/ref.py" "$d" $ids >"$TMP/ref.npy" || { not_ok "$name" "the NumPy reference failed"; return; }
	$PY -c "
import json, sys
print(json.dumps({'kind': 'header', 'stream': 'tokens', 'what': 'tokens', 'vocab_size': 300}))
for p, t in enumerate(sys.argv[1:]):
    print(json.dumps({'kind': 'token', 'seq': 0, 'pos': p, 'token': int(t), 'flags': 0}))" $ids >"$TMP/g.jsonl"
	if cl-dump -r "$TMP/g.jsonl" | cl-embed -m "$d" | cl-forward -m "$d" --threads 2 >"$TMP/g.cls" &&
		cl-dump --npy "$TMP/g.npy" "$TMP/g.cls"; then
		check "$name" $PY -c "
import numpy as np, sys
a, b = np.load('$TMP/g.npy'), np.load('$TMP/ref.npy')
d = float(np.abs(a - b).max()) if a.shape == b.shape else float('inf')
print('shape', a.shape, b.shape, 'max |diff|', d, 'logit std', float(b.std()))
sys.exit(0 if d <= 2e-5 and (a.argmax(1) == b.argmax(1)).all() else 1)"
	else
		not_ok "$name" "the pipeline failed"
	fi
}

gen_case "a generated GPT-2 (gelu_new, untied, no transformer. prefix, bf16, attn.bias buffers) equals a NumPy forward (2e-5)" \
	--activation gelu_new --no-tie --no-prefix-transformer --dtype bf16 --with-attn-bias-buffers
gen_case "a generated GPT-2 (gelu, tied, transformer. prefix, f16, 2 shards, 3 heads of 32) equals a NumPy forward (2e-5)" \
	--activation gelu --tie --prefix-transformer --dtype f16 --shards 2 --hidden 96 --heads 3 --ffn 200 --layers 3

name="cl-forward refuses a GPT-2 config.json with an unknown activation, naming it"
d="$TMP/bad"
if $PY scripts/make-checkpoint -q --family gpt2 "$d" >/dev/null 2>&1; then
	sed -i 's/"gelu_new"/"swish"/' "$d/config.json"
	check_fails "$name" "config.json: activation_function: 'swish' is not supported" cl-forward -m "$d"
else
	not_ok "$name" "scripts/make-checkpoint failed"
fi
