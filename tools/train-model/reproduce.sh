#!/usr/bin/env bash
# Rebuilds data/models/brown-gpt2 as shipped, in one command: the three training phases its card
# lists, in order, each starting from the previous phase's best checkpoint (about 50 minutes of
# training on 2 cores). Phase 3 ran into its 20-minute limit at step 815 when it was first run;
# --stop-after 815 replays that cut without depending on the machine's speed. A phase whose
# model folder already exists under the work folder is not run again, so an interrupted
# reproduction resumes where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-$HOME/.cache/brown-gpt2-reproduce}
train=(/usr/bin/python3 tools/train-model/train.py)
p1=(--out "$work/phase1-model" --cache "$work/phase1" --steps 900 --lr 0.003 --warmup 50
  --dropout 0.05 --eval-every 150 --stop-after 450 --allow-weak)
p2=(--out "$work/phase2-model" --cache "$work/phase2" --steps 950 --lr 0.0025 --warmup 30
  --dropout 0.05 --eval-every 150 --init-from "$work/phase1/best.pt" --init-tokens 1843200
  --seed 1)
p3=(--out data/models/brown-gpt2 --cache "$work/phase3" --steps 1000 --lr 0.0015 --warmup 30
  --dropout 0.05 --eval-every 200 --stop-after 815 --init-from "$work/phase2/best.pt"
  --init-tokens 5734400 --seed 2)
# Each later phase records the commands that trained its starting weights (for the card).
c1="${train[*]} ${p1[*]}"
c2="${train[*]} ${p2[*]}"

[ -d "$work/phase1-model" ] || "${train[@]}" "${p1[@]}"
[ -d "$work/phase2-model" ] || "${train[@]}" "${p2[@]}" --init-command "$c1"
"${train[@]}" "${p3[@]}" --init-command "$c1"$'\n'"$c2"
