#!/usr/bin/env bash
# Burrow's benchmark: the same workloads, in one run, through
#   direct   no tunnel (the floor)
#   socat    a one-hop relay (socat forks per connection, and per UDP peer)
#   ssh -R   a throwaway sshd on loopback, aes128-gcm
#   burrow   server + client over tcp, over tls (burrow_tls, a pinned self-signed certificate) and
#            over WebSocket (burrow_ws)
# and a table of every figure with its ratio to socat, and of each burrow transport's throughput
# against burrow over tcp (also written as JSON to bench/out/). UDP gets a table of its own:
# direct, socat's UDP relay and burrow over tcp, iperf3 -u at the highest rate with < 1% loss
# and the round trip of one 64-byte datagram at a time. WebSocket gets one too: a WebSocket
# client (burrow-bench's) to the TCP echo through websockify, `burrow bridge` and a burrow
# `websocket` proxy (over tcp): one stream's echoed throughput and the 64-byte round trip.
# Metrics get a row: burrow over tcp with an admin API (metrics on, /metrics scraped) against the
# same build without one, single-stream throughput in alternating rounds.
# The peer tunnels frp, rathole and bore (../shared/peers, or $BURROW_PEERS; skipped when absent)
# join the TCP workloads, and a last table puts burrow against the best of them, with memory:
# idle, per held idle visitor, and after the held visitors are gone.
# Absolute numbers on a shared machine are noise; the ratios within one run are the result.
#
# Usage: bench/run.sh [--quick]      (--quick: shorter runs, fewer held connections)
# Needs: iperf3, socat, openssh-server/client, websockify (scripts/setup --bench installs them), root or a
# user allowed to raise its fd limit.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=5; held=10000; rate_seconds=5; latency_count=20000; udp_seconds=3
if [ "${1:-}" = "--quick" ]; then duration=2; held=2000; rate_seconds=2; latency_count=5000; udp_seconds=2; fi

scripts/setup --bench
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "building release binaries..." >&2
swift build -c release --static-swift-stdlib --product burrow >&2
swift build -c release --static-swift-stdlib --product burrow-bench >&2
bin="$(swift build -c release --static-swift-stdlib --show-bin-path)"
out=bench/out; mkdir -p "$out"
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# A free port from the kernel (bound and released by python3).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# Waits until something listens on port $1.
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing listens on $1" >&2; return 1; }

# --- the services behind every tunnel ---------------------------------------------------------
echo_port=$(free_port); "$bin/burrow-bench" echo --port "$echo_port" >/dev/null & pids+=($!)
iperf_port=$(free_port); iperf3 -s -p "$iperf_port" >/dev/null 2>&1 & pids+=($!)
wait_port "$echo_port"; wait_port "$iperf_port"
# The UDP echo picks its own port and says which.
"$bin/burrow-bench" udp-echo > "$work/udp-echo.out" & pids+=($!)
for _ in $(seq 1 200); do grep -q LISTEN "$work/udp-echo.out" 2>/dev/null && break; sleep 0.05; done
udp_echo_port=$(awk '/LISTEN/ {print $2}' "$work/udp-echo.out")

# --- socat ---------------------------------------------------------------------------------------
socat_echo=$(free_port); socat_iperf=$(free_port)
socat TCP-LISTEN:"$socat_echo",fork,reuseaddr,backlog=4096 TCP:127.0.0.1:"$echo_port" & pids+=($!)
socat TCP-LISTEN:"$socat_iperf",fork,reuseaddr TCP:127.0.0.1:"$iperf_port" & pids+=($!)
# UDP: iperf3's datagrams share the port number of its control connection. A UDP child (one per
# visitor address) never sees an end of its flow: -T 10 ends it after 10 s without a datagram,
# or it outlives the run (only the listening parent's PID is known to the cleanup).
socat_udp_echo=$(free_port)
socat -T 10 UDP-LISTEN:"$socat_udp_echo",fork,reuseaddr UDP:127.0.0.1:"$udp_echo_port" & pids+=($!)
socat -T 10 UDP-LISTEN:"$socat_iperf",fork,reuseaddr UDP:127.0.0.1:"$iperf_port" & pids+=($!)

# --- WebSocket to TCP on loopback: websockify and burrow bridge ------------------------------------
websockify_port=$(free_port); bridge_port=$(free_port)
websockify "127.0.0.1:$websockify_port" "127.0.0.1:$echo_port" >/dev/null 2>&1 & pids+=($!)
"$bin/burrow" bridge --listen "ws://127.0.0.1:$bridge_port/echo" --to "127.0.0.1:$echo_port" --log-level warning & pids+=($!)

