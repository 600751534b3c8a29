#!/usr/bin/env bash
# Instructions per item on one thread of a `valgrind --tool=callgrind --separate-threads=yes` run.
#
#   scripts/callgrind-thread-cost.sh OUT_PREFIX FUNCTION ITEMS
#
# OUT_PREFIX is the --callgrind-out-file given to valgrind (it writes OUT_PREFIX-01, -02, ..., one per
# thread). The thread is the one whose profile holds FUNCTION (e.g. `worker_loop` for logiscout's shipping
# worker, `profile_worker::main` for the logging thread). Prints the thread's total instructions, the
# count per item, and the thread's top functions by exclusive cost.
set -euo pipefail
prefix=$1 function=$2 items=$3
for f in "$prefix"-*; do
    if grep -q "$function" "$f"; then
        total=$(grep -m1 '^summary:' "$f" | awk '{print $2}')
        echo "$f: $total instructions on the thread of $function, $(( total / items )) per item"
        callgrind_annotate "$f" 2>/dev/null | grep -E '^ *[0-9,]+ ' | sed -n '2,16p' | cut -c1-150
        exit 0
    fi
done
echo "no thread of $prefix-* runs $function" >&2
exit 1
