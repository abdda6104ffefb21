#!/usr/bin/env bash
# opt
# cl-sample: the protocol of the generation loop (what it samples, when a
# sequence ends, END only after every sequence is over), determinism and
# option errors.  Inputs are written with `cl-dump -r`; the loop cases close
# cl-sample's output back into a small fake model (Python, below) that turns
# each token into logits favouring a fixed successor.
. "$(dirname "$0")/lib.sh"

# fake.py V EOS NEXT PROMPTS: a "model" of width V whose logits after token t
# put 8.0 on NEXT[t] (default t+1 mod V) and 0 elsewhere.  It writes the
# prompts (SEQ_BEGIN, one vector per token, PROMPT_END) and END, then answers
# every token read back from stdin with its vector (SAMPLE flag kept), until
# it reads END.
cat >"$TMP/fake.py" <<'EOF'
import json, math, os, struct, sys
V, EOS = int(sys.argv[1]), int(sys.argv[2])
NEXT, PROMPTS = json.loads(sys.argv[3]), json.loads(sys.argv[4])
out, inp = sys.stdout.buffer, sys.stdin.buffer
REC = '<HHIIifIII'

def header():
    j = json.dumps({"kind": "vectors", "what": "logits", "width": V, "dtype": "f32",
                    "vocab_size": V, "tokenizer": "", "bos": -1, "eos": EOS,
                    "producer": "fake", "model": ""}).encode()
    pad = (16 + len(j) + 7) // 8 * 8 - 16
    out.write(b'\x89CLS\r\n\x1a\n' + struct.pack('<II', 1, pad) + j + b' ' * (pad - len(j)))

def rec(kind, seq, pos, tok, flags=0, vec=False):
    data = b''
    if vec:
        x = [0.0] * V
        x[NEXT.get(str(tok), (tok + 1) % V)] = 8.0
        data = struct.pack('<%df' % V, *x)
    try:
        out.write(struct.pack(REC, kind, flags, seq, pos, tok, math.nan, V if vec else 0, len(data), 0) + data)
        out.flush()
    except BrokenPipeError:  # cl-sample has ended the loop, as cl-forward would see it
        os._exit(0)

def read(n):
    b = inp.read(n)
    if len(b) < n:
        sys.exit(0)
    return b

header()
for seq, p in enumerate(PROMPTS):
    rec(3, seq, 0, -1)
    for i, t in enumerate(p):
        rec(2, seq, i, t, 0, True)
    rec(4, seq, len(p), -1)
rec(6, 0, 0, -1)
read(struct.unpack('<I', read(16)[12:16])[0])
while True:
    kind, flags, seq, pos, tok, lp, n, nbytes, _ = struct.unpack(REC, read(32))
    read(nbytes)
    if kind == 1:
        rec(2, seq, pos, tok, flags & 1, True)
    elif kind == 5:
        rec(5, seq, pos, -1)
    elif kind == 6:
        sys.exit(0)
EOF

# summary FILE: a token stream as "kind seq pos token flags" lines.
summary() {
	cl-dump "$1" | $PY -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if o["kind"] != "header":
        print(o["kind"], o["seq"], o["pos"], o["token"], o["flags"])'
}

# loop NAME V EOS NEXT PROMPTS OPTIONS...: runs the loop, leaves $TMP/NAME.cls.
loop() {
	local name=$1 v=$2 eos=$3 next=$4 prompts=$5; shift 5
	rm -f "$TMP/fifo"; mkfifo "$TMP/fifo"
	timeout 30 sh -c 'py=$1 fake=$2 fifo=$3 out=$4 v=$5 eos=$6 next=$7 prompts=$8; shift 8
		"$py" "$fake" "$v" "$eos" "$next" "$prompts" <"$fifo" | cl-sample "$@" | tee "$out" >"$fifo"' \
		sh "$PY" "$TMP/fake.py" "$TMP/fifo" "$TMP/$name.cls" "$v" "$eos" "$next" "$prompts" "$@"
}

# A greedy loop: seq 0 counts up from 4 until --max-new-tokens 4; seq 1 meets
# EOS (15) after two tokens.  Each ends with its last token unflagged and
# SEQ_END; END comes last, once both are over; the loop shuts down.
if loop greedy 16 15 '{}' '[[3,4],[12,13]]' --greedy --max-new-tokens 4; then
	got=$(summary "$TMP/greedy.cls")
	want0='token 0 2 5 3
