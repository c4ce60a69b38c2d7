#!/usr/bin/env bash
# Table 2's S- row (issue 14, item 7) from a second VGG-16/2 baseline. The first baseline's other 19 IA
# runs are committed in results/table3_vgg16_w0.5/ia; its last two cells (ST and AT on S-) could not be
# run from it on a machine whose CPU kind does not reproduce it (training is deterministic on one kind of
# CPU only). This trains a second baseline with the first one's command, then fine-tunes it on S- alone
# with FMA, ST and AT at the settings the first baseline's searches selected (those are not searched
# again), so that FMA's S- cell, run from both baselines, shows how far the baselines alone move it.
#   RFT_DATA=../shared/datasets/cifar-10-batches-bin tools/experiments/table2_second_baseline.sh
# Resumes like table3.sh; the same environment settings apply (ROOT defaults to
# runs/paper_vgg16_w0.5_second, RESULTS to results/table2_second_baseline, IA_AUGS to S-).
# Writes RESULTS/table2.md/json (this baseline's rows) and RESULTS/combined/table2.md/json: the whole
# Table 2, the first baseline's rows from FIRST/ia with this one's in place of IA_AUGS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
FIRST=${FIRST:-results/table3_vgg16_w0.5}
ROOT=${ROOT:-runs/paper_vgg16_w0.5_second} RESULTS=${RESULTS:-results/table2_second_baseline} IA_AUGS=${IA_AUGS:-S-}
# shellcheck source=/dev/null
source tools/experiments/table3.sh   # its settings and stages, for this ROOT and RESULTS
for j in "$FIRST"/search/*.json; do   # the selected settings, as the first baseline's searches left them
  d="$ROOT/search/$(basename "$j" .json)"
  [ -f "$d/results.json" ] || { mkdir -p "$d" && cp "$j" "$d/results.json"; }
done
stage_baseline
# the baseline's record beside the IA records, so that a machine that trains it to the same numbers takes
# the committed IA records instead of running them again (same_baseline); records made on another
# baseline are never mixed with this one's
if [ ! -f "$RESULTS/baseline/train.csv" ]; then
  mkdir -p "$RESULTS/baseline"
  cp "$BASE/train.csv" "$BASE/results.json" "$RESULTS/baseline/"
elif ! same_baseline; then
  echo "$BASE trained to other numbers than $RESULTS/baseline/train.csv (another kind of CPU):" \
    "set RESULTS to a new folder for its records" >&2
  exit 1
fi
stage_ia
"$RFTLUA" -e "local rows = {}
for f in ('$IA_AUGS'):gmatch('%S+') do rows[f] = '$RESULTS' end
assert(require('rft.experiment.paper_files').table2('$RESULTS/combined', '$FIRST', rows), 'no IA record in $FIRST/ia')"
