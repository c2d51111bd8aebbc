#!/bin/sh
# The measurement every front-network candidate's rule uses (training/checkpoints/README.md):
# export a checkpoint, cache its maps as the plugin runs it, then print the held-out tables
# (Jorum and Landsat 229-231/012 at 0/90/180 degrees) and the training SAR table (upright).
# Usage: tools/measure_candidate.sh CHECKPOINT.pt [THREADS]   (run from the repository root)
set -eu
ckpt=$1
threads=${2:-1}
name=$(basename "$ckpt" .pt)
onnx=build/candidates/$name/calving_front.onnx
py=.venv/bin/python
mkdir -p "build/candidates/$name"
[ -f "$onnx" ] && [ "$onnx" -nt "$ckpt" ] || \
    $py -m training fronts --export-only --resume "$ckpt" --crop 256 --out "$onnx" --no-evaluate
export WATERLINE_FRONT_MODEL=$onnx
$py tools/measure_fronts.py cache --glacier Jorum,229012,230012,231012 --threads "$threads"
WATERLINE_FRONT_TURNS=0 $py tools/measure_fronts.py cache --glacier JAC,DBE,SI --threads "$threads"
measure="tools/measure_fronts.py measure --method new --static --option max_fronts=5"
$py $measure --split heldout --source sar --per-scene > "build/candidates/$name/jorum.txt"
$py $measure --split heldout --source landsat --per-scene > "build/candidates/$name/landsat.txt"
WATERLINE_FRONT_TURNS=0 $py $measure --split train --source sar > "build/candidates/$name/train_sar.txt"
for table in jorum landsat train_sar; do
    echo "== $name: $table"
    sed -n '2,5p' "build/candidates/$name/$table.txt" | grep -v '^$'
done
