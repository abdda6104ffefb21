#!/usr/bin/env bash
# opt
# cl-complete: a prompt and its completion through the loop of processes, the
# --json front end (both request shapes, parameters, errors on a line while
# the next lines are still answered), and failures that end it promptly with
# one line.  Each run is under `timeout 60`: a deadlock fails, never hangs.
. "$(dirname "$0")/lib.sh"

check_fails "a model directory that does not exist exits 1 with one line" "/nonexistent" \
	timeout 60 cl-complete -m /nonexistent "def f("
rc=$(timeout 60 cl-complete -m /nonexistent x >/dev/null 2>&1; echo $?)
[ "$rc" -eq 1 ] || not_ok "a model directory that does not exist exits 1, not $rc"
check_fails "--json with a model directory that does not exist exits 1 with one line" "/nonexistent" \
	timeout 60 cl-complete --json -m /nonexistent
check_fails "an unknown option is refused" "unknown option '--bogus'|usage" cl-complete --bogus x
check "--help exits 0" cl-complete --help
check_fails "--json refuses sampling options" "--json takes" cl-complete --json --top-k 3

need_testdata "cl-complete on the test models" || exit 0
M=$TESTDATA/stories260K-hf-f32
C=$TESTDATA/synthetic-codellama-like-bf16
REF=$TESTDATA/stories260K/runc_greedy.json

# runc NAME: run.c's standard output for that run (prompt, text, newline).
runc() {
	$PY -c 'import json, sys
run = {r["name"]: r for r in json.load(open(sys.argv[1]))["runs"]}[sys.argv[2]]
sys.stdout.write(run["stdout"])' "$REF" "$1"
}

