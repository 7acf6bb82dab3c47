#!/usr/bin/env bash
# bench/run.sh: side-by-side load test of Portico against nginx, HAProxy and
# Caddy, all proxying to the same tiny Go backend, on 127.0.0.1 only.
#
#   bash bench/run.sh
#
# Environment (all optional):
#   TARGETS      targets to run, in order          (default "direct nginx haproxy caddy stdlib portico observed policy")
#                also: nginx-tls portico-tls (HTTPS, HTTP/1.1, wrk) and nginx-h2 portico-h2
#                (HTTPS, HTTP/2, h2load), each pair with the same certificate
#   DURATION     wrk -d of each measured run        (default 10s)
#   WARMUP       wrk -d of the warm-up per target   (default 2s; 0 disables it)
#   OUT          where the markdown report is saved (default bench/results/latest.md)
#   PIN          1 = pin servers and wrk to separate CPUs with taskset, 0 = no pinning (default 1)
#   SERVER_CPUS  CPU list for the backend and the proxy (default 0)
#   WRK_CPUS     CPU list for wrk                     (default 1)
#   BASE_PORT    first port to try on 127.0.0.1       (default 18000)
#   QUIET_WAIT   before each measured run, wait up to this many seconds for other
#                processes to use < 10% of the CPUs (default 30; 0 = don't wait)
#   KEEP_TMP     1 = keep the temp dir (configs, logs, raw wrk output) for debugging
#
# See bench/README.md for what is measured and how to read the result.
set -euo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGETS="${TARGETS:-direct nginx haproxy caddy stdlib portico observed policy}"
WRK_HEADERS=()
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
OUT="${OUT:-$ROOT/bench/results/latest.md}"
PIN="${PIN:-1}"
BASE_PORT="${BASE_PORT:-18000}"
KEEP_TMP="${KEEP_TMP:-0}"
QUIET_WAIT="${QUIET_WAIT:-30}"
ADMIN_TOKEN="bench-token"
EXPECTED_BODY=$'hello, world\n'
# Connection counts measured for every target, and wrk threads for each.
CONN_LIST=(64 1)
declare -A WRK_THREADS=([64]=2 [1]=1)

TMP=""
WRK_PID=""
POLICY_RC_CREATED=0
declare -A PIDS=()    # name -> pid (each child is a session/process-group leader)
declare -A RPS=() P50=() P99=() RSS=() ERRS=() NOTE=() OTHER=()
declare -a SKIPPED=()
BACKEND_PORT=""
NEXT_PORT="$BASE_PORT"

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf '!!! %s\n' "$*" >&2; }
die() { warn "$*"; exit 1; }

# ---------------------------------------------------------------- cleanup ---

# group_alive PID: true while any non-zombie process is in the session PID leads.
group_alive() {
	local p state
	for p in $(pgrep -s "$1" 2>/dev/null); do
		# /proc/PID/stat: "pid (comm) state ..."; comm may hold spaces.
		state="$(sed -n 's/^.*) \([A-Za-z]\).*$/\1/p' "/proc/$p/stat" 2>/dev/null || true)"
		[[ -n "$state" && "$state" != Z && "$state" != X ]] && return 0
	done
	return 1
}

# stop_bg NAME: SIGTERM the child's whole session (nginx workers included),
# SIGKILL after 5 s, then reap it.
stop_bg() {
	local name="$1" pid i
	pid="${PIDS[$name]:-}"
	[[ -n "$pid" ]] || return 0
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		group_alive "$pid" || break
		sleep 0.1
	done
	if group_alive "$pid"; then
		warn "$name (pid $pid) ignored SIGTERM for 5s; sending SIGKILL"
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	unset 'PIDS[$name]'
}

cleanup() {
	local rc=$? name
	trap - EXIT INT TERM
	if [[ -n "$WRK_PID" ]]; then
		kill -TERM "$WRK_PID" 2>/dev/null || true
		wait "$WRK_PID" 2>/dev/null || true
	fi
	for name in "${!PIDS[@]}"; do
		stop_bg "$name"
	done
	if [[ "$POLICY_RC_CREATED" == 1 ]]; then
		rm -f /usr/sbin/policy-rc.d
	fi
	if [[ -n "$TMP" && -d "$TMP" ]]; then
		if [[ "$KEEP_TMP" == 1 ]]; then
			log "kept temp dir $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers ---

# cpu_count LIST: number of CPUs in a taskset list such as "0", "0-1", "0,2-3".
cpu_count() {
	local n=0 part a b
	local -a parts
	IFS=, read -r -a parts <<<"$1"
	for part in "${parts[@]}"; do
		if [[ "$part" == *-* ]]; then
			a="${part%-*}" b="${part#*-}"
			n=$((n + b - a + 1))
		else
			n=$((n + 1))
		fi
	done
	echo "$n"
}

# seconds DURATION: wrk-style duration (10, 10s, 2m, 1h) in whole seconds.
seconds() {
	local d="$1"
	case "$d" in
	*h) echo $((${d%h} * 3600)) ;;
	*m) echo $((${d%m} * 60)) ;;
	*s) echo "${d%s}" ;;
	*) echo "$d" ;;
	esac
}

