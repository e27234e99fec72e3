#!/usr/bin/env bash
# tail.sh [SIZE] [CONNS] [RATE] [RUNS]: the tail target. Downloads SIZE
# (default 1GiB) over CONNS (16) connections from `rget serve --synthetic`
# capping each connection at RATE (25MB), once with every connection equal
# and once with the first connection 10x slower (--slow-conn), interleaved
# RUNS (5) times; prints the medians and their ratio. RGET names the binary.
set -euo pipefail
size=${1:-1GiB} conns=${2:-16} rate=${3:-25MB} runs=${4:-5} bin=${RGET:-./rget}
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
start() { # start NAME ARGS...: serve, wait for its URL in $dir/NAME.url
  local name=$1; shift
  "$bin" serve --synthetic "$size" --addr 127.0.0.1:0 --rate-per-conn "$rate" "$@" > "$dir/$name.url" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 100); do [[ -s $dir/$name.url ]] && break; sleep 0.1; done
}
slow=$(awk -v r="$rate" 'BEGIN{n=r+0; u=substr(r, length(n "")+1); print n/10 u}')
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -a even uneven
for ((i = 1; i <= runs; i++)); do
  for mode in even uneven; do
    # A fresh server each run: --slow-conn slows its first connection.
    if [[ $mode == even ]]; then start "$mode-$i"; else start "$mode-$i" --slow-conn "$slow"; fi
    url=$(head -1 "$dir/$mode-$i.url")
    s=$("$bin" get "$url" -o "$dir/out" -c "$conns" -q --json 2>/dev/null | sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p')
    rm -f "$dir/out"; kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
    echo "run $i $mode: ${s}s"
    if [[ $mode == even ]]; then even+=("$s"); else uneven+=("$s"); fi
  done
done
e=$(median "${even[@]}") u=$(median "${uneven[@]}")
echo "median: all equal ${e}s, one connection at $slow/s ${u}s, ratio $(awk -v a="$u" -v b="$e" 'BEGIN{printf "%.3f", a/b}')"