# --- ssh -R: a throwaway sshd on loopback ---------------------------------------------------------
ssh_port=$(free_port); ssh_echo=$(free_port); ssh_iperf=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/user_key"
cp "$work/user_key.pub" "$work/authorized_keys"; chmod 600 "$work/authorized_keys"
cat > "$work/sshd_config" <<CONF
Port $ssh_port
ListenAddress 127.0.0.1
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
AllowTcpForwarding yes
GatewayPorts no
Ciphers aes128-gcm@openssh.com
PidFile $work/sshd.pid
CONF
mkdir -p /run/sshd
/usr/sbin/sshd -D -f "$work/sshd_config" & pids+=($!)
wait_port "$ssh_port"
ssh -N -i "$work/user_key" -p "$ssh_port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -c aes128-gcm@openssh.com -o ExitOnForwardFailure=yes \
    -R "127.0.0.1:$ssh_echo:127.0.0.1:$echo_port" -R "127.0.0.1:$ssh_iperf:127.0.0.1:$iperf_port" \
    "$(id -un)@127.0.0.1" & pids+=($!)

# --- burrow: over tcp, over tls with a throwaway self-signed certificate (pinned), over ws -------
token=$("$bin/burrow" token)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
fingerprint=$("$bin/burrow" fingerprint "$work/tls.crt")

# Starts a burrow server and client publishing the echo and iperf3 services.
# $1 name, $2 scheme (tcp|tls|ws), $3 (optional) "metrics": both get an admin API, so they keep
# metrics (server's on ${1}_server_admin, client's on ${1}_client_admin); sets ${1}_echo, ${1}_iperf, ${1}_udp_echo, ${1}_server_pid,
# ${1}_client_pid, ${1}_wsproxy (a websocket proxy to the echo, path /echo). iperf3's port is
# published for TCP and UDP (its datagrams follow its control connection's port).
start_burrow() {
  local name=$1 scheme=$2 server_port echo iperf udp_echo ws_echo server_extra="" client_tls="" url dial_port
  local server_admin="" client_admin=""
  if [ "${3:-}" = metrics ]; then
    server_admin=$(free_port); client_admin=$(free_port)
    printf -v "${name}_server_admin" %s "$server_admin"; printf -v "${name}_client_admin" %s "$client_admin"
    server_admin=$(printf '[admin]\nbind = "127.0.0.1:%s"' "$server_admin"); client_admin=$(printf '[admin]\nbind = "127.0.0.1:%s"' "$client_admin")
  fi
  server_port=$(free_port); echo=$(free_port); iperf=$(free_port); udp_echo=$(free_port); ws_echo=$(free_port)
  url="$scheme://127.0.0.1:$server_port"; dial_port=$server_port
  if [ "$scheme" = tls ]; then
    server_extra=$(printf '[tls]\ncert = "%s"\nkey = "%s"' "$work/tls.crt" "$work/tls.key")
    client_tls=$(printf '[tls]\nfingerprint = "%s"' "$fingerprint")
    url="tls://localhost:$server_port"
  elif [ "$scheme" = ws ]; then
    dial_port=$(free_port)
    server_extra=$(printf '[websocket]\nbind = "127.0.0.1:%s"\npath = "/burrow"' "$dial_port")
    url="ws://127.0.0.1:$dial_port/burrow"
  fi
  cat > "$work/server-$name.toml" <<CONF
bind = "127.0.0.1:$server_port"
$server_extra
$server_admin
[[tokens]]
name = "bench"
token = "$token"
ports = [$echo, $iperf, $udp_echo, $ws_echo]
CONF
  cat > "$work/client-$name.toml" <<CONF
server = "$url"
token = "$token"
name = "bench"
$client_tls
$client_admin
[[proxies]]
name = "echo"
local = "127.0.0.1:$echo_port"
remote_port = $echo
[[proxies]]
name = "iperf"
local = "127.0.0.1:$iperf_port"
remote_port = $iperf
[[proxies]]
name = "iperf-udp"
type = "udp"
local = "127.0.0.1:$iperf_port"
remote_port = $iperf
[[proxies]]
name = "udp-echo"
type = "udp"
local = "127.0.0.1:$udp_echo_port"
remote_port = $udp_echo
[[proxies]]
name = "ws-echo"
type = "websocket"
local = "127.0.0.1:$echo_port"
path = "/echo"
remote_port = $ws_echo
CONF
  "$bin/burrow" server -c "$work/server-$name.toml" --log-level warning & pids+=($!); printf -v "${name}_server_pid" %s $!
  wait_port "$dial_port"
  "$bin/burrow" client -c "$work/client-$name.toml" --log-level warning & pids+=($!); printf -v "${name}_client_pid" %s $!
  printf -v "${name}_echo" %s "$echo"; printf -v "${name}_iperf" %s "$iperf"; printf -v "${name}_udp_echo" %s "$udp_echo"
  printf -v "${name}_wsproxy" %s "$ws_echo"
}
start_burrow burrow tcp
start_burrow burrow_tls tls
start_burrow burrow_ws ws
start_burrow burrow_metrics tcp metrics

for port in "$socat_echo" "$socat_iperf" "$ssh_echo" "$ssh_iperf" "$burrow_echo" "$burrow_iperf" "$burrow_tls_echo" "$burrow_tls_iperf" \
            "$burrow_ws_echo" "$burrow_ws_iperf" "$websockify_port" "$bridge_port" "$burrow_wsproxy" "$burrow_metrics_iperf"; do
  wait_port "$port"
