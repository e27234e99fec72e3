#!/usr/bin/env bash
# checkpoint-cost.sh URL [RUNS] [CONNS]: wall seconds of `rget get URL` with
# the journal on (default checkpoints) and off (--checkpoint-every 0),
# interleaved run by run; prints each run and the medians and their ratio.
# RGET names the binary (default ./rget). Example, with shared/bench's nginx:
#   go build -o rget . && scripts/checkpoint-cost.sh http://127.0.0.1:PORT/fast/rand-1G.bin 5 8
set -euo pipefail
url=$1 runs=${2:-5} conns=${3:-8} bin=${RGET:-./rget}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
declare -a on off
for ((i = 1; i <= runs; i++)); do
  for mode in on off; do
    flag=(); [[ $mode == off ]] && flag=(--checkpoint-every 0)
    sync; sleep 2
    s=$("$bin" get "$url" -o "$out/f" -c "$conns" -q --json "${flag[@]}" 2>/dev/null | sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p')
    rm -f "$out/f"
    echo "run $i journal=$mode ${s}s"
    if [[ $mode == on ]]; then on+=("$s"); else off+=("$s"); fi
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mon=$(median "${on[@]}") moff=$(median "${off[@]}")
echo "median wall: journal on ${mon}s, off ${moff}s, cost $(awk -v a="$mon" -v b="$moff" 'BEGIN{printf "%.1f%%", 100*(a/b-1)}')"
