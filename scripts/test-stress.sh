#!/usr/bin/env bash
# Run the test suite N times under adverse conditions and say, per run, what failed (issue 19):
#   - both cores (every core) kept busy by one busy-looping process each, started for each run and always killed,
#     also on Ctrl-C or SIGTERM (--no-load: an idle machine);
#   - tests in a random order (pytest-random-order: modules in a random order, and the tests of each module), with the
#     seed printed so that a failing order can be replayed (--bucket global mixes all tests, but then module-scoped
#     fixtures are built again each time the order comes back to their module: a much longer run);
#   - with --scramble-cpu, the machine's real CPU times read in-process become seeded noise
#     (tests/support/scramble_cpu.py), so a test whose figures lean on them fails every time, not one time in N;
#   - each run takes the shared suite lock on its own (flock on /tmp/powertrain-suite.lock), so that others can run
#     the suite between two runs of this loop; the load starts only once the lock is held.
#
#   scripts/test-stress.sh [-n RUNS] [--seed SEED] [--no-load] [--scramble-cpu] [--bucket BUCKET] [--logs DIR]
#                          [-- PYTEST_ARGS...]
#
#   -n RUNS         how many runs (default 5)
#   --seed SEED     the first run's order seed; run i uses SEED+i-1 (default: a random seed per run)
#   --no-load       no background load
#   --scramble-cpu  the real CPU times of /proc/stat and of the tests' own process tree become noise
#   --bucket B      pytest-random-order bucket: module (default), global, package, class, parent, none
#   --logs DIR      where each run's full pytest output goes (default: a new folder under /tmp)
#   PYTEST_ARGS     passed on to pytest (for example a test path, or -m slow)
#
# Replay one run's order: scripts/test-stress.sh -n 1 --seed SEED (with its load setting), or directly
#   python -m pytest -q -p random_order --random-order-bucket=module --random-order-seed=SEED
# PYTHON (default .venv/bin/python, else python3) runs pytest; LOCK (default /tmp/powertrain-suite.lock) is the lock;
# RUN_TIMEOUT_S (default 1800) ends a run that hangs. Exit status: 0 when every run passed, 1 otherwise, 2 for bad use.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
LOCK=${LOCK:-/tmp/powertrain-suite.lock}
RUN_TIMEOUT_S=${RUN_TIMEOUT_S:-1800}
runs=5 seed="" load=1 bucket=module logs="" pytest_args=() plugins=()
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
die() { echo "test-stress: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -n) [ $# -ge 2 ] || die "-n needs a number"; runs=$2; shift 2 ;;
    --seed) [ $# -ge 2 ] || die "--seed needs a number"; seed=$2; shift 2 ;;
    --no-load) load=0; shift ;;
    --scramble-cpu) plugins=(-p tests.support.scramble_cpu); shift ;;
    --bucket) [ $# -ge 2 ] || die "--bucket needs a name"; bucket=$2; shift 2 ;;
    --logs) [ $# -ge 2 ] || die "--logs needs a folder"; logs=$2; shift 2 ;;
    -h|--help) usage ;;
    --) shift; pytest_args=("$@"); break ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "-n must be a positive whole number, not '$runs'"
[ -z "$seed" ] || [[ "$seed" =~ ^[0-9]+$ ]] || die "--seed must be a whole number, not '$seed'"
case "$bucket" in global|package|module|class|parent|grandparent|none) ;; *) die "unknown bucket '$bucket'" ;; esac
"$PYTHON" -c 'import random_order' 2>/dev/null \
  || die "pytest-random-order is missing for $PYTHON (make setup installs the dev extra)"
logs=${logs:-$(mktemp -d -t powertrain-stress.XXXXXX)}
mkdir -p "$logs" || die "cannot create $logs"
cores=$(nproc)

load_pids=() pytest_pid="" lock_pid=""
stop_load() {
  [ "${#load_pids[@]}" -gt 0 ] || return 0
  kill "${load_pids[@]}" 2>/dev/null
  wait "${load_pids[@]}" 2>/dev/null
  load_pids=()
}
cleanup() {  # pytest first gets SIGINT (its fixtures stop their servers), then 30 s later its whole group SIGKILL
  [ -z "$lock_pid" ] || kill "$lock_pid" 2>/dev/null  # still waiting for the lock
  if [ -n "$pytest_pid" ] && kill -INT "$pytest_pid" 2>/dev/null; then
    for _ in $(seq 1 300); do kill -0 "$pytest_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pytest_pid" 2>/dev/null
    wait "$pytest_pid" 2>/dev/null
  fi
  pytest_pid=""
  stop_load
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

echo "test-stress: $runs run(s), load: $([ "$load" = 1 ] && echo "$cores busy processes" || echo none)," \
     "order: random ($bucket)${plugins:+, CPU times scrambled}, logs: $logs"
results=() failed_runs=0
for i in $(seq 1 "$runs"); do
  run_seed=${seed:+$((seed + i - 1))}
  run_seed=${run_seed:-$(( (RANDOM << 15 | RANDOM) ))}
  log="$logs/run-$i-seed-$run_seed.log"
  exec 9>"$LOCK"
  flock 9 & lock_pid=$!                  # in the background: a signal is handled while waiting for the lock
  wait "$lock_pid"; lock_pid=""
  if [ "$load" = 1 ]; then
    for _ in $(seq 1 "$cores"); do "$PYTHON" -c 'while True: pass' 9>&- & load_pids+=($!); done
  fi
  start_s=$SECONDS
  timeout -k 30 "$RUN_TIMEOUT_S" "$PYTHON" -m pytest -q -p no:cacheprovider -p random_order \
    --random-order-bucket="$bucket" --random-order-seed="$run_seed" "${plugins[@]}" "${pytest_args[@]}" >"$log" 2>&1 9>&- &
  pytest_pid=$!
  wait "$pytest_pid"; rc=$?
  pytest_pid=""
  duration_s=$((SECONDS - start_s))
  stop_load
  exec 9>&-                              # the lock is free between runs
  tail_line=$(grep -E '(passed|failed|error|skipped|deselected|no tests ran).* in [0-9.]+s' "$log" | tail -n 1 \
    | sed -E 's/^=+ //; s/ =+$//')
  if [ "$rc" = 0 ]; then verdict=PASS; else verdict=FAIL; failed_runs=$((failed_runs + 1)); fi
  [ "$rc" = 124 ] && tail_line="timed out after ${RUN_TIMEOUT_S}s"
  line=$(printf 'run %d/%d  %s  seed %s  %ds  %s' "$i" "$runs" "$verdict" "$run_seed" "$duration_s" "${tail_line:-rc $rc}")
  echo "$line"
  failing=$(grep -E '^(FAILED|ERROR) ' "$log" | sed -E 's/ - .*//' | sort -u)
  [ -z "$failing" ] || { echo "$failing" | sed 's/^/    /'; line+=$'\n'"$(echo "$failing" | sed 's/^/    /')"; }
  results+=("$line")
done

echo
echo "test-stress summary: $((runs - failed_runs))/$runs passed" \
     "(load: $([ "$load" = 1 ] && echo "$cores busy processes" || echo none), order: random ($bucket)${plugins:+, CPU times scrambled})"
printf '%s\n' "${results[@]}"
echo "logs: $logs"
[ "$failed_runs" = 0 ]
