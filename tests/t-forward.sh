#!/usr/bin/env bash
# opt
# cl-embed | cl-forward against reference logits (stories260K in f32, bf16 and
# f16; the sharded GQA checkpoint with Code Llama's rope_theta), teacher-forced
# greedy runs of llama2.c, and the same logits whether a prompt comes in one
# go, token by token, or after a rewind.
. "$(dirname "$0")/lib.sh"
REF=${TESTDATA:+$TESTDATA/reference}

ids_of() { $PY -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['input_ids'])))" "$1"; }

# logits MODEL OUT.npy [cl-forward options]: ids on stdin to logits in OUT.npy.
# The embeddings go through a file, not a pipe: cl-forward batches what has
# already arrived, so through a pipe the batches (and with --quantize q8_0 or
# q4_0 the path of a one-position batch) would depend on timing.
logits() {
	local m=$1 out=$2; shift 2
	cl-tokenize -m "$m" --from-ids | cl-embed -m "$m" >"$TMP/l.emb" &&
		cl-forward -m "$m" "$@" <"$TMP/l.emb" >"$TMP/l.cls" &&
		cl-dump --npy "$out" "$TMP/l.cls"
}

# ref_case NAME MODEL REFNAME TOL [options]
ref_case() {
	local name=$1 m=$2 r=$3 tol=$4; shift 4
	need_testdata "$name" || return 0
	ids_of "$REF/$r.json" | logits "$TESTDATA/$m" "$TMP/got.npy" "$@" &&
		check "$name" $PY tests/refcheck.py "$TMP/got.npy" "$REF/$r.f32" "$tol" ||
		not_ok "$name" "the pipeline failed"
}

cd "$(dirname "$0")/.." || exit 2
ref_case "stories260K f32 logits equal the reference at every position (max |d| 1e-4)" \
	stories260K-hf-f32 stories260K_f32_promptA_logits 1e-4
ref_case "stories260K f32 logits equal llama2.c's own at every position (max |d| 1e-4)" \
	stories260K-hf-f32 stories260K_runc_promptA_logits 1e-4
ref_case "stories260K bf16 logits equal the reference (max |d| 1e-4)" \
	stories260K-hf-bf16 stories260K_bf16_promptA_logits 1e-4
ref_case "stories260K f16 logits equal the reference (max |d| 1e-4)" \
	stories260K-hf-f16 stories260K_f16_promptA_logits 1e-4
ref_case "the sharded GQA checkpoint (rope_theta 1e6, untied) equals its reference (max |d| 1e-4)" \
	synthetic-codellama-like-bf16 synthetic_bf16_code_logits 1e-4
ref_case "teacher-forced argmax along llama2.c's 256-token greedy run reproduces its tokens" \
	stories260K-hf-f32 stories260K_runc_seq256_logits 1e-4 --threads 2
ref_case "one thread gives the reference logits too" \
	stories260K-hf-f32 stories260K_f32_promptA_logits 1e-4 --threads 1

name="a prompt fed token by token gives the logits of the prompt fed in one go (1e-5)"
if need_testdata "$name"; then
	m=$TESTDATA/stories260K-hf-f32
	ids_of "$REF/stories260K_f32_promptA_logits.json" >"$TMP/ids"
	logits "$m" "$TMP/a.npy" <"$TMP/ids" && logits "$m" "$TMP/b.npy" --batch 1 <"$TMP/ids" &&
		check "$name" $PY -c "
import numpy as np, sys
a, b = np.load('$TMP/a.npy'), np.load('$TMP/b.npy')
d = np.abs(a - b).max(); print('max |diff|', d); sys.exit(0 if a.shape == b.shape and d <= 1e-5 else 1)"
fi

name="a rewind to an earlier position and a re-feed give the same logits (1e-5)"
if need_testdata "$name"; then
	m=$TESTDATA/stories260K-hf-f32
	# positions 0..9, then 4..9 again (a rewind), then 4..6 with other tokens, then 7..9 as before
	$PY - "$TMP/ids" >"$TMP/t.jsonl" <<'PY'