done

# --- peer tunnels: frp, rathole, bore, each publishing the echo and iperf3 services ------------
peers_dir=${BURROW_PEERS:-../shared/peers}
peer_targets=()
declare -A peer_pids=() peer_memory_pids=()
if [ -x "$peers_dir/frps" ] && [ -x "$peers_dir/frpc" ]; then
  frp_port=$(free_port); frp_echo=$(free_port); frp_iperf=$(free_port)
  printf '[common]\nbind_addr = 127.0.0.1\nbind_port = %s\ntoken = %s\nlog_level = warn\n' "$frp_port" "$token" > "$work/frps.ini"
  printf '[common]\nserver_addr = 127.0.0.1\nserver_port = %s\ntoken = %s\nlog_level = warn\n' "$frp_port" "$token" > "$work/frpc.ini"
  printf '[echo]\ntype = tcp\nlocal_ip = 127.0.0.1\nlocal_port = %s\nremote_port = %s\n' "$echo_port" "$frp_echo" >> "$work/frpc.ini"
  printf '[iperf]\ntype = tcp\nlocal_ip = 127.0.0.1\nlocal_port = %s\nremote_port = %s\n' "$iperf_port" "$frp_iperf" >> "$work/frpc.ini"
  "$peers_dir/frps" -c "$work/frps.ini" >/dev/null & pids+=($!); frp_server_pid=$!
  wait_port "$frp_port"
  "$peers_dir/frpc" -c "$work/frpc.ini" >/dev/null & pids+=($!)
  peer_pids[frp]="$frp_server_pid $!"; peer_memory_pids[frp]=${peer_pids[frp]}
  peer_targets+=(frp)
fi
if [ -x "$peers_dir/rathole" ]; then
  rathole_port=$(free_port); rathole_echo=$(free_port); rathole_iperf=$(free_port)
  cat > "$work/rathole-server.toml" <<CONF
[server]
bind_addr = "127.0.0.1:$rathole_port"
default_token = "$token"
[server.services.echo]
bind_addr = "127.0.0.1:$rathole_echo"
nodelay = true
[server.services.iperf]
bind_addr = "127.0.0.1:$rathole_iperf"
nodelay = true
CONF
  cat > "$work/rathole-client.toml" <<CONF
[client]
remote_addr = "127.0.0.1:$rathole_port"
default_token = "$token"
[client.services.echo]
local_addr = "127.0.0.1:$echo_port"
nodelay = true
[client.services.iperf]
local_addr = "127.0.0.1:$iperf_port"
nodelay = true
CONF
  RUST_LOG=error "$peers_dir/rathole" --server "$work/rathole-server.toml" >/dev/null & pids+=($!); rathole_server_pid=$!
  wait_port "$rathole_port"
  RUST_LOG=error "$peers_dir/rathole" --client "$work/rathole-client.toml" >/dev/null & pids+=($!)
  peer_pids[rathole]="$rathole_server_pid $!"; peer_memory_pids[rathole]=${peer_pids[rathole]}
  peer_targets+=(rathole)
fi
# bore's server listens on 0.0.0.0:7835 (fixed in 0.5.2): only when nothing else holds it.
if [ -x "$peers_dir/bore" ] && ! (exec 3<>/dev/tcp/127.0.0.1/7835) 2>/dev/null; then
  bore_echo=$(free_port); bore_iperf=$(free_port)
  "$peers_dir/bore" server --min-port 1024 --max-port 65535 --secret "$token" >/dev/null 2>&1 & pids+=($!); bore_server_pid=$!
  wait_port 7835
  # One client process per service: memory counts the server and the echo's client.
  "$peers_dir/bore" local "$echo_port" --local-host 127.0.0.1 --to 127.0.0.1 --port "$bore_echo" --secret "$token" >/dev/null 2>&1 & pids+=($!)
  bore_echo_pid=$!
  "$peers_dir/bore" local "$iperf_port" --local-host 127.0.0.1 --to 127.0.0.1 --port "$bore_iperf" --secret "$token" >/dev/null 2>&1 & pids+=($!)
  peer_pids[bore]="$bore_server_pid $bore_echo_pid $!"; peer_memory_pids[bore]="$bore_server_pid $bore_echo_pid"
  peer_targets+=(bore)
