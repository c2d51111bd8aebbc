#!/bin/sh
# The measurement every front-network candidate's rule uses (training/checkpoints/README.md):
# export a checkpoint, cache its maps as the plugin runs it, then print the held-out tables
# (Jorum and Landsat 229-231/012 at 0/90/180 degrees) and the training SAR table (upright).
# Usage: tools/measure_candidate.sh CHECKPOINT.pt [THREADS]
#    or: tools/measure_candidate.sh A.onnx+B.onnx [THREADS] NAME   (an ensemble of exported models)
# Run from the repository root; the tables go to build/candidates/<name>/.
set -eu
candidate=$1
threads=${2:-1}
py=.venv/bin/python
case $candidate in
    *.pt)
        name=$(basename "$candidate" .pt)
        model=build/candidates/$name/calving_front.onnx
        mkdir -p "build/candidates/$name"
        [ -f "$model" ] && [ "$model" -nt "$candidate" ] || \
            $py -m training fronts --export-only --resume "$candidate" --crop 256 --out "$model" --no-evaluate ;;
    *)
        name=${3:?an ensemble needs a NAME for its tables}
        model=$candidate
        mkdir -p "build/candidates/$name" ;;
esac
export WATERLINE_FRONT_MODEL=$model
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