# json_ok NAME FILE PYTHON: FILE's lines parse as JSON (the list `lines`) and
# the Python expression holds.
json_ok() {
	local name=$1 file=$2 expr=$3 out
	if out=$($PY -c 'import json, sys
lines = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
ok = eval("(" + sys.argv[2] + ")")
print(lines)
sys.exit(0 if ok else 1)' "$file" "$expr" 2>&1); then
		ok "$name"
	else
		not_ok "$name" "$out"
	fi
}

# The whole of run.c's greedy run: cl-complete prints the prompt, its
# completion and a newline, as run.c does.
c="the prompt and its greedy completion are printed, as llama2.c's run.c prints them"
runc once_upon_a_time_256 >"$TMP/want.txt"
if timeout 60 cl-complete -m "$M" --greedy --max-new-tokens 252 "Once upon a time" >"$TMP/got.txt" 2>"$TMP/err" &&
	cmp -s "$TMP/got.txt" "$TMP/want.txt"; then
	ok "$c"
else
	not_ok "$c" "$(head -c 300 "$TMP/got.txt")" "$(cat "$TMP/err")"
fi

c="the arguments are joined by spaces, and standard input is the prompt when there are none"
a=$(timeout 60 cl-complete -m "$M" --greedy --max-new-tokens 8 Once upon a time)
b=$(printf 'Once upon a time' | timeout 60 cl-complete -m "$M" --greedy --max-new-tokens 8)
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$(runc once_upon_a_time_256 | head -c ${#a})" ]; then ok "$c"
else not_ok "$c" "$a" "$b"; fi

c="--stop ends the completion at the stop string"
got=$(timeout 60 cl-complete -m "$M" --greedy --stop " girl" "Once upon a time")
if [ "$got" = "Once upon a time, there was a little girl" ]; then ok "$c"; else not_ok "$c" "$got"; fi

check_fails "a bad sampling option exits with one line, as cl-complete's" "^cl-complete: --top-p" \
	timeout 60 cl-complete -m "$M" --top-p 2 "Once"

c="a reader that goes away ends the loop at once"
start=$SECONDS
got=$(timeout 60 cl-complete -m "$M" --max-new-tokens 100000 --ignore-eos --ctx 512 "Once" | head -c 9)
if [ "$got" = "Once upon" ] && [ $((SECONDS - start)) -lt 30 ]; then ok "$c"; else not_ok "$c" "$got"; fi

# The seed request, on both test models: one line, one answer keyed "0"
# that begins with the prompt.
req='{"input_data": {"input_string": ["def fibonacci("], "parameters": {"top_p": 0.9, "temperature": 0.2, "do_sample": true, "max_new_tokens": 100}}}'
for m in "$M" "$C"; do
	c="the seed request gets one line [{\"0\": \"def fibonacci(...\"}] ($(basename "$m"))"
	if echo "$req" | timeout 60 cl-complete --json -m "$m" >"$TMP/seed.jsonl" 2>"$TMP/err"; then
		json_ok "$c" "$TMP/seed.jsonl" 'len(lines) == 1 and list(lines[0][0]) == ["0"] and len(lines[0]) == 1
and lines[0][0]["0"].startswith("def fibonacci(") and len(lines[0][0]["0"]) > len("def fibonacci(")' &&
			{ grep -q '^\[{"0": "def fibonacci(' "$TMP/seed.jsonl" || not_ok "$c: spaced as json.dumps" "$(cat "$TMP/seed.jsonl")"; }
	else
		not_ok "$c" "$(cat "$TMP/err")"
	fi
done
c="the seed request gives the same answer twice (seed 0 by default)"
echo "$req" | timeout 60 cl-complete --json -m "$M" >"$TMP/seed2.jsonl" 2>/dev/null
echo "$req" | timeout 60 cl-complete --json -m "$M" >"$TMP/seed3.jsonl" 2>/dev/null
if [ -s "$TMP/seed2.jsonl" ] && cmp -s "$TMP/seed2.jsonl" "$TMP/seed3.jsonl"; then ok "$c"; else not_ok "$c"; fi

# The second shape: a list in, a list out; greedy by default (do_sample
# false, as Hugging Face), so the first answer follows run.c's run.  A prompt
# may hold a newline, and non-ASCII text comes back as valid JSON.
printf '%s\n' '{"input_data": ["Once upon a time", "The little dog\nran", "Caf\u00e9 \ud83d\ude00"], "params": {"max_new_tokens": 20}}' |
	timeout 60 cl-complete --json -m "$M" >"$TMP/list.jsonl" 2>"$TMP/err"
runc once_upon_a_time_256 >"$TMP/runc.txt"
json_ok "the list shape is answered with a list of texts, prompt first, greedy by default" "$TMP/list.jsonl" \
	'len(lines) == 1 and len(lines[0]) == 3 and open(sys.argv[1].replace("list.jsonl", "runc.txt")).read().startswith(lines[0][0])
and len(lines[0][0]) > 20 and lines[0][1].startswith("The little dog\nran") and lines[0][2].startswith("Caf\u00e9 \U0001F600")'

# Errors: a line that is not JSON, an unknown parameter, a wrong type, an
# out-of-range value, a wrong shape each get an error object naming the
# fault, and the lines after them are still answered.
printf '%s\n' 'not json' \
	'{"input_data": ["Once"], "params": {"foo": 1}}' \
	'{"input_data": {"input_string": ["Once"], "parameters": {"top_k": "many"}}}' \
	'{"input_data": {"input_string": ["Once"], "parameters": {"temperature": -1}}}' \
	'{"input_data": {"input_string": "Once"}}' \
	'' \
	'{"input_data": ["Once upon a time"], "params": {"max_new_tokens": 4}}' >"$TMP/bad.in"
timeout 60 cl-complete --json -m "$M" <"$TMP/bad.in" >"$TMP/bad.jsonl" 2>"$TMP/err"
rc=$?
json_ok "malformed requests get an error object naming the fault, and the next line is still answered" \
	"$TMP/bad.jsonl" 'len(lines) == 6 and "JSON" in lines[0]["error"]
and lines[1] == {"error": "params: unknown parameter '"'foo'"'"}
and "top_k" in lines[2]["error"] and "temperature" in lines[3]["error"]
and "input_string" in lines[4]["error"] and lines[5] == ["Once upon a time, there was a"]'
if [ $rc -eq 1 ]; then ok "--json exits 1 when a request was answered with an error"
else not_ok "--json exits 1 when a request was answered with an error" "exit $rc"; fi

# The context (--ctx 8): generation stops at its end; a prompt that does not
# fit is that request's error; the next request is answered.
printf '%s\n' '{"input_data": ["Once"], "params": {"max_new_tokens": 50}}' \
	'{"input_data": ["Once upon a time, there was a little girl"]}' \
	'{"input_data": ["Once"], "params": {"max_new_tokens": 2}}' |
	timeout 60 cl-complete --json --ctx 8 -m "$M" >"$TMP/ctx.jsonl" 2>"$TMP/err"
json_ok "generation stops at the context, a prompt too long is an error, the next request is answered" \
	"$TMP/ctx.jsonl" 'len(lines) == 3 and lines[0][0].startswith("Once upon a time")
and "the prompt is 13 tokens, the context holds 8" in lines[1]["error"] and lines[2] == ["Once upon a"]'

# return_full_text false: the completion alone, which the prompt completes.
printf '%s\n' '{"input_data": {"input_string": ["Once upon a time", "Lily"], "parameters": {"max_new_tokens": 12}}}' \
	'{"input_data": {"input_string": ["Once upon a time", "Lily"], "parameters": {"max_new_tokens": 12, "return_full_text": false}}}' |
	timeout 60 cl-complete --json -m "$M" >"$TMP/full.jsonl" 2>"$TMP/err"
json_ok "return_full_text false gives the completion without the prompt" "$TMP/full.jsonl" \
	'len(lines) == 2 and all(lines[0][0][k] == p + lines[1][0][k] and len(lines[1][0][k]) > 0
for k, p in (("0", "Once upon a time"), ("1", "Lily")))'

# Stop strings: a string or a list; each answer ends with the first stop
# string its completion holds.
printf '%s\n' '{"input_data": ["Once upon a time", "Lily"], "params": {"stop": [" girl", "park"], "max_new_tokens": 60}}' \
	'{"input_data": ["Once upon a time"], "params": {"stop": "little", "max_new_tokens": 60}}' \
	'{"input_data": ["Once upon a time"], "params": {"stop": ""}}' |
	timeout 60 cl-complete --json -m "$M" >"$TMP/stop.jsonl" 2>"$TMP/err"
json_ok "stop strings end each completion at the first one it holds" "$TMP/stop.jsonl" \
	'len(lines) == 3 and lines[0] == ["Once upon a time, there was a little girl", "Lily and Tom were playing in the park"]
and lines[1] == ["Once upon a time, there was a little"] and "stop" in lines[2]["error"]'

# Sampling parameters reach cl-sample: the seed changes a sampled answer,
# and do_sample false ignores temperature.
printf '%s\n' '{"input_data": ["Once"], "params": {"do_sample": true, "seed": 1, "max_new_tokens": 30}}' \
	'{"input_data": ["Once"], "params": {"do_sample": true, "seed": 2, "max_new_tokens": 30}}' \
	'{"input_data": ["Once"], "params": {"do_sample": true, "seed": 1, "max_new_tokens": 30}}' \
	'{"input_data": ["Once"], "params": {"do_sample": false, "temperature": 5, "max_gen_len": 3}}' |
	timeout 60 cl-complete --json -m "$M" >"$TMP/seed.jsonl" 2>"$TMP/err"
json_ok "seed, do_sample and max_gen_len reach the sampler" "$TMP/seed.jsonl" \
	'len(lines) == 4 and lines[0] == lines[2] and lines[0] != lines[1] and lines[3] == ["Once upon a time"]'

# The man page's examples run: the sh and bash recipes (DIR is the test
# model) give the same greedy completion, and the JSON example is answered.
c="the man page's loop recipes and JSON example run"
$PY - man/cl-complete.1 "$TMP" <<'PYEOF'
import re, sys
page = open(sys.argv[1]).read()
ex = page[page.index(".SH EXAMPLES"):page.index(".SH SEE ALSO")]
blocks = re.findall(r"^\.EX\n(.*?)^\.EE\n", ex, re.S | re.M)
for i, b in enumerate(blocks):
    b = b.replace("\\-", "-").replace("\\e", "\\")
    open("%s/ex%d.sh" % (sys.argv[2], i), "w").write(b)
PYEOF
(
	PATH=$(cd "$BIN" && pwd):$PATH
	cd "$TMP" || exit 1
	sed "s|DIR|$M|g" ex1.sh >fifo.sh
	sed "s|DIR|$M|g" ex2.sh >coproc.sh
	sed "s|cl-complete --json|cl-complete --json -m $M|" ex3.sh >json.sh
	timeout 60 sh fifo.sh >fifo.out 2>&1 && timeout 60 bash coproc.sh >coproc.out 2>&1 &&
		timeout 60 sh json.sh >json.out 2>&1
) && [ -s "$TMP/fifo.out" ] && cmp -s "$TMP/fifo.out" "$TMP/coproc.out" &&
	$PY -c 'import json, sys; a = json.load(open(sys.argv[1])); assert a[0]["0"].startswith("def fibonacci(") and a[0]["1"].startswith("import ")' \
		"$TMP/json.out" 2>/dev/null
if [ $? -eq 0 ]; then ok "$c"
else not_ok "$c" "$(cat "$TMP/fifo.sh" "$TMP/fifo.out" "$TMP/coproc.out" "$TMP/json.out" 2>&1)"; fi

# --json decodes requests together with the model loaded once: eight
# requests (greedy and seeded, two with two prompts) answered the same with
# --parallel 8 as one at a time, in input order, in far fewer passes.
SM=$(cd "$(dirname "$0")/.." && pwd)/models/cl-python-small
for i in 1 2 3 4 5 6 7 8; do
	case $i in
	3 | 6) echo '{"input_data": ["def f'$i'(", "import "], "params": {"max_new_tokens": 12}}' ;;
	*[02468]) echo '{"input_data": {"input_string": ["def g'$i'("], "parameters": {"do_sample": true, "seed": '$i', "max_new_tokens": 16}}}' ;;
	*) echo '{"input_data": ["class C'$i':"], "params": {"max_new_tokens": 20}}' ;;
	esac