token 0 3 6 3
token 0 4 7 3
token 0 5 8 2
seq_end 0 5 -1 0'
	want1='token 1 2 14 3
token 1 3 15 2
seq_end 1 3 -1 0'
	if [ "$(grep ' 0 ' <<<"$got" | grep -v '^end')" = "$want0" ] &&
		[ "$(grep ' 1 ' <<<"$got" | grep -v '^end')" = "$want1" ] &&
		[ "$(tail -n 1 <<<"$got")" = "end 0 0 -1 0" ] && [ "$(wc -l <<<"$got")" -eq 9 ]; then
		ok "the greedy loop stops at --max-new-tokens and at EOS, then ends the stream"
	else
		not_ok "the greedy loop stops at --max-new-tokens and at EOS, then ends the stream" "$got"
	fi
else
	not_ok "the greedy loop stops at --max-new-tokens and at EOS, then ends the stream" "loop failed or hung"
fi

if loop noeos 16 15 '{}' '[[12,13]]' --greedy --max-new-tokens 4 --ignore-eos; then
	got=$(summary "$TMP/noeos.cls" | awk '$1 == "token" { printf "%s ", $4 }')
	if [ "$got" = "14 15 0 1 " ]; then ok "--ignore-eos generates past EOS"
	else not_ok "--ignore-eos generates past EOS" "$got"; fi
else
	not_ok "--ignore-eos generates past EOS" "loop failed or hung"
fi

# --stop with the stories260K tokenizer: " upon" " a" " time" — the stop
# string "a ti" spans two tokens.
if need_testdata "--stop ends a sequence when the generated text holds the string"; then
	m=$TESTDATA/stories260K-hf-f32
	if loop stop 512 2 '{"403":407,"407":261,"261":378,"378":265}' '[[1,403]]' -m "$m" \
		--stop "a ti" --greedy; then
		got=$(summary "$TMP/stop.cls" | tr '\n' ';')
		want='token 0 2 407 3;token 0 3 261 3;token 0 4 378 2;seq_end 0 4 -1 0;end 0 0 -1 0;'
		if [ "$got" = "$want" ]; then ok "--stop ends a sequence when the generated text holds the string"
		else not_ok "--stop ends a sequence when the generated text holds the string" "$got"; fi
	else
		not_ok "--stop ends a sequence when the generated text holds the string" "loop failed or hung"
	fi
fi

# Stream inputs from JSON Lines.
hdr='{"kind":"header","stream":"vectors","what":"logits","width":4,"dtype":"f32","vocab_size":4,"eos":3}'
printf '%s\n' "$hdr" \
	'{"kind":"seq_begin","seq":0,"pos":0,"token":-1}' \
	'{"kind":"vector","seq":0,"pos":0,"token":1,"data":[0,1,5,2]}' \
	'{"kind":"vector","seq":0,"pos":1,"token":2,"data":[0,9,5,-1e999]}' \
	'{"kind":"prompt_end","seq":0,"pos":2,"token":-1}' \
	'{"kind":"end","seq":0,"pos":0,"token":-1}' | cl-dump -r >"$TMP/one.cls"
got=$(cl-sample --greedy --top-logprobs 2 <"$TMP/one.cls" | cl-dump | sed -n 2p)
case $got in
*'"pos":2,"token":1,"flags":3,"logprob":-0.01'*'"alts":[[1,-0.01'*'],[2,-4.01'*)
	ok "greedy picks the argmax of the last vector at the prompt's end, with alternatives" ;;
*) not_ok "greedy picks the argmax of the last vector at the prompt's end, with alternatives" "$got" ;;
esac
got=$(cl-sample --logit-bias 1=-inf --logit-bias 2=-inf --seed 3 <"$TMP/one.cls" | summary /dev/stdin | head -n 1)
if [ "$got" = "token 0 2 0 3" ]; then ok "--logit-bias -inf bans tokens (and -inf logits are never drawn)"
else not_ok "--logit-bias -inf bans tokens (and -inf logits are never drawn)" "$got"; fi

