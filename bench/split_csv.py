#!/usr/bin/env python3
"""Seeded, stratified split of a labeled CSV into train/valid/test CSVs.

    bench/split_csv.py CORPUS.csv OUT_DIR [--fractions 0.8,0.1,0.1] [--seed 1]

Used for corpora that ship without a split, such as ChnSentiCorp. Rows keep
their columns; each label is shuffled with the seed and cut by the fractions.
"""
import argparse, csv, os, random, sys
from collections import defaultdict

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("corpus")
parser.add_argument("out_dir")
parser.add_argument("--fractions", default="0.8,0.1,0.1")
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--label-field", default="label")
args = parser.parse_args()

fractions = [float(f) for f in args.fractions.split(",")]
if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9:
    sys.exit("split_csv.py: --fractions needs three numbers that sum to 1")
with open(args.corpus, newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    header, rows = reader.fieldnames, list(reader)
by_label = defaultdict(list)
for row in rows:
    by_label[row[args.label_field]].append(row)
rng = random.Random(args.seed)
parts = {"train": [], "valid": [], "test": []}
for label in sorted(by_label):
    group = by_label[label]
    rng.shuffle(group)
    n_train = round(len(group) * fractions[0])
    n_valid = round(len(group) * fractions[1])
    parts["train"] += group[:n_train]
    parts["valid"] += group[n_train:n_train + n_valid]
    parts["test"] += group[n_train + n_valid:]
os.makedirs(args.out_dir, exist_ok=True)
for name, part in parts.items():
    rng.shuffle(part)
    with open(os.path.join(args.out_dir, name + ".csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(part)
    print(f"{name}: {len(part)}")
