#!/usr/bin/env bash
# Streaming and decompression (issue 15): 1 GiB to a file and to stdout
# (piped to sha256sum, cat, openssl), and a compressed text file with and
# without -z, from the shared bench's nginx /paced/ (25 MB/s per
# connection), 16 connections, interleaved rounds, 3 s settle. Start nginx
# first (../shared/bench/server/start.sh, ../shared/bench/mkdata.sh 1G);
# the text files are made here once. Prints a TSV: seconds, peak RSS (KiB),
# digest ok. RGET names the binary; ROUNDS and CASES choose the runs.
set -u
D=${BENCH_DATA_DIR:-/tmp/dlbench/data}
if [[ ! -f $D/text-1G.txt.zst ]]; then
  head -c 805306368 /dev/urandom | base64 -w 100 > $D/text-1G.txt
  zstd -q -T2 -3 -f $D/text-1G.txt -o $D/text-1G.txt.zst
  gzip -1 -c $D/text-1G.txt > $D/text-1G.txt.gz
  sha256sum $D/text-1G.txt | cut -c1-64 > $D/text-1G.txt.sum
fi
R=${ROUNDS:-5}
BIN=${RGET:-rget}
P=$(cat /tmp/dlbench/nginx/paced_port)
U=http://127.0.0.1:$P/paced
TMPD=$(mktemp -d); trap "rm -rf $TMPD" EXIT; OUT=$TMPD/out; mkdir -p $OUT
echo -e "round\tcase\tseconds\tmaxrss_kb\tok"
for r in $(seq 1 $R); do
  for c in ${CASES:-file stdout stdout-cat stdout-openssl zst zst-z gz gz-z}; do
    rm -rf $OUT/*; sync; sleep 3
    case $c in
      file) /usr/bin/time -o $TMPD/t -f "%e %M" $BIN get $U/rand-1G.bin -o $OUT/f -c 16 -q >/dev/null; ok=$([[ $(sha256sum <$OUT/f | cut -c1-64) == $(cut -c1-64 $D/rand-1G.bin.sha256) ]] && echo y || echo n);;
      stdout) s=$( { /usr/bin/time -o $TMPD/t -f "%e %M" $BIN get $U/rand-1G.bin -o - -c 16 -q; } | sha256sum | cut -c1-64); ok=$([[ $s == $(cut -c1-64 $D/rand-1G.bin.sha256) ]] && echo y || echo n);;
      stdout-cat) { /usr/bin/time -o $TMPD/t -f "%e %M" $BIN get $U/rand-1G.bin -o - -c 16 -q; } | cat > /dev/null; ok=y;;
      stdout-openssl) s=$( { /usr/bin/time -o $TMPD/t -f "%e %M" $BIN get $U/rand-1G.bin -o - -c 16 -q; } | openssl dgst -sha256 -r | cut -c1-64); ok=$([[ $s == $(cut -c1-64 $D/rand-1G.bin.sha256) ]] && echo y || echo n);;
      zst) /usr/bin/time -o $TMPD/t -f "%e %M" $BIN get $U/text-1G.txt.zst -o $OUT/t.zst -c 16 -q >/dev/null; ok=y;;
      zst-z) /usr/bin/time -o $TMPD/t -f "%e %M" $BIN get $U/text-1G.txt.zst -z -o $OUT/t -c 16 -q >/dev/null; ok=$([[ $(sha256sum <$OUT/t | cut -c1-64) == $(cat $D/text-1G.txt.sum) ]] && echo y || echo n);;
      gz) /usr/bin/time -o $TMPD/t -f "%e %M" $BIN get $U/text-1G.txt.gz -o $OUT/t.gz -c 16 -q >/dev/null; ok=y;;
      gz-z) /usr/bin/time -o $TMPD/t -f "%e %M" $BIN get $U/text-1G.txt.gz -z -o $OUT/t -c 16 -q >/dev/null; ok=$([[ $(sha256sum <$OUT/t | cut -c1-64) == $(cat $D/text-1G.txt.sum) ]] && echo y || echo n);;
      zst-z-stdout) s=$( { /usr/bin/time -o $TMPD/t -f "%e %M" $BIN get $U/text-1G.txt.zst -z -o - -c 16 -q; } | sha256sum | cut -c1-64); ok=$([[ $s == $(cat $D/text-1G.txt.sum) ]] && echo y || echo n);;
    esac
    read -r secs rss < $TMPD/t
    echo -e "$r\t$c\t$secs\t$rss\t$ok"
  done
done
