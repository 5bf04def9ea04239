#!/usr/bin/env python3
"""Writes an unbalanced 4-class corpus from a split of TREC or 20 Newsgroups.

    bench/unbalanced.py SPLIT_DIR OUT_DIR [--sizes DESC=1000,ENTY=1000,HUM=30,LOC=5] [--seed 1]
    bench/unbalanced.py SPLIT_DIR OUT_DIR --top-level --sizes comp=1000,rec=1000,sci=30,talk=5

SPLIT_DIR holds train.jsonl and test.jsonl as bench/prepare_corpora.py writes
them ("trec", or "20news" with --top-level: each newsgroup's label becomes its
hierarchy's first part, so comp.graphics and comp.windows.x are both "comp",
a 4-class news corpus). OUT_DIR gets train.jsonl with a seeded sample of each named
class of the training split (as many documents as --sizes says) and
test.jsonl with every test document of those classes, and dev.jsonl with up to
100 training documents of each class that the sample left out (to choose
settings on; the test split gives only the final figure): two large classes, one
small and one tiny, as real collections often have. The sample depends only
on the seed. Nothing is copied into the project: OUT_DIR should be outside it.
"""
import argparse, json, os, random, sys
from collections import Counter, defaultdict


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1].strip())
    parser.add_argument("split_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--sizes", default="DESC=1000,ENTY=1000,HUM=30,LOC=5")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--top-level", action="store_true",
                        help="label each document by its label's part before the first dot")
    args = parser.parse_args()
    sizes = {}
    for item in args.sizes.split(","):
        label, _, count = item.partition("=")
        sizes[label] = int(count)
    train = read(os.path.join(args.split_dir, "train.jsonl"))
    test = read(os.path.join(args.split_dir, "test.jsonl"))
    if args.top_level:
        for row in train + test:
            row["label"] = row["label"].split(".")[0]
    by_label = defaultdict(list)
    for row in train:
        by_label[row["label"]].append(row)
    rng = random.Random(args.seed)
    sample = []
    for label in sorted(sizes):
        rows = by_label.get(label, [])
        if len(rows) < sizes[label]:
            sys.exit(f"unbalanced.py: {label} has {len(rows)} training documents, fewer than the {sizes[label]} asked")
        rng.shuffle(rows)
        sample += rows[: sizes[label]]
    # dev.jsonl: up to 100 of each class's training questions left out of the
    # sample, to choose settings on without looking at the test split.
    dev = []
    for label in sorted(sizes):
        dev += by_label.get(label, [])[sizes[label] : sizes[label] + 100]
    rng.shuffle(sample)
    os.makedirs(args.out_dir, exist_ok=True)
    write(os.path.join(args.out_dir, "train.jsonl"), sample)
    write(os.path.join(args.out_dir, "dev.jsonl"), dev)
    write(os.path.join(args.out_dir, "test.jsonl"), [r for r in test if r["label"] in sizes])
    counts = Counter(r["label"] for r in sample)
    print("train:", ", ".join(f"{label} {counts[label]}" for label in sorted(counts)))


if __name__ == "__main__":
    main()
