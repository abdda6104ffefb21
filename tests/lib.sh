# tests/lib.sh - sourced by every tests/t-*.sh.  Each case prints one line:
# "ok - NAME", "not ok - NAME" (then indented detail) or "skip - NAME: why".
# $BIN is the folder of programs under test; $TESTDATA is ../shared/testdata
# or empty; $TMP is a fresh scratch folder.
set -u
: "${BIN:=bin}"
: "${TESTDATA:=}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cl-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export PATH="$BIN:$PATH"
PY=/usr/bin/python3

n_ok=0 n_not_ok=0 n_skip=0
ok() { echo "ok - $1"; n_ok=$((n_ok + 1)); }
not_ok() { echo "not ok - $1"; n_not_ok=$((n_not_ok + 1)); shift; [ $# -gt 0 ] && printf '%s\n' "$@" | head -n 12 | sed 's/^/  /'; return 0; }
skip() { echo "skip - $1: $2"; n_skip=$((n_skip + 1)); }
# counts: this file's own tally, for the files that end with one.
counts() { echo "# $(basename "$0" .sh): $n_ok passed, $n_not_ok failed, $n_skip skipped"; }

# check NAME CMD...: the case passes when CMD exits 0.
check() {
	local name=$1 out; shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}

# check_fails NAME PATTERN CMD...: CMD must exit non-zero (not by a signal, not
# 2+ lines of stderr) with one line of stderr matching PATTERN.
check_fails() {
	local name=$1 pat=$2 rc err; shift 2
	"$@" >/dev/null 2>"$TMP/err" </dev/null; rc=$?
	err=$(cat "$TMP/err")
	if [ $rc -eq 0 ]; then not_ok "$name" "exited 0"
	elif [ $rc -gt 128 ]; then not_ok "$name" "killed by signal $((rc-128))" "$err"
	elif [ "$(wc -l <"$TMP/err")" -ne 1 ]; then not_ok "$name" "expected one line of stderr, got:" "$err"
	elif ! grep -qE -- "$pat" "$TMP/err"; then not_ok "$name" "stderr does not match /$pat/:" "$err"
	else ok "$name"; fi
}

# need_testdata NAME: skip NAME (return 1) when ../shared is absent.
need_testdata() {
	[ -n "$TESTDATA" ] && [ -d "$TESTDATA" ] && return 0
	skip "$1" "../shared/testdata is absent"
	return 1
}

# need_hosts NAME: hosts of network namespaces can be made here (root,
# scripts/setup --hosts, ip netns), or NAME is skipped, saying why (return 1).
need_hosts() {
	[ "$(id -u)" -eq 0 ] || { skip "$1" "needs root to make network namespaces"; return 1; }
	if ! scripts/setup --hosts >"$TMP/setup.log" 2>&1; then
		skip "$1" "scripts/setup --hosts could not install parallel, openssh-server, rsync, socat: $(tail -1 "$TMP/setup.log")"
		return 1
	fi
	if ! ip netns add "cl-probe-$$" 2>"$TMP/err"; then
		skip "$1" "this machine cannot make network namespaces ($(head -1 "$TMP/err"))"
		return 1
	fi
	ip netns del "cl-probe-$$"
}

# hosts_up N: N hosts in $TMP/hosts (H), taken down at exit.
hosts_up() {
	H=$TMP/hosts
	trap 'scripts/netns-hosts down "$H"; rm -rf "$TMP"' EXIT
	local out
	if ! out=$(scripts/netns-hosts up "$H" "$1" 2>&1); then
		not_ok "$1 hosts come up (scripts/netns-hosts)" "$out"
		return 1
	fi
}

# install_for NAME WHO: `make install DESTDIR=$TMP/root` for the hosts or
# nodes of a test; sets P (the prefix) and M (the shipped model in it).
# Returns 1, having said why, where it fails or there is no model.
install_for() {
	P=$TMP/root/usr/local M=$TMP/root/usr/local/share/cl/models/cl-python-small
	if ! make -s install DESTDIR="$TMP/root" >"$TMP/install.log" 2>&1; then
		not_ok "make install DESTDIR=... for the $2" "$(tail -5 "$TMP/install.log")"
		return 1
	fi
	[ -f "$M/config.json" ] || { skip "$1" "the shipped model is not in models/"; return 1; }
}
