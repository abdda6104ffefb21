#!/usr/bin/env bash
# tests/t-serve.sh - cl-serve, started by the test on a free loopback port
# (the sanitized build under make check), with real clients: curl, and the
# OpenAI Node client where npm can install it.  Answers equal cl-complete's
# for the same greedy or seeded request; streams carry the same text; 16
# concurrent streaming clients get what each gets alone, decoded together;
# every bad request gets its status in OpenAI's error shape and the server
# keeps serving; SIGTERM ends it with 0.
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/.." && pwd)
M=$top/models/cl-python-small
KEY=test-key-1234
command -v curl >/dev/null || { skip "cl-serve" "curl is not installed (scripts/setup installs it)"; exit 0; }

# Start the server; PORT and PID.
cl-serve -m "$M" --port 0 --parallel 16 --api-key "$KEY" --max-body 65536 --threads 2 2>"$TMP/serve.log" &
PID=$!
PORT=
for _ in $(seq 1 200); do
	PORT=$(sed -n 's#.*listening on http://127.0.0.1:\([0-9]*\) .*#\1#p' "$TMP/serve.log")
	[ -n "$PORT" ] && break
	kill -0 $PID 2>/dev/null || break
	sleep 0.1
done
if [ -z "$PORT" ]; then
	not_ok "cl-serve starts and listens" "$(cat "$TMP/serve.log")"
	exit 0
fi
trap 'kill $PID 2>/dev/null; rm -rf "$TMP"' EXIT
URL=http://127.0.0.1:$PORT
H=(-H "Authorization: Bearer $KEY" -H "Content-Type: application/json")
post() { curl -s --max-time 60 "${H[@]}" -d "$2" "$URL$1"; }
health() { [ "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$URL/health")" = 200 ]; }

c="GET /health answers 200 and GET /v1/models lists the one model"
if health && post /v1/models '' >/dev/null && curl -s "${H[@]}" "$URL/v1/models" | grep -q '"id":"cl-python-small"'
then ok "$c"; else not_ok "$c" "$(cat "$TMP/serve.log")"; fi

# The hosted-endpoint shape: the same answer as cl-complete --json.
req='{"input_data": {"input_string": ["def fibonacci(", "import "], "parameters": {"max_new_tokens": 24}}}'
req2='{"input_data": ["class A:"], "params": {"do_sample": true, "temperature": 0.7, "seed": 9, "max_new_tokens": 30}}'
c="POST /score and POST / answer as cl-complete --json does (greedy and seeded)"
a=$(post /score "$req"; echo; post / "$req2")
b=$(printf '%s\n%s\n' "$req" "$req2" | timeout 60 cl-complete --json -m "$M")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "$c" || not_ok "$c" "$a" "$b"

# OpenAI's completions: the text of cl-complete's completion.
want=$(timeout 60 cl-complete -m "$M" --greedy --max-new-tokens 30 "def fibonacci(")
want=${want#def fibonacci(}
c="POST /v1/completions (greedy) gives cl-complete's completion, with usage and finish_reason"
out=$(post /v1/completions '{"model": "x", "prompt": "def fibonacci(", "max_tokens": 30, "temperature": 0}')
if $PY - "$out" "$want" <<'EOF'
import json, sys
o, want = json.loads(sys.argv[1]), sys.argv[2]
c = o["choices"][0]
assert o["object"] == "text_completion" and c["text"] == want, (c["text"], want)
assert c["finish_reason"] == "length" and o["usage"]["completion_tokens"] == 30
assert o["usage"]["total_tokens"] == o["usage"]["prompt_tokens"] + 30
EOF
then ok "$c"; else not_ok "$c" "$out"; fi

c="a seeded sampled completion equals cl-complete's with the same seed"
want=$(timeout 60 cl-complete -m "$M" --temperature 0.8 --top-p 0.95 --seed 7 --max-new-tokens 40 "import ")
out=$(post /v1/completions '{"prompt": "import ", "max_tokens": 40, "temperature": 0.8, "top_p": 0.95, "seed": 7}')
$PY -c 'import json, sys; t = json.loads(sys.argv[1])["choices"][0]["text"]; assert "import " + t == sys.argv[2], (t, sys.argv[2])' \
	"$out" "$want" 2>"$TMP/err" && ok "$c" || not_ok "$c" "$(cat "$TMP/err")"

c="stream: server-sent events carry the same text, end with finish_reason and data: [DONE]"
curl -sN --max-time 60 "${H[@]}" -d '{"prompt": "def fibonacci(", "max_tokens": 30, "temperature": 0, "stream": true}' \
	"$URL/v1/completions" >"$TMP/sse"
plain=$(post /v1/completions '{"prompt": "def fibonacci(", "max_tokens": 30, "temperature": 0}')
if $PY - "$TMP/sse" "$plain" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1]).read().split("\n") if l]
assert lines[-1] == "data: [DONE]", lines[-1]
chunks = [json.loads(l[6:]) for l in lines[:-1]]
text = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
want = json.loads(sys.argv[2])["choices"][0]["text"]
assert text == want, (text, want)
assert chunks[-1]["choices"][0]["finish_reason"] == "length"
assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
EOF
then ok "$c"; else not_ok "$c" "$(head -c 600 "$TMP/sse")"; fi