import json, sys
ids = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376]
print(json.dumps({"kind": "header", "stream": "tokens", "what": "tokens", "vocab_size": 512}))
rec = lambda p, t: print(json.dumps({"kind": "token", "seq": 0, "pos": p, "token": t, "flags": 0}))
for p in range(10): rec(p, ids[p])
for p in range(4, 10): rec(p, ids[p])
for p in range(4, 7): rec(p, 300 + p)
for p in range(4, 10): rec(p, ids[p])
PY
	cl-dump -r "$TMP/t.jsonl" | cl-embed -m "$m" | cl-forward -m "$m" >"$TMP/r.cls" &&
		cl-dump --npy "$TMP/r.npy" "$TMP/r.cls" &&
		check "$name" $PY -c "
import numpy as np, sys
a = np.load('$TMP/r.npy'); assert a.shape == (25, 512), a.shape
d1 = np.abs(a[4:10] - a[10:16]).max(); d2 = np.abs(a[4:10] - a[19:25]).max(); d3 = np.abs(a[4:7] - a[16:19]).max()
print('rewind', d1, 're-feed after other tokens', d2, 'other tokens differ by', d3)
sys.exit(0 if d1 <= 1e-5 and d2 <= 1e-5 and d3 > 1e-3 else 1)"
fi

name="--last emits only the prompt's last position"
if need_testdata "$name"; then
	ids_of "$REF/stories260K_f32_promptA_logits.json" | logits "$TESTDATA/stories260K-hf-f32" "$TMP/last.npy" --last &&
		check "$name" $PY tests/refcheck.py "$TMP/last.npy" "$REF/stories260K_f32_promptA_logits.f32" 1e-4 --last
fi

# Bad input: one line, non-zero, never a crash.
name="a sequence longer than the context is a clear error"
if need_testdata "$name"; then
	m=$TESTDATA/stories260K-hf-f32
	seq 1 20 | tr '\n' ' ' >"$TMP/long"
	check_fails "$name" "seq 0: the prompt is 20 tokens, the context holds 8 \(--ctx\)$" \
		sh -c "cl-tokenize -m $m --from-ids <$TMP/long | cl-embed -m $m | cl-forward -m $m --ctx 8 >/dev/null"
fi
name="embeddings of the wrong width are refused, naming both widths"
if need_testdata "$name"; then
	printf '%s\n' '{"kind":"header","stream":"vectors","what":"embeddings","width":3}' \
		'{"kind":"vector","seq":0,"pos":0,"token":1,"data":[1,2,3]}' >"$TMP/w3.jsonl"
	check_fails "$name" "width 3.*hidden_size 64" sh -c "cl-dump -r $TMP/w3.jsonl |
		cl-forward -m $TESTDATA/stories260K-hf-f32 >/dev/null"
fi
name="a token stream into cl-forward is refused"
if need_testdata "$name"; then
	check_fails "$name" "expected a stream of embeddings" sh -c \
		"cl-tokenize -m $TESTDATA/stories260K-hf-f32 hi | cl-forward -m $TESTDATA/stories260K-hf-f32"
fi
name="a stream made for another tokenizer is refused by cl-embed, naming both"
if need_testdata "$name"; then
	check_fails "$name" "tokenizer .* but .* has tokenizer" sh -c \
		"cl-tokenize -m $TESTDATA/synthetic-codellama-like-bf16 hi | cl-embed -m $TESTDATA/stories260K-hf-f32"
fi
name="a token outside the model's vocabulary is refused by cl-embed"
if need_testdata "$name"; then
	printf '%s\n' '{"kind":"header","stream":"tokens"}' '{"kind":"token","seq":0,"pos":0,"token":512}' >"$TMP/bad.jsonl"
	check_fails "$name" "token 512 is outside the vocabulary of 512" sh -c \
		"cl-dump -r $TMP/bad.jsonl | cl-embed -m $TESTDATA/stories260K-hf-f32 >/dev/null"
fi
check_fails "a missing model directory is named in the error" "/nonexistent/model" \
	cl-forward -m /nonexistent/model
mkdir -p "$TMP/badcfg"
printf '\010\000\000\000\000\000\000\000{}      ' >"$TMP/badcfg/model.safetensors" # an empty checkpoint
echo '{"model_type": "llama", "hidden_size": -3}' >"$TMP/badcfg/config.json"
check_fails "a bad config.json value is named with its file and key" "config.json: hidden_size" \
	cl-forward -m "$TMP/badcfg"
