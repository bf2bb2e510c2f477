#!/usr/bin/env bash
# Idle memory: RSS of `burrow server` and `burrow client` with one session and one published
# proxy, for one or more builds side by side in one run, and where each process's pages come
# from (/proc/PID/smaps: the binary's own file, shared libraries, anonymous memory).
#
# Usage: bench/idle.sh [LABEL=BINARY ...]
#   no arguments: this tree's release build (static Swift runtime, as bench/run.sh builds it)
#   bench/idle.sh before=/tmp/burrow-before after=.build/release/burrow
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  echo "building a release burrow..." >&2
  swift build -c release --static-swift-stdlib --product burrow >&2
  set -- "this tree=$(swift build -c release --static-swift-stdlib --show-bin-path)/burrow"
fi
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# Waits (bench, not test: polling is fine here) for a line in a log.
wait_line() { for _ in $(seq 1 200); do grep -q "$2" "$1" && return 0; sleep 0.05; done; echo "no \"$2\" in $1:" >&2; cat "$1" >&2; return 1; }
# MiB of RSS, in total and by source: the binary file, other files (libraries), anonymous.
pages() {
  awk -v binary="$2" '
    /^[0-9a-f]+-[0-9a-f]+ / { path = $6 }
    /^Rss:/ { kib = $2; total += kib
              if (path == binary) own += kib; else if (path ~ /^\//) libs += kib; else anon += kib }
    END { printf "%.1f %.1f %.1f %.1f\n", total / 1024, own / 1024, libs / 1024, anon / 1024 }' "/proc/$1/smaps"
}

printf "%-12s %-7s %8s %8s %8s %8s\n" build process "RSS MiB" binary libs anon
first_total=""
for spec in "$@"; do
  label="${spec%%=*}"; binary="$(realpath "${spec#*=}")"
  port=$(free_port); remote=$(free_port); token="idle-token-$RANDOM$RANDOM"
  dir="$work/$label"; mkdir -p "$dir"
  printf 'bind = "127.0.0.1:%s"\n[[tokens]]\nname = "idle"\ntoken = "%s"\nports = [%s]\n' "$port" "$token" "$remote" > "$dir/server.toml"
  printf 'server = "tcp://127.0.0.1:%s"\ntoken = "%s"\nname = "idle"\n[[proxies]]\nname = "svc"\nlocal = "127.0.0.1:9"\nremote_port = %s\n' \
    "$port" "$token" "$remote" > "$dir/client.toml"
  "$binary" server -c "$dir/server.toml" > "$dir/server.log" 2>&1 & server=$!; pids+=("$server")
  wait_line "$dir/server.log" "listening for clients"
  "$binary" client -c "$dir/client.toml" > "$dir/client.log" 2>&1 & client=$!; pids+=("$client")
  wait_line "$dir/client.log" "is published on server port"
  sleep 7   # quiet: burrow gives start-up's pages back at its first quiet look, a second or two in
  total=0
  for role in server client; do
    pid=${!role}
    read -r rss own libs anon < <(pages "$pid" "$binary")
    printf "%-12s %-7s %8s %8s %8s %8s\n" "$label" "$role" "$rss" "$own" "$libs" "$anon"
    total=$(python3 -c "print($total + $rss)")
  done
  [ -n "$first_total" ] || first_total=$total
  printf "%-12s %-7s %8.1f   (%.2fx the first build)\n" "$label" "both" "$total" "$(python3 -c "print($total / $first_total)")"
  kill "$client" "$server"; wait "$client" "$server" 2>/dev/null || true
done