# port_in_use PORT: something listens on 127.0.0.1:PORT.
port_in_use() {
	(: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# next_port: sets PORT to the next free port on 127.0.0.1 at or after NEXT_PORT.
next_port() {
	local p="$NEXT_PORT"
	while port_in_use "$p"; do
		p=$((p + 1))
		((p < BASE_PORT + 2000)) || die "no free port in $BASE_PORT-$((BASE_PORT + 2000))"
	done
	PORT="$p"
	NEXT_PORT=$((p + 1))
}

# start_bg NAME CMD...: start CMD pinned to the server CPUs, in its own session
# (so that its children can be killed as a group), output to $TMP/NAME.log.
start_bg() {
	local name="$1"
	shift
	if [[ "$PIN" == 1 ]]; then
		setsid taskset -c "$SERVER_CPUS" "$@" >"$TMP/$name.log" 2>&1 </dev/null &
	else
		setsid "$@" >"$TMP/$name.log" 2>&1 </dev/null &
	fi
	PIDS[$name]=$!
}

# log_tail NAME: the last lines of a child's log, on one line.
log_tail() {
	tail -n 5 "$TMP/$1.log" 2>/dev/null | tr '\n' ' ' | cut -c 1-400
}

# wait_body NAME URL SECONDS: wait until URL answers 200 with EXPECTED_BODY.
# On failure sets REASON.
wait_body() {
	local name="$1" url="$2" secs="$3" code="" i
	for ((i = 0; i < secs * 10; i++)); do
		if [[ -n "${PIDS[$name]:-}" ]] && ! group_alive "${PIDS[$name]}"; then
			REASON="$name exited during start-up: $(log_tail "$name")"
			return 1
		fi
		local -a hdrs=()
		local h
		for h in "${WRK_HEADERS[@]}"; do hdrs+=(-H "$h"); done
		code="$(curl -ksS -o "$TMP/probe.body" -w '%{http_code}' --max-time 1 "${hdrs[@]}" "$url" 2>/dev/null || true)"
		if [[ "$code" == 200 ]] && cmp -s "$TMP/probe.body" "$TMP/expected.body"; then
			return 0
		fi
		sleep 0.1
	done
	REASON="GET $url did not answer 200 \"hello, world\\n\" within ${secs}s (last status ${code:-none}, body: $(head -c 200 "$TMP/probe.body" 2>/dev/null | tr '\n' ' ')); log: $(log_tail "$name")"
	return 1
}

# rss_mib NAME: VmRSS of every process of the child's session, in MiB.
rss_mib() {
	local sid="${PIDS[$1]:-}" total=0 p kb
	[[ -n "$sid" ]] || { echo "n/a"; return; }
	for p in $(pgrep -s "$sid" 2>/dev/null); do
		kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)"
		total=$((total + ${kb:-0}))
	done
	awk -v kb="$total" 'BEGIN { printf "%.1f", kb / 1024 }'
}

# cpu_sample: sets S_TOTAL (user+nice+system jiffies of all CPUs), S_OURS
# (jiffies of the backend, the running proxy and, through `times`, of the
# finished children such as wrk) and S_NS (clock). Must run in the main shell.
cpu_sample() {
	local name p children user nice system
	local -a f
	# No fork between reading the counters and the clock: under load a fork
	# can take long enough to skew a 1 s window.
	read -r _ user nice system _ </proc/stat
	S_NS="${EPOCHREALTIME//[.,]/}000"
	S_TOTAL=$((user + nice + system))
	S_OURS=0
	for name in "${!PIDS[@]}"; do
		for p in $(pgrep -s "${PIDS[$name]}" 2>/dev/null); do
			# fields after "pid (comm) ": state is 0, utime 11, stime 12
			read -r -a f <<<"$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null || true)"
			S_OURS=$((S_OURS + ${f[11]:-0} + ${f[12]:-0}))
		done
	done
	times >"$TMP/times"
	children="$(awk -v hz="$CLK_TCK" 'NR == 2 {
		split($1, u, /[ms]/); split($2, s, /[ms]/)
		printf "%d", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * hz + 0.5 }' "$TMP/times")"
	S_OURS=$((S_OURS + ${children:-0}))
}