done >"$TMP/eight.jsonl"
timeout 120 cl-complete --json -m "$SM" --parallel 8 --stats <"$TMP/eight.jsonl" >"$TMP/p8.out" 2>"$TMP/p8.err"
timeout 120 cl-complete --json -m "$SM" --parallel 1 --stats <"$TMP/eight.jsonl" >"$TMP/p1.out" 2>"$TMP/p1.err"
c="--json --parallel 8 gives the answers of one request at a time, in input order, in fewer passes"
s8=$(sed -n 's/.* steps=\([0-9]*\) .*/\1/p' "$TMP/p8.err")
s1=$(sed -n 's/.* steps=\([0-9]*\) .*/\1/p' "$TMP/p1.err")
if [ "$(wc -l <"$TMP/p8.out")" -eq 8 ] && cmp -s "$TMP/p8.out" "$TMP/p1.out" && [ -n "$s8" ] && [ -n "$s1" ] &&
	[ $((s8 * 3)) -le "$s1" ] && grep -q '"0": "def g2(' "$TMP/p8.out"; then ok "$c"
else not_ok "$c" "steps $s8 vs $s1" "$(diff "$TMP/p8.out" "$TMP/p1.out" | head -5)" "$(cat "$TMP/p8.err" "$TMP/p1.err")"; fi

