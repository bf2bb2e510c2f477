#!/usr/bin/env bash
# Burrow over a link of realistic speed: a network namespace (the "LAN") joined to this one by a
# veth pair shaped to 1 Gbit/s each way (tbf; netem, for a delay, is not in every kernel). The burrow client and an iperf3 server live
# in the namespace; the burrow server, its public ports and the visitor here. Prints the single
# stream throughput of the bare link and of burrow over tcp, tls and ws, each as a ratio to the
# link.
#
# bench/run.sh measures CPU cost on loopback, where every transport is limited by the machine's
# CPU; this shows what a user with a real uplink sees. Needs root (ip netns, tc), iperf3,
# openssl.
#
# Usage: bench/link.sh [RATE]      (default: 1gbit; any rate tc understands)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1gbit}; duration=8

scripts/setup --bench
echo "building release binaries..." >&2
swift build -c release --static-swift-stdlib --product burrow >&2
bin="$(swift build -c release --static-swift-stdlib --show-bin-path)"
work="$(mktemp -d)"
ns="burrow-lan-$$"; here="bw0-$$"; there="bw1-$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true   # takes the veth pair with it
  rm -rf "$work"
}
trap cleanup EXIT

# --- the link ------------------------------------------------------------------------------------
ip netns add "$ns"
ip link add "$here" type veth peer name "$there"
ip link set "$there" netns "$ns"
ip addr add 10.201.0.1/24 dev "$here"; ip link set "$here" up
ip netns exec "$ns" ip addr add 10.201.0.2/24 dev "$there"
ip netns exec "$ns" ip link set "$there" up
ip netns exec "$ns" ip link set lo up
# Shape both directions.
tc qdisc add dev "$here" root tbf rate "$rate" burst 512kb latency 20ms
ip netns exec "$ns" tc qdisc add dev "$there" root tbf rate "$rate" burst 512kb latency 20ms

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/"$1"/"$2") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing listens on $1:$2" >&2; return 1; }
gbps() { python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e9, 3))' "$1"; }

# --- inside the LAN: the service ----------------------------------------------------------------------
iperf_port=5201   # iperf3's own port: the namespace and its loopback are ours alone
ip netns exec "$ns" iperf3 -s -p "$iperf_port" >/dev/null 2>&1 & pids+=($!)
sleep 0.5

token=$("$bin/burrow" token)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=burrow-bench \
    -addext subjectAltName=IP:10.201.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
fingerprint=$("$bin/burrow" fingerprint "$work/tls.crt")

# $1 scheme (tcp|tls|ws); sets $public once the proxy is up.
start_burrow() {
  local scheme=$1 tunnel extra="" client_tls="" url dial
  tunnel=$(free_port); public=$(free_port); dial=$tunnel
  url="$scheme://10.201.0.1:$tunnel"
  case $scheme in
    tls) extra=$(printf '[tls]\ncert = "%s"\nkey = "%s"' "$work/tls.crt" "$work/tls.key")
         client_tls=$(printf '[tls]\nfingerprint = "%s"' "$fingerprint") ;;
    ws)  dial=$(free_port)
         extra=$(printf '[websocket]\nbind = "10.201.0.1:%s"\npath = "/burrow"' "$dial")
         url="ws://10.201.0.1:$dial/burrow" ;;
  esac
  printf 'bind = "10.201.0.1:%s"\nproxy_bind_address = "127.0.0.1"\n%s\n[[tokens]]\nname = "bench"\ntoken = "%s"\nports = [%s]\n' \
      "$tunnel" "$extra" "$token" "$public" > "$work/server-$scheme.toml"
  printf 'server = "%s"\ntoken = "%s"\nname = "bench"\n%s\n[[proxies]]\nname = "iperf"\nlocal = "127.0.0.1:%s"\nremote_port = %s\n' \
      "$url" "$token" "$client_tls" "$iperf_port" "$public" > "$work/client-$scheme.toml"
  "$bin/burrow" server -c "$work/server-$scheme.toml" --log-level warning >/dev/null & pids+=($!)
  wait_port 10.201.0.1 "$dial"
  ip netns exec "$ns" "$bin/burrow" client -c "$work/client-$scheme.toml" --log-level warning >/dev/null & pids+=($!)
  wait_port 127.0.0.1 "$public"
}

declare -A result
echo "measuring the bare link..." >&2
iperf3 -c 10.201.0.2 -p "$iperf_port" -t "$duration" -J > "$work/link.json"
result[link]=$(gbps "$work/link.json")
for scheme in tcp tls ws; do
  echo "measuring burrow over $scheme..." >&2
  start_burrow "$scheme"
  iperf3 -c 127.0.0.1 -p "$public" -t "$duration" -J > "$work/$scheme.json"
  result[$scheme]=$(gbps "$work/$scheme.json")
done

echo "link: veth into a network namespace, $rate each way; single stream (iperf3, $duration s)"
printf '| %-12s | %8s | %s\n' "path" "Gbit/s" "ratio to the bare link"
for path in link tcp tls ws; do
  printf '| %-12s | %8s | %.2f\n' "$path" "${result[$path]}" "$(python3 -c "print(${result[$path]} / ${result[link]})")"
done