fi
[ ${#peer_targets[@]} -gt 0 ] || echo "no peer tunnels in $peers_dir: frp, rathole and bore are skipped" >&2
# A peer's public port may listen before its client has connected: wait for an echo through it.
# Up to 30 s, 5 s a try: a tunnel that accepts the visitor but never answers (rathole once,
# holding 10,000 visitors) must not hang the run.
wait_echo() {
  local until=$((SECONDS + 30))
  while [ $SECONDS -lt $until ]; do timeout 5 "$bin/burrow-bench" latency --port "$1" --count 1 >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no echo through port $1" >&2; return 1
}
for peer in "${peer_targets[@]}"; do
  port_var="${peer}_echo"; wait_echo "${!port_var}"
  port_var="${peer}_iperf"; wait_port "${!port_var}"
done

# Gbit/s received by an iperf3 run ($1 port, then extra iperf3 flags). iperf3 serves one test
# at a time and may still be closing the previous one ("server is busy"): retry a few times.
iperf_gbps() {
  local port=$1; shift
  for attempt in 1 2 3 4 5; do
    if iperf3 -c 127.0.0.1 -p "$port" -t "$duration" -J "$@" > "$work/iperf.json" 2>/dev/null \
       && python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e9)' "$work/iperf.json" 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  echo "iperf3 through port $port failed: $(cat "$work/iperf.json")" >&2
  return 1
}

# One iperf3 -u run through port $1 at $2 Mbit/s of 1,400-byte datagrams, iperf3's own sockets
# with 4 MiB buffers (so the loss measured is the path's, not iperf3's): prints the Mbit/s
# received and the loss in percent.
udp_run() {
  local port=$1 rate=$2
  for attempt in 1 2 3 4 5; do
    if iperf3 -c 127.0.0.1 -p "$port" -u -b "${rate}M" -l 1400 -w 4M -t "$udp_seconds" -J > "$work/iperf-udp.json" 2>/dev/null \
       && python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["end"]["sum"]; print(s["bits_per_second"] * (1 - s["lost_percent"] / 100) / 1e6, s["lost_percent"])' "$work/iperf-udp.json" 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  echo "iperf3 -u through port $port failed: $(cat "$work/iperf-udp.json")" >&2
  return 1
}

# One rate, tried twice if the first run loses 1% or more: on this shared machine a single run
# can lose to a moment off the CPU. Prints "received_mbps loss_percent" of the better run.
udp_try() {
  local result
  result=$(udp_run "$1" "$2") || return 1
  if ! python3 -c 'import sys; sys.exit(0 if float(sys.argv[2]) < 1 else 1)' $result; then
    result=$(udp_run "$1" "$2") || return 1
  fi
  echo "$result"
}

# The highest iperf3 -u rate through port $1 with < 1% loss: doubling from 50 Mbit/s until the
# loss passes 1% (or the sender cannot reach the rate), then halving the gap four times.
# Prints "received_mbps loss_percent" of the best run.
udp_best() {
  local port=$1 low=0 high=0 rate=50 best="0 100" result
  while :; do
    result=$(udp_try "$port" "$rate") || return 1
    if python3 -c 'import sys; r, l, want = map(float, sys.argv[1:]); sys.exit(0 if l < 1 else 1)' $result "$rate"; then
      low=$rate; best=$result
      # A sender that cannot reach the rate has found the ceiling without loss.
      python3 -c 'import sys; r, l, want = map(float, sys.argv[1:]); sys.exit(0 if r < 0.8 * want else 1)' $result "$rate" && break
      [ "$rate" -ge 40000 ] && break
      rate=$((rate * 2))
    else
      high=$rate; break
    fi
  done
  if [ "$high" -gt 0 ]; then
    for _ in 1 2 3 4; do
      rate=$(((low + high) / 2))
      result=$(udp_try "$port" "$rate") || return 1
      if python3 -c 'import sys; sys.exit(0 if float(sys.argv[2]) < 1 else 1)' $result; then low=$rate; best=$result; else high=$rate; fi
    done
  fi
  echo "$best"
}

# CPU ticks (1/100 s) used so far by the processes given, user and system: "USER SYSTEM" ("0 0"
# for none).
cpu_split() { if [ $# -eq 0 ]; then echo 0 0; else awk '{u += $14; s += $15} END {print u, s}' $(printf '/proc/%s/stat ' "$@"); fi; }
# Their sum.
cpu_ticks() { cpu_split "$@" | awk '{print $1 + $2}'; }
# JSON for the user and system CPU, in µs per item, between two cpu_split readings over COUNT items.
cpu_per_item() {
  python3 -c "import sys; u0, s0, u1, s1, n = map(float, sys.argv[1:]); print('{\"user_us\": %.1f, \"system_us\": %.1f}' % ((u1 - u0) * 1e4 / n, (s1 - s0) * 1e4 / n))" \
    $1 $2 $3 $4 "$5"
}

rss_kib() { local total=0; for pid in "$@"; do total=$((total + $(awk '/VmRSS/ {print $2}' /proc/"$pid"/status))); done; echo "$total"; }
# Each process's anonymous and file-backed resident KiB, as JSON: where a figure sits (heap left
# by a burst, or pages of code not yet given back).
rss_split() {
  local out="["
  for pid in "$@"; do out+="$(awk '/^RssAnon/ {a = $2} /^RssFile/ {f = $2} END {printf "{\"anon_kib\": %d, \"file_kib\": %d},", a, f}' /proc/"$pid"/status)"; done
  echo "${out%,}]"
}
# The median of five samples a second apart, "KIB SPLIT" (SPLIT: that sample's rss_split): a
# quiet process's RSS still moves (burrow's heartbeat maps pages that its memory policy gives back
# within a second), and one sample is a draw.
quiet_rss_kib() {
  local samples=()
  for _ in 1 2 3 4 5; do samples+=("$(rss_kib "$@") $(rss_split "$@")"); sleep 1; done
  printf '%s\n' "${samples[@]}" | sort -n | sed -n 3p
}

# --- measurements -------------------------------------------------------------------------------------
declare -A echo_ports=([direct]=$echo_port [socat]=$socat_echo [ssh]=$ssh_echo [burrow]=$burrow_echo [burrow_tls]=$burrow_tls_echo
                      [burrow_ws]=$burrow_ws_echo)
declare -A burrow_pids=([burrow]="$burrow_server_pid $burrow_client_pid" [burrow_tls]="$burrow_tls_server_pid $burrow_tls_client_pid"
                       [burrow_ws]="$burrow_ws_server_pid $burrow_ws_client_pid")
declare -A iperf_ports=([direct]=$iperf_port [socat]=$socat_iperf [ssh]=$ssh_iperf [burrow]=$burrow_iperf [burrow_tls]=$burrow_tls_iperf
                       [burrow_ws]=$burrow_ws_iperf)
for peer in "${peer_targets[@]}"; do
  port_var="${peer}_echo"; echo_ports[$peer]=${!port_var}
  port_var="${peer}_iperf"; iperf_ports[$peer]=${!port_var}
  burrow_pids[$peer]=${peer_pids[$peer]}
done
targets=(direct socat ssh burrow burrow_tls burrow_ws "${peer_targets[@]}")
# Memory first, while every tunnel is fresh: server + client of burrow and of each peer, idle
# (nothing carried yet but the echo that showed it works), while holding idle visitor
# connections, and after they are gone. Both quiet figures are taken after 7 s without traffic
# (for the closes to cross, and for burrow's memory policy to give back what start-up, the echo
# or the visitors left: it looks every quiet second), as the median of five samples a second apart; the
# echo that shows the tunnel still works comes after the figure, as the one before idle does.
declare -A memory_pids=([burrow]="$burrow_server_pid $burrow_client_pid")
for peer in "${peer_targets[@]}"; do memory_pids[$peer]=${peer_memory_pids[$peer]}; done
sleep 7   # quiet, as before the figure after the hold
memory_json="\"memory\": {"
for target in burrow "${peer_targets[@]}"; do
  echo "measuring memory of $target..." >&2
  read -r idle idle_split <<< "$(quiet_rss_kib ${memory_pids[$target]})"
  coproc HOLD { "$bin/burrow-bench" hold --port "${echo_ports[$target]}" --count "$held" 2>/dev/null; }
  if ! read -r held_line <&"${HOLD[0]}"; then
    # A tunnel that cannot hold that many (bore opens a connection to its server per visitor).
    echo "$target could not hold $held visitors: its idle figure only" >&2
    wait "$HOLD_PID" 2>/dev/null || true
    memory_json+="\"$target\": {\"idle_kib\": $idle},"
    continue
  fi
  # Every visitor is bridged once an echo through the newest connection works.
  if ! wait_echo "${echo_ports[$target]}"; then
    # rathole needs two descriptors a visitor in each process: at 10,000 it meets a limit of 20,000.
    fds=""; for pid in ${memory_pids[$target]}; do fds+=" $(ls /proc/"$pid"/fd 2>/dev/null | wc -l || true)"; done   # 0 for one that died
    echo "$target carries no echo while holding $held visitors (its processes hold${fds} descriptors; the limit is $(ulimit -n)): its idle figure only" >&2
    exec {HOLD[1]}>&-
    wait "$HOLD_PID" 2>/dev/null || true
    memory_json+="\"$target\": {\"idle_kib\": $idle},"
    continue
  fi
  holding=$(rss_kib ${memory_pids[$target]})
  exec {HOLD[1]}>&-
  wait "$HOLD_PID" 2>/dev/null || true
  sleep 7
  read -r after after_split <<< "$(quiet_rss_kib ${memory_pids[$target]})"
  wait_echo "${echo_ports[$target]}" || true
  memory_json+="\"$target\": {\"idle_kib\": $idle, \"holding_kib\": $holding, \"after_kib\": $after, \"held\": $held, \"idle_split\": $idle_split, \"after_split\": $after_split},"
done
memory_json="${memory_json%,}}"
# A tunnel that died holding the visitors (bore, at 10,000) sits out the rest.
alive=()
for target in "${targets[@]}"; do
  ok=1; for pid in ${burrow_pids[$target]:-}; do kill -0 "$pid" 2>/dev/null || ok=0; done
  if [ $ok = 1 ]; then alive+=("$target"); else echo "$target ended during the memory runs: no further figures for it" >&2; fi
done
targets=("${alive[@]}")

json="{"
for target in "${targets[@]}"; do
  echo "measuring $target..." >&2
  # For burrow, also the CPU its server and client spend per GB carried (single stream): the
  # cost of a transport, independent of how many cores the machine has.
  measured=${burrow_pids[$target]:-}
  before=$(cpu_ticks $measured)
  single=$(iperf_gbps "${iperf_ports[$target]}")
  after=$(cpu_ticks $measured)
  cpu_per_gb=$(python3 -c "import sys; t, g, d = map(float, sys.argv[1:]); print(round(t / 100 / (g * d / 8), 3) if t else 0)" \
      "$((after - before))" "$single" "$duration")
  # -R: the service sends, so the data crosses the tunnel from client to server (masked on ws).
  reverse=$(iperf_gbps "${iperf_ports[$target]}" -R)
  parallel=$(iperf_gbps "${iperf_ports[$target]}" -P 8)
  # For burrow over tcp and the peers, the user and system CPU their relays (server and client)
  # spend per round trip and per new connection: where a tunnel's time goes, kernel or its own.
  relays=${memory_pids[$target]:-}
  split0=$(cpu_split $relays)
  latency=$("$bin/burrow-bench" latency --port "${echo_ports[$target]}" --count "$latency_count")
  split1=$(cpu_split $relays)
  rate=$("$bin/burrow-bench" rate --port "${echo_ports[$target]}" --seconds "$rate_seconds" --concurrency 16)
  split2=$(cpu_split $relays)
  relay_cpu="{}"
  if [ -n "$relays" ]; then
    connections=$(echo "$rate" | python3 -c 'import json, sys; print(max(1, json.load(sys.stdin)["completed"]))')
    relay_cpu="{\"per_round_trip\": $(cpu_per_item $split0 $split1 "$latency_count"), \"per_connection\": $(cpu_per_item $split1 $split2 "$connections")}"
  fi
  json+="\"$target\": {\"single_gbps\": $single, \"cpu_s_per_gb\": $cpu_per_gb, \"reverse_gbps\": $reverse, \"parallel8_gbps\": $parallel, \"latency\": $latency, \"rate\": $rate, \"relay_cpu\": $relay_cpu},"
done

# UDP: direct, socat's relay, burrow over tcp.
declare -A udp_echo_ports=([direct]=$udp_echo_port [socat]=$socat_udp_echo [burrow]=$burrow_udp_echo)
json+="\"udp\": {"
for target in direct socat burrow; do
  echo "measuring $target over UDP..." >&2
  read -r udp_mbps udp_loss <<< "$(udp_best "${iperf_ports[$target]}")"
  udp_latency=$("$bin/burrow-bench" udp-latency --port "${udp_echo_ports[$target]}" --count "$latency_count")
  json+="\"$target\": {\"mbps\": $udp_mbps, \"loss_percent\": $udp_loss, \"latency\": $udp_latency},"
done
json="${json%,}},"

# WebSocket visitors to the TCP echo: websockify, burrow bridge, a burrow websocket proxy.
declare -A ws_targets=([websockify]="$websockify_port /" [bridge]="$bridge_port /echo" [proxy]="$burrow_wsproxy /echo")
json+="\"websocket\": {"
for target in websockify bridge proxy; do
  echo "measuring $target over WebSocket..." >&2
  read -r port path <<< "${ws_targets[$target]}"
  ws_stream=$("$bin/burrow-bench" stream --port "$port" --ws-path "$path" --seconds "$duration")
  ws_latency=$("$bin/burrow-bench" latency --port "$port" --ws-path "$path" --count "$latency_count")
  json+="\"$target\": {\"stream\": $ws_stream, \"latency\": $ws_latency},"
done
json="${json%,}},"

# Metrics on (an admin API on both sides) against off, same build, single stream, alternating
# rounds so that neither gets the machine's better moments; the median of each.
json+="\"metrics\": {\"off\": ["
on_list=""
for round in 1 2 3; do
  echo "measuring metrics off/on, round $round..." >&2
  json+="$(iperf_gbps "$burrow_iperf"),"
  on_list+="$(iperf_gbps "$burrow_metrics_iperf"),"
done
# What the metrics-on server counted: the bytes iperf3 sent through it.
counted=$(curl -s "http://127.0.0.1:$burrow_metrics_server_admin/metrics" \
  | awk '/^burrow_server_bytes_total\{.*proxy="iperf".*direction="in"/ {print $2}')
json="${json%,}], \"on\": [${on_list%,}], \"counted_bytes_in\": ${counted:-0}},"

json+="$memory_json}"
echo "$json" | python3 -m json.tool > "$out/results.json"

python3 - "$out/results.json" <<'PY'
import json, sys, platform, os
r = json.load(open(sys.argv[1]))
peers = [t for t in ["frp", "rathole", "bore"] if t in r]
targets = ["direct", "socat", "ssh", "burrow", "burrow_tls", "burrow_ws"] + peers
def row(name, get, unit, higher_is_better=True):
    base = get(r["socat"])
    cells = []
    for t in targets:
        v = get(r[t])
        cells.append(f"{v:10.2f} ({v / base:5.2f}x)")
    print(f"| {name:34} | " + " | ".join(cells) + f" | {unit}")
print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}")
print("| workload".ljust(37) + "| " + " | ".join(t.ljust(18) for t in targets) + " | unit (ratio to socat)")
row("single stream (iperf3)", lambda x: x["single_gbps"], "Gbit/s")
row("single stream, reverse (iperf3 -R)", lambda x: x["reverse_gbps"], "Gbit/s")
row("8 parallel streams (iperf3 -P 8)", lambda x: x["parallel8_gbps"], "Gbit/s")
row("round trip 64 B, p50", lambda x: x["latency"]["p50_us"], "µs (lower is better)")
row("round trip 64 B, p99", lambda x: x["latency"]["p99_us"], "µs (lower is better)")
row("new connections per second (16 at once)", lambda x: x["rate"]["connections_per_second"], "conn/s")
for t in ["burrow", "burrow_tls", "burrow_ws"]:
    print(f"{t}: single stream {r[t]['single_gbps'] / r['burrow']['single_gbps']:.2f} of burrow over tcp, "
          f"reverse {r[t]['reverse_gbps'] / r['burrow']['reverse_gbps']:.2f}; "
          f"server + client CPU {r[t]['cpu_s_per_gb']:.2f} s per GB carried")
m = r["memory"]["burrow"]
per = (m["holding_kib"] - m["idle_kib"]) / m["held"]
u = r["udp"]
print()
print("| UDP workload".ljust(37) + "| " + " | ".join(t.ljust(18) for t in ["direct", "socat", "burrow"]) + " | unit (ratio to socat)")
def udp_row(name, get, unit):
    base = get(u["socat"])
    print(f"| {name:34} | " + " | ".join(f"{get(u[t]):10.2f} ({get(u[t]) / base if base else 0:5.2f}x)" for t in ["direct", "socat", "burrow"]) + f" | {unit}")
udp_row("throughput, < 1% loss (iperf3 -u)", lambda x: x["mbps"], "Mbit/s received")
udp_row("loss at that rate", lambda x: x["loss_percent"], "%")
udp_row("round trip 64 B, p50", lambda x: x["latency"]["p50_us"], "µs (lower is better)")
udp_row("round trip 64 B, p99", lambda x: x["latency"]["p99_us"], "µs (lower is better)")
print(f"burrow UDP: throughput {u['burrow']['mbps'] / u['socat']['mbps']:.2f}x socat's (goal >= 1), "
      f"round trip p50 {u['burrow']['latency']['p50_us'] / u['socat']['latency']['p50_us']:.2f}x socat's (goal <= 2); "
      f"datagrams lost in the round-trip runs: " + ", ".join(f"{t} {u[t]['latency']['lost']}" for t in ["direct", "socat", "burrow"]))
w = r["websocket"]
print()
print("| WebSocket workload".ljust(37) + "| " + " | ".join(t.ljust(18) for t in ["websockify", "burrow bridge", "burrow proxy (tcp)"]) + " | unit (ratio to websockify)")
def ws_row(name, get, unit):
    base = get(w["websockify"])
    print(f"| {name:34} | " + " | ".join(f"{get(w[t]):10.2f} ({get(w[t]) / base:5.2f}x)" for t in ["websockify", "bridge", "proxy"]) + f" | {unit}")
ws_row("one stream, echoed", lambda x: x["stream"]["gbps"], "Gbit/s")
ws_row("round trip 64 B, p50", lambda x: x["latency"]["p50_us"], "µs (lower is better)")
ws_row("round trip 64 B, p99", lambda x: x["latency"]["p99_us"], "µs (lower is better)")
print(f"burrow bridge: throughput {w['bridge']['stream']['gbps'] / w['websockify']['stream']['gbps']:.2f}x websockify's (goal >= 3), "
      f"round trip p50 {w['bridge']['latency']['p50_us'] / w['websockify']['latency']['p50_us']:.2f}x (goal <= 0.5)")
mt = r["metrics"]
median = lambda values: sorted(values)[len(values) // 2]
off, on = median(mt["off"]), median(mt["on"])
print()
print(f"metrics: single stream with metrics on {on:.2f} Gbit/s vs off {off:.2f} Gbit/s = {on / off:.3f}x (goal >= 0.97); "
      f"rounds off {mt['off']}, on {mt['on']}; the server counted {mt['counted_bytes_in'] / 1e9:.2f} GB in")
print(f"burrow RSS, server + client: idle {m['idle_kib'] / 1024:.1f} MiB; holding {m['held']} idle visitors {m['holding_kib'] / 1024:.1f} MiB = {per:.2f} KiB per visitor")
# Burrow against the peer tunnels (issue 16's table): each figure, and burrow's ratio to the best peer.
# A peer that died in the memory runs (bore, holding 10,000) keeps the idle figure it had.
mem = r["memory"]
table_peers = [t for t in ["frp", "rathole", "bore"] if t in r or t in mem]
if table_peers:
    nan = float("nan")
    def memory(t, key): return mem.get(t, {}).get(key, nan)
    def per_visitor(t): return (memory(t, "holding_kib") - memory(t, "idle_kib")) / memory(t, "held")
    def result(t, *keys):
        value = r.get(t, {})
        for key in keys: value = value.get(key, {}) if isinstance(value, dict) else {}
        return value if isinstance(value, (int, float)) else nan
    rows = [
        ("single-stream throughput, Gbit/s", lambda t: result(t, "single_gbps"), max, ">= 1.5x"),
        ("64 B round trip p50, µs", lambda t: result(t, "latency", "p50_us"), min, "<= 0.8x"),
        ("new connections/s, 16 in flight", lambda t: result(t, "rate", "connections_per_second"), max, ">= 1.5x"),
        ("idle RSS, server + client, MiB", lambda t: memory(t, "idle_kib") / 1024, min, "<= 1.0x"),
        ("memory per held idle visitor, KiB", per_visitor, min, "<= 0.25x"),
        (f"RSS 7 s after {m['held']} visitors closed, MiB", lambda t: memory(t, "after_kib") / 1024, min, "within 10% of idle"),
    ]
    print()
    print("| workload".ljust(37) + "| " + " | ".join(t.ljust(10) for t in table_peers + ["burrow"]) + " | burrow vs best peer | goal")
    for name, get, best, goal in rows:
        values = {t: get(t) for t in table_peers + ["burrow"]}
        top = best((values[t] for t in table_peers if values[t] == values[t]), default=nan)
        print(f"| {name:34} | " + " | ".join(f"{values[t]:10.1f}" for t in table_peers + ["burrow"]) + f" | {values['burrow'] / top:8.2f}x | {goal}")
    back = (mem["burrow"]["after_kib"] - mem["burrow"]["idle_kib"]) / mem["burrow"]["idle_kib"] * 100
    print(f"burrow RSS 7 s after the hold: {back:+.0f}% of idle (goal: within 10%); peers: " +
          ", ".join(f"{t} {(mem[t]['after_kib'] - mem[t]['idle_kib']) / mem[t]['idle_kib'] * 100:+.0f}%" for t in table_peers if "after_kib" in mem.get(t, {})))
    split_text = lambda key: ", ".join(f"{name} anon {p['anon_kib'] / 1024:.1f} + file {p['file_kib'] / 1024:.1f}"
                                       for name, p in zip(["server", "client"], mem["burrow"][key]))
    print(f"burrow MiB by process, in the median sample: idle {split_text('idle_split')}; after the hold {split_text('after_split')}")
    # Where the round trip and the connection go: each tunnel's relays (server + client), user
    # (its own code) against system (the kernel's part of the same socket work).
    split = [t for t in table_peers + ["burrow"] if r.get(t, {}).get("relay_cpu")]
    print()
    print("| server + client CPU, µs".ljust(37) + "| " + " | ".join(t.ljust(10) for t in split))
    for name, keys in [("per round trip, user", ("per_round_trip", "user_us")), ("per round trip, system", ("per_round_trip", "system_us")),
                       ("per new connection, user", ("per_connection", "user_us")), ("per new connection, system", ("per_connection", "system_us"))]:
        print(f"| {name:34} | " + " | ".join(f"{result(t, 'relay_cpu', *keys):10.1f}" for t in split))
    # What the goals leave a tunnel, from this run's own figures (estimates: a round trip is
    # the sum of its steps; the rate workload keeps both cores busy).
    peers_split = [t for t in split if t != "burrow"]
    if peers_split:
        fastest = min(peers_split, key=lambda t: result(t, "latency", "p50_us"))
        p50, user = result(fastest, "latency", "p50_us"), result(fastest, "relay_cpu", "per_round_trip", "user_us")
        print(f"round trip: {fastest}'s relays spend {user:.1f} µs of their own CPU per round trip; the same kernel path with none would be "
              f"{(p50 - user) / p50:.2f}x its p50 (goal 0.8x)")
        busiest = max(peers_split, key=lambda t: result(t, "rate", "connections_per_second"))
        cores = os.cpu_count()
        budget = cores * 1e6 / (1.5 * result(busiest, "rate", "connections_per_second")) - cores * 1e6 / result("direct", "rate", "connections_per_second")
        print(f"connections: at 1.5x {busiest}'s rate, {cores} busy cores leave a tunnel's relays about {budget:.0f} µs per connection beyond what "
              f"direct costs; burrow's kernel part alone is {result('burrow', 'relay_cpu', 'per_connection', 'system_us'):.0f}, "
              f"{busiest}'s whole {result(busiest, 'relay_cpu', 'per_connection', 'user_us') + result(busiest, 'relay_cpu', 'per_connection', 'system_us'):.0f}")
PY
