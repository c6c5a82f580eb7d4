#!/usr/bin/env bash
# Start a built bundle under a virtual screen: measure its start time, open the demo project, screenshot it.
#
#   bash packaging/smoke.sh [BUNDLE_DIR] [SECONDS_TO_WAIT]    # default packaging/dist/deformlearn, 90 s
#
# Writes packaging/dist/smoke/screenshot.png and prints the measurements as one JSON line.
# Needs Xvfb and imagemagick (`import`). The demo project is made in a fresh data folder (DEFORMLEARN_DATA).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUNDLE="${1:-$HERE/dist/deformlearn}"
WAIT="${2:-90}"
OUT="$HERE/dist/smoke"
mkdir -p "$OUT"
export DEFORMLEARN_DATA="$OUT/data"
rm -rf "$DEFORMLEARN_DATA"

display=99
while [[ -e "/tmp/.X${display}-lock" ]]; do display=$((display + 1)); done
Xvfb ":$display" -screen 0 1600x1000x24 -nolisten tcp >"$OUT/xvfb.log" 2>&1 &
xvfb_pid=$!
app_pid=""
cleanup() {
    [[ -n "$app_pid" ]] && kill "$app_pid" 2>/dev/null || true
    kill "$xvfb_pid" 2>/dev/null || true
}
trap cleanup EXIT
export DISPLAY=":$display"
sleep 2

# 1. start time: process start -> first window shown (the app prints it and quits)
t0=$(date +%s.%N)
"$BUNDLE/deformlearn" --startup-time >"$OUT/startup.json" 2>"$OUT/startup.log"
t1=$(date +%s.%N)
startup_wall=$(python3 -c "print(round($t1 - $t0, 2))")

# 2. the demo project: made on first use by the bundle's own synth command, then opened
"$BUNDLE/deformlearn" --demo >"$OUT/app.log" 2>&1 &
app_pid=$!
sleep "$WAIT"
import -window root "$OUT/screenshot.png"
alive=$(kill -0 "$app_pid" 2>/dev/null && echo true || echo false)
# process start -> window shown, when the app reports the moment it showed the window
shown=$(python3 -c "import json,sys; d=json.loads(open('$OUT/startup.json').read().splitlines()[-1]); \
print(round(d['shown_at_unix'] - $t0, 2) if 'shown_at_unix' in d else 'null')" 2>/dev/null || echo null)
printf '{"bundle": "%s", "size": "%s", "start_to_window_s": %s, "startup_process_wall_s": %s, "app_report": %s, "alive_after_%ss": %s, "screenshot": "%s"}\n' \
    "$BUNDLE" "$(du -sh "$BUNDLE" | cut -f1)" "$shown" "$startup_wall" "$(tail -1 "$OUT/startup.json" || echo null)" \
    "$WAIT" "$alive" "$OUT/screenshot.png"