# A batch file: ids come back; --resume appends what a killed run left
# undone, each answer exactly once, after cutting a half-written last line;
# answers of another input are refused; --progress counts the requests.
for i in $(seq 1 10); do
	case $i in
	*[13579]) echo '{"id": "r'$i'", "input_data": ["def h'$i'("], "params": {"max_new_tokens": 8}}' ;;
	*) echo '{"input_data": {"input_string": ["x'$i' = "], "parameters": {"max_new_tokens": 6}}}' ;;
	esac
done >"$TMP/ten.jsonl"
timeout 120 cl-complete --json -m "$SM" <"$TMP/ten.jsonl" >"$TMP/ten.all" 2>"$TMP/err"
c="a request's id comes back with its answer; one without has its answer as before"
$PY - "$TMP/ten.all" <<'PYEOF' 2>"$TMP/err2" && ok "$c" || not_ok "$c" "$(cat "$TMP/err2" "$TMP/err")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 10
assert lines[0]["id"] == "r1" and lines[0]["output"][0].startswith("def h1(")
assert isinstance(lines[1], list) and lines[1][0]["0"].startswith("x2 = ")
PYEOF
c="--resume after a killed run appends the rest, each answer once, equal to one whole run"
head -n 4 "$TMP/ten.all" >"$TMP/ans.jsonl"
head -n 5 "$TMP/ten.all" | tail -n 1 | head -c 20 >>"$TMP/ans.jsonl" # a line cut by the kill
timeout 120 cl-complete --json -m "$SM" --resume "$TMP/ans.jsonl" <"$TMP/ten.jsonl" >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 0 ] && [ ! -s "$TMP/out" ] && cmp -s "$TMP/ans.jsonl" "$TMP/ten.all"; then ok "$c"
else not_ok "$c" "exit $rc" "$(diff "$TMP/ans.jsonl" "$TMP/ten.all" | head -5)" "$(cat "$TMP/err")"; fi
c="--resume again does nothing: every request is answered"
timeout 120 cl-complete --json -m "$SM" --resume "$TMP/ans.jsonl" <"$TMP/ten.jsonl" >/dev/null 2>"$TMP/err" &&
	cmp -s "$TMP/ans.jsonl" "$TMP/ten.all" && ok "$c" || not_ok "$c" "$(cat "$TMP/err")"
check_fails "--resume refuses answers of another input (an id differs)" "answer 1 has id \"r1\", but request 1 has \"zz\"" \
	bash -c 'sed "s/\"r1\"/\"zz\"/" "$1" | cl-complete --json -m "$2" --resume "$3"' _ "$TMP/ten.jsonl" "$SM" "$TMP/ans.jsonl"
c="--json --progress counts the requests of a file and gives tokens/s"
timeout 120 cl-complete --json -m "$SM" --progress <"$TMP/ten.jsonl" >/dev/null 2>"$TMP/err"
grep -q 'cl-complete: 10 of 10 requests, [0-9.]* tokens/s' "$TMP/err" && ok "$c" || not_ok "$c" "$(cat "$TMP/err")"
