#!/usr/bin/env bash
# tests/t-firstuse.sh - what a new user types first (issue 18), on the model
# that ships: the README's own commands with several seeds, generation and
# prompts against the context, the README's loop recipes when a part fails,
# cl-complete as one program (messages, progress, output kept), and bad input
# refused rather than changed.  Every run is under `timeout`: a hang fails.
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/.." && pwd)
M=$top/models/cl-python-small
README=$top/README.md
BINABS=$(cd "$BIN" && pwd)
export CL_MODEL=$M

# readme_block START: the indented code block of the README that follows the
# first line starting with START, without its indentation.
readme_block() {
	awk -v start="$1" 'index($0, start) == 1 { f = 1; next }
		f == 1 && /^    / { f = 2 }
		f == 2 && !/^    / && !/^$/ { exit }
		f == 2 { sub(/^    /, ""); print }' "$README"
}

# --- 1. the README's sampling command, and generation at the context -------

cmd=$(grep -m1 '^    cl-complete --temperature' "$README" | sed 's/^    //')
c="the README's sampling command ($cmd) exits 0 with seeds 1 to 4"
bad=
for s in 1 2 3 4; do
	out=$(eval "timeout 120 ${cmd/cl-complete/cl-complete --seed $s}" 2>"$TMP/err") &&
		[ "${out#def fibonacci(}" != "$out" ] || bad="$bad seed $s: $(cat "$TMP/err")"
done
[ -z "$bad" ] && ok "$c" || not_ok "$c" "$bad"

c="a JSON request without max_new_tokens is answered (generation stops at the context)"
out=$(echo '{"input_data": {"input_string": ["def f("]}}' | timeout 120 cl-complete --json 2>"$TMP/err")
if [ $? -eq 0 ] && $PY -c 'import json, sys; a = json.loads(sys.argv[1]); assert a[0]["0"].startswith("def f(")' "$out"
then ok "$c"; else not_ok "$c" "$out" "$(cat "$TMP/err")"; fi

c="cl-sample stops at the end of cl-forward's context and says so once"
timeout 60 cl-complete --ctx 24 --ignore-eos --max-new-tokens 1000 --seed 1 "def f(" >"$TMP/out" 2>"$TMP/err"
rc=$?
n=$(cl-tokenize --ids "$(cat "$TMP/out")" | wc -w)
if [ $rc -eq 0 ] && [ "$(grep -c 'stopped at the end of the context (24 positions)' "$TMP/err")" -eq 1 ] &&
	[ "$(wc -l <"$TMP/err")" -eq 1 ] && [ "$n" -ge 20 ] && [ "$n" -le 28 ]; then ok "$c"
else not_ok "$c" "exit $rc, $n tokens" "$(cat "$TMP/err")"; fi

