#!/usr/bin/env bash
# End-to-end compatibility test: Zoho's published SDKs (PyPI office-integrator-sdk 1.0.2, npm
# @zoho-corp/office-integrator-sdk 1.0.0) against a real docsession binary.
#
# For each scenario it starts docsession on a free loopback port with a fresh SQLite file, waits until it answers,
# creates API keys with the CLI, runs tests/sdk/python/test_sdk.py then tests/sdk/node/test_sdk.mjs, and stops the
# server. Exits non-zero if anything failed. It installs nothing:
#   pip install -r tests/sdk/python/requirements.txt      (or set PYTHON to a venv's python)
#   (cd tests/sdk/node && npm ci)
#
# Environment: DOCSESSION_BIN (default target/debug/docsession), PYTHON (default python3), NODE (default node),
# SDK_TESTS (default "python node": which programs to run), KEEP_TMP=1 keeps the temp dir (databases, logs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${DOCSESSION_BIN:-target/debug/docsession}"
[[ "$bin" == /* ]] || bin="$root/$bin"
python="${PYTHON:-python3}"
node="${NODE:-node}"
programs="${SDK_TESTS:-python node}"

say() { printf '[sdk] %s\n' "$*"; }
die() { printf '[sdk] ERROR: %s\n' "$*" >&2; exit 2; }

# ------------------------------------------------------------------ prerequisites (nothing is installed here)
[[ -x "$bin" ]] || die "docsession binary not found at $bin (build it with 'cargo build', or set DOCSESSION_BIN)"
command -v "$python" >/dev/null || die "python not found ($python); set PYTHON"
for program in $programs; do
  case "$program" in
    python)
      "$python" -c 'import officeintegrator.src.com.zoho.officeintegrator.v1' 2>/dev/null ||
        die "the Python SDK is not installed for $python: pip install -r tests/sdk/python/requirements.txt (or set PYTHON to a venv python)"
      ;;
    node)
      command -v "$node" >/dev/null || die "node not found ($node); set NODE"
      [[ -f "$here/node/node_modules/@zoho-corp/office-integrator-sdk/package.json" ]] ||
        die "node_modules missing: (cd tests/sdk/node && npm ci)"
      ;;
    *) die "unknown program '$program' in SDK_TESTS (use python and/or node)" ;;
  esac
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/docsession-sdk.XXXXXX")"
server_pid=""
failed=0
passed=0

stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() {
  stop_server
  if [[ "${KEEP_TMP:-}" == 1 ]]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Polls GET /api/v1/plan until the server answers with any HTTP status (even 400 without an apikey), for at most
# 60 s, giving up at once if the server process exits.
wait_ready() {
  "$python" - "$1" "$server_pid" <<'EOF'
import os, sys, time, urllib.error, urllib.request
base, pid = sys.argv[1], int(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + 60
while True:
    try:
        opener.open(base + "/api/v1/plan", timeout=2).read()
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # it answered
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        print(f"[sdk] the server exited before answering on {base}", file=sys.stderr)
        sys.exit(1)
    if time.monotonic() > deadline:
        print(f"[sdk] the server did not answer on {base} within 60 s", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.05)
EOF
}

# start_server LABEL [VAR=value ...]: sets $base, $db_url, $log and $server_pid. Retries with another port if the
# server exits before answering (the free port may have been taken in between).
start_server() {
  local label="$1"; shift
  local dir="$tmp/$label" port attempt
  mkdir -p "$dir"
  db_url="sqlite://$dir/db.sqlite"
  log="$dir/server.log"
  for attempt in 1 2 3; do
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    say "scenario $label: starting $bin on $base (database $dir/db.sqlite)"
    env NO_COLOR=1 \
        DOCSESSION_DATABASE_URL="$db_url" \
        DOCSESSION_LISTEN="127.0.0.1:$port" \
        DOCSESSION_PUBLIC_URL="$base" \
        DOCSESSION_MAX_UPLOAD=$((64 * 1024 * 1024)) \
        "$@" "$bin" serve >"$log" 2>&1 &
    server_pid=$!
    if wait_ready "$base"; then
      return 0
    fi
    if kill -0 "$server_pid" 2>/dev/null; then break; fi # alive but not answering: no point in retrying
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    grep -qi "address already in use" "$log" || break
  done
  say "the server did not start; its log ($log):"
  tail -n 50 "$log" >&2 || true
  exit 1
}

# create_key NAME [--limit N]: prints the new key (the last line of the CLI's stdout).
create_key() {
  local name="$1"; shift
  local out key
  if ! out="$(DOCSESSION_DATABASE_URL="$db_url" "$bin" keys create --name "$name" "$@" 2>>"$tmp/keys.log")"; then
    say "'docsession keys create --name $name $*' failed:" >&2; cat "$tmp/keys.log" >&2; exit 1
  fi
  key="$(printf '%s\n' "$out" | tail -n1)"
  [[ "$key" =~ ^[A-Za-z0-9_-]+$ ]] || { say "keys create printed '$key' as its last line, not a key" >&2; exit 1; }
  printf '%s' "$key"
}

# run_program PROGRAM SCENARIO VAR=value...: runs one SDK test program with its environment.
run_program() {
  local program="$1" scenario="$2"; shift 2
  local -a cmd
  case "$program" in
    python) cmd=("$python" "$here/python/test_sdk.py") ;;
    node) cmd=("$node" "$here/node/test_sdk.mjs") ;;
  esac
  if env NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}" \
      OI_BASE_URL="$base" OI_SCENARIO="$scenario" "$@" "${cmd[@]}"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    say "FAILED: $program, scenario $scenario; last lines of the server log (all of it: KEEP_TMP=1, $log):"
    tail -n 12 "$log" | cut -c1-600 >&2 || true
  fi
}

# ------------------------------------------------------------------ scenario 1: everything, 6 h sessions
start_server main
for program in $programs; do
  key="$(create_key "$program-main")"
  limited="$(create_key "$program-limited" --limit 2)"
  run_program "$program" main OI_APIKEY="$key" OI_LIMITED_APIKEY="$limited" OI_SESSION_TTL_SECONDS=21600
done
stop_server

# ------------------------------------------------------------------ scenario 2: sessions expire after 2 s
dev_key="$("$python" -c 'import secrets; print(secrets.token_hex(20))')"
start_server expiry DOCSESSION_SESSION_TTL=2s DOCSESSION_DEV_APIKEY="$dev_key"
for program in $programs; do
  run_program "$program" expiry OI_APIKEY="$dev_key" OI_SESSION_TTL_SECONDS=2
done
stop_server

echo "sdk: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
