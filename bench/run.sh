#!/usr/bin/env bash
# run.sh: build every benchmark server once, then for ROUNDS rounds run each
# scenario against each server in turn (A B C A B C ...), a fresh server
# process per run, and print a table of medians, ranges and ratios to the
# classic gorilla hub.
#
# Usage: bench/run.sh [-r ROUNDS] [-s "fanout echo idle"] [-S "gorillahub melody ..."] [-o RESULTS.jsonl]
#
# Environment (flags win):
#   ROUNDS        rounds (default 3)
#   SCENARIOS     scenarios to run (default "fanout echo idle")
#   SERVERS       servers to run (default: every one built)
#   RESULTS       file for the JSON result lines (default /tmp/sockets-bench-TIME.jsonl)
#   RUN_TIMEOUT   seconds one loadgen run may take (default 120; the process
#                 is killed 30 s after that)
#   QUIET_WAIT    seconds to wait before each run for the machine to be quiet
#                 (other processes under 15% of the CPU over one second;
#                 default 30, 0 skips the check); the run goes ahead anyway
#                 after that, and loadgen notes how much others used
#   FANOUT_FLAGS, ECHO_FLAGS, IDLE_FLAGS
#                 extra loadgen flags, e.g. FANOUT_FLAGS="-subs 500 -msgs 1000"
#
# Servers: gorillahub, melody, gorillabatched, gws (bench/peers/...), and sockets,
# our library's server, when ../examples/bench exists as a main package.
# Every server and every connection is on 127.0.0.1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

ROUNDS=${ROUNDS:-3}
SCENARIOS=${SCENARIOS:-"fanout echo idle"}
SERVERS=${SERVERS:-}
RESULTS=${RESULTS:-/tmp/sockets-bench-$(date +%Y%m%d-%H%M%S).jsonl}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
FANOUT_FLAGS=${FANOUT_FLAGS:-}
ECHO_FLAGS=${ECHO_FLAGS:-}
IDLE_FLAGS=${IDLE_FLAGS:-}
QUIET_WAIT=${QUIET_WAIT:-30}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while getopts "r:s:S:o:h" opt; do
	case $opt in
	r) ROUNDS=$OPTARG ;;
	s) SCENARIOS=$OPTARG ;;
	S) SERVERS=$OPTARG ;;
	o) RESULTS=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: ROUNDS must be a positive integer" >&2; exit 2; }

# 5000 client sockets and 5000 server sockets: raise the open-file limit
# (the programs raise their own soft limit to the hard one as well).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

BIN=$(mktemp -d /tmp/sockets-bench.XXXXXX)
SRV_PID=
cleanup() {
	if [[ -n $SRV_PID ]] && kill -0 "$SRV_PID" 2>/dev/null; then
		kill -KILL "$SRV_PID" 2>/dev/null || true
	fi
	rm -rf "$BIN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building into $BIN"
# The repository's go.work builds bench/ with the library as checked out.
(cd "$HERE" && go build -o "$BIN/" ./peers/gorillahub ./peers/melody ./peers/gorillabatched ./peers/gws ./loadgen ./cmd/report)
ALL=(gorillahub melody gorillabatched gws)
if [[ -d $ROOT/examples/bench ]] &&
	[[ $(cd "$ROOT/examples" && go list -f '{{.Name}}' ./bench 2>/dev/null) == main ]]; then
	# In the examples module (examples/, a module of its own).
	(cd "$ROOT/examples" && go build -o "$BIN/sockets" ./bench)
	ALL+=(sockets)
else
	echo "   (no main package in $ROOT/examples/bench: skipping our library's server)"
fi
if [[ -n $SERVERS ]]; then
	read -r -a WANT <<<"$SERVERS"
	for s in "${WANT[@]}"; do
		[[ -x $BIN/$s ]] || { echo "run.sh: unknown server $s (have: ${ALL[*]})" >&2; exit 2; }
	done
	ALL=("${WANT[@]}")
fi
read -r -a SCEN <<<"$SCENARIOS"
for sc in "${SCEN[@]}"; do
	case $sc in fanout | echo | idle) ;; *) echo "run.sh: unknown scenario $sc" >&2; exit 2 ;; esac
done
: >"$RESULTS"
echo "== servers: ${ALL[*]}; scenarios: ${SCEN[*]}; rounds: $ROUNDS; results: $RESULTS"
echo "== $(nproc) cores; open files: $(ulimit -n); go: $(go version | cut -d' ' -f3)"