c="cl-forward's header says its context, cl-sample's passes it on, cl-dump shows it"
h1=$(cl-tokenize x | cl-embed | cl-forward --last --ctx 40 | cl-dump | head -1)
h2=$(cl-tokenize x | cl-embed | cl-forward --last --ctx 40 | cl-sample --greedy --max-new-tokens 2 | cl-dump | head -1)
case "$h1/$h2" in *'"context":40'*/*'"context":40'*) ok "$c" ;; *) not_ok "$c" "$h1" "$h2" ;; esac

# --- 2. text already generated is kept when a part fails --------------------

# A bin folder whose cl-forward fails after a few writes: cl-complete finds
# its programs beside its own executable, so it is copied there, the others
# linked, and cl-forward is the real one behind a relay that gives up.
mkdir -p "$TMP/b"
cp "$BINABS/cl-complete" "$TMP/b/"
for p in cl-embed cl-sample cl-tokenize cl-detok; do ln -s "$BINABS/$p" "$TMP/b/$p"; done
# relay.py N [COMMAND...]: pass on N reads of standard input (or of
# COMMAND's output), then fail with a message.
cat >"$TMP/relay.py" <<'EOF'
import os, subprocess, sys
src, child = 0, None
if len(sys.argv) > 2:
    child = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE)
    src = child.stdout.fileno()
for _ in range(int(sys.argv[1])):
    b = os.read(src, 1 << 16)
    if not b:
        sys.exit(0)
    os.write(1, b)
if child:
    child.kill()
sys.stderr.write("cl-forward: failed on purpose\n")
sys.exit(1)
EOF
cat >"$TMP/b/cl-forward" <<EOF
#!/bin/sh
exec $PY "$TMP/relay.py" 12 "$BINABS/cl-forward" "\$@"
EOF
chmod +x "$TMP/b/cl-forward"

c="output redirected to a file keeps the text generated before a part failed"
timeout 60 "$TMP/b/cl-complete" -m "$M" --greedy --ignore-eos "def fibonacci(" >"$TMP/f.txt" 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(head -c 14 "$TMP/f.txt")" = "def fibonacci(" ] && [ "$(wc -c <"$TMP/f.txt")" -gt 14 ] &&
	[ "$(cat "$TMP/err")" = "cl-complete: failed on purpose" ]; then ok "$c"
else not_ok "$c" "exit $rc, $(wc -c <"$TMP/f.txt") bytes" "$(cat "$TMP/err")"; fi

c="on a terminal, a message after text starts on a line of its own"
script -qec "timeout 60 '$TMP/b/cl-complete' -m '$M' --greedy --ignore-eos 'def fibonacci('" /dev/null \
	>"$TMP/tty" 2>&1
if $PY - "$TMP/tty" <<'EOF'
import sys
t = open(sys.argv[1], "rb").read().replace(b"\r", b"")
i = t.find(b"cl-complete: failed on purpose")
assert i > 0 and t[i - 1:i] == b"\n" and b"\ndef fibonacci(" in t, t[-300:]
EOF
then ok "$c"; else not_ok "$c" "$(tail -c 300 "$TMP/tty")"; fi

# --- 3. the README's loop recipes end when a part fails ----------------------

readme_block 'Generation is a loop' >"$TMP/fifo.sh"
readme_block 'With `cl-sample` as a bash coprocess' >"$TMP/coproc.sh"
c="the README's FIFO and coproc recipes run and agree"
(cd "$TMP" && timeout 60 sh fifo.sh >fifo.out 2>fifo.err && timeout 60 bash coproc.sh >coproc.out 2>coproc.err)
if [ $? -eq 0 ] && [ -s "$TMP/coproc.out" ] && grep -q mkfifo "$TMP/fifo.sh" && grep -q coproc "$TMP/coproc.sh"; then
	ok "$c"
else not_ok "$c" "$(cat "$TMP/fifo.sh" "$TMP/coproc.sh" "$TMP"/*.err)"; fi

for r in fifo coproc; do
	c="the README's $r recipe ends, with the error, when the model cannot be loaded"
	(cd "$TMP" && rm -f loop && CL_MODEL=/nonexistent timeout 30 bash $r.sh >bad.out 2>bad.err)
	rc=$?
	if [ $rc -ne 124 ] && grep -q '^cl-embed: /nonexistent' "$TMP/bad.err"; then ok "$c"
	else not_ok "$c" "exit $rc" "$(cat "$TMP/bad.err")"; fi

	c="the README's $r recipe ends when a part fails part-way"
	sed "s#cl-forward --last#cl-forward --last | $PY $TMP/relay.py 6#" "$TMP/$r.sh" >"$TMP/mid-$r.sh"
	(cd "$TMP" && rm -f loop && timeout 30 bash mid-$r.sh >mid.out 2>mid.err)
	rc=$?
	if [ $rc -ne 124 ] && grep -q 'failed on purpose' "$TMP/mid.err"; then ok "$c"
	else not_ok "$c" "exit $rc (124: it hung)" "$(cat "$TMP/mid.err")"; fi
done

# --- 4. prompts longer than the context --------------------------------------

$PY -c 'import sys; sys.stdout.write("def f(x):\n    return x + 1\n" * 3500)' >"$TMP/big.py"
nbig=$(cl-tokenize --ids -f "$TMP/big.py" | wc -w)

check_fails "cl-forward gives a too-long prompt's length and the context" \
	"seq 0: the prompt is $nbig tokens, the context holds 256 \(max_position_embeddings" \
	bash -c 'cl-tokenize -f "$1" | cl-embed | cl-forward --last' _ "$TMP/big.py"

c="cl-complete refuses a 100 KB prompt in one line, before writing anything"
timeout 60 cl-complete <"$TMP/big.py" >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && [ ! -s "$TMP/out" ] &&
	[ "$(cat "$TMP/err")" = "cl-complete: the prompt is $nbig tokens, the context holds 256 (--truncate keeps its end)" ]
then ok "$c"; else not_ok "$c" "exit $rc, $(wc -c <"$TMP/out") bytes out" "$(cat "$TMP/err")"; fi

c="cl-complete --truncate keeps the prompt's end and completes it"
timeout 60 cl-complete --truncate --greedy --max-new-tokens 8 <"$TMP/big.py" >"$TMP/out" 2>"$TMP/err"
rc=$?
n=$(cl-tokenize --ids -f "$TMP/out" | wc -w)
if [ $rc -eq 0 ] && [ "$n" -gt 100 ] && [ "$n" -le 256 ] && grep -q 'return x + 1' "$TMP/out"; then ok "$c"
else not_ok "$c" "exit $rc, $n tokens" "$(cat "$TMP/err")"; fi

c="a JSON prompt too long for the context is answered with an error naming it"
$PY -c 'import json; print(json.dumps({"input_data": ["x = 1\n" * 400]}))' |
	timeout 60 cl-complete --json >"$TMP/out" 2>"$TMP/err"
grep -q '"error": "input 0: the prompt is [0-9]* tokens, the context holds 256' "$TMP/out" && ok "$c" ||
	not_ok "$c" "$(cat "$TMP/out" "$TMP/err")"

# --- 5. loading progress ------------------------------------------------------

c="cl-complete shows loading progress on a terminal, and with --progress"
script -qec "timeout 60 cl-complete --greedy --max-new-tokens 2 'def f('" /dev/null >"$TMP/tty" 2>&1
timeout 60 cl-complete --progress --greedy --max-new-tokens 2 'def f(' >/dev/null 2>"$TMP/err"
if grep -q 'layer 1 of' "$TMP/tty" && grep -q 'layer 1 of' "$TMP/err"; then ok "$c"
else not_ok "$c" "$(cat "$TMP/tty" "$TMP/err")"; fi

# --- 6. cl-complete's messages are its own -----------------------------------

check_fails "a sampling option cl-sample refuses is cl-complete's message" \
	"^cl-complete: --top-p: expected a number from 0 to 1, got '2'$" timeout 60 cl-complete --top-p 2 x

c="a bad -m gives the same message with and without --json"
a=$(timeout 60 cl-complete -m /nonexistent x 2>&1 >/dev/null)
b=$(echo '{"input_data": ["x"]}' | timeout 60 cl-complete --json -m /nonexistent 2>&1 >/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && [ "${a#cl-complete: /nonexistent}" != "$a" ] && ok "$c" || not_ok "$c" "$a" "$b"

# --- 7. bad input is refused, not changed -------------------------------------

check_fails "cl-tokenize refuses text that is not UTF-8" "invalid UTF-8 at byte 4" \
	bash -c "printf 'def \\377(' | cl-tokenize"
check_fails "cl-complete --raw refuses a prompt that is not UTF-8" "^cl-complete: the prompt: invalid UTF-8" \
	timeout 60 cl-complete --raw "$(printf 'def \377(')"
H='{"kind":"header","stream":"tokens","what":"tokens","vocab_size":2048}'
check_fails "cl-dump -r refuses a token id with a fraction" "token: expected an integer" \
	bash -c 'printf "%s\n{\"kind\":\"token\",\"token\":1784.5}\n" "$1" | cl-dump -r' _ "$H"
check_fails "cl-detok --pieces refuses a token outside the vocabulary" "token 99999 .* outside the vocabulary" \
	bash -c 'printf "%s\n{\"kind\":\"token\",\"token\":99999}\n" "$1" | cl-dump -r | cl-detok --pieces' _ "$H"
c="cl-dump --npy on a truncated stream fails and leaves no file"
cl-tokenize x | cl-embed | cl-forward | head -c 3000 | cl-dump --npy "$TMP/x.npy" 2>/dev/null
rc=$?
[ $rc -eq 1 ] && ! ls "$TMP"/x.npy* >/dev/null 2>&1 && ok "$c" || not_ok "$c" "exit $rc" "$(ls "$TMP")"
for p in "cl-tokenize x" "cl-embed" "cl-forward" "cl-sample" "cl-dump -r"; do
	c="${p%% *} writes no binary stream to a terminal"
	script -qec "$p </dev/null" /dev/null >"$TMP/tty" 2>&1
	rc=$?
	if [ $rc -eq 2 ] && grep -q 'standard output is a terminal' "$TMP/tty" && [ "$(wc -l <"$TMP/tty")" -eq 1 ]; then
		ok "$c"
	else not_ok "$c" "exit $rc" "$(cat -v "$TMP/tty")"; fi
done