echo '{"model_type": "llama", "hidden_size": 64,' >"$TMP/badcfg/config.json"
check_fails "a truncated config.json is an error naming the file" "config.json" cl-embed -m "$TMP/badcfg"

# Quantised weights: perplexity of llama2.c's 256-token greedy run on
# stories260K against f32 weights.  Measured: f16 x1.0000, q8_0 x1.0015,
# q4_0 x1.076 (its FFN down projection, 172 wide, keeps f32: not whole blocks).
name="--quantize f16, q8_0 and q4_0 keep stories260K's perplexity within x1.001, x1.01 and x1.15 of f32, batched and one position at a time"
if need_testdata "$name"; then
	m=$TESTDATA/stories260K-hf-f32
	ids_of "$REF/stories260K_f32_seq256_logits.json" >"$TMP/ids256"
	bad=
	for q in f32 f16 q8_0 q4_0; do
		o=; [ $q = f32 ] || o="--quantize $q"
		# shellcheck disable=SC2086
		logits "$m" "$TMP/q_$q.npy" $o <"$TMP/ids256" || bad="$bad $q"
		# one position at a time, as in generation (8-bit activations for q8_0 and q4_0)
		# shellcheck disable=SC2086
		logits "$m" "$TMP/q_$q-1.npy" $o --batch 1 <"$TMP/ids256" || bad="$bad $q"
	done
	[ -z "$bad" ] && check "$name" $PY - "$TMP" "$REF/stories260K_f32_seq256_logits.json" <<'PY' || not_ok "$name" "failed:$bad"
import json, sys
import numpy as np
tmp, ref = sys.argv[1], sys.argv[2]
ids = np.array(json.load(open(ref))["input_ids"])
def ppl(q):
    a = np.load(f"{tmp}/q_{q}.npy").astype(np.float64)
    m = a.max(1, keepdims=True)
    lse = (np.log(np.exp(a - m).sum(1, keepdims=True)) + m)[:, 0]
    return float(np.exp(-(a[np.arange(len(ids) - 1), ids[1:]] - lse[:-1]).mean()))
base = ppl("f32")
ratios = {q: ppl(q) / base for q in ("f16", "q8_0", "q4_0", "f16-1", "q8_0-1", "q4_0-1")}
print("perplexity", round(base, 4), {q: round(r, 4) for q, r in ratios.items()})
bound = {"f16": 1.001, "q8_0": 1.01, "q4_0": 1.15}
sys.exit(0 if all(r < bound[q.split("-")[0]] for q, r in ratios.items()) else 1)
PY
fi

# The fast kernels against the plain-C reference path (CL_KERNELS=generic),
# through the whole model, for every weight type.  Batched products use f32
# activations on both paths; one-position q8_0/q4_0 products quantize the
# activations on the fast path (as llama.cpp does), which the perplexity
# bound above covers.  Where the CPU has AVX-512 VNNI, avx512's q8_0 and
# q4_0 products take 8-bit activations in every batch too (its dots of
# several rows): there they are held to a different promise, that a prompt's
# logits computed in one batch equal those computed one position at a time,
# bit for bit (the perplexity bound above covers their distance from f32's).
# Every kernel set this CPU runs, in turn (CL_KERNELS); the others are
# skipped, saying so.
vnni=0
grep -qw avx512_vnni /proc/cpuinfo 2>/dev/null && vnni=1
for set in avx512 avx2 neon; do
types="f32 f16 bf16 q8_0 q4_0"
[ $set = avx512 ] && [ $vnni = 1 ] && types="f32 f16 bf16"
name="$set: model logits through the fast kernels equal the plain-C reference path (1e-4) for ${types// /, }"
if ! CL_KERNELS=$set cl-forward -m "$(cd "$(dirname "$0")/.." && pwd)/models/cl-python-small" </dev/null >/dev/null 2>"$TMP/kerr" &&
	grep -q "cannot run it\|no such kernel set" "$TMP/kerr"; then
	skip "$name" "$(cat "$TMP/kerr")"
