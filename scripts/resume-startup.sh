#!/usr/bin/env bash
# resume-startup.sh [SIZE] [SIGNAL] [RUNS]: how long a rerun takes to start
# fetching again after a download of SIZE (default 4GiB) was stopped with
# SIGNAL (default INT; KILL for a crash) at 90%. Serves the synthetic file
# with `rget serve`, prints startup_seconds (probe + journal + part file +
# hash state) of each rerun and their median. RGET names the binary.
set -euo pipefail
size=${1:-4GiB} sig=${2:-INT} runs=${3:-3} bin=${RGET:-./rget}
dir=$(mktemp -d)
"$bin" serve --synthetic "$size" --addr 127.0.0.1:0 > "$dir/serve.out" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q http "$dir/serve.out" && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*' "$dir/serve.out" | head -1)
[[ $url == */ ]] && url=${url}file
declare -a ts
for ((i = 1; i <= runs; i++)); do
  rm -f "$dir/out" "$dir/out.part" "$dir/out.rget"
  "$bin" get "$url" -o "$dir/out" -c 16 -q & pid=$!
  while :; do
    pct=$("$bin" status "$dir/out" --json 2>/dev/null | awk -F'[:,]' '/"size"/{s=$2} /"bytes_done"/{d=$2} END{if (s>0) printf "%d", 100*d/s; else print 0}' || true)
    (( pct >= 90 )) && break
    sleep 0.05
  done
  kill -s "$sig" $pid; wait $pid || true
  t=$("$bin" get "$url" -o "$dir/out" -c 16 -q --json 2>/dev/null | sed -n 's/.*"startup_seconds": \([0-9.e-]*\).*/\1/p')
  echo "run $i: stopped with SIG$sig at ${pct}%, rerun startup ${t}s"
  ts+=("$t")
done
printf '%s\n' "${ts[@]}" | sort -g | awk '{a[NR]=$1} END {print "median startup: " a[int((NR+1)/2)] " s"}'