# Many vectors flagged for sampling, flat logits over 16 tokens.
$PY - "$TMP/flat.jsonl" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    print(json.dumps({"kind": "header", "stream": "vectors", "what": "logits", "width": 16}), file=f)
    for seq in (0, 1):
        print(json.dumps({"kind": "seq_begin", "seq": seq, "pos": 0}), file=f)
    for pos in range(40):
        for seq in (0, 1):
            print(json.dumps({"kind": "vector", "seq": seq, "pos": pos, "token": 5, "flags": 1,
                              "data": [0.0] * 16}), file=f)
EOF
cl-dump -r "$TMP/flat.jsonl" >"$TMP/flat.cls"
$PY -c '
import sys
l = open(sys.argv[1]).read().splitlines()
body = l[3:]
pairs = [body[i:i + 2] for i in range(0, len(body), 2)]
print("\n".join(l[:3] + [x for p in reversed(pairs) for x in reversed(p)]))' "$TMP/flat.jsonl" |
	cl-dump -r >"$TMP/flat-rev.cls"
a=$(cl-sample --seed 7 <"$TMP/flat.cls" | summary /dev/stdin)
b=$(cl-sample --seed 7 <"$TMP/flat.cls" | summary /dev/stdin)
c=$(cl-sample --seed 8 <"$TMP/flat.cls" | summary /dev/stdin)
d=$(cl-sample --seed 7 <"$TMP/flat-rev.cls" | summary /dev/stdin | sort -k2,2n -k3,3n)
if [ "$a" = "$b" ] && [ "$(wc -l <<<"$a")" -eq 80 ]; then ok "the same seed gives the same tokens"
else not_ok "the same seed gives the same tokens" "$a" "$b"; fi
if [ "$a" != "$c" ]; then ok "another seed gives other tokens"; else not_ok "another seed gives other tokens"; fi
if [ "$(sort -k2,2n -k3,3n <<<"$a")" = "$d" ]; then
	ok "the token at a position does not depend on the order records arrive in"
else
	not_ok "the token at a position does not depend on the order records arrive in" "$d"
fi
got=$(cl-sample --max-new-tokens 3 <"$TMP/flat.cls" | summary /dev/stdin | awk '{ printf "%s %s %s %s;", $1, $2, $3, $5 }')
want='token 0 1 3;token 1 1 3;token 0 2 3;token 1 2 3;token 0 3 2;seq_end 0 3 0;token 1 3 2;seq_end 1 3 0;'
if [ "$got" = "$want" ]; then ok "records for a finished sequence are ignored"
else not_ok "records for a finished sequence are ignored" "$got"; fi

# Option and data errors: one line on stderr, exit 2 for usage, 1 for data.
usage_fails() { # NAME PATTERN OPTIONS...
	local name=$1 pat=$2 rc; shift 2
	check_fails "$name" "$pat" cl-sample "$@"
	cl-sample "$@" </dev/null >/dev/null 2>&1; rc=$?
	[ $rc -eq 2 ] || not_ok "$name exits 2" "exited $rc"
}
usage_fails "--top-p above 1 is refused" "^cl-sample: --top-p: expected a number from 0 to 1" --top-p 1.5
usage_fails "a negative --top-k is refused" "^cl-sample: --top-k" --top-k -1
usage_fails "--temperature without a value is refused" "^cl-sample: --temperature: needs a value" --temperature
usage_fails "--logit-bias without = is refused" "^cl-sample: --logit-bias: expected ID=BIAS" --logit-bias 5
usage_fails "--logit-bias of +inf is refused" "^cl-sample: --logit-bias" --logit-bias 5=inf
usage_fails "an unknown stage in --samplers is refused" "^cl-sample: --samplers: .*nope" --samplers top_k,nope
usage_fails "--max-new-tokens 0 is refused" "^cl-sample: --max-new-tokens" --max-new-tokens 0
usage_fails "an unknown option is refused" "^cl-sample: unknown option '--bogus'" --bogus
check_fails "a bias for a token outside the vocabulary is refused" "token 9 is outside the vocabulary of 4" \
	sh -c 'cl-sample --logit-bias 9=1 <"$1"' sh "$TMP/one.cls"