elif need_testdata "$name"; then
	m=$TESTDATA/stories260K-hf-f32
	ids_of "$REF/stories260K_f32_promptA_logits.json" >"$TMP/idsA"
	bad=
	for q in $types; do
		o=; [ $q = f32 ] || o="--quantize $q"
		# shellcheck disable=SC2086
		CL_KERNELS=$set logits "$m" "$TMP/fast.npy" $o <"$TMP/idsA" &&
			CL_KERNELS=generic logits "$m" "$TMP/ref.npy" $o <"$TMP/idsA" &&
			$PY -c "
import numpy as np, sys
d = np.abs(np.load('$TMP/fast.npy') - np.load('$TMP/ref.npy')).max(); print('$q', d); sys.exit(0 if d <= 1e-4 else 1)" ||
			bad="$bad $q"
	done
	[ -z "$bad" ] && ok "$name" || not_ok "$name" "differ:$bad"
fi
done
# (The shipped model: every matrix of it is whole q8_0 blocks; stories260K's
# FFN down projection, 172 wide, stays f32, whose products of many rows do
# not round as one row's.)
if [ $vnni = 1 ] && CL_KERNELS=avx512 cl-forward --help >/dev/null 2>&1; then
	SM=$(cd "$(dirname "$0")/.." && pwd)/models/cl-python-small
	printf 'def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n' |
		cl-tokenize -m "$SM" | cl-embed -m "$SM" >"$TMP/fib.cls"
	for q in q8_0 q4_0; do
		name="avx512 with VNNI: $q logits of a 51-token prompt are the same bits in batches of 128, 7, 3 and 1 positions"
		bad=
		for b in 128 7 3 1; do
			CL_KERNELS=avx512 cl-forward -m "$SM" --quantize $q --batch $b <"$TMP/fib.cls" >"$TMP/fib-$b.cls" ||
				bad="$bad $b(failed)"
			cmp -s "$TMP/fib-128.cls" "$TMP/fib-$b.cls" || bad="$bad $b"
		done
		[ -z "$bad" ] && ok "$name" || not_ok "$name" "differ:$bad"
	done
fi

# Batching: what is waiting in the input goes through the layers together,
# however many records the reader's buffer holds (4 KiB records here: 64 KiB
# held 15 of them).
name="a 200-position prompt from a file goes through the layers in 2 batches (128 + 72), and in 200 with --batch 1"
W=$TMP/wide
if "$(dirname "$0")/../scripts/make-checkpoint" -q --family llama --hidden 1024 --layers 1 --heads 8 --kv-heads 8 \
	--ffn 64 --vocab 256 --max-pos 256 --tokenizer "$(dirname "$0")/../models/cl-python-small/tokenizer.model" \
	"$W" >/dev/null 2>&1 &&
	seq 3 202 | tr "\n" " " | cl-tokenize -m "$W" --from-ids | cl-embed -m "$W" >"$TMP/b200.cls"; then
	a=$(cl-forward -m "$W" --last --stats <"$TMP/b200.cls" 2>&1 >/dev/null | sed -n 's/.* batches=\([0-9]*\) .*/\1/p')
	b=$(cl-forward -m "$W" --last --stats --batch 1 <"$TMP/b200.cls" 2>&1 >/dev/null | sed -n 's/.* batches=\([0-9]*\) .*/\1/p')
	[ "${a:-}" = 2 ] && [ "${b:-}" = 200 ] && ok "$name" || not_ok "$name" "batches: ${a:-?} and ${b:-?}"
	# 1 layer of 1024 wide, ffn 64: two norms, q k v o, gate up down.
	name="--stats counts the layers' parameters apart from the embeddings and lm_head"
	lp=$(cl-forward -m "$W" --last --stats <"$TMP/b200.cls" 2>&1 >/dev/null | sed -n 's/.* layer_params=\([0-9]*\) .*/\1/p')
	[ "${lp:-}" = $((2 * 1024 + 4 * 1024 * 1024 + 3 * 1024 * 64)) ] && ok "$name" || not_ok "$name" "layer_params=${lp:-?}"
	# The warm-up pass runs in a cache of its own: the same logits, bit for
	# bit, and --stats counts only the input's positions.
	name="--warmup leaves the logits as they are and out of --stats"
	cl-forward -m "$W" --batch 7 <"$TMP/b200.cls" >"$TMP/nowarm.cls" 2>"$TMP/nowarm.err"
	p=$(cl-forward -m "$W" --batch 7 --warmup --stats <"$TMP/b200.cls" 2>&1 >"$TMP/warm.cls" |
		sed -n 's/.* positions=\([0-9]*\) batches=\([0-9]*\) .*/\1 \2/p')
	cmp -s "$TMP/nowarm.cls" "$TMP/warm.cls" && [ "${p:-}" = "200 29" ] && ok "$name" ||
		not_ok "$name" "positions, batches: ${p:-?}" "$(cmp "$TMP/nowarm.cls" "$TMP/warm.cls" 2>&1)"
