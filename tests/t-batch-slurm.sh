#!/usr/bin/env bash
# cl-batch --slurm on a one-node Slurm cluster started here
# (scripts/slurm-local: munged, slurmctld, slurmd of Debian's slurm-wlm):
# the shards run as a job array, the merge as a job depending on it, and the
# answers equal the one-machine run byte for byte; a task that fails leaves
# the merge undone, and --resume submits that shard alone.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.." || exit 2
c="cl-batch --slurm on a one-node cluster"
[ "$(id -u)" -eq 0 ] || { skip "$c" "needs root to run slurmd"; counts; exit 0; }
if ! scripts/setup --slurm >"$TMP/setup.log" 2>&1; then
	skip "$c" "scripts/setup --slurm could not install slurm-wlm and munge: $(tail -1 "$TMP/setup.log")"
	counts; exit 0
fi
S=$TMP/slurm
trap 'scripts/slurm-local down "$S"; rm -rf "$TMP"' EXIT
if ! out=$(scripts/slurm-local up "$S" 2>&1); then
	skip "$c" "a one-node Slurm could not start here: $out"
	counts; exit 0
fi
export SLURM_CONF=$S/slurm.conf
ok "a one-node Slurm comes up (scripts/slurm-local)"

install_for "$c" node || { counts; exit 0; }

# The batch of t-batch-hosts.sh: 40 sampled requests.
for i in $(seq 1 40); do
	printf '{"input_data": {"input_string": ["def f%d("], "parameters": {"max_new_tokens": 48, "temperature": 0.8, "do_sample": true}}}\n' "$i"
done >"$TMP/req.jsonl"
"$P/bin/cl-complete" --json -m "$M" --threads 1 <"$TMP/req.jsonl" >"$TMP/one.jsonl" 2>"$TMP/one.err"

d=$TMP/run.d
timeout 300 "$P/bin/cl-batch" --slurm --wait -m "$M" --cl-complete "$P/bin/cl-complete" --shards 4 --dir "$d" \
	-o "$TMP/answers.jsonl" "$TMP/req.jsonl" -- --threads 1 >"$TMP/run.out" 2>"$TMP/run.err"; rc=$?
if [ $rc -eq 0 ] && cmp -s "$TMP/one.jsonl" "$TMP/answers.jsonl"; then
	ok "40 requests as a job array of 4 tasks merge into the one-machine answers byte for byte"
else
	not_ok "40 requests as a job array of 4 tasks merge into the one-machine answers byte for byte" "rc=$rc" "$(cat "$TMP/run.err")"
fi
jid=$(sed -n 's/.*job array \([0-9]*\).*/\1/p' "$TMP/run.err")
mid=$(sed -n 's/.*merge: job \([0-9]*\).*/\1/p' "$TMP/run.err")
n=$(ls "$d"/slurm-"$jid"_*.log 2>/dev/null | wc -l)
[ -n "$jid" ] && [ "$n" -eq 4 ] && ok "the shards ran as the 4 tasks of job array $jid" ||
	not_ok "the shards ran as the 4 tasks of job array $jid" "$(cat "$TMP/run.err")" "$(ls "$d")"
dep=$(scontrol show job "$mid" 2>/dev/null | grep -o 'Dependency=[^ ]*')
start_m=$(scontrol show job "$mid" 2>/dev/null | sed -n 's/.*StartTime=\([^ ]*\).*/\1/p')
end_a=$(for k in 0 1 2 3; do scontrol show job "${jid}_$k" 2>/dev/null | sed -n 's/.*EndTime=\([^ ]*\).*/\1/p'; done | sort | tail -1)
if [ -n "$mid" ] && [ -n "$start_m" ] && [ -n "$end_a" ] && [[ ! "$start_m" < "$end_a" ]]; then
	ok "the merge ran as job $mid after the array's last task ended ($start_m >= $end_a)"
else
	not_ok "the merge ran as job $mid after the array's last task ended" "merge start '$start_m', tasks end '$end_a' $dep"
fi

# One task fails (its cl-complete exits 1 the first time, for shard 2):
# the merge does not run, the command fails, --resume submits shard 2 alone.
cat >"$TMP/flaky" <<EOF
#!/bin/sh
if [ "\${SLURM_ARRAY_TASK_ID:-}" = 2 ] && [ ! -e "$TMP/failed-once" ]; then
	: >"$TMP/failed-once"; echo "flaky: task 2 fails once" >&2; exit 1
fi
exec "$P/bin/cl-complete" "\$@"
EOF
chmod +x "$TMP/flaky"
d=$TMP/flaky.d
timeout 300 "$P/bin/cl-batch" --slurm --wait -m "$M" --cl-complete "$TMP/flaky" --shards 4 --dir "$d" \
	-o "$TMP/flaky.jsonl" "$TMP/req.jsonl" -- --threads 1 >/dev/null 2>"$TMP/flaky.err"; rc=$?
[ $rc -ne 0 ] && [ ! -e "$TMP/flaky.jsonl" ] && ok "a failed task leaves the merge undone and cl-batch --wait fails" ||
	not_ok "a failed task leaves the merge undone and cl-batch --wait fails" "rc=$rc" "$(cat "$TMP/flaky.err")"
timeout 300 "$P/bin/cl-batch" --slurm --wait --resume --shards 4 --dir "$d" \
	-o "$TMP/flaky.jsonl" "$TMP/req.jsonl" >/dev/null 2>"$TMP/resume.err"; rc=$?
grep -q "shards 2: job array" "$TMP/resume.err" && ok "--resume submits only the shard without answers" ||
	not_ok "--resume submits only the shard without answers" "$(cat "$TMP/resume.err")"
[ $rc -eq 0 ] && cmp -s "$TMP/one.jsonl" "$TMP/flaky.jsonl" && ok "after --resume the answers equal the one-machine run" ||
	not_ok "after --resume the answers equal the one-machine run" "rc=$rc" "$(cat "$TMP/resume.err")"
check_fails "--slurm without -o or --dir is refused" "--slurm needs -o ANSWERS or --dir DIR" \
	"$P/bin/cl-batch" --slurm "$TMP/req.jsonl"
counts
