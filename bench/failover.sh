#!/usr/bin/env bash
# bench/failover.sh: what a failing node costs clients, measured with wrk on
# 127.0.0.1 only. Three backend nodes behind one Portico channel; each run
# reports requests, errors, p50, p99 and max latency:
#   healthy    all three nodes answer
#   killed     one node is killed (SIGKILL) one second into the run
#   dead       one node refuses connections for the whole run
#   blackhole  one node accepts connections and never answers (API timeout 2 s)
# Every process it starts is stopped on exit. Needs wrk and python3.
#
#   bash bench/failover.sh            # DURATION=10s CONNS=16 by default
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-16}"
TOKEN=failover-token
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

go build -o "$TMP/portico" "$ROOT/cmd/portico"
go build -o "$TMP/backend" "$ROOT/bench/backend"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

B=(); BP=()
for i in 0 1 2; do
	BP[$i]=$(free_port)
	"$TMP/backend" -addr "127.0.0.1:${BP[$i]}" & B[$i]=$!; PIDS+=("${B[$i]}")
	wait_port "${BP[$i]}"
done
DEAD=$(free_port)
HOLE=$(free_port)
python3 - "$HOLE" <<'PY' & PIDS+=($!)
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024)
held = []
while True:
    c, _ = s.accept(); held.append(c)   # accepted, read by no one, never answered
PY
wait_port "$HOLE"
PX=$(free_port); AD=$(free_port)
"$TMP/portico" serve --proxy-addr "127.0.0.1:$PX" --admin-addr "127.0.0.1:$AD" --data-dir "$TMP/data" \
	--admin-token "$TOKEN" --access-log off --metrics=false --proxy-tls-addr off >"$TMP/portico.log" 2>&1 & PIDS+=($!)
wait_port "$AD"
A="http://127.0.0.1:$AD/api/v1"
api() { curl -sf -H "Authorization: Bearer $TOKEN" -X "$1" "$A$2" ${3:+-d "$3"}; }
id() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
node() { printf '{"host":"127.0.0.1","port":%s,"weight":1}' "$1"; }
SVC=$(api POST /services '{"name":"failover"}' | id)
mk() { # name, node list: an API /name on a new channel
	local ch; ch=$(api POST /channels "{\"network\":\"default\",\"scheme\":\"http\",\"nodes\":[$2]}" | id)
	api POST "/services/$SVC/apis" "{\"name\":\"$1\",\"frontend\":{\"path\":\"/$1\",\"method\":\"GET\"},\"backend\":{\"type\":\"channel\",\"channel_id\":\"$ch\",\"path\":\"/hello\",\"timeout\":2}}" >/dev/null
}
mk healthy "$(node "${BP[0]}"),$(node "${BP[1]}"),$(node "${BP[2]}")"
mk killed "$(node "${BP[0]}"),$(node "${BP[1]}"),$(node "${BP[2]}")"
mk dead "$(node "${BP[0]}"),$(node "${BP[1]}"),$(node "$DEAD")"
mk blackhole "$(node "${BP[0]}"),$(node "${BP[1]}"),$(node "$HOLE")"
api POST "/services/$SVC/releases" '{"environment":"release"}' >/dev/null
sleep 1.5

run() { # name
	wrk -t2 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$PX/$1" >"$TMP/$1.wrk" 2>&1
	python3 - "$1" "$TMP/$1.wrk" <<'PY'
import re, sys
name, text = sys.argv[1], open(sys.argv[2]).read()
def lat(label):
    m = re.search(r"^\s+%s\s+([\d.]+)(us|ms|s)" % re.escape(label), text, re.M)
    if not m: return "?"
    return "%.2f ms" % (float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)])
req = re.search(r"(\d+) requests in", text).group(1)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errs = re.search(r"Socket errors: (.*)", text)
mx = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", text, re.M).group(1)
print("| %s | %s | %s | %s | %s | %s | %s |" % (name, req, non2xx.group(1) if non2xx else 0,
      errs.group(1) if errs else "none", lat("50%"), lat("99%"), mx))
PY
}
echo "| run | requests | non-2xx | socket errors | p50 | p99 | max |"
echo "|---|---|---|---|---|---|---|"
run healthy
( sleep 1; kill -9 "${B[2]}" ) &
run killed
run dead
run blackhole
