#!/usr/bin/env bash
# Measures what skyedge holds beyond its arena (runtime, libraries, stacks), the
# "process baseline" entry of the memory plan (Sources/SkyEdge/MemoryPlan.swift):
# runs a site on tiny simulated frames for a few seconds and reads its peak RSS.
# No broker is needed: records wait in the outbox while the connection is refused.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product skyedge >/dev/null
bin=$(swift build -c release --show-bin-path)
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
for size in 64 4096; do
    cat > "$dir/site.yaml" <<YAML
site: baseline
node: n1
board: generic-x86_64
boardsDirectory: $PWD/Boards
broker: { host: 127.0.0.1, port: 1 }
source: { kind: simulator, width: 64, height: 64, exposure: 2, accelerate: 4 }
maxFrameWidth: $size
maxFrameHeight: $size
statusInterval: 1
maxFrames: 10
YAML
    arena=$("$bin/skyedge" plan --config "$dir/site.yaml" | awk '/arena \(one allocation\)/ {print $(NF-1), $NF}')
    "$bin/skyedge" run --config "$dir/site.yaml" 2>/dev/null & pid=$!
    sleep 4
    hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
    wait $pid || true
    echo "frames up to ${size}x${size}: arena $arena, peak RSS $((hwm / 1024)) MiB"
done
