#!/usr/bin/env bash
# The second paper's experiment trained far enough (issue 14, item 6): All-CNN-C with batch norm, a
# baseline and one model per invariance weight from the same initialisation and batches, the invariance
# model selected on the validation split (recipes/invariance_cifar.lua), then its results copied into
# results/ without the weights. Every training resumes from its checkpoint, so the same command carries
# the run across sessions:
#   RFT_DATA=../shared/datasets/cifar-10-batches-bin tools/experiments/invariance.sh [recipe flags]
# (flags after the command go to the recipe last, overriding these: --steps-per-epoch 2 for a trial)
# Settings (environment): WIDTH (0.5), EPOCHS (100, of 352 batches of 16 seeds x 8 copies: 45,000 rows but 5,632 seed
# images, so 100 epochs visit each training image about 12.5 times, each time in 8 views), LR (0.05, the
# one-cycle peak), WEIGHT_DECAY (5e-4), ALPHAS (0.05,0.1,0.2), SCORE_IMAGES (2000 test images x 5 draws of G; the paper: 10,000, whose CSVs would take 3.6 MB a model),
# ROOT (runs/invariance_allcnn_c_w<WIDTH>), RESULTS (results/invariance_allcnn_c_w<WIDTH>).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RFTLUA=${RFTLUA:-build/rftlua}
WIDTH=${WIDTH:-0.5}
EPOCHS=${EPOCHS:-100}
LR=${LR:-0.05}
WEIGHT_DECAY=${WEIGHT_DECAY:-5e-4}
ALPHAS=${ALPHAS:-0.05,0.1,0.2}
SCORE_IMAGES=${SCORE_IMAGES:-2000}
ROOT=${ROOT:-runs/invariance_allcnn_c_w$WIDTH}
RESULTS=${RESULTS:-results/invariance_allcnn_c_w$WIDTH}

# A machine that lost its runs (a fresh clone, a new session) takes the models scored before from
# $RESULTS: the recipe uses a model's record in place of training it when its settings match, so each
# model of a run may train in a different session.
if [ -d "$RESULTS" ]; then
  (cd "$RESULTS" && find . -type f -print0) |
    while IFS= read -r -d '' f; do
      [ -e "$ROOT/$f" ] || { mkdir -p "$ROOT/$(dirname "$f")"; cp "$RESULTS/$f" "$ROOT/$f"; }
    done
fi

# each model's record, CSVs and figures go into $RESULTS as soon as it is scored, never the weights
"$RFTLUA" recipes/invariance_cifar.lua --width "$WIDTH" --epochs "$EPOCHS" \
  --schedule one-cycle --lr "$LR" --weight-decay "$WEIGHT_DECAY" --alpha "$ALPHAS" \
  --score-images "$SCORE_IMAGES" --out "$ROOT" --results "$RESULTS" "$@"; exit   # exit here: bash reads a script as it runs