c="n, echo, stop, logprobs and token-array prompts"
out=$(post /v1/completions '{"prompt": ["def f(", [1, 822, 285, 300]], "n": 2, "max_tokens": 12, "temperature": 0.9, "seed": 3, "echo": true, "logprobs": 3, "stop": ["\n\n"]}')
if $PY - "$out" <<'EOF'
import json, sys, math
o = json.loads(sys.argv[1])
ch = o["choices"]
assert len(ch) == 4 and [c["index"] for c in ch] == [0, 1, 2, 3], ch
assert ch[0]["text"].startswith("def f(") and ch[0]["text"] != ch[1]["text"]
for c in ch:
    lp = c["logprobs"]
    n = len(lp["tokens"])
    assert n == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == len(lp["text_offset"]) >= 1
    assert all(len(t) <= 3 for t in lp["top_logprobs"]) and all(x <= 0 for x in lp["token_logprobs"])
    assert "\n\n" not in c["text"] and c["finish_reason"] in ("stop", "length")
EOF
then ok "$c"; else not_ok "$c" "$(printf '%s' "$out" | head -c 800)"; fi

c="POST /tokenize and /detokenize round-trip a text"
ids=$(post /tokenize '{"content": "def f(x):\n    return x"}')
back=$(post /detokenize "$ids")
[ "$back" = '{"content":"def f(x):\n    return x"}' ] && ok "$c" || not_ok "$c" "$ids" "$back"

# Bad requests: each its status and OpenAI's error shape, and the server
# goes on serving.
bad() { # NAME STATUS CURL-ARGS...
	local name=$1 want=$2 got; shift 2
	got=$(curl -s --max-time 30 -o "$TMP/body" -w '%{http_code}' "$@")
	if [ "$got" = "$want" ] && grep -q '"error"' "$TMP/body" && health; then ok "$name"
	else not_ok "$name" "status $got" "$(head -c 300 "$TMP/body")"; fi
}
bad "no API key: 401" 401 -d '{"prompt": "x"}' "$URL/v1/completions"
bad "a wrong API key: 401" 401 -H "Authorization: Bearer nope" -d '{"prompt": "x"}' "$URL/v1/completions"
bad "not JSON: 400" 400 "${H[@]}" -d '{"prompt": ' "$URL/v1/completions"
bad "an unknown parameter: 400" 400 "${H[@]}" -d '{"prompt": "x", "foo": 1}' "$URL/v1/completions"
bad "max_tokens beyond the context: 400" 400 "${H[@]}" -d '{"prompt": "x", "max_tokens": 100000}' "$URL/v1/completions"
bad "a token outside the vocabulary: 400" 400 "${H[@]}" -d '{"prompt": [1, 99999]}' "$URL/v1/completions"
bad "temperature out of range: 400" 400 "${H[@]}" -d '{"prompt": "x", "temperature": 9}' "$URL/v1/completions"
bad "a bad hosted-endpoint request: 400" 400 "${H[@]}" -d '{"input_data": 5}' "$URL/score"
bad "an unknown path: 404" 404 "${H[@]}" "$URL/v2/nothing"
bad "GET on a POST endpoint: 405" 405 "${H[@]}" "$URL/v1/completions"
head -c 70000 /dev/zero | tr '\0' 'a' >"$TMP/big"
bad "a body over --max-body: 413" 413 "${H[@]}" --data-binary @"$TMP/big" "$URL/v1/completions"

# 16 concurrent streaming clients, each its own prompt: each gets the text it
# gets alone, and they were decoded together.
c="16 concurrent streaming clients each get their text served alone, decoded together"
for i in $(seq 1 16); do
	printf '{"prompt": "def f%d(x", "max_tokens": 150, "temperature": 0}' "$i" >"$TMP/req$i"
	printf '{"prompt": "def f%d(x", "max_tokens": 150, "temperature": 0, "stream": true}' "$i" >"$TMP/sreq$i"
	post /v1/completions "$(cat "$TMP/req$i")" | $PY -c 'import json, sys; print(json.load(sys.stdin)["choices"][0]["text"], end="")' >"$TMP/alone$i"
