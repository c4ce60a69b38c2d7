#!/usr/bin/env bash
# The first paper's Table 3 at its protocol on VGG-16 (issue 14): the baseline, the searches on the
# validation split, every method under CA from that one baseline with several seeds, CIFAR-10-C and
# the invariance scores of every model, then the committed results. Every step is skipped when its
# results.json exists and resumes from its checkpoint when it was killed, so the same command
# carries a run across sessions (and a fresh clone takes the committed searches instead of training
# them again, once its baseline has trained to the committed one: restore_search below):
#   RFT_DATA=../shared/datasets/cifar-10-batches-bin tools/experiments/table3.sh [STAGE ...]
# Stages (default: all, in this order): baseline search table3 cifar10c invariance ia results.
# Settings (environment): MODEL_NAME (vgg16), WIDTH (0.5: VGG-16/4 reached 85.11 % in 30 epochs, short
# of the issue's 88 %; results/time_to_baseline/), ROOT (runs/paper_<MODEL_NAME>_w<WIDTH>), BASE
# (<ROOT>/baseline: trained here when it has no results.json), BASELINE_EPOCHS (30: VGG-16/2 reached
# 87.97 %; 87.81 % in 40), BASELINE_LS (0, label smoothing: 0.1 gave 87.28 % in 30),
# EPOCHS (12), LR_TOP (0.6667: Combined+ and Combined- four epochs each at the top rate of twelve),
# SEEDS ("0 1 2"), METHODS ("clean AT AT-distorted ST FMA"), SEARCH_IMAGES (22500), SEARCH_EPOCHS (4),
# LR_GRID (0.0003,0.001,0.003,0.01: the searched fine-tuning rates), JOINT_GAMMA (0.1,0.3,1: FMA's
# weights searched again at the rates beside the one selected), SCHEDULE_GRID (<LR_TOP>,1: the shares of the
# epochs at the top rate searched last, at each method's selected rate and weight; the issue's floor,
# Combined+ and Combined- each a third of the epochs at the top rate, leaves two thirds and all),
# IA_EPOCHS (5), IA_METHODS ("FMA ST AT"), IA_AUGS (every distortion: the IA stage's, as "B+ S-"), RESULTS (results/table3_<MODEL_NAME>_w<WIDTH>).
# The searches run for the methods in METHODS only, so the main job's defaults (issue 14, item 9) come from
#   MODEL_NAME=quick WIDTH=1 BASE=<a quick baseline> ROOT=runs/main_job_quick METHODS=FMA SEARCH_IMAGES=45000 \
#   SEARCH_EPOCHS=2 LR_TOP=0.5 LR_GRID=0.003,0.01 JOINT_GAMMA=0.1,0.3 tools/experiments/table3.sh search
set -euo pipefail
shopt -s inherit_errexit   # a failing $(...) stops the script too
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RFTLUA=${RFTLUA:-build/rftlua}
MODEL_NAME=${MODEL_NAME:-vgg16}
WIDTH=${WIDTH:-0.5}
ROOT=${ROOT:-runs/paper_${MODEL_NAME}_w$WIDTH}
BASELINE_EPOCHS=${BASELINE_EPOCHS:-30}
BASELINE_LS=${BASELINE_LS:-0}
EPOCHS=${EPOCHS:-12}
LR_TOP=${LR_TOP:-0.6667}
SCHEDULE_GRID=${SCHEDULE_GRID:-$LR_TOP,1}
SEEDS=${SEEDS:-0 1 2}
METHODS=${METHODS:-clean AT AT-distorted ST FMA}
SEARCH_IMAGES=${SEARCH_IMAGES:-22500}
SEARCH_EPOCHS=${SEARCH_EPOCHS:-4}
LR_GRID=${LR_GRID:-0.0003,0.001,0.003,0.01}
JOINT_GAMMA=${JOINT_GAMMA:-0.1,0.3,1}
IA_EPOCHS=${IA_EPOCHS:-5}
IA_METHODS=${IA_METHODS:-FMA ST AT}
IA_AUGS=${IA_AUGS:-}
RESULTS=${RESULTS:-results/table3_${MODEL_NAME}_w$WIDTH}
MODEL=(--model "$MODEL_NAME" --width "$WIDTH" --bn true)
BASE=${BASE:-$ROOT/baseline}
CAL="$BASE/calibration_drop10_n2000.json"

