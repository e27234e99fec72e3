#!/usr/bin/env bash
# -c auto against fixed connection counts (issue 16): 1 GiB from the shared
# bench's nginx (start it first: ../shared/bench/server/start.sh and
# ../shared/bench/mkdata.sh 1G), /paced/ (25 MB/s per connection) and /fast/,
# interleaved rounds with a 3 s settle. Prints a TSV: time, connections
# used, the verdict's limit. RGET names the binary; ROUNDS, SPECS
# ("link:c ...") choose the runs; DATA is the bench's data directory.
set -u
R=${ROUNDS:-5}
BIN=${RGET:-rget}
P=$(cat /tmp/dlbench/nginx/paced_port)
F=$(cat /tmp/dlbench/nginx/port 2>/dev/null || echo 18480)
TMPD=$(mktemp -d); trap "rm -rf $TMPD" EXIT; OUT=$TMPD/out; mkdir -p $OUT
echo -e "round\tlink\tc\tseconds\tconns\tlimit"
for r in $(seq 1 $R); do
  for spec in ${SPECS:-paced:auto paced:8 paced:16 paced:32 paced:64 fast:auto fast:4 fast:8 fast:16}; do
    link=${spec%%:*}; c=${spec#*:}
    port=$P; [[ $link == fast ]] && port=$F
    rm -rf $OUT/*; sync
    # The file back in the page cache (this VM's kernel reclaims idle
    # pages; nginx reading it from the disk made some runs 2-4x slower).
    cat ${DATA:-/tmp/dlbench/data}/rand-1G.bin > /dev/null 2>&1
    sleep 3
    /usr/bin/time -o $TMPD/t -f "%e" $BIN get http://127.0.0.1:$port/$link/rand-1G.bin -o $OUT/f -c $c --json > $TMPD/j.json 2>/dev/null
    python3 - "$r" "$link" "$c" "$(cat $TMPD/t)" "$TMPD/j.json" <<'PY'
import json,sys
j=json.load(open(sys.argv[5]))
v=j.get('verdict') or {}
print("\t".join([sys.argv[1],sys.argv[2],sys.argv[3],sys.argv[4],str(j.get('connections')),v.get('limit','')]))
PY
  done
done
