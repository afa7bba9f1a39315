#!/usr/bin/env python3
"""Compare `skydiag sources` with SEP (pip package `sep`) on the same frames.

For each frame: SEP's background (box 64, filter 3), then sep.extract at 5 sigma
of the rms map, minimum area 5, SEP's defaults otherwise (matched filter with the
3x3 kernel, 32 deblending levels, contrast 0.005, cleaning on). skydiag runs with
the same settings. Prints, per frame: background agreement, how many SEP sources
have a skydiag source within 1.5 px, and the median flux ratio of matched pairs.

With --bench N: also times background + detection + measurement on a synthetic
N x N uint16 star field, SEP (single thread: Background, back(), rms(), extract)
vs `skydiag sources --timing --repeats` (release build, one thread; the same
stages inside one process), medians of 5 runs each, and prints the ratio.

Usage: Tools/compare_sep.py [--skydiag PATH] [--data DIR] [--bench 4096]
Python is only an oracle here; nothing in SkyEdge depends on it.
"""
import argparse, io, os, subprocess, sys, tempfile, time
import numpy as np
import sep
from astropy.io import fits

FRAMES = [
    "panoptes_pocs/pocs_tests_solved.fits",
    "astropy_data/visualization/reprojected_sdss_g.fits",
    "astropy_data/visualization/reprojected_sdss_r.fits",
    "astropy_data/visualization/reprojected_sdss_i.fits",
]


def load(path):
    return np.ascontiguousarray(fits.getdata(path).astype(np.float32))


def sep_catalogue(data):
    bkg = sep.Background(data, bw=64, bh=64, fw=3, fh=3)
    objs = sep.extract(data - bkg.back(), 5.0, err=bkg.rms(), minarea=5)
    return bkg, objs


def skydiag_catalogue(skydiag, path, extra=()):
    with tempfile.TemporaryDirectory() as tmp:
        bpath, rpath = os.path.join(tmp, "b.fits"), os.path.join(tmp, "r.fits")
        out = subprocess.run([skydiag, "sources", path, "--csv", "--background-map", bpath, "--rms-map", rpath, *extra],
                             check=True, capture_output=True, text=True)
        cat = np.genfromtxt(io.StringIO(out.stdout), delimiter=",", names=True)
        return cat, fits.getdata(bpath), fits.getdata(rpath), fits.getheader(bpath), out.stderr


def match(sx, sy, mx, my, radius=1.5):
    """Index of the nearest skydiag source within radius of each SEP source, or -1."""
    idx = np.full(len(sx), -1)
    if len(mx) == 0:
        return idx
    for i, (x, y) in enumerate(zip(sx, sy)):
        d2 = (mx - x) ** 2 + (my - y) ** 2
        j = int(np.argmin(d2))
        if d2[j] <= radius * radius:
            idx[i] = j
    return idx


def compare(skydiag, data_dir):
    print(f"{'frame':44s} {'sep':>5s} {'ours':>5s} {'matched':>8s} {'flux ratio':>10s} {'globalback':>22s} {'map maxrel':>10s}")
    rows = []
    for rel in FRAMES:
        path = os.path.join(data_dir, rel)
        data = load(path)
        bkg, objs = sep_catalogue(data)
        cat, bmap, rmap, head, _ = skydiag_catalogue(skydiag, path)
        m = match(objs["x"], objs["y"], cat["x"], cat["y"])
        ok = m >= 0
        ratio = np.median(cat["flux"][m[ok]] / objs["flux"][ok]) if ok.any() else float("nan")
        maxrel = float(np.max(np.abs(bmap - bkg.back()) / np.maximum(np.abs(bkg.back()), 1e-30)))
        frac = ok.mean() if len(objs) else float("nan")
        print(f"{rel:44s} {len(objs):5d} {len(cat):5d} {100 * frac:7.1f}% {ratio:10.4f} "
              f"{bkg.globalback:10.5g}/{head['GLOBBACK']:<10.5g} {maxrel:10.2e}")
        rows.append((rel, len(objs), len(cat), frac, ratio, bkg.globalback, bkg.globalrms))
    return rows


def synthetic_frame(n, seed=1):
    rng = np.random.default_rng(seed)
    img = rng.normal(1000, 10, (n, n))
    nstars = n * n // 4000
    xs, ys = rng.uniform(8, n - 8, nstars), rng.uniform(8, n - 8, nstars)
    fl = 10 ** rng.uniform(2.5, 5, nstars)
    s = 1.3
    for x, y, f in zip(xs, ys, fl):
        x0, y0 = int(x) - 6, int(y) - 6
        yy, xx = np.mgrid[y0:y0 + 13, x0:x0 + 13]
        img[y0:y0 + 13, x0:x0 + 13] += f / (2 * np.pi * s * s) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
    return np.clip(img, 0, 65535).astype(np.uint16)