# other_cpu: sets OTHER_PCT to the percent of all CPUs used by processes other
# than ours since the last cpu_sample (other builds, services, ...). Must run
# in the main shell (not in $(...)), as `times` only sees the shell's children.
other_cpu() {
	local t0="$S_TOTAL" o0="$S_OURS" n0="$S_NS"
	cpu_sample
	OTHER_PCT="$(awk -v dt="$((S_TOTAL - t0))" -v ou="$((S_OURS - o0))" -v ns="$((S_NS - n0))" \
		-v hz="$CLK_TCK" -v n="$NPROC" 'BEGIN {
		cap = ns / 1e9 * hz * n
		if (cap <= 0) { print "n/a"; exit }
		x = (dt - ou) / cap * 100
		if (x < 0) x = 0
		if (x > 100) x = 100
		printf "%.0f", x }')"
}

# wait_quiet: wait (up to QUIET_WAIT s) for a second in which other processes
# use under 10% of the CPUs; warns when the machine stays busy.
wait_quiet() {
	local i
	((QUIET_WAIT > 0)) || return 0
	for ((i = 0; i < QUIET_WAIT; i++)); do
		cpu_sample
		sleep 1
		other_cpu
		[[ "$OTHER_PCT" =~ ^[0-9]+$ ]] || return 0
		((OTHER_PCT < 10)) && return 0
	done
	warn "other processes still use ${OTHER_PCT}% of the CPUs after ${QUIET_WAIT}s; measuring anyway"
}

# to_ms VALUE: wrk time (534.00us, 1.40ms, 2.01s, 1.00m, 1.00h) in ms.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (match(v, /^[0-9.]+/) == 0) { print "n/a"; exit }
		n = substr(v, 1, RLENGTH) + 0; u = substr(v, RLENGTH + 1)
		if (u == "us") f = 0.001
		else if (u == "ms") f = 1
		else if (u == "s" || u == "") f = 1000
		else if (u == "m") f = 60000
		else if (u == "h") f = 3600000
		else { print "n/a"; exit }
		printf "%.3f", n * f
	}'
}

# parse_wrk FILE KEY: fills RPS/P50/P99/ERRS[KEY] from wrk --latency output.
parse_wrk() {
	local file="$1" key="$2" rps p50 p99 non2xx sock
	rps="$(awk '$1 == "Requests/sec:" {print $2}' "$file")"
	p50="$(awk '$1 == "50%" {print $2; exit}' "$file")"
	p99="$(awk '$1 == "99%" {print $2; exit}' "$file")"
	non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$file")"
	# "Socket errors: connect 0, read 0, write 0, timeout 0"
	sock="$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$file")"
	if [[ -z "$rps" ]]; then
		RPS[$key]="failed"
		P50[$key]="n/a"
		P99[$key]="n/a"
		NOTE[$key]="wrk output had no Requests/sec"
	else
		RPS[$key]="$(awk -v r="$rps" 'BEGIN { printf "%.0f", r }')"
		P50[$key]="$(to_ms "${p50:-}")"
		P99[$key]="$(to_ms "${p99:-}")"
	fi
	ERRS[$key]=$((${non2xx:-0} + ${sock:-0}))
}

# run_wrk URL CONNS DURATION OUTFILE: one bounded wrk run, pinned to WRK_CPUS.
run_wrk() {
	local url="$1" conns="$2" dur="$3" out="$4" threads limit
	local -a cmd
	threads="${WRK_THREADS[$conns]:-1}"
	limit=$(($(seconds "$dur") + 30))
	cmd=(wrk -t"$threads" -c"$conns" -d"$dur" --timeout 5s --latency)
	local h
	for h in "${WRK_HEADERS[@]}"; do cmd+=(-H "$h"); done
	cmd+=("$url")
	[[ "$PIN" == 1 ]] && cmd=(taskset -c "$WRK_CPUS" "${cmd[@]}")
	# In the background + `wait`, so that a signal to this script is handled at
	# once (the trap stops wrk) instead of after wrk's -d.
	timeout -k 5 "$limit" "${cmd[@]}" >"$out" 2>&1 &
	WRK_PID=$!
	wait "$WRK_PID" || true
	WRK_PID=""
}

# run_h2load URL CONNS DURATION OUTFILE: like run_wrk, with h2load (HTTP/2,
# one stream at a time per connection, so that rows compare per request).
run_h2load() {
	local url="$1" conns="$2" dur="$3" out="$4" threads limit
	local -a cmd
	threads="${WRK_THREADS[$conns]:-1}"
	limit=$(($(seconds "$dur") + 30))
	cmd=(h2load -t"$threads" -c"$conns" -m1 -D"$(seconds "$dur")" "$url")
	[[ "$PIN" == 1 ]] && cmd=(taskset -c "$WRK_CPUS" "${cmd[@]}")
	timeout -k 5 "$limit" "${cmd[@]}" >"$out" 2>&1 &
	WRK_PID=$!
	wait "$WRK_PID" || true
	WRK_PID=""
}