printf '%s\n' '{"kind":"header","stream":"tokens"}' '{"kind":"token","seq":0,"pos":0,"token":1}' |
	cl-dump -r >"$TMP/tokens.cls"
check_fails "a token stream as input is refused" "^cl-sample: stdin: expected a stream of logits" \
	sh -c 'cl-sample <"$1"' sh "$TMP/tokens.cls"
printf '%s\n' "$hdr" '{"kind":"prompt_end","seq":0,"pos":0,"token":-1}' | cl-dump -r >"$TMP/noprompt.cls"
check_fails "a prompt that ends before any logits is refused" "sequence 0: its prompt ended before any logits" \
	sh -c 'cl-sample <"$1"' sh "$TMP/noprompt.cls"
check "--help exits 0" cl-sample --help
if need_testdata "a stream made for another tokenizer is refused"; then
	printf '%s\n' '{"kind":"header","stream":"vectors","what":"logits","width":4,"tokenizer":"0123456789abcdef"}' \
		'{"kind":"end"}' | cl-dump -r >"$TMP/other.cls"
	check_fails "a stream made for another tokenizer is refused" "tokenizer 0123456789abcdef" \
		sh -c 'cl-sample -m "$1" <"$2"' sh "$TESTDATA/stories260K-hf-f32" "$TMP/other.cls"
fi

# Token records on the input (positions without logits) join the history the
# penalties see: token 1 at position 0 makes --repetition-penalty 2 prefer 2.
printf '%s\n' "$hdr" '{"kind":"seq_begin","seq":0}' '{"kind":"token","seq":0,"pos":0,"token":1}' \
	'{"kind":"vector","seq":0,"pos":1,"token":3,"data":[0,3,2,0]}' '{"kind":"prompt_end","seq":0,"pos":2}' |
	cl-dump -r >"$TMP/pen.cls"
a=$(cl-sample --greedy <"$TMP/pen.cls" | summary /dev/stdin | head -n 1)
b=$(cl-sample --greedy --repetition-penalty 2 <"$TMP/pen.cls" | summary /dev/stdin | head -n 1)
if [ "$a" = "token 0 2 1 3" ] && [ "$b" = "token 0 2 2 3" ]; then
	ok "token records on the input count in the history of the penalties"
else
	not_ok "token records on the input count in the history of the penalties" "$a" "$b"
fi

# The man page's loop (a FIFO), greedy on stories260K: the tokens llama2.c's
# run.c chose (it stops at BOS, not EOS, hence --ignore-eos).
name="the FIFO loop of cl-sample(1) reproduces run.c's greedy runs on stories260K"
if ! command -v cl-embed >/dev/null || ! command -v cl-forward >/dev/null; then
	skip "$name" "cl-embed or cl-forward is not built"
elif need_testdata "$name"; then
	m=$TESTDATA/stories260K-hf-f32
	bad=
	for run in 2 3; do
		$PY -c 'import json, sys
r = json.load(open(sys.argv[1]))["runs"][int(sys.argv[2])]
print(r["prompt"]); print(" ".join(map(str, r["generated_ids"])))' \
			"$TESTDATA/stories260K/runc_greedy.json" $run >"$TMP/run"
		prompt=$(sed -n 1p "$TMP/run") want=$(sed -n 2p "$TMP/run")
		rm -f "$TMP/loop"; mkfifo "$TMP/loop"
		timeout 60 sh -c 'cl-tokenize -m "$1" "$2" | cat - "$3" | cl-embed -m "$1" | cl-forward -m "$1" |
			cl-sample -m "$1" --greedy --ignore-eos --max-new-tokens "$4" | tee "$3" >"$5"' \
			sh "$m" "$prompt" "$TMP/loop" "$(wc -w <<<"$want")" "$TMP/out.cls" 2>"$TMP/err"
		got=$(summary "$TMP/out.cls" | awk '$1 == "token" { printf "%s%s", s, $4; s = " " }')
		[ "$got" = "$want" ] || bad="$bad
'$prompt': got $got
want $want
$(cat "$TMP/err")"
	done
	if [ -z "$bad" ]; then ok "$name"; else not_ok "$name" "$bad"; fi
fi
