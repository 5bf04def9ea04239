#!/usr/bin/env bash
# Peak memory of classify and explain as the number of documents grows: a
# thousand documents against ROWS of them (5 to 30 words each, seeded), as CSV
# rows (`classify -o OUT.csv` and to stdout) and as lines of a text file
# (`classify --lines`, `explain --lines` to stdout and `--html`; explain on
# EXPLAIN_ROWS). Each run RUNS times (default 3); prints the median peak RSS
# and wall time of each.
#
#   bench/classify_stream.sh [BUILD_DIR]
# Env: WORK (default a temporary folder), RUNS, ROWS (default 1000000),
# EXPLAIN_ROWS (default 100000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
han=${1:-$root/build}/han
work=${WORK:-$(mktemp -d)}
runs=${RUNS:-3}
rows=${ROWS:-1000000}
explain_rows=${EXPLAIN_ROWS:-100000}
cd "$work"
[ -f model.han ] || "$han" -q demo -o demo --documents 600 --epochs 1 > /dev/null
[ -f model.han ] || cp demo/demo.han model.han
python3 - "$rows" "$explain_rows" <<'PY'
import random, sys
rows, explain_rows = int(sys.argv[1]), int(sys.argv[2])
random.seed(1)
words = 'a witty film the plot was thin but jokes were hilarious dark house scream love kiss'.split()
with open('big.csv', 'w') as big, open('small.csv', 'w') as small:
    for f in (big, small):
        f.write('id,text\n')
    for i in range(rows):
        line = '%d,"%s"\n' % (i, ' '.join(random.choice(words) for _ in range(random.randint(5, 30))))
        big.write(line)
        if i < 1000:
            small.write(line)
with open('big.csv') as csv, open('big.txt', 'w') as big, open('small.txt', 'w') as small, \
        open('explain.txt', 'w') as explain:
    next(csv)
    for i, row in enumerate(csv):
        text = row.split(',', 1)[1].strip().strip('"') + '\n'
        big.write(text)
        if i < 1000:
            small.write(text)
        if i < explain_rows:
            explain.write(text)
PY
measure() {  # measure LABEL command...: median peak RSS (MB) and seconds over $runs runs
  local label=$1; shift
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%M %e" "$@" 2>&1 > /dev/null | tail -1
  done | sort -n | awk -v label="$label" '{rss[NR]=$1; t[NR]=$2} END {m=int((NR+1)/2);
    printf "%-34s peak RSS %6.0f MB  %6.1f s\n", label, rss[m]/1024, t[m]}'
}
measure "1,000 rows, -o" "$han" -q classify model.han small.csv -o small.out.csv
measure "$rows rows, -o" "$han" -q classify model.han big.csv -o big.out.csv
measure "$rows rows, to stdout" "$han" -q classify model.han big.csv
measure "1,000 lines, classify --lines" "$han" -q classify model.han small.txt --lines
measure "$rows lines, classify --lines" "$han" -q classify model.han big.txt --lines
measure "1,000 lines, explain --lines" "$han" -q explain model.han small.txt --lines
measure "$explain_rows lines, explain --lines" "$han" -q explain model.han explain.txt --lines
measure "1,000 lines, explain --html" "$han" -q explain model.han small.txt --lines --html small.html
measure "$explain_rows lines, explain --html" "$han" -q explain model.han explain.txt --lines --html explain.html
echo "$(wc -c < big.csv) bytes in big.csv, $(wc -c < big.txt) in big.txt, $(wc -c < explain.html) in explain.html"
