#!/usr/bin/env bash
# What calibrating costs a site per frame: runs skyedge (release) on the same 4096x4096
# frames with and without a calibration section (bias, dark, flat, bad-pixel mask), one
# frame slot so no frame waits in a queue, and prints the median time of each pipeline
# stage (from the frame records, which wait in the outbox) for each; "gain only" is the
# calibrate stage with no masters to read. Masters and frames are written with numpy/astropy (Python only makes
# the test data). No broker is needed: records wait in the outbox.
# Usage: Tools/bench-site-calibration.sh [frames, default 7] [size, default 4096]
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-7}
size=${2:-4096}
swift build -c release --product skyedge >/dev/null
bin=$(swift build -c release --show-bin-path)
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
python3 - "$dir" "$size" <<'PY'
import sys, numpy as np
from astropy.io import fits
d, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
y, x = np.mgrid[0:n, 0:n]
r2 = ((x - n / 2) ** 2 + (y - n / 2) ** 2) / (n * n / 2)
flat = (1 / (1 + 0.2 * r2)) ** 2
flat = (flat / np.median(flat)).astype(np.float32)
bias = (500 + rng.normal(0, 2, (n, n))).astype(np.float32)
dark = np.full((n, n), 120, np.float32)
mask = np.zeros((n, n), np.float32); mask[:, 100] = 1
for name, data, t, note in [("bias", bias, 0, ""), ("dark", dark, 60, "bias-subtracted"), ("flat", flat, 2, "normalized to median 1"), ("badpix", mask, 0, "")]:
    h = fits.Header(); h["EXPTIME"] = t; h["CALNOTE"] = note
    fits.writeto(f"{d}/{name}.fits", data, h, overwrite=True)
sky = 800 * flat + bias + 60
stars = np.zeros((n, n), np.float32)
for sx, sy in rng.uniform(20, n - 20, (2000, 2)):
    ix, iy = int(sx), int(sy)
    yy, xx = np.mgrid[iy - 6:iy + 7, ix - 6:ix + 7]
    stars[iy - 6:iy + 7, ix - 6:ix + 7] += 5000 * np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * 1.2 ** 2))
img = np.clip(rng.poisson(sky + stars * flat), 0, 65535).astype(np.uint16)
import os; os.makedirs(f"{d}/frames")
h = fits.Header(); h["EXPTIME"] = 30.0; h["GAIN"] = 1.5
fits.writeto(f"{d}/frames/f.fits", img, h, overwrite=True)
PY
run() {
    cat > "$dir/site.yaml" <<YAML
site: bench
node: n1
board: generic-x86_64
boardsDirectory: $PWD/Boards
broker: { host: 127.0.0.1, port: 1 }
source: { kind: fits-directory, path: $dir/frames, mode: replay, loop: true }
maxFrameWidth: $size
maxFrameHeight: $size
pipeline: { slots: 1 }
statusInterval: 60
maxFrames: $frames
$1
YAML
    rm -rf "$dir"/outbox-*
    "$bin/skyedge" run --config "$dir/site.yaml" >/dev/null 2>&1
    # The frame records wait in the outbox (no broker): median of each stage's ms over the frames.
    cat "$dir"/outbox-*/* | python3 -c '
import sys, re, json, statistics
stages = {}
for m in re.finditer(rb"\"stages\":(\[[^\]]*\])", sys.stdin.buffer.read()):
    for s in json.loads(m.group(1)): stages.setdefault(s["stage"], []).append(s["ms"])
print(" ".join(f"{k} {statistics.median(v):.0f}" for k, v in stages.items()))'
}
echo "${size}x${size}, median ms per stage over $frames frames, run side by side:"
echo "  raw:        $(run "")"
echo "  gain only:  $(run "calibration: { gain: 1.5 }")"
echo "  calibrated: $(run "calibration: { bias: $dir/bias.fits, dark: $dir/dark.fits, flat: $dir/flat.fits, badPixels: $dir/badpix.fits }")"