# parse_h2load FILE KEY: requests/s and errors (h2load reports no percentiles).
parse_h2load() {
	local file="$1" key="$2" rps failed errored
	rps="$(awk '/^finished in/ {print $4}' "$file")"
	# "requests: 100 total, 100 started, 100 done, 100 succeeded, 0 failed, 0 errored, 0 timeout"
	failed="$(awk '/^requests:/ {print $10}' "$file")"
	errored="$(awk '/^requests:/ {print $12}' "$file")"
	P50[$key]="n/a"
	P99[$key]="n/a"
	if [[ -z "$rps" ]]; then
		RPS[$key]="failed"
		NOTE[$key]="h2load output had no req/s"
	else
		RPS[$key]="$(awk -v r="$rps" 'BEGIN { printf "%.0f", r }')"
	fi
	ERRS[$key]=$((${failed:-0} + ${errored:-0}))
}

# ---------------------------------------------------------------- install ---

target_selected() {
	[[ " $TARGETS " == *" $1 "* ]]
}

install_missing() {
	local -a pkgs=()
	command -v wrk >/dev/null || pkgs+=(wrk)
	command -v curl >/dev/null || pkgs+=(curl)
	command -v setsid >/dev/null || pkgs+=(util-linux)
	command -v pgrep >/dev/null || pkgs+=(procps)
	if target_selected portico || target_selected observed || target_selected policy; then
		command -v jq >/dev/null || pkgs+=(jq)
	fi
	if target_selected policy || target_selected nginx-tls || target_selected portico-tls || target_selected nginx-h2 || target_selected portico-h2; then
		command -v openssl >/dev/null || pkgs+=(openssl)
	fi
	if target_selected nginx-h2 || target_selected portico-h2; then
		command -v h2load >/dev/null || pkgs+=(nghttp2-client)
	fi
	if target_selected nginx-tls || target_selected nginx-h2; then
		command -v nginx >/dev/null || pkgs+=(nginx)
	fi
	if target_selected portico-tls || target_selected portico-h2; then
		command -v jq >/dev/null || pkgs+=(jq)
	fi
	local t
	for t in nginx haproxy caddy; do
		if target_selected "$t"; then
			command -v "$t" >/dev/null || pkgs+=("$t")
		fi
	done
	((${#pkgs[@]})) || return 0
	log "installing: ${pkgs[*]}"
	[[ "$(id -u)" == 0 ]] || die "need root to apt-get install ${pkgs[*]} (or install them yourself)"
	# Keep the packages' maintainer scripts from starting system services
	# (nginx, haproxy and caddy each ship one): policy-rc.d answering 101.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		POLICY_RC_CREATED=1
	fi
	apt-get update -qq >"$TMP/apt.log" 2>&1 || warn "apt-get update failed: $(tail -n 3 "$TMP/apt.log" | tr '\n' ' ')"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >>"$TMP/apt.log" 2>&1 ||
		warn "apt-get install failed: $(tail -n 3 "$TMP/apt.log" | tr '\n' ' ')"
	if [[ "$POLICY_RC_CREATED" == 1 ]]; then
		rm -f /usr/sbin/policy-rc.d
		POLICY_RC_CREATED=0
	fi
	command -v wrk >/dev/null || die "wrk is not installed and could not be installed"
	command -v curl >/dev/null || die "curl is not installed and could not be installed"
}

# ---------------------------------------------------------------- targets ---

# Each start_<target> starts the target, waits until it serves the backend's
# body and sets URL, or sets REASON and returns 1.

start_direct() {
	URL="http://127.0.0.1:$BACKEND_PORT/hello"
	PROC_NAME=backend
}

# nginx_conf DIR LISTEN [SERVER_LINES]: an nginx config that proxies to the
# backend with keep-alive upstream connections, as every nginx target does.
nginx_conf() {
	local dir="$1" listen="$2" extra="${3:-}"
	mkdir -p "$dir"
	cat >"$dir/nginx.conf" <<EOF
worker_processes $SERVER_THREADS;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }
    server {
        listen $listen;
$extra
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}

start_nginx() {
	command -v nginx >/dev/null || { REASON="nginx is not installed"; return 1; }
	next_port
	local port="$PORT" dir="$TMP/nginx"
	nginx_conf "$dir" "127.0.0.1:$port"
	start_bg nginx nginx -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;'
	URL="http://127.0.0.1:$port/hello"
	PROC_NAME=nginx
	wait_body nginx "$URL" 10
}

start_haproxy() {
	command -v haproxy >/dev/null || { REASON="haproxy is not installed"; return 1; }
	next_port
	local port="$PORT" cfg="$TMP/haproxy.cfg"
	cat >"$cfg" <<EOF
global
    nbthread $SERVER_THREADS
    # fits the default 20000 open-files limit (2 fds per proxied connection)
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s

frontend fe
    bind 127.0.0.1:$port
    default_backend be

backend be
    server s1 127.0.0.1:$BACKEND_PORT
EOF
	start_bg haproxy haproxy -db -f "$cfg"
	URL="http://127.0.0.1:$port/hello"
	PROC_NAME=haproxy
	wait_body haproxy "$URL" 10
}

start_caddy() {
	command -v caddy >/dev/null || { REASON="caddy is not installed"; return 1; }
	next_port
	local port="$PORT" dir="$TMP/caddy"
	mkdir -p "$dir/home" "$dir/data" "$dir/config"
	cat >"$dir/Caddyfile" <<EOF
{
	admin off
	auto_https off
	storage file_system $dir/data
}

http://:$port {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$BACKEND_PORT {
		transport http {
			keepalive 60s
			keepalive_idle_conns_per_host 64
		}
	}
}
EOF
	# HOME/XDG_* keep Caddy's autosave and storage inside the temp dir.
	start_bg caddy env HOME="$dir/home" XDG_DATA_HOME="$dir/data" XDG_CONFIG_HOME="$dir/config" \
		caddy run --config "$dir/Caddyfile" --adapter caddyfile
	URL="http://127.0.0.1:$port/hello"
	PROC_NAME=caddy
	wait_body caddy "$URL" 15
}

# stdlib: net/http + httputil.ReverseProxy, the engine Portico did not choose.
start_stdlib() {
	if ! (cd "$ROOT" && go build -o "$TMP/stdproxy" ./bench/stdproxy) >"$TMP/stdproxy-build.log" 2>&1; then
		REASON="go build ./bench/stdproxy failed: $(head -n 5 "$TMP/stdproxy-build.log" | tr '\n' ' ' | cut -c 1-400)"
		return 1
	fi
	next_port
	local port="$PORT"
	start_bg stdlib "$TMP/stdproxy" -listen "127.0.0.1:$port" -backend "http://127.0.0.1:$BACKEND_PORT"
	URL="http://127.0.0.1:$port/hello"
	PROC_NAME=stdlib
	wait_body stdlib "$URL" 10
}

# admin METHOD PATH [JSON]: Portico admin API call; sets CODE, body in $TMP/admin.out.
admin() {
	local -a data=()
	[[ $# -ge 3 ]] && data=(--data "$3")
	CODE="$(curl -sS -o "$TMP/admin.out" -w '%{http_code}' --max-time 5 -X "$1" \
		-H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
		"${data[@]}" "http://127.0.0.1:$ADMIN_PORT/api/v1$2" 2>>"$TMP/admin.err" || true)"
}

# admin_create PATH JSON: POST expecting 201; sets ID, or REASON and returns 1.
admin_create() {
	admin POST "$1" "$2"
	if [[ "$CODE" != 201 ]]; then
		REASON="POST /api/v1$1 answered ${CODE:-no response}: $(head -c 300 "$TMP/admin.out" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
	ID="$(jq -r '.id // empty' "$TMP/admin.out" 2>/dev/null || true)"
	return 0
}

# launch_portico NAME ARGS...: build and start Portico as process NAME with
# extra serve flags, and publish GET /hello to the backend.
launch_portico() {
	local name="$1"
	shift
	command -v jq >/dev/null || { REASON="jq is not installed"; return 1; }
	log "building portico (go build ./cmd/portico)"
	if ! (cd "$ROOT" && go build -o "$TMP/portico" ./cmd/portico) >"$TMP/portico-build.log" 2>&1; then
		REASON="go build ./cmd/portico failed: $(head -n 5 "$TMP/portico-build.log" | tr '\n' ' ' | cut -c 1-400)"
		return 1
	fi
	next_port
	local port="$PORT" i code="" cid
	next_port
	ADMIN_PORT="$PORT"
	rm -rf "$TMP/pdata-$name"
	start_bg "$name" "$TMP/portico" serve --proxy-addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$ADMIN_PORT" \
		--data-dir "$TMP/pdata-$name" --admin-token "$ADMIN_TOKEN" --proxy-tls-addr off "$@"
	PROC_NAME="$name"
	URL="http://127.0.0.1:$port/hello"
	for ((i = 0; i < 200; i++)); do
		if ! group_alive "${PIDS[$name]}"; then
			REASON="portico serve exited during start-up: $(log_tail "$name")"
			return 1
		fi
		code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$ADMIN_PORT/healthz" || true)"
		[[ "$code" == 200 ]] && break
		sleep 0.1
	done
	if [[ "$code" != 200 ]]; then
		REASON="GET /healthz on the admin address did not answer 200 within 20s (last ${code:-none}); log: $(log_tail "$name")"
		return 1
	fi
	admin_create /channels "{\"network\":\"default\",\"scheme\":\"http\",\"nodes\":[{\"host\":\"127.0.0.1\",\"port\":$BACKEND_PORT,\"weight\":1}]}" || return 1
	cid="$ID"
	[[ -n "$cid" ]] || { REASON="POST /channels answered 201 without an id"; return 1; }
	admin_create /services '{"name":"bench"}' || return 1
	SID="$ID"
	[[ -n "$SID" ]] || { REASON="POST /services answered 201 without an id"; return 1; }
	admin_create "/services/$SID/apis" "{\"name\":\"hello\",${API_AUTH:-}\"frontend\":{\"path\":\"/hello\",\"method\":\"GET\"},\"backend\":{\"type\":\"channel\",\"channel_id\":\"$cid\",\"path\":\"/hello\"}}" || return 1
	admin_create "/services/$SID/releases" '{"environment":"release"}' || return 1
}

start_portico() {
	launch_portico portico --access-log off --metrics=false || return 1
	wait_body portico "$URL" 10
}

# observed: Portico as it runs by default, with metrics on and the access
# log written to a file: its cost is read against the portico target.
start_observed() {
	launch_portico observed --access-log "$TMP/observed-access.log" || return 1
	wait_body observed "$URL" 10
}

# policy: Portico with the policy chain on: key-pair authentication (an
# HMAC-SHA256 signature checked on every request, a usage plan without
# limits), an IP white list, per-client and per-API traffic control (limits
# far above the load, so every request is counted and none refused), and the
# access log written to a file.
start_policy() {
	local secret="bench-secret-0123456789" date sig
	API_AUTH='"auth":{"type":"key"},' launch_portico policy --access-log "$TMP/policy-access.log" || return 1
	admin_create /keys "{\"name\":\"bench\",\"secret_id\":\"bench_key\",\"secret_key\":\"$secret\"}" || return 1
	local kid="$ID"
	admin_create /usage-plans '{"name":"bench","max_requests_per_second":-1,"quota":-1}' || return 1
	local pid="$ID"
	admin POST "/usage-plans/$pid/keys" "{\"key_ids\":[\"$kid\"]}"
	[[ "$CODE" == 200 ]] || { REASON="adding the key to the plan answered ${CODE:-nothing}"; return 1; }
	admin_create "/usage-plans/$pid/bindings" "{\"service_id\":\"$SID\",\"environment\":\"release\"}" || return 1
	admin_create /plugins '{"name":"bench_ips","type":"ip_control","config":{"type":"white_list","blocks":["10.0.0.0/8","127.0.0.1"]}}' || return 1
	admin_create "/plugins/$ID/bindings" "{\"service_id\":\"$SID\",\"environment\":\"release\"}" || return 1
	admin_create /plugins '{"name":"bench_limits","type":"traffic_control","config":{"window":"second","api_limit":1000000000,"ip_limit":1000000000}}' || return 1
	admin_create "/plugins/$ID/bindings" "{\"service_id\":\"$SID\",\"environment\":\"release\"}" || return 1
	# One signature serves the whole run: the date may be 900 s old.
	date="$(LC_ALL=C date -u +'%a, %d %b %Y %H:%M:%S GMT')"
	sig="$(printf 'x-date: %s' "$date" | openssl dgst -sha256 -hmac "$secret" -binary | base64)"
	WRK_HEADERS=("X-Date: $date" "Authorization: hmac id=\"bench_key\", algorithm=\"hmac-sha256\", headers=\"x-date\", signature=\"$sig\"")
	wait_body policy "$URL" 10
}

# The HTTPS targets share one self-signed certificate for localhost.
tls_cert() {
	[[ -s "$TMP/tls.crt" ]] && return 0
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost -keyout "$TMP/tls.key" -out "$TMP/tls.crt" >"$TMP/openssl.log" 2>&1
}

# nginx-tls and nginx-h2: nginx terminating TLS (HTTP/1.1 and HTTP/2 by ALPN)
# in front of the backend, with the same upstream settings as nginx.
start_nginx_https() {
	local name="$1"
	command -v nginx >/dev/null || { REASON="nginx is not installed"; return 1; }
	tls_cert || { REASON="openssl could not make a certificate: $(tail -n 2 "$TMP/openssl.log")"; return 1; }
	next_port
	local port="$PORT" dir="$TMP/$name"
	nginx_conf "$dir" "127.0.0.1:$port ssl http2" "        ssl_certificate $TMP/tls.crt;
        ssl_certificate_key $TMP/tls.key;
        ssl_protocols TLSv1.2 TLSv1.3;"
	start_bg "$name" nginx -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;'
	URL="https://localhost:$port/hello"
	PROC_NAME="$name"
	wait_body "$name" "$URL" 10
}
start_nginx-tls() { start_nginx_https nginx-tls; }
start_nginx-h2() { start_nginx_https nginx-h2; }

# portico-tls and portico-h2: Portico's TLS port with the same certificate,
# metrics and access log off as in the portico target.
start_portico_https() {
	local name="$1"
	tls_cert || { REASON="openssl could not make a certificate: $(tail -n 2 "$TMP/openssl.log")"; return 1; }
	next_port
	local tport="$PORT"
	launch_portico "$name" --access-log off --metrics=false --proxy-tls-addr "127.0.0.1:$tport" || return 1
	admin POST /certificates "$(jq -n --rawfile c "$TMP/tls.crt" --rawfile k "$TMP/tls.key" '{name: "bench", cert_pem: $c, key_pem: $k}')"
	[[ "$CODE" == 201 ]] || { REASON="POST /certificates answered ${CODE:-nothing}: $(head -c 300 "$TMP/admin.out")"; return 1; }
	URL="https://localhost:$tport/hello"
	wait_body "$name" "$URL" 10
}
start_portico-tls() { start_portico_https portico-tls; }
start_portico-h2() { start_portico_https portico-h2; }

# ------------------------------------------------------------------- main ---

command -v go >/dev/null || die "go is not on PATH"
TMP="$(mktemp -d /tmp/portico-bench.XXXXXX)"
chmod 755 "$TMP" # nginx workers run as an unprivileged user
printf '%s' "$EXPECTED_BODY" >"$TMP/expected.body"

NPROC="$(nproc)"
CLK_TCK="$(getconf CLK_TCK 2>/dev/null || echo 100)"
if [[ "$PIN" == 1 && "$NPROC" -lt 2 ]]; then
	warn "only $NPROC CPU: pinning disabled"
	PIN=0
fi
if [[ "$PIN" == 1 ]]; then
	SERVER_CPUS="${SERVER_CPUS:-0}"
	WRK_CPUS="${WRK_CPUS:-1}"
	SERVER_THREADS="$(cpu_count "$SERVER_CPUS")"
else
	SERVER_CPUS="all" WRK_CPUS="all"
	SERVER_THREADS="$NPROC"
fi

for t in $TARGETS; do
	case "$t" in
	direct | nginx | haproxy | caddy | stdlib | portico | observed | policy) ;;
	nginx-tls | portico-tls | nginx-h2 | portico-h2) ;;
	*) die "unknown target '$t' (known: direct nginx haproxy caddy stdlib portico observed policy nginx-tls portico-tls nginx-h2 portico-h2)" ;;
	esac