def bench(skydiag, n, repeats=5):
    frame = synthetic_frame(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.fits")
        fits.PrimaryHDU(frame).writeto(path)
        data = frame.astype(np.float32)
        sep_times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            bkg = sep.Background(data)
            sub = data - bkg.back()
            objs = sep.extract(sub, 5.0, err=bkg.rms(), minarea=5)
            sep_times.append(time.perf_counter() - t0)
        # One process, `repeats` extractions on the same extractor (scratch reused, as at a site); median.
        out = subprocess.run([skydiag, "sources", path, "--csv", "--timing", "--repeats", str(repeats)],
                             check=True, capture_output=True, text=True)
        line = [l for l in out.stderr.splitlines() if l.startswith("timing")][-1]
        print("skydiag stages:", line)
        count = len(out.stdout.splitlines()) - 1
        ts, to = float(np.median(sep_times)), float(line.split()[1])
        print(f"bench {n}x{n} uint16: SEP {ts:.3f} s ({len(objs)} sources), skydiag {to:.3f} s ({count} sources), "
              f"ratio skydiag/SEP = {to / ts:.2f} (median of {repeats})")
        # The whole quality judgement of the same frame (extraction, metrics, trails, clouds),
        # one thread and all of this machine's cores; the budget is 1 s on two cores.
        for threads in sorted({1, 2, os.cpu_count() or 1}):
            out = subprocess.run([skydiag, "quality", path, "--timing", "--repeats", str(repeats), "--threads", str(threads)],
                                 check=True, capture_output=True, text=True)
            line = [l for l in (out.stderr + out.stdout).splitlines() if "timing" in l][-1]
            print(f"quality judgement {n}x{n}, {threads} thread(s): {line}")


def emit_swift(data_dir, out_path):
    """Writes SEP's numbers for the test frames as Swift, so the Swift tests need no python."""
    frames = ["panoptes_pocs/pocs_tests_solved.fits", "astropy_data/visualization/reprojected_sdss_g.fits"]
    lines = ["// Generated by Tools/compare_sep.py --emit-swift with sep " + sep.__version__ + " (do not edit by hand).",
             "// SEP: Background(bw=64, bh=64, fw=3, fh=3); extract(data - back, 5.0, err=rms, minarea=5), defaults otherwise.",
             "// Map samples are (x, y, back, rms) at fixed pixels; catalogues are x, y (0-based), flux per line.",
             "", "enum SEPReference {", "    struct Frame: Sendable {", "        let path: String", "        let globalBack: Double",
             "        let globalRMS: Double", "        let mapSamples: [[Double]]   // x, y, back, rms",
             "        let catalogue: String", "    }", "", "    static let frames: [Frame] = ["]
    for rel in frames:
        data = load(os.path.join(data_dir, rel))
        bkg, objs = sep_catalogue(data)
        back, rms = bkg.back(), bkg.rms()
        h, w = data.shape
        pts = [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1), (w // 2, h // 2), (w // 3, (2 * h) // 3), (17, h - 5), (w - 31, 40)]
        samples = ", ".join(f"[{x}, {y}, {float(back[y, x])!r}, {float(rms[y, x])!r}]" for x, y in pts)
        cat = "\n".join(f"{o['x']:.3f} {o['y']:.3f} {o['flux']:.6g}" for o in objs)
        lines += [f"        Frame(path: \"{rel}\", globalBack: {float(bkg.globalback)!r}, globalRMS: {float(bkg.globalrms)!r},",
                  f"              mapSamples: [{samples}],",
                  f"              catalogue: \"\"\"", *["              " + l for l in cat.split("\n")], "              \"\"\"),"]
    lines += ["    ]", "}", ""]
    with open(out_path, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {out_path}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--skydiag", default=os.path.join(here, "..", ".build", "release", "skydiag"))
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data"))
    ap.add_argument("--bench", type=int, default=0)
    ap.add_argument("--emit-swift", metavar="PATH", help="write SEP's reference numbers as Swift and exit")
    a = ap.parse_args()
    if a.emit_swift:
        emit_swift(a.data, a.emit_swift)
        return
    if not os.path.exists(a.skydiag):
        sys.exit(f"no skydiag at {a.skydiag}: swift build -c release --product skydiag, or pass --skydiag")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    compare(a.skydiag, a.data)
    if a.bench:
        bench(a.skydiag, a.bench)


if __name__ == "__main__":
    main()