say() { printf '\n== %s  %s\n' "$(date -u '+%F %T')" "$*"; }
done_() { [ -f "$1/results.json" ]; }
slug() { echo "$1" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9]\+/_/g'; }
# the selected value of a search; where no value kept the clean drop within bounds, the one closest to it
# (a note on stderr says so), and where there is neither, a failure
best() { "$RFTLUA" -e "local f = assert(io.open('$1/results.json')); local r = require('cjson').decode(f:read('*a'))
  if type(r.best) == 'number' then print(r.best) elseif type(r.closest) == 'number' then
    io.stderr:write('$1: no value kept the clean drop within bounds; the closest, ', r.closest, ', is used\\n'); print(r.closest)
  else error('$1: no value selected', 0) end"; }
# mean validation accuracy of a search's selected value, empty where no value kept the clean drop
# within bounds
kept_val() { "$RFTLUA" -e "local f = assert(io.open('$1/results.json')); local r = require('cjson').decode(f:read('*a'))
  print(type(r.best) == 'number' and r.val_accuracy or '')"; }
# mean validation accuracy of a search's selected (or closest) value
best_val() { "$RFTLUA" -e "local f = assert(io.open('$1/results.json')); local r = require('cjson').decode(f:read('*a'))
  print(type(r.val_accuracy) == 'number' and r.val_accuracy or r.closest_val_accuracy)"; }

stage_baseline() {
  done_ "$BASE" && return
  say "baseline: $MODEL_NAME width $WIDTH, batch norm, $BASELINE_EPOCHS epochs, label smoothing $BASELINE_LS"
  "$RFTLUA" recipes/baseline_cifar.lua "${MODEL[@]}" --epochs "$BASELINE_EPOCHS" --label-smoothing "$BASELINE_LS" \
    --out "$BASE"
}

# the grid a finished search scored, as "v1,v2,..." (per-value scores are cached, so a search rerun with
# a changed grid trains only the new values)
grid_of() { "$RFTLUA" -e "local f = assert(io.open('$1/results.json')); local v = {}
  for i, s in ipairs(require('cjson').decode(f:read('*a')).scores) do v[i] = string.format('%g', s.value) end
  print(table.concat(v, ','))"; }

# Whether the baseline in $BASE trained to the committed one (the same losses and accuracies, epoch by
# epoch), so that results made on the committed one hold for it.
same_baseline() {
  [ -f "$BASE/train.csv" ] && [ -f "$RESULTS/baseline/train.csv" ] &&
    cmp -s <(cut -d, -f1-5 "$BASE/train.csv") <(cut -d, -f1-5 "$RESULTS/baseline/train.csv")
}

# A search missing from runs/ (a fresh clone, a machine that lost its runs) is taken from the committed
# results ($RESULTS/search/<name>.json, its table from $RESULTS/search.md) instead of being trained
# again, when $BASE is the baseline it was made on: the same per-epoch losses and accuracies as the
# committed $RESULTS/baseline/train.csv (training is deterministic on one kind of CPU).
restore_search() {
  local out=$1 name=${1##*/}
  done_ "$out" || [ ! -f "$RESULTS/search/$name.json" ] || ! same_baseline && return 0
  mkdir -p "$out"
  awk -v h="## $name" '$0 == h { f = 1; getline; next } f && (/^`rftlua / || /^## /) { exit } f' \
    "$RESULTS/search.md" | sed '$d' > "$out/search.md"
  cp "$RESULTS/search/$name.json" "$out/results.json"
  say "search $name: taken from $RESULTS (made on this baseline)"
}

search() {   # search <method> <param> <grid> <out> [extra flags]
  local m=$1 param=$2 grid=$3 out=$4; shift 4
  restore_search "$out"
  done_ "$out" && [ "$(grid_of "$out")" = "$grid" ] && return
  say "search: $m $param in {$grid} $*"
  "$RFTLUA" recipes/gamma_search.lua --method "$m" --param "$param" --grid "$grid" "${MODEL[@]}" --baseline "$BASE" \
    --train-images "$SEARCH_IMAGES" --epochs "$SEARCH_EPOCHS" --lr-top "$LR_TOP" --val-images 5000 --out "$out" "$@"
}

# The rates of LR_GRID on either side of $1 (as `best` prints it).
neighbours() {
  local -a g
  IFS=, read -r -a g <<< "$LR_GRID"
  for i in "${!g[@]}"; do
    [ "${g[$i]}" = "$1" ] || continue
    ((i > 0)) && echo "${g[$((i - 1))]}"
    ((i + 1 < ${#g[@]})) && echo "${g[$((i + 1))]}"
  done
  return 0
}

# FMA's normaliser, named in every FMA command: the default became the constant one after these
# searches and runs began with the differentiated one.
normaliser() { [ "$1" = FMA ] && echo "--constant-normalizer false"; return 0; }

# The fine-tuning rate of each method at its default weight, then FMA's gamma (both normalisers) and
# ST's alpha at the rate found. LR_GRID: on VGG-16/2 with batch norm frozen, 0.03 diverged for the
# clean control and 0.01 cost it 1.6 clean points; AT lost 2 at 0.003. FMA, which fell behind ST in
# Table 3's first seed, also gets its larger weights at the rates beside its own (gamma_fma_lr<rate>):
# a joint grid around the selected point, so that the one-coordinate-at-a-time search is not why.
stage_search() {
  local m lr r flags
  # shellcheck disable=SC2046
  for m in $METHODS; do search "$m" lr "$LR_GRID" "$ROOT/search/lr_$(slug "$m")" $(normaliser "$m"); done
  if [[ " $METHODS " == *" FMA "* ]]; then
    lr=$(best "$ROOT/search/lr_fma")
    search FMA gamma 0.01,0.03,0.1,0.3,1 "$ROOT/search/gamma_fma" --constant-normalizer false --lr "$lr"
    search FMA gamma 0.01,0.03,0.1,0.3,1 "$ROOT/search/gamma_fma_constant" --constant-normalizer true --lr "$lr"
    for r in $(neighbours "$lr"); do
      search FMA gamma "$JOINT_GAMMA" "$ROOT/search/gamma_fma_lr$r" --constant-normalizer false --lr "$r"
    done
  fi
  if [[ " $METHODS " == *" ST "* ]]; then
    lr=$(best "$ROOT/search/lr_st")
    search ST alpha 0.03,0.1,0.3,1,3 "$ROOT/search/alpha_st" --lr "$lr"
  fi
  # the schedule last, at each method's rate and weight
  for m in $METHODS; do
    flags=$(setting "$m")   # an assignment, so that a missing search stops the script here
    # shellcheck disable=SC2086
    search "$m" lr_top "$SCHEDULE_GRID" "$ROOT/search/lr_top_$(slug "$m")" $flags
  done
}

# The rate and weight of method $1 as the searches selected them (a missing or empty search stops the
# script). For FMA, the best validation score of its weight searches, each at its rate and normaliser; with a
# second argument, "first", only the one-coordinate-at-a-time searches' (the rate, then the weight).
setting() {
  local m=$1 s="$ROOT/search" lr v c
  lr=$(best "$s/lr_$(slug "$m")")
  case $m in
    ST) v=$(best "$s/alpha_st"); echo "--lr $lr --alpha $v" ;;
    FMA)
      local flags d bv val
      flags="--lr $lr --gamma $(best "$s/gamma_fma") --constant-normalizer false"; bv=$(best_val "$s/gamma_fma")
      c=$(best "$s/gamma_fma_constant"); val=$(best_val "$s/gamma_fma_constant")
      if awk "BEGIN { exit !($val > $bv) }"; then flags="--lr $lr --gamma $c --constant-normalizer true"; bv=$val; fi
      [ "${2:-}" = first ] && { echo "$flags"; return; }
      for d in "$s"/gamma_fma_lr*; do   # the joint grid's rates: those with a value within the clean rule
        [ -f "$d/results.json" ] || continue
        val=$(kept_val "$d")
        [ -n "$val" ] || continue
        if awk "BEGIN { exit !($val > $bv) }"; then flags="--lr ${d##*_lr} --gamma $(best "$d") --constant-normalizer false"; bv=$val; fi
      done
      echo "$flags" ;;
    *) echo "--lr $lr" ;;
  esac
}

# The share of the epochs at the top rate that method $1's schedule search selected.
top_share() { best "$ROOT/search/lr_top_$(slug "$1")"; }

# Every flag of method $1 as the searches selected them: its setting and its schedule.
selected() {
  local s t
  s=$(setting "$1"); t=$(top_share "$1")   # assignments, so that a missing search stops the script
  echo "$s --lr-top $t"
}

# The folder of method $1's run with seed $2: <slug>_s<seed>, or <slug>_top<share>_s<seed> where its
# schedule search moved it off LR_TOP.
run_dir() {
  local top
  top=$(top_share "$1")
  if [ "$top" = "$LR_TOP" ]; then echo "$ROOT/table3/$(slug "$1")_s$2"; else echo "$ROOT/table3/$(slug "$1")_top${top}_s$2"; fi
}

# FMA at the one-coordinate searches' setting, where the joint grid moved Table 3's FMA elsewhere: seed 0,
# kept beside the column as a second configuration (<ROOT>/table3/fma_lr<rate>_s0).
second_fma() {
  [[ " $METHODS " == *" FMA "* ]] || return 0
  local first
  first=$(setting FMA first)
  [ "$first" != "$(setting FMA)" ] || return 0
  echo "$ROOT/table3/fma_lr$(echo "$first" | awk '{ print $2 }')_s0 $first"
}

stage_table3() {
  for seed in $SEEDS; do
    for m in $METHODS; do
      local out
      out=$(run_dir "$m" "$seed")
      done_ "$out" && continue
      local flags
      flags=$(selected "$m")
      say "table3: $m seed $seed, $EPOCHS epochs, $flags"
      # shellcheck disable=SC2086
      "$RFTLUA" recipes/ca_cifar.lua --method "$m" $flags "${MODEL[@]}" --baseline "$BASE" --seed "$seed" \
        --epochs "$EPOCHS" --out "$out"
    done
  done
  local second out flags
  second=$(second_fma)
  [ -n "$second" ] || return 0
  read -r out flags <<< "$second"
  done_ "$out" && return
  say "table3: FMA seed 0 at the one-coordinate searches' setting, $EPOCHS epochs, $flags"
  # shellcheck disable=SC2086
  "$RFTLUA" recipes/ca_cifar.lua --method FMA $flags "${MODEL[@]}" --baseline "$BASE" --seed 0 \
    --epochs "$EPOCHS" --lr-top "$LR_TOP" --out "$out"
}

models() {   # label and checkpoint of every model of the table: the baseline, then each run
  echo "baseline $BASE/model.safetensors"
  for seed in $SEEDS; do for m in $METHODS; do
    local r
    r=$(run_dir "$m" "$seed")
    done_ "$r" && echo "${r##*/} $r/model.safetensors"
  done; done
  local second
  second=$(second_fma)
  if [ -n "$second" ]; then
    local r=${second%% *}
    done_ "$r" && echo "${r##*/} $r/model.safetensors"
  fi
  return 0
}

stage_cifar10c() {
  models | while read -r label ckpt; do
    done_ "$ROOT/cifar10c/$label" && continue
    say "CIFAR-10-C: $label"
    "$RFTLUA" recipes/corruption_eval.lua --checkpoint "$label=$ckpt" "${MODEL[@]}" --out "$ROOT/cifar10c/$label"
  done
}

stage_invariance() {
  models | while read -r label ckpt; do
    for g in paper Combined+ Combined-; do
      local out="$ROOT/invariance/${label}_$g"
      done_ "$out" && continue
      say "invariance score: $label under $g"
      "$RFTLUA" recipes/invariance_score.lua --checkpoint "$ckpt" "${MODEL[@]}" --g "$g" --calibration "$CAL" \
        --images 2000 --out "$out"
    done
  done
}

# Table 2 (IA): every distortion alone, each method at its selected flags, seed 0. One run per method and
# distortion (<ROOT>/ia/<method>_<distortion>, about 11 minutes each on VGG-16/2 at 5 epochs), each record
# copied into $RESULTS/ia/ as it finishes, Table 2 written again from them, and taken back from there on
# a machine that lost its runs, so that the 21 runs may spread over sessions.
stage_ia() {
  local m f flags name out fams
  fams=${IA_AUGS:-$("$RFTLUA" -e "print(table.concat(require('rft.aug.distortions').names, ' '))")}
  for f in $fams; do   # every method on one distortion before the next: a partial table compares them
    for m in $IA_METHODS; do
      flags=$(selected "$m")
      name="$(slug "$m")_$(slug "$(echo "$f" | sed 's/+/plus/; s/-$/minus/')")"
      out="$ROOT/ia/$name"
      if ! done_ "$out" && [ -f "$RESULTS/ia/$name/results.json" ] && same_baseline; then
        mkdir -p "$out" && cp "$RESULTS/ia/$name/results.json" "$out/"
        say "IA: $m on $f taken from $RESULTS (made on this baseline)"
      fi
      done_ "$out" && continue
      say "IA: $m on $f, $IA_EPOCHS epochs, $flags"
      # shellcheck disable=SC2086
      "$RFTLUA" recipes/ia_cifar.lua --methods "$m" --augs "$f" $flags "${MODEL[@]}" --baseline "$BASE" \
        --epochs "$IA_EPOCHS" --out "$out"
      mkdir -p "$RESULTS/ia/$name" && cp "$out/results.json" "$RESULTS/ia/$name/"
      table2
    done
  done
}

# table2.md/json in $RESULTS from the IA records there, finished or not (a missing cell reads as such)
table2() { "$RFTLUA" -e "assert(require('rft.experiment.paper_files').table2('$RESULTS', '$RESULTS'), 'no IA record in $RESULTS/ia')"; }

stage_results() {
  say "results: $RESULTS"
  "$RFTLUA" recipes/paper_results.lua --runs "$ROOT" --out "$RESULTS"
}

[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0   # sourced: the functions only
stages=${*:-baseline search table3 cifar10c invariance ia results}
for s in $stages; do "stage_$s"; done; exit   # exit here: bash reads a script as it runs, and it may be edited meanwhile