done

install_missing

log "building the backend (go build ./bench/backend)"
(cd "$ROOT" && go build -o "$TMP/backend" ./bench/backend) >"$TMP/backend-build.log" 2>&1 ||
	die "go build ./bench/backend failed: $(cat "$TMP/backend-build.log")"

next_port
BACKEND_PORT="$PORT"
start_bg backend "$TMP/backend" -addr "127.0.0.1:$BACKEND_PORT"
wait_body backend "http://127.0.0.1:$BACKEND_PORT/hello" 10 || die "backend did not start: $REASON"
log "backend on 127.0.0.1:$BACKEND_PORT (pid ${PIDS[backend]})"

for t in $TARGETS; do
	REASON="" URL="" PROC_NAME=""
	WRK_HEADERS=()
	log "target $t: starting"
	if ! "start_$t"; then
		warn "skipping $t: $REASON"
		SKIPPED+=("$t: $REASON")
		[[ "$t" == direct ]] || stop_bg "$t"
		continue
	fi
	log "target $t: $URL"
	if [[ "$WARMUP" != 0 && "$WARMUP" != 0s ]]; then
		log "target $t: warm-up $WARMUP, 64 connections"
		if [[ "$t" == *-h2 ]]; then
			run_h2load "$URL" 64 "$WARMUP" "$TMP/$t-warmup.txt"
		else
			run_wrk "$URL" 64 "$WARMUP" "$TMP/$t-warmup.txt"
		fi
	fi
	for c in "${CONN_LIST[@]}"; do
		wait_quiet
		log "target $t: $c connection(s), $DURATION"
		cpu_sample
		if [[ "$t" == *-h2 ]]; then
			run_h2load "$URL" "$c" "$DURATION" "$TMP/$t-$c.txt"
		else
			run_wrk "$URL" "$c" "$DURATION" "$TMP/$t-$c.txt"
		fi
		other_cpu
		OTHER["$t:$c"]="$OTHER_PCT"
		if [[ "$t" == *-h2 ]]; then
			parse_h2load "$TMP/$t-$c.txt" "$t:$c"
		else
			parse_wrk "$TMP/$t-$c.txt" "$t:$c"
		fi
		RSS["$t:$c"]="$(rss_mib "$PROC_NAME")"
		log "target $t: $c conn: ${RPS[$t:$c]} req/s, p50 ${P50[$t:$c]} ms, p99 ${P99[$t:$c]} ms, errors ${ERRS[$t:$c]}, RSS ${RSS[$t:$c]} MiB, other CPU ${OTHER[$t:$c]}%"
		if [[ "$PROC_NAME" != backend ]] && ! group_alive "${PIDS[$PROC_NAME]}"; then
			NOTE["$t:$c"]="process died during the run"
		fi
	done
	[[ "$t" == direct ]] || stop_bg "$t"
