#!/usr/bin/env bash
# The offload pool size (issue 16): the burst of bench/burst.js (ours) with
# 400 pairs of 64 KiB and 60 pairs of 1 MiB messages, WSX_DEFLATE_THREADS
# 1, 2 and 4, three times each: alone, and as a cluster of two processes at
# once. Prints the burst wall time (and CPU for the single process).
#   bash bench/pool-size.sh
cd "$(dirname "$0")/.."
for size in 65536 1048576; do
  if [ $size = 65536 ]; then pairs=400; else pairs=60; fi
  for t in 1 2 4; do
    for rep in 1 2 3; do
      single=$(WSX_DEFLATE_THREADS=$t node --expose-gc bench/burst.js ours $pairs $size $rep)
      # a cluster of two processes, at once
      c1=$(mktemp); c2=$(mktemp)
      WSX_DEFLATE_THREADS=$t node --expose-gc bench/burst.js ours $pairs $size $rep > $c1 &
      WSX_DEFLATE_THREADS=$t node --expose-gc bench/burst.js ours $pairs $size $((rep+10)) > $c2 &
      wait
      echo "size=$size threads=$t rep=$rep single=$(echo $single | python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["burstNs"]/1e6,1), "ms cpu", round(d["burstCpuUs"]/1e3,1), "ms")') cluster=$(cat $c1 $c2 | python3 -c 'import json,sys; ds=[json.loads(l) for l in sys.stdin]; print(" / ".join(str(round(d["burstNs"]/1e6,1)) for d in ds), "ms")')"
    done
  done
done
