#!/usr/bin/env bash
# Churn: does the server give back what connections take? For each kind of connection a peer
# can make, it runs COUNT of them one after another against a release `burrow server` and prints
# the server's RSS and live-object counts (SIGUSR1) after every tenth of them. A leak is a column
# that keeps growing; a healthy server levels off after the first round.
#
# Kinds (made by Tests/BurrowTunnelTests/Peers/stranger.py, a client written from the protocol
# document):
#   preamble   sends the preamble, reads the server's, leaves
#   challenge  opens the control stream, reads the challenge, leaves
#   badlogin   logs in with a wrong proof
#   login      logs in, leaves at once
#   visitor    logs in, publishes a proxy, sends one 64 KiB visitor through it and back, leaves
#
# Usage: bench/churn.sh [COUNT]   (default 10000 per kind)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
round=$((count / 10))

echo "building a release burrow..." >&2
swift build -c release --static-swift-stdlib --product burrow >&2
bin="$(swift build -c release --static-swift-stdlib --show-bin-path)"
work="$(mktemp -d)"
server_pid=""
cleanup() { [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
port=$(free_port)
ports="$(free_port), $(free_port), $(free_port), $(free_port)"
token="churn-token-$RANDOM$RANDOM"
cat > "$work/server.toml" <<CONF
bind = "127.0.0.1:$port"
[[tokens]]
name = "churn"
token = "$token"
ports = [$ports]
CONF
"$bin/burrow" server -c "$work/server.toml" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do grep -q "listening for clients" "$work/server.log" && break; sleep 0.05; done

rss() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status"; }
# The live-object counts: SIGUSR1 asks, the next "live objects:" line answers.
live() {
  local before; before=$(grep -c "live objects:" "$work/server.log" || true)
  kill -USR1 "$server_pid"
  for _ in $(seq 1 100); do
    [ "$(grep -c "live objects:" "$work/server.log" || true)" -gt "$before" ] && break
    sleep 0.02
  done
  grep "live objects:" "$work/server.log" | tail -n 1 | sed 's/.*live objects: //'
}

stranger=Tests/BurrowTunnelTests/Peers/stranger.py
printf "%-10s %8s %9s  %s\n" kind done "RSS MiB" "live objects"
printf "%-10s %8s %9s  %s\n" idle 0 "$(rss)" "$(live)"
for kind in preamble challenge badlogin login visitor; do
  for step in $(seq 1 10); do
    python3 "$stranger" "127.0.0.1:$port" "$token" churn "$kind" "$round" > /dev/null
    printf "%-10s %8d %9s  %s\n" "$kind" $((step * round)) "$(rss)" "$(live)"
  done
done
