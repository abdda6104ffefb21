#!/usr/bin/env bash
# cl-batch over two hosts with GNU parallel: network namespaces joined by
# veth pairs, each running Debian's sshd with a key made here
# (scripts/netns-hosts), cl installed for them with `make install`.  A
# 40-request batch merged from the hosts equals the one-machine run byte for
# byte; so does a run in which one host's cl-complete is killed mid-shard,
# and a run interrupted and then resumed.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 2
top=$PWD
c="cl-batch over two ssh hosts"
need_hosts "$c" || { counts; exit 0; }

hosts_up 2 || { counts; exit 0; }
ok "two hosts come up (scripts/netns-hosts), each answering ssh with the test's key"

install_for "$c" hosts || { counts; exit 0; }
sshc="ssh -F $H/ssh_config"
h1=$(sed -n 1p "$H/hosts")
check "cl-complete runs on a host over ssh" $sshc "$h1" "$P/bin/cl-complete --version || $P/bin/cl-complete --help >/dev/null"

# 40 sampled requests; one thread each, as the two hosts share two cores.
for i in $(seq 1 40); do
	printf '{"input_data": {"input_string": ["def f%d("], "parameters": {"max_new_tokens": 48, "temperature": 0.8, "do_sample": true}}}\n' "$i"
done >"$TMP/req.jsonl"
"$P/bin/cl-complete" --json -m "$M" --threads 1 <"$TMP/req.jsonl" >"$TMP/one.jsonl" 2>"$TMP/one.err"
[ "$(grep -c '' "$TMP/one.jsonl")" -eq 40 ] && ok "the one-machine run answers 40 requests" ||
	not_ok "the one-machine run answers 40 requests" "$(cat "$TMP/one.err")"

batch() { # ANSWERS [cl-batch options...]
	local o=$1; shift
	timeout 300 "$P/bin/cl-batch" --hosts "$H/hosts" --ssh "$sshc" -m "$M" --cl-complete "$P/bin/cl-complete" \
		-o "$o" "$@" "$TMP/req.jsonl" -- --threads 1
}

start=$(date +%s.%N)
batch "$TMP/two.jsonl" 2>"$TMP/two.err"; rc=$?
two_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
if [ $rc -eq 0 ] && cmp -s "$TMP/one.jsonl" "$TMP/two.jsonl"; then
	ok "40 requests over two hosts merge into the one-machine answers byte for byte"
else
	not_ok "40 requests over two hosts merge into the one-machine answers byte for byte" "rc=$rc" "$(cat "$TMP/two.err")"
fi
[ ! -e "$TMP/two.jsonl.cl-batch" ] && ok "the work folder cl-batch chose is gone after the merge" ||
	not_ok "the work folder cl-batch chose is gone after the merge"
sed -n 1p "$H/hosts" >"$TMP/host1"
start=$(date +%s.%N)
timeout 300 "$P/bin/cl-batch" --hosts "$TMP/host1" --ssh "$sshc" -m "$M" --cl-complete "$P/bin/cl-complete" \
	--shards 4 -o "$TMP/single.jsonl" "$TMP/req.jsonl" -- --threads 1 2>"$TMP/single.err"; rc=$?
one_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ $rc -eq 0 ] && cmp -s "$TMP/one.jsonl" "$TMP/single.jsonl" && ok "the same over one host" ||
	not_ok "the same over one host" "rc=$rc" "$(cat "$TMP/single.err")"
# Wall times, not a test: the two hosts share this machine's cores.
echo "# wall time, 40 requests of 48 tokens: one host ${one_s} s, two hosts ${two_s} s"

# One host's cl-complete killed once it has written some of its shard's
# answers.  The requests reach it ten a second (a reader in front of the
# real cl-complete) so that a shard lasts long enough to be caught mid-way.
cat >"$TMP/slow-cl-complete" <<EOF
#!/bin/sh
while IFS= read -r l; do printf '%s\n' "\$l"; sleep 0.1; done | exec "$P/bin/cl-complete" "\$@"
EOF
chmod +x "$TMP/slow-cl-complete"
d=$TMP/kill.d
timeout 300 "$P/bin/cl-batch" --hosts "$H/hosts" --ssh "$sshc" -m "$M" --cl-complete "$TMP/slow-cl-complete" \
	-o "$TMP/kill.jsonl" --dir "$d" "$TMP/req.jsonl" -- --threads 1 2>"$TMP/kill.err" &