done
for i in $(seq 1 16); do
	curl -sN --max-time 120 "${H[@]}" -d @"$TMP/sreq$i" "$URL/v1/completions" >"$TMP/sse$i" &
done
wait_ok=1
for j in $(jobs -p); do [ "$j" = "$PID" ] && continue; wait "$j" || wait_ok=0; done
bad16=
for i in $(seq 1 16); do
	got=$($PY -c '
import json, sys
lines = [l for l in open(sys.argv[1]).read().split("\n") if l.startswith("data: ") and l != "data: [DONE]"]
print("".join(json.loads(l[6:])["choices"][0]["text"] for l in lines), end="")' "$TMP/sse$i")
	[ "$got" = "$(cat "$TMP/alone$i")" ] || bad16="$bad16 $i"
done
seqs=$(curl -s "${H[@]}" "$URL/metrics" | sed -n 's/^cl_batch_sequences_max //p')
if [ $wait_ok -eq 1 ] && [ -z "$bad16" ] && [ "${seqs:-0}" -ge 4 ]; then ok "$c"
else not_ok "$c" "differ:$bad16; most sequences in one pass: $seqs"; fi

c="GET /metrics is Prometheus text with requests, tokens and sequences"
m=$(curl -s "${H[@]}" "$URL/metrics")
for k in 'cl_requests_total{status="2xx"}' 'cl_requests_total{status="4xx"}' cl_generated_tokens_total \
	cl_prompt_tokens_total cl_sequences_running cl_sequences_queued cl_tokens_per_second; do
	grep -q "^$k [0-9]" <<<"$m" || { not_ok "$c" "no $k" "$m"; m=; break; }
done
[ -n "$m" ] && ok "$c"

c="every request is logged in one line: method, path, status, tokens, ms"
grep -qE '^cl-serve: POST /v1/completions 200 prompt=[0-9]+ generated=30 [0-9.]+ ms$' "$TMP/serve.log" &&
	grep -qE '^cl-serve: GET /v2/nothing 404 ' "$TMP/serve.log" && ok "$c" || not_ok "$c" "$(tail -5 "$TMP/serve.log")"

# The OpenAI Node client, installed by the test into tests/npm (not committed).
c="the OpenAI Node client's plain and streaming completions equal cl-complete's text"
if ! command -v npm >/dev/null; then
	skip "$c" "npm is not installed"
elif [ ! -d "$top/tests/npm/node_modules/openai" ] &&
	! (cd "$top/tests" && mkdir -p npm && cd npm && timeout 300 npm install --no-audit --no-fund --silent openai@4 >/dev/null 2>&1); then
	skip "$c" "npm could not install the openai package"
else
	want=$(timeout 60 cl-complete -m "$M" --greedy --max-new-tokens 20 "def fibonacci(")
	want=${want#def fibonacci(}
	got=$(cd "$top/tests/npm" && timeout 60 node -e '
const OpenAI = require("openai");
const client = new OpenAI({ baseURL: process.argv[1] + "/v1", apiKey: process.argv[2] });
(async () => {
  const a = await client.completions.create({ model: "cl-python-small", prompt: "def fibonacci(", max_tokens: 20, temperature: 0 });
  const s = await client.completions.create({ model: "cl-python-small", prompt: "def fibonacci(", max_tokens: 20, temperature: 0, stream: true });
  let t = "";
  for await (const ch of s) t += ch.choices[0].text;
  process.stdout.write(JSON.stringify([a.choices[0].text, t]));
})().catch(e => { console.error(e.message); process.exit(1); });' "$URL" "$KEY" 2>&1)
	$PY -c 'import json, sys; a, s = json.loads(sys.argv[1]); assert a == s == sys.argv[2], (a, s, sys.argv[2])' \
		"$got" "$want" 2>"$TMP/err" && ok "$c" || not_ok "$c" "$got" "$(cat "$TMP/err")"
fi

c="SIGTERM: the server stops, exits 0, and nothing leaked"
kill -TERM $PID
rc=0
for _ in $(seq 1 100); do kill -0 $PID 2>/dev/null || break; sleep 0.1; done
wait $PID; rc=$?
[ $rc -eq 0 ] && ! grep -q 'Sanitizer' "$TMP/serve.log" && ok "$c" || not_ok "$c" "exit $rc" "$(tail -20 "$TMP/serve.log")"
trap 'rm -rf "$TMP"' EXIT
