#!/usr/bin/env bash
# The foundation through the programs: cl-tokenize | cl-detok round trips,
# concatenated streams, cl-dump both ways and --npy, and bad input of every
# kind getting one line and a non-zero exit.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 2
L2=${TESTDATA:+$TESTDATA/llama2-tokenizer/tokenizer.model}
S=${TESTDATA:+$TESTDATA/stories260K-hf-f32}

name="cl-tokenize | cl-detok reproduces every Llama 2 test string byte for byte"
if need_testdata "$name"; then
	# Each vector's text to a file (tabs, newlines, runs of spaces, CJK, emoji).
	$PY - "$TESTDATA/llama2-tokenizer/llama2_tokenizer_vectors.jsonl" "$TMP" <<'PY'
import json, sys
for i, l in enumerate(open(sys.argv[1], encoding="utf-8")):
    v = json.loads(l)
    open(f"{sys.argv[2]}/v{i:02d}.txt", "wb").write(v["text"].encode())
    open(f"{sys.argv[2]}/v{i:02d}.dec", "wb").write(v["decoded"].encode())
    open(f"{sys.argv[2]}/v{i:02d}.ids", "w").write(" ".join(map(str, v["ids_bos"])) + "\n")
PY
	bad=
	for f in "$TMP"/v*.txt; do
		b=${f%.txt}
		cl-tokenize -t "$L2" -f "$f" >"$b.cls" || bad="$bad $(basename "$b"):tokenize"
		cl-tokenize -t "$L2" -f "$f" --ids | cmp -s - "$b.ids" || bad="$bad $(basename "$b"):ids"
		cl-detok -t "$L2" "$b.cls" >"$b.out" || bad="$bad $(basename "$b"):detok"
		# SentencePiece's own decode: equal to the text for all but the literal U+2581.
		cmp -s "$b.out" "$b.dec" || bad="$bad $(basename "$b")"
	done
	[ -z "$bad" ] && ok "$name" || not_ok "$name" "differ:$bad"
	n=$(for f in "$TMP"/v*.txt; do cmp -s "$f" "${f%.txt}.out" && echo; done | wc -l)
	echo "# $n of $(ls "$TMP"/v*.txt | wc -l) strings round-trip exactly (SentencePiece itself maps a literal U+2581 to a space)"
fi

name="cat a.cls b.cls | cl-detok gives both texts"
if need_testdata "$name"; then
	cl-tokenize -t "$L2" "first" >"$TMP/a.cls" && cl-tokenize -t "$L2" "second" >"$TMP/b.cls" &&
		[ "$(cat "$TMP/a.cls" "$TMP/b.cls" | cl-detok -t "$L2" --lines)" = "$(printf 'first\nsecond')" ] &&
		ok "$name" || not_ok "$name" "got: $(cat "$TMP/a.cls" "$TMP/b.cls" | cl-detok -t "$L2" --lines)"
fi

name="cl-tokenize | cl-dump | cl-dump -r | cl-detok reproduces the input"
if need_testdata "$name"; then
	printf 'def f(x):\n\treturn x  # 世界 🦙\n' >"$TMP/in.txt"
	cl-tokenize -t "$L2" -f "$TMP/in.txt" | cl-dump | cl-dump -r | cl-detok -t "$L2" >"$TMP/out.txt" &&
		cmp -s "$TMP/in.txt" "$TMP/out.txt" && ok "$name" || not_ok "$name" "$(od -c "$TMP/out.txt" | head -3)"
fi

name="cl-dump -r writes back the same bytes cl-dump read, vectors included"
if need_testdata "$name"; then
	cl-tokenize -m "$S" "Once upon a time" | cl-embed -m "$S" | cl-forward -m "$S" >"$TMP/l.cls" &&
		cl-dump "$TMP/l.cls" | cl-dump -r | cmp -s - "$TMP/l.cls" && ok "$name" || not_ok "$name" "streams differ"
fi

