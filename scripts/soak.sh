#!/usr/bin/env bash
# Soak test (issue 12; not run in CI): a hello-world service logging 3 records per request, each request
# its own correlation group, shipping in Env::Prod to logiscout-sink on loopback.
#
#   scripts/soak.sh [baseline|saturation|fixed|outage|all]      # default all (about 25 minutes)
#   SOAK_SECS=60 BASE_SECS=10 scripts/soak.sh saturation        # shorter
#
# Phases (the app pinned to CPU 0; the sink and the load generator to CPU 1):
#   baseline    app --no-logiscout, wrk -t1 -c32 for BASE_SECS (30): req/s without logiscout
#   saturation  app with logiscout, wrk -t1 -c32 for SOAK_SECS (600), samples every 10 s
#   fixed       app with logiscout, soak_load at RATE (20000) req/s for FIXED_SECS (600), samples every 10 s
#   outage      as fixed for OUTAGE_TOTAL_SECS (240), samples every 1 s; the sink is killed (SIGKILL)
#               OUTAGE_AT (60) s into the load and restarted on the same port OUTAGE_SECS (30) s later
# Other settings: FRAMEWORK (axum | actix, default axum), CONNECTIONS (32), WARMUP_SECS (30: RSS is
# compared from the first sample at or after it), APP_PORT (18080), SINK_PORT (18318), SOAK_APP (the app
# binary, default the one just built: set it to a copy of an older build to compare two versions in
# interleaved rounds), SINK_ARGS (more arguments for logiscout-sink, e.g. `--dedup-window 0`).
#
# Writes target/soak/<phase>-samples.jsonl (soak_app's samples), <phase>-load.txt (wrk) or
# <phase>-load.json (soak_load; its per-second progress in <phase>-load-progress.jsonl), <phase>-app.txt
# (soak_app's output; the last line is its final report), <phase>-sink-stats.json, <phase>-meta.json,
# and appends a section per phase to target/soak/summary.md.
set -euo pipefail
cd "$(dirname "$0")/.."

FRAMEWORK=${FRAMEWORK:-axum}
BASE_SECS=${BASE_SECS:-30}
SOAK_SECS=${SOAK_SECS:-600}
FIXED_SECS=${FIXED_SECS:-600}
RATE=${RATE:-20000}
OUTAGE_TOTAL_SECS=${OUTAGE_TOTAL_SECS:-240}
OUTAGE_AT=${OUTAGE_AT:-60}
OUTAGE_SECS=${OUTAGE_SECS:-30}
CONNECTIONS=${CONNECTIONS:-32}
WARMUP_SECS=${WARMUP_SECS:-30}
APP_PORT=${APP_PORT:-18080}
SINK_PORT=${SINK_PORT:-18318}
TOKEN=lgs_soak

die() { echo "soak: $*" >&2; exit 1; }

what=${1:-all}
case "$what" in
    baseline | saturation | fixed | outage | all) ;;
    *) die "usage: scripts/soak.sh [baseline|saturation|fixed|outage|all]" ;;
esac
[ "$FRAMEWORK" = axum ] || [ "$FRAMEWORK" = actix ] || die "FRAMEWORK must be axum or actix"
[ $((OUTAGE_AT + OUTAGE_SECS)) -lt "$OUTAGE_TOTAL_SECS" ] || die "OUTAGE_AT + OUTAGE_SECS must be less than OUTAGE_TOTAL_SECS"

if ! command -v wrk >/dev/null 2>&1; then
    echo "soak: wrk not found; installing it with apt-get" >&2
    if ! { apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; }; }; then
        die "could not install wrk (apt-get install -y wrk failed; are you root, with apt access?)"
    fi
    command -v wrk >/dev/null 2>&1 || die "wrk still not on PATH after installing"
fi
for tool in taskset curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is needed"
done

cargo build --release -p logiscout-bench --bins -p logiscout-sink
target_dir="${CARGO_TARGET_DIR:-target}"
bin="$target_dir/release"
out="$target_dir/soak"
app_bin=${SOAK_APP:-$bin/soak_app}
mkdir -p "$out"

# Every child we start, killed on exit however the script ends.
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
# Seconds from $1 (a `now`) until now.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# User + system CPU seconds of process $1 so far (0 if it is gone).
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

# Waits until a TCP connect to 127.0.0.1:$1 succeeds, while process $2 lives.
wait_port() {
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || die "the process on port $1 exited (see $out/$phase-*.log)"
        sleep 0.05
    done
    die "nothing answers on port $1 after 10 s"
}

