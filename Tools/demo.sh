#!/usr/bin/env bash
# The demo: a real local mosquitto on a free loopback port, the hub, and two
# simulated sites looking at different fields, about a minute of accelerated
# frames (30 s exposures delivered every 0.5 s), then the hub's report.
# Installs what is missing first; leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH="$PATH:/opt/swift/usr/bin"
Tools/setup.sh

DURATION=${DEMO_SECONDS:-60}
FRAMES=$((DURATION * 2))

echo "demo: building (release)"
swift build -c release --product skyedge >/dev/null
swift build -c release --product skyhub >/dev/null
bin=$(swift build -c release --show-bin-path)

run=$(mktemp -d /tmp/skyedge-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$run"
}
trap cleanup EXIT INT TERM

mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
# A free port below the ephemeral range, so no client socket can take it first.
for _ in $(seq 50); do
    port=$((20000 + RANDOM % 12000))
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || break
done
cat > "$run/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
$( [ "$(id -u)" = 0 ] && echo "user root" )
CONF
"$mosquitto_bin" -c "$run/mosquitto.conf" >"$run/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
echo "demo: mosquitto on 127.0.0.1:$port"

"$bin/skyhub" run --broker 127.0.0.1:$port --db "$run/hub.sqlite" 2>"$run/hub.log" &
hub=$!
pids+=($hub)
sleep 1

site() { # name node field seed sky-brightness fwhm clouds
    cat > "$run/$1.yaml" <<YAML
site: $1
node: $2
board: generic-x86_64
boardsDirectory: $PWD/Boards
broker: { host: 127.0.0.1, port: $port }
source: { kind: simulator, field: $3, seed: $4, width: 1024, height: 1024, exposure: 30, accelerate: 60,
          skyBrightness: $5, fwhm: $6, clouds: $7 }
maxFrameWidth: 1024
maxFrameHeight: 1024
statusInterval: 5
maxFrames: $FRAMES
YAML
    "$bin/skyedge" run --config "$run/$1.yaml" 2>"$run/$1.log" &
    pids+=($!)
    sites+=($!)
}
sites=()
# A dark, steady site and one with a bright (moonlit) sky, poorer seeing and passing clouds.
site lapalma cam1 1 11 21.3 2.2 0
site sutherland cam1 2 22 19.6 3.4 0.4
echo "demo: two sites running for about ${DURATION} s ($FRAMES frames each)"

status=0
for p in "${sites[@]}"; do wait "$p" || status=$?; done
sleep 1
kill -INT $hub; wait $hub || true
echo
tail -n 3 "$run/lapalma.log" "$run/sutherland.log" | sed 's/^/  /'
echo
"$bin/skyhub" report --db "$run/hub.sqlite"
if [ $status != 0 ]; then echo "demo: a site exited with status $status (logs above)"; exit $status; fi
