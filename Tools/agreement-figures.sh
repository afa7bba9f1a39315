#!/usr/bin/env bash
# Float vs int8 agreement of the three model families on held-out synthetic data:
# train (batch norm in the training graph), quantize (batch norm folded, calibration on
# its own set), then agreement on a third set used for neither training nor calibration.
# The classifiers run twice: on the default stamps (easily separable) and on faint
# stamps (amplitude 0.15..0.5 over noise 0.1), where some items are ambiguous.
#   swift build -c release --product skymodel && Tools/agreement-figures.sh [WORKDIR]
# EPOCHS / TRAIN override the training length (defaults keep the run to minutes).
set -euo pipefail
S=${SKYMODEL:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/skymodel}
W=${1:-$(mktemp -d)}
mkdir -p "$W"; cd "$W"
run() { echo "+ $*" >&2; "$@"; }
family() {   # name arch shape classes train-items epochs amplitude
  local n=$1 arch=$2 shape=$3 classes=$4 train=$5 epochs=$6 amp=$7
  run "$S" synth --count "$train" --shape "$shape" --classes "$classes" --amplitude "$amp" --seed 11 -o "$n-train.skyds" >/dev/null
  run "$S" synth --count 64 --shape "$shape" --classes "$classes" --amplitude "$amp" --seed 12 -o "$n-calib.skyds" >/dev/null
  run "$S" synth --count 1000 --shape "$shape" --classes "$classes" --amplitude "$amp" --seed 13 -o "$n-held.skyds" >/dev/null
  run "$S" create --arch "$arch" --batch-norm -o "$n.skynn" >/dev/null
  run "$S" train "$n.skynn" --data "$n-train.skyds" -o "$n-trained.skynn" --epochs "$epochs" --lr 2e-3
  run "$S" quantize "$n-trained.skynn" --data "$n-calib.skyds" --calibration 64 --held-out "$n-held.skyds" -o "$n-int8.skynn"
  run "$S" inspect "$n-int8.skynn" | sed -n '1p;3,4p;/^parameters/p'
  run "$S" eval "$n-int8.skynn" --data "$n-held.skyds" --threads 1
}
FAMILIES=${FAMILIES:-"realbogus quality autoencoder realbogus-faint quality-faint"}
for f in $FAMILIES; do
  case $f in
    realbogus) family realbogus realbogus 63x63x3 2 "${TRAIN:-600}" "${EPOCHS:-4}" 0.8,1.5 ;;
    quality) family quality quality 128x128x1 3 "${TRAIN:-400}" "${EPOCHS:-4}" 0.8,1.5 ;;
    autoencoder) family autoencoder autoencoder 64x64x1 3 "${TRAIN:-600}" "${EPOCHS:-4}" 0.8,1.5 ;;
    realbogus-faint) family realbogus-faint realbogus 63x63x3 2 "${TRAIN:-600}" "${EPOCHS:-4}" 0.15,0.5 ;;
    quality-faint) family quality-faint quality 128x128x1 3 "${TRAIN:-400}" "${EPOCHS:-4}" 0.15,0.5 ;;
    *) echo "unknown family $f" >&2; exit 2 ;;
  esac
done
