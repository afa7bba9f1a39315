#!/usr/bin/env python3
"""Runs `skydiag quality --json` on the real frames of ../shared/data and prints a table:
verdict, score, stars, seeing, ellipticity, trails and flags, with what each frame is
expected to show (trail on astride/long.fits as in its streaks_reference.txt, no trail on
the star fields, the drifting M13 frames judged bad, the labelled all-sky frames).

Usage: Tools/quality_check.py [--skydiag PATH] [--data DIR]
"""
import argparse, json, os, subprocess, sys

FRAMES = [
    ("astride/long.fits", "one trail (20,338)-(342,309)"),
    ("panoptes_pocs/pocs_tests_solved.fits", "star field, no trail"),
    ("astropy_data/visualization/reprojected_sdss_g.fits", "star field, no trail"),
    ("astropy_data/visualization/reprojected_sdss_r.fits", "star field, no trail"),
    ("sep/image.fits", "star field, no trail"),
    ("astropy_data/tutorials/FITS-images/M13_blue_0001.fits.gz", "bad (drifting, near empty)"),
    ("astropy_data/tutorials/FITS-images/M13_blue_0003.fits.gz", "bad (drifting, near empty)"),
    ("astropy_data/tutorials/FITS-images/M13_blue_0005.fits.gz", "bad (drifting, near empty)"),
    ("cloudynight_allsky/000.fits.gz", "all-sky, all 33 regions cloudy"),
    ("cloudynight_allsky/001.fits.gz", "all-sky, 26 of 33 regions cloudy"),
    ("cloudynight_allsky/002.fits.gz", "all-sky, clear"),
    ("cloudynight_allsky/004.fits.gz", "all-sky, clear but 1 region"),
    ("cloudynight_allsky/005.fits.gz", "all-sky, clear"),
]
# cloudynight's sky area: the ROI x 220..1190, y 0..960, a circle of radius 480 about its centre.
SKY_CIRCLE = {"cloudynight_allsky": "705,480,480"}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--skydiag", default=os.path.join(here, "..", ".build", "release", "skydiag"))
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data"))
    a = ap.parse_args()
    if not os.path.exists(a.skydiag):
        sys.exit(f"no skydiag at {a.skydiag}: swift build -c release --product skydiag, or pass --skydiag")
    print(f"{'frame':58s} {'expected':32s} {'verdict':7s} {'score':>5s} {'stars':>5s} {'fwhm':>6s} {'ell':>5s}  trails / flags")
    for rel, expected in FRAMES:
        extra = [arg for k, v in SKY_CIRCLE.items() if rel.startswith(k) for arg in ("--sky-circle", v)]
        out = subprocess.run([a.skydiag, "quality", os.path.join(a.data, rel), "--json", *extra], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{rel:58s} {expected:32s} error: {out.stderr.strip()}")
            continue
        q = json.loads(out.stdout)
        fwhm = "-" if q["fwhm_px"] is None else f"{q['fwhm_px']:.2f}"
        ell = "-" if q["ellipticity"] is None else f"{q['ellipticity']:.2f}"
        trails = "; ".join(f"({t['x0']:.0f},{t['y0']:.0f})-({t['x1']:.0f},{t['y1']:.0f})" for t in q["trails"]) or "none"
        print(f"{rel:58s} {expected:32s} {q['verdict']:7s} {q['score']:5d} {q['stars']:5d} {fwhm:>6s} {ell:>5s}  {trails} / {','.join(q['flags']) or '-'}")
    cloud_regions(a.skydiag, a.data)


def cloud_regions(skydiag, data):
    """Region cloud flags on the labelled all-sky frames against y_train.dat, with 005 (clear in
    every region) as the clear reference of the field."""
    labels = {}
    for line in open(os.path.join(data, "cloudynight_allsky", "y_train.dat")):
        f = line.split()
        if len(f) == 34:
            labels[f[0]] = [int(v) for v in f[1:]]
    reference = os.path.join(data, "cloudynight_allsky", "005.fits.gz")
    print()
    print("all-sky cloud regions (cloudynight layout: disc + 4 rings x 8 sectors), clear reference 005.fits.gz")
    print(f"{'frame':8s} {'labelled cloudy':>15s} {'flagged cloudy':>14s} {'agree':>9s}  verdict")
    for name in ["000", "001", "002", "004"]:
        out = subprocess.run([skydiag, "quality", os.path.join(data, "cloudynight_allsky", f"{name}.fits.gz"), "--json",
                              "--sky-circle", SKY_CIRCLE["cloudynight_allsky"], "--regions", "allsky",
                              "--clear-reference", reference], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{name:8s} error: {out.stderr.strip()}")
            continue
        q = json.loads(out.stdout)
        flagged = [1 if c else 0 for c in q["region_cloudy"]]
        truth = labels[name]
        agree = sum(1 for a, b in zip(flagged, truth) if a == b)
        print(f"{name:8s} {sum(truth):15d} {sum(flagged):14d} {agree:5d}/{len(truth)}  {q['verdict']} ({q['score']})")


if __name__ == "__main__":
    main()
