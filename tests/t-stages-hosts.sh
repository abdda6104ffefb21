#!/usr/bin/env bash
# One model over two hosts: stages of cl-forward on two network namespaces
# reached by ssh (scripts/netns-hosts; cl installed for them with `make
# install`), joined by pipes through this machine.  The logits equal the
# whole model's bit for bit; the generation loop across the hosts gives the
# tokens of the loop on one machine; and the hop cost per token is measured.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 2
c="stages on two ssh hosts"
need_hosts "$c" || { counts; exit 0; }
hosts_up 2 || { counts; exit 0; }
install_for "$c" hosts || { counts; exit 0; }
P=$P/bin
h1=$(sed -n 1p "$H/hosts") h2=$(sed -n 2p "$H/hosts")
S="ssh -F $H/ssh_config"
# At most 4 positions a pass: such products give each row the bits it gets
# alone, so results do not depend on how the pipes cut the input.
F="--batch 4 --threads 1"

printf 'def fibonacci(n):\n    if n < 2:\n        return n\n' | "$P/cl-tokenize" -m "$M" | "$P/cl-embed" -m "$M" >"$TMP/e.cls"
"$P/cl-forward" -m "$M" $F <"$TMP/e.cls" >"$TMP/whole.cls"
$S "$h1" "$P/cl-forward -m $M $F --layers 0:3" <"$TMP/e.cls" | $S "$h2" "$P/cl-forward -m $M $F --layers 3:" >"$TMP/split.cls" 2>"$TMP/err"
cmp -s "$TMP/whole.cls" "$TMP/split.cls" &&
	ok "layers 0:3 on one host and 3: on another give the whole model's logits bit for bit" ||
	not_ok "layers 0:3 on one host and 3: on another give the whole model's logits bit for bit" "$(cat "$TMP/err")"

# The generation loop across the hosts: the sampled token comes back here.
loop() { # OUT FORWARD-COMMAND
	rm -f "$TMP/fifo" && mkfifo "$TMP/fifo"
	"$P/cl-tokenize" -m "$M" "def fibonacci(" | cat - "$TMP/fifo" | "$P/cl-embed" -m "$M" | eval "$2" |
		"$P/cl-sample" --greedy --ignore-eos --max-new-tokens "$N" | tee "$TMP/fifo" >"$1"
}
timed() { # SECONDS-VAR OUT N FORWARD-COMMAND: run the loop, its wall time in SECONDS-VAR
	local start rc
	start=$(date +%s.%N)
	timeout 120 bash -c "$(declare -f loop); P=$P M=$M N=$3 TMP=$TMP; loop $2 \"$4\""
	rc=$?
	printf -v "$1" '%s' "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
	return $rc
}
local_fw="$P/cl-forward -m $M $F --last"
hosts_fw="$S $h1 '$P/cl-forward -m $M $F --layers 0:3' | $S $h2 '$P/cl-forward -m $M $F --layers 3: --last'"
N=240
timed t_local "$TMP/local.cls" $N "$local_fw"
timed t_hosts "$TMP/hosts.cls" $N "$hosts_fw"
rc=$?
n=$("$P/cl-dump" "$TMP/hosts.cls" 2>/dev/null | grep -c '"flags":[0-9]*,"logprob"')
if [ $rc -eq 0 ] && [ "$n" -ge $N ] && cmp -s "$TMP/local.cls" "$TMP/hosts.cls"; then
	ok "the generation loop across two hosts gives the one-machine loop's $N greedy tokens, byte for byte"
else
	not_ok "the generation loop across two hosts gives the one-machine loop's greedy tokens" "rc=$rc, $n tokens"
fi
# Each stage in its own namespace with TCP between them (socat), not
# through this machine: host 2 serves the last stage on a port of its link
# with host 1; host 1 runs the first stage into it.  The tokens come back
# from host 1, and flow to it, through `ip netns exec`.
if command -v socat >/dev/null; then
	ns1=$(cat "$H/ns-1") ns2=$(cat "$H/ns-2") peer=$(cat "$H/peer") port=$((20000 + $$ % 20000))
	printf '#!/bin/sh\nexec %s -m %s %s --layers 3: --last\n' "$P/cl-forward" "$M" "$F" >"$TMP/stage2"
	chmod +x "$TMP/stage2"
	ip netns exec "$ns2" socat -t 60 TCP-LISTEN:$port,bind="$peer",reuseaddr,fork EXEC:"$TMP/stage2" 2>"$TMP/socat2.err" &
	sp=$!
	for ((t = 0; t < 50; t++)); do
		ip netns exec "$ns1" socat -u /dev/null TCP:"$peer":$port,connect-timeout=1 2>/dev/null && break
		sleep 0.1
	done
	tcp_fw="ip netns exec $ns1 sh -c '$P/cl-forward -m $M $F --layers 0:3 | socat -t 60 - TCP:$peer:$port 2>/dev/null'"
	timed t_tcp "$TMP/tcp.cls" $N "$tcp_fw"
	rc=$?
	timed s_tcp "$TMP/t40.cls" 40 "$tcp_fw"
	kill $sp 2>/dev/null
	wait $sp 2>/dev/null
	cmp -s "$TMP/local.cls" "$TMP/tcp.cls" && [ $rc -eq 0 ] &&
		ok "stage 0:3 in one namespace, 3: in another, TCP between them (socat): the loop's $N greedy tokens equal one machine's" ||
		not_ok "stages in two namespaces with TCP between them give one machine's tokens" "rc=$rc" "$(cat "$TMP/socat2.err")"
else
	skip "stages in two namespaces with TCP between them" "socat is not installed (scripts/setup --hosts installs it)"
fi

# Not a test (the machines are shared): the cost of a token's two ssh hops
# (here -> host 1 -> here -> host 2 -> here, over veth pairs on this
# machine), from the slope between loops of 40 and 240 tokens, so that
# starting processes and ssh sessions does not count.
timed s_local "$TMP/l40.cls" 40 "$local_fw"
timed s_hosts "$TMP/h40.cls" 40 "$hosts_fw"
awk -v a="$t_local" -v b="$t_hosts" -v c="$s_local" -v d="$s_hosts" 'BEGIN {
	l = (a - c) / 200; h = (b - d) / 200
	printf "# generation loop, a token: one machine %.3f ms, over two hosts %.3f ms: %.3f ms for each of the 2 hops (slope from 40 to 240 tokens)\n",
		1e3 * l, 1e3 * h, 1e3 * (h - l) / 2 }'
[ -n "${t_tcp:-}" ] && awk -v a="$t_local" -v c="$s_local" -v b="$t_tcp" -v d="$s_tcp" 'BEGIN {
	l = (a - c) / 200; h = (b - d) / 200
	printf "# the same, stages in two namespaces with TCP between them (socat): %.3f ms a token, %.3f ms more than one machine\n",
		1e3 * h, 1e3 * (h - l) }'
counts