name="--lines makes each line a sequence, and --ids prints one line per sequence"
if need_testdata "$name"; then
	got=$(printf 'a b\nc\n' | cl-tokenize -t "$L2" --lines --ids)
	want=$(printf '%s\n%s' "$(cl-tokenize -t "$L2" --ids 'a b')" "$(cl-tokenize -t "$L2" --ids c)")
	[ "$got" = "$want" ] && ok "$name" || not_ok "$name" "got: $got" "want: $want"
fi

name="--from-ids takes ids exactly and --special parses </s>"
if need_testdata "$name"; then
	[ "$(echo '1 822 2' | cl-tokenize -t "$L2" --from-ids | cl-dump | grep -c '"kind":"token"')" = 3 ] &&
		cl-tokenize -t "$L2" --special --ids 'a</s>' | grep -q ' 2$' &&
		! cl-tokenize -t "$L2" --ids 'a</s>' | grep -q ' 2$' && ok "$name" || not_ok "$name"
fi

name="the man page's NumPy example reads a logits file"
if need_testdata "$name"; then
	cl-tokenize -m "$S" "Once upon" | cl-embed -m "$S" | cl-forward -m "$S" >"$TMP/logits.cls" &&
		sed -n '/^import json, struct/,/^logits = /p' man/cl-stream.5 | sed 's/\\-/-/g' >"$TMP/ex.py" &&
		(cd "$TMP" && $PY -c "exec(open('ex.py').read()); assert logits.shape == (3, 512), logits.shape") &&
		ok "$name" || not_ok "$name" "$(cat "$TMP/ex.py")"
fi

# Bad input: one line naming the program and the fault, a non-zero exit.
if need_testdata "bad input"; then
	cl-tokenize -m "$S" "Once upon" | cl-embed -m "$S" >"$TMP/emb.cls"
	check_fails "logits into cl-detok are refused" "^cl-detok: stdin: expected a token stream" \
		sh -c "cl-detok -m $S <$TMP/emb.cls"
	check_fails "a stream made for another tokenizer is refused, naming both" \
		"^cl-detok: .*tokenizer [0-9a-f]{16}.*has tokenizer [0-9a-f]{16}" \
		sh -c "cl-tokenize -t $L2 hello | cl-detok -m $S"
	head -c 100 "$TMP/emb.cls" >"$TMP/trunc.cls"
	check_fails "a truncated stream is an error" "truncated" cl-dump "$TMP/trunc.cls"
	head -c 3000 /dev/urandom >"$TMP/random.bin"
	check_fails "random bytes are an error" "not a cl stream" cl-detok -m "$S" "$TMP/random.bin"
	cp "$TMP/emb.cls" "$TMP/v9.cls" && printf '\011' | dd of="$TMP/v9.cls" bs=1 seek=8 conv=notrunc 2>/dev/null
	check_fails "an unknown version is an error naming it" "version 9" cl-dump "$TMP/v9.cls"
	: >"$TMP/empty.cls"
	check_fails "an empty input is an error" "empty input" cl-dump "$TMP/empty.cls"
	check_fails "a missing tokenizer.model is named" "/nonexistent" cl-tokenize -m /nonexistent hello
	mkdir -p "$TMP/corrupt" && head -c 500 /dev/urandom >"$TMP/corrupt/tokenizer.model"
	check_fails "a corrupt tokenizer.model is an error naming it" "corrupt/tokenizer.model" \
		cl-tokenize -m "$TMP/corrupt" hello
	check_fails "an id outside the vocabulary is refused by --from-ids" "expected a token id from 0 to 511" \
		sh -c "echo 1 600 | cl-tokenize -m $S --from-ids"
	check_fails "an unknown option is a usage error" "unknown option" cl-tokenize --bogus
	cl-tokenize -m "$S" --bogus >/dev/null 2>&1; [ $? -eq 2 ] && ok "usage errors exit 2" || not_ok "usage errors exit 2"
	name="a closed downstream pipe ends a program quietly"
	yes "Once upon a time there was" | head -c 2000000 >"$TMP/big.txt"
	err=$( { cl-tokenize -m "$S" --lines -f "$TMP/big.txt" | head -c 100 >/dev/null; } 2>&1)
	[ -z "$err" ] && ok "$name" || not_ok "$name" "$err"
fi