done

# ----------------------------------------------------------------- report ---

ver() { "$@" 2>&1 | head -n 1 || true; }
report() {
	local t c key ratio nginx
	echo "# Portico load test: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "## Machine"
	echo
	echo "- CPUs: $NPROC x $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "- kernel: $(uname -sr)"
	echo "- go: $(ver go version)"
	echo "- nginx: $(command -v nginx >/dev/null && ver nginx -v || echo 'not installed')"
	echo "- haproxy: $(command -v haproxy >/dev/null && ver haproxy -v || echo 'not installed')"
	echo "- caddy: $(command -v caddy >/dev/null && ver caddy version || echo 'not installed')"
	echo "- wrk: $(ver wrk -v)"
	echo "- portico: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo 'no commit') (work tree as built)"
	if [[ "$PIN" == 1 ]]; then
		echo "- pinning: backend and proxy on CPU $SERVER_CPUS ($SERVER_THREADS worker/thread), wrk on CPU $WRK_CPUS"
	else
		echo "- pinning: none ($SERVER_THREADS workers/threads per proxy)"
	fi
	echo "- runs: warm-up $WARMUP, then $DURATION per connection count; wrk -t2 -c64 and -t1 -c1, --latency"
	echo
	echo "## Results"
	echo
	echo "| target | connections | requests/s | p50 ms | p99 ms | vs nginx | RSS MiB | errors | other CPU % |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for t in $TARGETS; do
		for c in "${CONN_LIST[@]}"; do
			key="$t:$c"
			[[ -n "${RPS[$key]:-}" ]] || continue
			# HTTPS rows compare with nginx over the same protocol.
			case "$t" in
			*-tls) nginx="${RPS[nginx-tls:$c]:-}" ;;
			*-h2) nginx="${RPS[nginx-h2:$c]:-}" ;;
			*) nginx="${RPS[nginx:$c]:-}" ;;
			esac
			if [[ "$nginx" =~ ^[0-9]+$ && "$nginx" -gt 0 && "${RPS[$key]}" =~ ^[0-9]+$ ]]; then
				ratio="$(awk -v a="${RPS[$key]}" -v b="$nginx" 'BEGIN { printf "%.2f", a / b }')"
			else
				ratio="n/a"
			fi
			echo "| $t | $c | ${RPS[$key]} | ${P50[$key]} | ${P99[$key]} | $ratio | ${RSS[$key]} | ${ERRS[$key]}${NOTE[$key]:+ (${NOTE[$key]})} | ${OTHER[$key]:-n/a} |"
		done
	done
	echo
	echo "RSS: VmRSS summed over the target's processes (nginx master + workers; the backend for \`direct\`), read right after each run."
	echo "errors: non-2xx/3xx responses plus socket errors reported by wrk (h2load: failed plus errored requests)."
	echo "HTTPS rows (-tls: HTTP/1.1 with wrk; -h2: HTTP/2 with h2load, one stream per connection, no percentiles) compare with nginx over the same protocol and certificate."
	echo "other CPU %: share of all CPUs used during the run by processes that are not the backend, the proxy or wrk; above ~5 the row is disturbed, run again."
	if ((${#SKIPPED[@]})); then
		echo
		echo "## Skipped"
		echo
		local s
		for s in "${SKIPPED[@]}"; do
			echo "- $s"
		done
	fi
}

mkdir -p "$(dirname "$OUT")"
report | tee "$OUT"
log "report written to $OUT"