start_sink() {
    # shellcheck disable=SC2086 # SINK_ARGS is a list of words
    taskset -c 1 "$bin/logiscout-sink" --listen "127.0.0.1:$SINK_PORT" --token "$TOKEN" --quiet ${SINK_ARGS:-} \
        >>"$out/$phase-sink.log" 2>&1 &
    sink_pid=$!
    pids+=("$sink_pid")
    wait_port "$SINK_PORT" "$sink_pid"
    curl -sf "http://127.0.0.1:$SINK_PORT/stats" >/dev/null || die "the sink does not answer GET /stats"
}

stop_sink() {
    kill -INT "$sink_pid" 2>/dev/null || true
    wait "$sink_pid" 2>/dev/null || true
}

# start_app ARGS...: soak_app on CPU 0; sets app_pid and app_t0 (the time base of its samples' t_s).
start_app() {
    rm -f "$out/$phase-samples.jsonl"
    app_t0=$(now)
    taskset -c 0 "$app_bin" --framework "$FRAMEWORK" --listen "127.0.0.1:$APP_PORT" "$@" \
        >"$out/$phase-app.txt" 2>"$out/$phase-app.log" &
    app_pid=$!
    pids+=("$app_pid")
    wait_port "$APP_PORT" "$app_pid"
    [ "$(curl -sf "http://127.0.0.1:$APP_PORT/")" = hello ] || die "the app does not answer hello"
}

# Stops the app (SIGTERM: it flushes for up to 10 s and prints its final report).
stop_app() {
    kill -TERM "$app_pid"
    wait "$app_pid" || die "soak_app exited with status $? (see $out/$phase-app.log)"
}

logiscout_args() {
    echo --endpoint "http://127.0.0.1:$SINK_PORT/ingest" --token "$TOKEN"
}

wrk_load() {
    taskset -c 1 wrk -t1 "-c$CONNECTIONS" "-d${1}s" --latency "http://127.0.0.1:$APP_PORT/" >"$out/$phase-load.txt"
}

fixed_load() {
    taskset -c 1 "$bin/soak_load" --url "http://127.0.0.1:$APP_PORT/" --rate "$RATE" \
        --connections "$CONNECTIONS" --duration-s "$1" --report-ms 1000 \
        >"$out/$phase-load.json" 2>"$out/$phase-load-progress.jsonl"
}

# write_meta KEY=VALUE...: the phase's timings and CPU figures for the summary (values are numbers).
write_meta() {
    local json="{\"phase\":\"$phase\",\"framework\":\"$FRAMEWORK\",\"warmup_s\":$WARMUP_SECS"
    for kv in "$@"; do json+=",\"${kv%%=*}\":${kv#*=}"; done
    echo "$json}" >"$out/$phase-meta.json"
}

phase_baseline() {
    start_app --no-logiscout --sample-ms 1000 --samples "$out/$phase-samples.jsonl"
    local t0 c0
    t0=$(since "$app_t0")
    c0=$(cpu_s "$app_pid")
    wrk_load "$BASE_SECS"
    local t1 app_cpu
    t1=$(since "$app_t0")
    app_cpu=$(minus "$(cpu_s "$app_pid")" "$c0")
    stop_app
    write_meta load_start_t="$t0" load_end_t="$t1" app_cpu_s="$app_cpu"
}

# wrk (saturation) or soak_load (fixed) against the app shipping to the sink.
phase_shipping() {
    local seconds=$1 load=$2
    start_sink
    # shellcheck disable=SC2046 # two flags and their values
    start_app $(logiscout_args) --sample-ms 10000 --samples "$out/$phase-samples.jsonl"
    local t0 c0 s0
    t0=$(since "$app_t0")
    c0=$(cpu_s "$app_pid")
    s0=$(cpu_s "$sink_pid")
    "$load" "$seconds"
    local t1 app_cpu sink_cpu
    t1=$(since "$app_t0")
    app_cpu=$(minus "$(cpu_s "$app_pid")" "$c0")
    sink_cpu=$(minus "$(cpu_s "$sink_pid")" "$s0")
    stop_app
    curl -sf "http://127.0.0.1:$SINK_PORT/stats" >"$out/$phase-sink-stats.json"
    local sink_rss
    sink_rss=$(rss_kib "$sink_pid")
    stop_sink
    write_meta load_start_t="$t0" load_end_t="$t1" app_cpu_s="$app_cpu" sink_cpu_s="$sink_cpu" sink_rss_kib="$sink_rss"
}

phase_outage() {
    start_sink
    # shellcheck disable=SC2046
    start_app $(logiscout_args) --sample-ms 1000 --samples "$out/$phase-samples.jsonl"
    local t0 c0 s0 load_t0
    load_t0=$(now)
    t0=$(since "$app_t0")
    c0=$(cpu_s "$app_pid")
    s0=$(cpu_s "$sink_pid")
    # Not through fixed_load: $! has to be soak_load itself (taskset execs it), for the cleanup.
    taskset -c 1 "$bin/soak_load" --url "http://127.0.0.1:$APP_PORT/" --rate "$RATE" \
        --connections "$CONNECTIONS" --duration-s "$OUTAGE_TOTAL_SECS" --report-ms 1000 \
        >"$out/$phase-load.json" 2>"$out/$phase-load-progress.jsonl" &
    local load_pid=$!
    pids+=("$load_pid")
    sleep "$(awk -v a="$OUTAGE_AT" -v e="$(since "$load_t0")" 'BEGIN { print (a > e ? a - e : 0) }')"
    local sink_cpu1 kill_t restart_t
    sink_cpu1=$(minus "$(cpu_s "$sink_pid")" "$s0")
    curl -sf "http://127.0.0.1:$SINK_PORT/stats" >"$out/$phase-sink-stats-before-kill.json" || echo '{}' >"$out/$phase-sink-stats-before-kill.json"
    # (The group's redirection silences bash's "Killed" job report.)
    { kill -KILL "$sink_pid" && wait "$sink_pid"; } 2>/dev/null || true
    kill_t=$(since "$app_t0")
    echo "soak: outage: sink killed at t=${kill_t}s" >&2
    sleep "$OUTAGE_SECS"
    start_sink
    restart_t=$(since "$app_t0")
    echo "soak: outage: sink restarted at t=${restart_t}s" >&2
    s0=$(cpu_s "$sink_pid")
    wait "$load_pid" || die "soak_load failed (see $out/$phase-load-progress.jsonl)"
    local t1 app_cpu sink_cpu
    t1=$(since "$app_t0")
    app_cpu=$(minus "$(cpu_s "$app_pid")" "$c0")
    sink_cpu=$(awk -v a="$sink_cpu1" -v b="$(minus "$(cpu_s "$sink_pid")" "$s0")" 'BEGIN { printf "%.2f", a + b }')
    stop_app
    curl -sf "http://127.0.0.1:$SINK_PORT/stats" >"$out/$phase-sink-stats.json"
    local sink_rss
    sink_rss=$(rss_kib "$sink_pid")
    stop_sink
    write_meta load_start_t="$t0" load_end_t="$t1" app_cpu_s="$app_cpu" sink_cpu_s="$sink_cpu" \
        sink_rss_kib="$sink_rss" kill_t="$kill_t" restart_t="$restart_t"
}

# Appends the phase's section to summary.md (and prints it).
summarize() {
    python3 - "$out" "$phase" <<'PY' | tee -a "$out/summary.md"
import json, os, re, sys, datetime

out, phase = sys.argv[1], sys.argv[2]
def path(suffix): return os.path.join(out, f"{phase}-{suffix}")
def jsonl(p):
    if not os.path.exists(p): return []
    return [json.loads(l) for l in open(p) if l.strip().startswith("{")]
meta = json.load(open(path("meta.json")))
samples = jsonl(path("samples.jsonl"))
final = next((j for j in reversed(jsonl(path("app.txt"))) if j.get("final")), None)
t0, t1 = meta["load_start_t"], meta["load_end_t"]
load_s = t1 - t0
during = [s for s in samples if s["t_s"] <= t1 + 0.5]
def n(x): return f"{x:,.0f}"
def pct(a, b): return 100.0 * a / b if b else 0.0
lines = []
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
lines.append(f"## {phase} ({meta['framework']}, {stamp}, {load_s:.0f} s of load)\n")

# Load.
if os.path.exists(path("load.txt")):
    text = open(path("load.txt")).read()
    def grab(pattern):
        m = re.search(pattern, text, re.M)
        return m.group(1) if m else "?"
    rps = float(grab(r"^Requests/sec:\s+([\d.]+)"))
    conns, p50, p99 = grab(r"(\d+) connections"), grab(r"^\s+50%\s+(\S+)"), grab(r"^\s+99%\s+(\S+)")
    errors, non2xx = grab(r"^\s+(Socket errors:.*)$"), grab(r"Non-2xx or 3xx responses:\s+(\d+)")
    lines.append(f"- load: wrk -t1 -c{conns}: **{n(rps)} req/s**, latency p50 {p50}, p99 {p99}"
                 + (f"; {errors}" if "Socket errors" in text else "")
                 + (f"; **{non2xx} non-2xx**" if "Non-2xx" in text else ""))
    base = os.path.join(out, "baseline-load.txt")
    if phase != "baseline" and os.path.exists(base):
        m = re.search(r"^Requests/sec:\s+([\d.]+)", open(base).read(), re.M)
        if m:
            lines.append(f"- vs baseline ({n(float(m.group(1)))} req/s without logiscout): "
                         f"**{rps / float(m.group(1)):.2f}×**")
else:
    load = json.load(open(path("load.json")))
    lat, svc = load["latency_us"], load["service_us"]
    lines.append(f"- load: soak_load at {n(load['target_rate'])} req/s, {load['connections']} connections: "
                 f"**{n(load['achieved_rate'])} req/s** achieved ({n(load['completed'])} completed, "
                 f"{n(load['errors'])} errors, {n(load['missed'])} missed slots); latency from schedule "
                 f"p50 {lat['p50']/1e3:.2f} ms, p99 {lat['p99']/1e3:.2f} ms, max {lat['max']/1e3:.1f} ms "
                 f"(from send: p50 {svc['p50']/1e3:.2f}, p99 {svc['p99']/1e3:.2f} ms)")

# Logs.
if phase != "baseline" and final:
    enq, sent, dropped = final["logs_enqueued"], final["logs_sent"], final["logs_dropped"]
    lines.append(f"- logs (after shutdown, complete: {str(final['complete']).lower()} in {final['shutdown_s']:.1f} s): "
                 f"enqueued {n(enq)}, sent {n(sent)}, **dropped {n(dropped)} ({pct(dropped, enq):.1f} %)**, "
                 f"undelivered {n(final['logs_pending'])}; batches sent {n(final['batches_sent'])}, "
                 f"retried {n(final['batches_retried'])}, failed {n(final['batches_failed'])}")
    last = during[-1] if during else final
    steady = [s for s in during if s["t_s"] >= t0 + min(meta["warmup_s"], load_s / 2)]
    rate = ""
    if len(steady) >= 2:
        a, b = steady[0], steady[-1]
        dt = b["t_s"] - a["t_s"]
        rate = (f"; from t={a['t_s']:.0f} to {b['t_s']:.0f} s: {n((b['logs_sent'] - a['logs_sent']) / dt)} logs/s sent "
                f"of {n((b['logs_enqueued'] - a['logs_enqueued']) / dt)} enqueued")
    lines.append(f"- delivered: **{n(last['logs_sent'] / load_s)} logs/s** over the load (sent by its end: "
                 f"{n(last['logs_sent'])}){rate}; pending max {n(max(s['logs_pending'] for s in during))}"
                 if during else "- delivered: no samples")
    sink = json.load(open(path("sink-stats.json"))) if os.path.exists(path("sink-stats.json")) else {}
    if sink:
        lines.append(f"- sink /stats: logs {n(sink.get('logs', 0))}, batches {n(sink.get('batches', 0))}, "
                     f"duplicates {n(sink.get('duplicates', 0))}, rejected {n(sink.get('rejected', 0))}"
                     + (" (since its restart)" if phase == "outage" else ""))

# RSS.
if during:
    after = [s for s in during if s["t_s"] >= meta["warmup_s"]]
    note = f"first sample after the {meta['warmup_s']} s warm-up"
    if not after:
        after, note = during, "first sample: the run is shorter than the warm-up"
    first, last = after[0], after[-1]
    top = max(s["rss_kib"] for s in after)
    spread = pct(max(top, last["rss_kib"]) - first["rss_kib"], first["rss_kib"])
    minutes = (last["t_s"] - first["t_s"]) / 60
    slope = f", {(last['rss_kib'] - first['rss_kib']) / minutes:+,.0f} KiB/min" if minutes > 0 else ""
    lines.append(f"- app RSS: {n(first['rss_kib'])} KiB at t={first['t_s']:.0f} s ({note}), last {n(last['rss_kib'])}, "
                 f"max {n(top)} KiB: **flat within {spread:.1f} %**{slope}")

# CPU.
cpu = f"- CPU over the load: app {pct(meta['app_cpu_s'], load_s):.0f} % of a core"
if "sink_cpu_s" in meta:
    cpu += (f", sink {pct(meta['sink_cpu_s'], load_s):.0f} % of a core "
            f"(sink RSS at the end {n(meta['sink_rss_kib'])} KiB)")
lines.append(cpu)

# Outage recovery.
if phase == "outage" and during:
    kill_t, restart_t = meta["kill_t"], meta["restart_t"]
    pre = [s for s in during if max(t0 + 5, kill_t - 30) <= s["t_s"] < kill_t] or \
          [s for s in during if s["t_s"] < kill_t]
    post = [s for s in during if s["t_s"] >= restart_t]
    # Drops are counted per sample interval: the one the restart falls in counts as after it.
    before_restart = [s for s in during if s["t_s"] < restart_t][-1:]
    pre_max = max((s["logs_pending"] for s in pre), default=0)
    threshold = 1.1 * pre_max + 200
    def at(t):
        return min(samples, key=lambda s: abs(s["t_s"] - t))
    lines.append(f"- outage: sink killed at t={kill_t:.1f} s, restarted at t={restart_t:.1f} s; before: pending max "
                 f"{n(pre_max)}, {n(at(kill_t)['logs_dropped'])} dropped; during: "
                 f"{n(at(restart_t)['logs_dropped'] - at(kill_t)['logs_dropped'])} dropped, "
                 f"pending {n(at(restart_t)['logs_pending'])} at the restart")
    # The first sample after the restart from which on pending stays at most the threshold's sample
    # and no further drops are counted, up to the end of the load.
    recovered = None
    for i, s in enumerate(post):
        later = post[i:]
        if s["logs_pending"] <= threshold and all(b["logs_dropped"] == a["logs_dropped"] for a, b in zip(later, later[1:])):
            recovered = s
            break
    back = next((s for s in post if s["logs_pending"] <= threshold), None)
    drops = [b for a, b in zip(before_restart + post, post) if b["logs_dropped"] > a["logs_dropped"]]
    peak = at(restart_t)["logs_pending"]
    drained = next((s for s in post if s["logs_pending"] <= 0.1 * peak), None)
    def rate_after(secs):
        end = before_restart + [s for s in post if s["t_s"] <= restart_t + secs]
        if len(end) < 2: return "?"
        return n((end[-1]["logs_sent"] - end[0]["logs_sent"]) / (end[-1]["t_s"] - end[0]["t_s"]))
    lines.append(f"- recovery (pending ≤ {n(threshold)} = 1.1 × pre-outage max + 200, and no more drops): "
                 + (f"**{recovered['t_s'] - restart_t:.0f} s after the restart**" if recovered
                    else f"**not within the load** (it ended {t1 - restart_t:.0f} s after the restart)")
                 + (f"; pending first back at +{back['t_s'] - restart_t:.0f} s" if back else "; pending never back"))
    lines.append(f"  - backlog at the restart {n(peak)}: 90 % drained by +{drained['t_s'] - restart_t:.1f} s" if drained
                 else f"  - backlog at the restart {n(peak)}: never 90 % drained")
    lines.append(f"  - drops after the restart: {n(drops[-1]['logs_dropped'] - before_restart[0]['logs_dropped'])}, "
                 f"the last in the sample interval ending at +{drops[-1]['t_s'] - restart_t:.1f} s"
                 if drops and before_restart else "  - no drops after the restart")
    lines.append(f"  - delivered after the restart: {rate_after(10)} logs/s over 10 s, {rate_after(30)} logs/s over 30 s")
print("\n".join(lines) + "\n")
PY
}

run_phase() {
    phase=$1
    echo "== soak: $phase" >&2
    rm -f "$out/$phase"-*
    case "$phase" in
        baseline) phase_baseline ;;
        saturation) phase_shipping "$SOAK_SECS" wrk_load ;;
        fixed) phase_shipping "$FIXED_SECS" fixed_load ;;
        outage) phase_outage ;;
    esac
    summarize
}

if [ "$what" = all ]; then
    for p in baseline saturation fixed outage; do run_phase "$p"; done
else
    run_phase "$what"
fi
echo "soak: results in $out (summary: $out/summary.md)" >&2