else
	not_ok "$name" "could not make the checkpoint or its embeddings"
fi

# Sequences together: the prompts of three sequences interleaved position by
# position (as sequences stepping together send them) go through the layers
# in one batch, and each sequence's logits equal its own run's.
c="interleaved records of three sequences go in one batch, each with its own run's logits (1e-4)"
SM=$(cd "$(dirname "$0")/.." && pwd)/models/cl-python-small
printf 'def fibonacci(n):\nimport os\nclass Stack:\n' | cl-tokenize -m "$SM" --lines | cl-dump >"$TMP/three.jsonl"
$PY - "$TMP/three.jsonl" >"$TMP/mixed.jsonl" <<'PYEOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
head, body = recs[0], recs[1:]
toks = {}
for r in body:
    if r["kind"] == "token":
        toks.setdefault(r["seq"], []).append(r)
out = [head] + [r for r in body if r["kind"] == "seq_begin"]
for p in range(max(len(v) for v in toks.values())):
    out += [v[p] for v in toks.values() if p < len(v)]
out += [r for r in body if r["kind"] in ("prompt_end", "end")]
print("\n".join(json.dumps(r) for r in out))
PYEOF
cl-dump -r <"$TMP/mixed.jsonl" >"$TMP/mixed.cls" && cl-embed -m "$SM" <"$TMP/mixed.cls" >"$TMP/mixed.emb" &&
	cl-forward -m "$SM" --stats <"$TMP/mixed.emb" 2>"$TMP/stats" | cl-dump >"$TMP/mixed.out" &&
	cl-tokenize -m "$SM" --lines <<<$'def fibonacci(n):\nimport os\nclass Stack:' | cl-embed -m "$SM" |
	cl-forward -m "$SM" --batch 1 | cl-dump >"$TMP/alone.out"
if [ $? -eq 0 ] && grep -q ' batches=1 ' "$TMP/stats" && $PY - "$TMP/mixed.out" "$TMP/alone.out" <<'PYEOF'
import json, sys
def vecs(f):
    d = {}
    for l in open(f):
        r = json.loads(l)
        if r["kind"] == "vector":
            d[(r["seq"], r["pos"])] = r["data"]
    return d
a, b = vecs(sys.argv[1]), vecs(sys.argv[2])
assert a.keys() == b.keys() and len(a) > 10, (len(a), len(b))
worst = max(abs(x - y) for k in a for x, y in zip(a[k], b[k]))
assert worst < 1e-4, worst
PYEOF
then ok "$c"; else not_ok "$c" "$(cat "$TMP/stats")"; fi

