# Sourced by the rehearsal scripts (cluster.sh, nix-services.sh): processes they start in the
# background are recorded in $D/pids/<name>.pid and stopped by that pid. Needs $D and log().

# stop_one NAME: TERM, then KILL after 5 s; removes the pid file.
stop_one() {
  local f="$D/pids/$1.pid"
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 0.2 s; on timeout prints the logs' tails.
wait_for() {
  local what="$1" secs="$2"; shift 2
  for _ in $(seq 1 $((secs * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "timed out waiting for $what"; tail -n 30 "$D"/logs/*.log >&2 || true; return 1
}
