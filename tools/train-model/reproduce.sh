#!/usr/bin/env bash
# Rebuilds data/models/brown-gpt2 as shipped, in one command: the three training phases its card
# lists, in order, each starting from the previous phase's best checkpoint (about 50 minutes of
# training on 2 cores). Phase 3 ran into its 20-minute limit at step 815 when it was first run;
# --stop-after 815 replays that cut without depending on the machine's speed.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-$HOME/.cache/brown-gpt2-reproduce}
train() { /usr/bin/python3 tools/train-model/train.py --warmup 30 --dropout 0.05 "$@"; }

train --out "$work/phase1-model" --cache "$work/phase1" --steps 900 --lr 0.003 --warmup 50 \
  --eval-every 150 --stop-after 450 --allow-weak
train --out "$work/phase2-model" --cache "$work/phase2" --steps 950 --lr 0.0025 --eval-every 150 \
  --init-from "$work/phase1/best.pt" --init-tokens 1843200 --seed 1
train --out data/models/brown-gpt2 --cache "$work/phase3" --steps 1000 --lr 0.0015 \
  --eval-every 200 --stop-after 815 \
  --init-from "$work/phase2/best.pt" --init-tokens 5734400 --seed 2