# The kernels' instruction set: said by --stats, forced by CL_KERNELS, and
# a set that is unknown or that this CPU cannot run refused by name.
SM=$(cd "$(dirname "$0")/.." && pwd)/models/cl-python-small
c="--stats names the kernel set, and CL_KERNELS=generic forces the plain-C one"
a=$(cl-tokenize -m "$SM" x | cl-embed -m "$SM" | cl-forward -m "$SM" --stats 2>&1 >/dev/null)
b=$(cl-tokenize -m "$SM" x | cl-embed -m "$SM" | CL_KERNELS=generic cl-forward -m "$SM" --stats 2>&1 >/dev/null)
case "$a/$b" in *' kernels='[a-z]*' '*/*' kernels=generic '*) ok "$c" ;; *) not_ok "$c" "$a" "$b" ;; esac
check_fails "CL_KERNELS naming no set is refused by name" "CL_KERNELS=sse9: no such kernel set" \
	env CL_KERNELS=sse9 cl-forward -m "$SM"
if [ "$(uname -m)" = x86_64 ]; then
	check_fails "CL_KERNELS=neon is refused on x86-64, naming the sets it runs" \
		"CL_KERNELS=neon: this CPU or build cannot run it \(it runs .*generic\)" env CL_KERNELS=neon cl-forward -m "$SM"
else
	check_fails "CL_KERNELS=avx2 is refused off x86-64" "CL_KERNELS=avx2: this CPU or build cannot run it" \
		env CL_KERNELS=avx2 cl-forward -m "$SM"
fi

# KV caches in f16 (--kv-type f16): half the memory; logits near f32's, and
# the perplexity of llama2.c's 256-token run on stories260K within x1.001 of
# the f32 cache's (measured: x1.000025 batched, x1.000021 one position at a
# time; max |d| of logits 0.024).
name="--kv-type f16 keeps logits within 5e-2 and perplexity within x1.001 of the f32 cache (stories260K, 256 tokens, batched and one at a time)"
if need_testdata "$name"; then
	m=$TESTDATA/stories260K-hf-f32
	ids_of "$REF/stories260K_f32_seq256_logits.json" >"$TMP/ids256"
	bad=
	for kv in f32 f16; do
		logits "$m" "$TMP/kv_$kv.npy" --kv-type $kv <"$TMP/ids256" || bad="$bad stories/$kv"
		logits "$m" "$TMP/kv_$kv-1.npy" --kv-type $kv --batch 1 <"$TMP/ids256" || bad="$bad stories/$kv-1"
	done
	[ -z "$bad" ] && check "$name" $PY - "$TMP" "$REF/stories260K_f32_seq256_logits.json" <<'PY' || not_ok "$name" "failed:$bad"
import json, sys
import numpy as np
tmp, ref = sys.argv[1], sys.argv[2]
ids = np.array(json.load(open(ref))["input_ids"])
def ppl(a):
    a = a.astype(np.float64)
    m = a.max(1, keepdims=True)
    lse = (np.log(np.exp(a - m).sum(1, keepdims=True)) + m)[:, 0]
    return float(np.exp(-(a[np.arange(len(ids) - 1), ids[1:]] - lse[:-1]).mean()))
out = {}
for k in ("", "-1"):
    a, b = np.load(f"{tmp}/kv_f32{k}.npy"), np.load(f"{tmp}/kv_f16{k}.npy")
    out["max|d|" + k] = float(np.abs(a - b).max())
    out["ratio" + k] = ppl(b) / ppl(a)
print({k: round(v, 6) for k, v in out.items()})
sys.exit(0 if out["max|d|"] < 5e-2 and out["max|d|-1"] < 5e-2 and abs(out["ratio"] - 1) < 1e-3 and abs(out["ratio-1"] - 1) < 1e-3 else 1)
PY
fi

# Stages: --layers A:B reads the residual stream at A and writes it at B
# (the logits where B is the last); any split gives the whole model's logits
# bit for bit, through prompts, rewinds and a generation loop.  --head is the
# logit lens: the final norm and the output projection on any layer's stream.
SM=$(cd "$(dirname "$0")/.." && pwd)/models/cl-python-small
NL=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["num_hidden_layers"])' "$SM/config.json")
printf 'def fibonacci(n):\n    if n < 2:\n        return n\n' | cl-tokenize -m "$SM" | cl-dump >"$TMP/st.jsonl"
# A rewind: positions 4 to 6 again, with other tokens, after the prompt.
$PY - "$TMP/st.jsonl" >"$TMP/rw.jsonl" <<'PYEOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
end = recs.pop()
recs += [{"kind": "token", "seq": 0, "pos": p, "token": 300 + p, "flags": 0} for p in (4, 5, 6)] + [end]
print("\n".join(json.dumps(r) for r in recs))
PYEOF
cl-dump -r <"$TMP/rw.jsonl" | cl-embed -m "$SM" >"$TMP/st.emb"
cl-forward -m "$SM" <"$TMP/st.emb" >"$TMP/st.whole"
c="--layers 0:k | --layers k: gives the whole model's logits bit for bit for every k (with a rewind)"
bad=
for k in $(seq 0 $((NL - 1))); do
	cl-forward -m "$SM" --layers 0:$k <"$TMP/st.emb" >"$TMP/st.h" 2>"$TMP/err" &&
		cl-forward -m "$SM" --layers $k: <"$TMP/st.h" >"$TMP/st.out" 2>>"$TMP/err" && cmp -s "$TMP/st.out" "$TMP/st.whole" ||
		bad="$bad $k"
done
[ -z "$bad" ] && ok "$c" || not_ok "$c" "differ at k =$bad" "$(cat "$TMP/err")"
# Through files: a stage batches what has arrived, so through a pipe its
# batches (and the rounding of products of other sizes) follow timing.
c="three stages give the whole model's logits bit for bit"
cl-forward -m "$SM" --layers 0:2 <"$TMP/st.emb" >"$TMP/s1" && cl-forward -m "$SM" --layers 2:4 <"$TMP/s1" >"$TMP/s2" &&
	cl-forward -m "$SM" --layers 4: <"$TMP/s2" | cmp -s - "$TMP/st.whole" && ok "$c" || not_ok "$c"
c="a hidden-state stream says its layer; cl-dump shows it"
cl-forward -m "$SM" --layers 0:3 <"$TMP/st.emb" | cl-dump | head -1 | grep -q '"what":"hidden","width":[0-9]*,"dtype":"f32".*"layer":3' &&
	ok "$c" || not_ok "$c" "$(cl-forward -m "$SM" --layers 0:3 <"$TMP/st.emb" | cl-dump | head -1)"
c="greedy generation through two stages in the FIFO loop gives the tokens of one"
loop2() { # OUT STAGES...
	local out=$1; shift
	rm -f "$TMP/loop"; mkfifo "$TMP/loop"
	timeout 60 sh -c "cl-tokenize -m '$SM' 'def f(x):' | cat - '$TMP/loop' | cl-embed -m '$SM' | $* |
		cl-sample -m '$SM' --greedy --max-new-tokens 40 | tee '$TMP/loop' | cl-detok -m '$SM' >'$out'"
}
loop2 "$TMP/g1" "cl-forward -m '$SM' --last" &&
	loop2 "$TMP/g2" "cl-forward -m '$SM' --layers 0:2 | cl-forward -m '$SM' --layers 2: --last" &&
	[ -s "$TMP/g1" ] && cmp -s "$TMP/g1" "$TMP/g2" && ok "$c" || not_ok "$c" "$(cat "$TMP/g1")" "$(cat "$TMP/g2")"
c="--head (the logit lens) on layer 3's stream equals the final norm and lm_head in NumPy (1e-4)"
cl-forward -m "$SM" --layers 0:3 <"$TMP/st.emb" >"$TMP/h3.cls"
cl-dump --npy "$TMP/h3.npy" "$TMP/h3.cls" && cl-forward -m "$SM" --head <"$TMP/h3.cls" | cl-dump --npy "$TMP/lens.npy" &&
	$PY - "$SM" "$TMP/h3.npy" "$TMP/lens.npy" <<'PYEOF' && ok "$c" || not_ok "$c"
import json, struct, sys
import numpy as np
d, h, lens = sys.argv[1], np.load(sys.argv[2]).astype(np.float64), np.load(sys.argv[3])
raw = open(d + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
def t(name):
    i = hdr[name]
    a, b = i["data_offsets"]
    return np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(i["shape"]).astype(np.float64)
cfg = json.load(open(d + "/config.json"))
w = t("model.norm.weight")
x = h / np.sqrt((h * h).mean(1, keepdims=True) + cfg["rms_norm_eps"]) * w
want = x @ t("lm_head.weight").T
err = np.abs(want - lens).max()
assert lens.shape == want.shape and err < 1e-4, err
PYEOF
check_fails "a stage given another layer's stream is refused" "the residual stream at layer 3, but this stage begins at layer 2" \
	bash -c 'cl-forward -m "$1" --layers 2: <"$2"' _ "$SM" "$TMP/h3.cls"
check_fails "--layers past the model's layers is refused" "layers 2:99: the model has $NL layers" \
	cl-forward -m "$SM" --layers 2:99
check_fails "--last with a stage before the last is refused" "--last goes with the stage that ends at the logits" \
	cl-forward -m "$SM" --layers 0:2 --last