# start_server NAME: starts it on 127.0.0.1:0 and sets SRV_PID and SRV_ADDR
# once it has printed "listening on HOST:PORT" (10 s at most).
start_server() {
	local name=$1 out=$BIN/$1.stdout
	: >"$out"
	"$BIN/$name" -addr 127.0.0.1:0 >"$out" 2>>"$BIN/$name.stderr" &
	SRV_PID=$!
	SRV_ADDR=
	for ((i = 0; i < 100; i++)); do
		SRV_ADDR=$(sed -n 's/^listening on //p' "$out" | head -n 1)
		[[ -n $SRV_ADDR ]] && return 0
		if ! kill -0 "$SRV_PID" 2>/dev/null; then
			echo "   $name exited before listening" >&2
			tail -n 5 "$BIN/$name.stderr" >&2 || true
			SRV_PID=
			return 1
		fi
		sleep 0.1
	done
	echo "   $name printed no 'listening on' line in 10 s" >&2
	return 1
}

# stop_server NAME: SIGTERM to SRV_PID, SIGKILL after 10 s.
stop_server() {
	local name=$1 rc=0
	[[ -n $SRV_PID ]] || return 0
	kill -TERM "$SRV_PID" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SRV_PID" 2>/dev/null; then
		echo "   $name ignored SIGTERM for 10 s: killing it" >&2
		kill -KILL "$SRV_PID" 2>/dev/null || true
	fi
	wait "$SRV_PID" 2>/dev/null || rc=$?
	[[ $rc == 0 ]] || echo "   $name exited with status $rc" >&2
	SRV_PID=
}

# busy_percent: how much of the machine was busy over the next second, from
# the busy columns of /proc/stat. Each tick is counted in exactly one column
# there (irq and softirq ticks are not also in system), so nothing is counted
# twice; and since no server or load generator of ours runs when this is
# called, it is all other processes' (and the kernel's, and steal).
busy_percent() {
	local a b
	read -r -a a < <(head -n 1 /proc/stat)
	sleep 1
	read -r -a b < <(head -n 1 /proc/stat)
	# cpu user nice system idle iowait irq softirq steal
	local busy=$(((b[1] + b[2] + b[3] + b[6] + b[7] + b[8]) - (a[1] + a[2] + a[3] + a[6] + a[7] + a[8])))
	local all=$((busy + (b[4] + b[5]) - (a[4] + a[5])))
	echo $((all > 0 ? 100 * busy / all : 0))
}

# wait_quiet: waits (QUIET_WAIT seconds at most) until others use under 15%
# of the CPU; no server of ours runs at this point.
wait_quiet() {
	local waited=0 p
	((QUIET_WAIT > 0)) || return 0
	while p=$(busy_percent); ((p >= 15)); do
		if ((waited >= QUIET_WAIT)); then
			echo "   machine still ${p}% busy after ${QUIET_WAIT}s: running anyway" >&2
			return 0
		fi
		((waited == 0)) && echo "   machine ${p}% busy: waiting up to ${QUIET_WAIT}s for it to calm down" >&2
		waited=$((waited + 1))
	done
}

# fail_line SCENARIO SERVER ROUND NOTE: a result line for a run that produced none.
fail_line() {
	printf '{"scenario":"%s","server":"%s","round":%d,"ok":false,"note":"%s","metrics":[]}\n' "$1" "$2" "$3" "$4"
}

start=$SECONDS
for ((round = 1; round <= ROUNDS; round++)); do
	for sc in "${SCEN[@]}"; do
		case $sc in
		fanout) extra=$FANOUT_FLAGS ;;
		echo) extra=$ECHO_FLAGS ;;
		idle) extra=$IDLE_FLAGS ;;
		esac
		for srv in "${ALL[@]}"; do
			echo "== round $round/$ROUNDS $sc $srv"
			wait_quiet
			if ! start_server "$srv"; then
				stop_server "$srv"
				fail_line "$sc" "$srv" "$round" "server did not start" | tee -a "$RESULTS"
				continue
			fi
			rc=0
			# shellcheck disable=SC2086 # extra flags are meant to split
			timeout -k 5 $((RUN_TIMEOUT + 30)) "$BIN/loadgen" -url "ws://$SRV_ADDR" -pid "$SRV_PID" \
				-scenario "$sc" -label "$srv" -round "$round" -timeout "${RUN_TIMEOUT}s" $extra \
				>"$BIN/run.out" || rc=$?
			cat "$BIN/run.out"
			grep '^{' "$BIN/run.out" >>"$RESULTS" || true
			if [[ $rc != 0 ]]; then
				grep -q '^{' "$BIN/run.out" || fail_line "$sc" "$srv" "$round" "loadgen failed with status $rc" | tee -a "$RESULTS"
			fi
			stop_server "$srv"
		done
	done
done

echo
echo "== done in $((SECONDS - start)) s; results in $RESULTS"
for srv in "${ALL[@]}"; do
	f=$BIN/$srv.stderr
	if [[ -s $f ]]; then
		echo "   $srv wrote $(wc -l <"$f") lines to stderr; the first:"
		head -n 3 "$f" | sed 's/^/     /'
	fi
done
echo
"$BIN/report" -baseline gorillahub "$RESULTS"