bp=$!
ns1=$(cat "$H/ns-1") killed=
for ((t = 0; t < 3000; t++)); do
	[ -z "$killed" ] || break
	for p in $(ip netns pids "$ns1" 2>/dev/null); do
		comm=
		{ read -r comm <"/proc/$p/comm"; } 2>/dev/null
		[ "$comm" = cl-complete ] || continue
		for f in /proc/"$p"/cwd/shards/*.out; do
			if [ -s "$f" ]; then
				lines=$(grep -c '' "$f" 2>/dev/null)
				kill -9 "$p" 2>/dev/null && killed="pid $p after $lines of 10 answers of $(basename "$f")"
				break 2
			fi
		done
	done
	sleep 0.02
done
wait $bp; rc=$?
if [ -n "$killed" ]; then
	ok "one host's cl-complete is killed mid-shard ($killed)"
	if [ $rc -eq 0 ] && cmp -s "$TMP/one.jsonl" "$TMP/kill.jsonl"; then
		ok "after the kill, the shard is retried and the answers still equal the one-machine run"
	else
		not_ok "after the kill, the shard is retried and the answers still equal the one-machine run" "rc=$rc" "$(cat "$TMP/kill.err")"
	fi
	n=$(awk 'NR > 1' "$d/joblog" | wc -l)
	[ "$n" -eq 4 ] && awk 'NR > 1 && $7 != 0 { bad = 1 } END { exit bad }' "$d/joblog" &&
		ok "the joblog records each of the 4 shards once, ending well" ||
		not_ok "the joblog records each of the 4 shards once, ending well" "$(cat "$d/joblog")"
else
	not_ok "one host's cl-complete is killed mid-shard" "no cl-complete of host 1 was seen with answers written"
fi

# Interrupted after the first shard, then resumed: the rest run, nothing twice.
d=$TMP/resume.d
batch "$TMP/res.jsonl" --dir "$d" --shards 4 --jobs 1 2>"$TMP/res.err" &
bp=$!
for ((t = 0; t < 6000; t++)); do
	[ -f "$d/joblog" ] && [ "$(grep -c '' "$d/joblog")" -ge 2 ] && break
	sleep 0.01
done
pkill -TERM -P $bp 2>/dev/null
kill -TERM $bp 2>/dev/null
wait $bp
done_before=$(awk 'NR > 1 && $7 == 0' "$d/joblog" 2>/dev/null | wc -l)
if [ ! -f "$TMP/res.jsonl" ] && [ "$done_before" -ge 1 ] && [ "$done_before" -lt 4 ]; then
	ok "an interrupted run leaves no answers file ($done_before of 4 shards done)"
	cp "$d/joblog" "$TMP/joblog.before"
	if batch "$TMP/res.jsonl" --dir "$d" --resume 2>>"$TMP/res.err" && cmp -s "$TMP/one.jsonl" "$TMP/res.jsonl"; then
		ok "--resume runs the rest and the answers equal the one-machine run"
	else
		not_ok "--resume runs the rest and the answers equal the one-machine run" "$(cat "$TMP/res.err")"
	fi
	again=$(awk 'NR > 1 && $7 == 0 { print $1 }' "$d/joblog" | sort | uniq -d)
	[ -z "$again" ] && [ "$(awk 'NR > 1 && $7 == 0' "$d/joblog" | wc -l)" -eq 4 ] &&
		ok "--resume does not run a finished shard again" || not_ok "--resume does not run a finished shard again" "$(cat "$d/joblog")"
else
	not_ok "an interrupted run leaves no answers file" "done: $done_before" "$(cat "$TMP/res.err")"
fi

# Bad input: one line each, non-zero.
check_fails "a missing requests file is named" "nothing\\.jsonl: cannot read" "$P/bin/cl-batch" "$TMP/nothing.jsonl"
check_fails "a missing hosts file is named" "nohosts: cannot read" "$P/bin/cl-batch" --hosts "$TMP/nohosts" "$TMP/req.jsonl"
check_fails "--jobs 0 is refused" "--jobs: '0' is not a positive whole number" "$P/bin/cl-batch" --jobs 0 "$TMP/req.jsonl"
check_fails "--resume of a folder with no run is refused" "nothing to resume" "$P/bin/cl-batch" --resume --dir "$TMP/empty.d" "$TMP/req.jsonl"
: >"$TMP/blank.jsonl"
check_fails "a file with no requests is refused" "no requests" "$P/bin/cl-batch" "$TMP/blank.jsonl"
counts
