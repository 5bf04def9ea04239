#!/usr/bin/env python3
"""Writes every single-label corpus of shared/data as train.jsonl and test.jsonl.

    bench/prepare_corpora.py OUT_DIR [--data DIR] [--corpora imdb,20news,...] [--seed 1]

Each corpus gets OUT_DIR/NAME/{train,test}.jsonl, one {"text", "label"} object
a line: han, TF-IDF + logistic regression and fastText (bench/baselines.py)
then read exactly the same split. The corpora and their splits:

  imdb          aclImdb train / test (25,000 / 25,000), from the tarball
  20news        20 Newsgroups bydate train / test (11,314 / 7,532); Latin-1 where not UTF-8
  chnsenticorp  bench/split_csv.py's seed-1 80/10/10 split: train+valid / test
  trec          TREC questions, the 6 coarse classes: train_5500 / TREC_10 (Latin-1)
  polarity      sentence polarity (cp1252), a seeded stratified 90/10 split
  sms           SMS Spam Collection, a seeded stratified 90/10 split

--data defaults to $HAN_DATA_DIR, then ../shared/data beside the project.
Nothing is copied into the project: OUT_DIR should be outside it.
"""
import argparse, csv, gzip, io, json, os, random, sys, tarfile
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL = ["imdb", "20news", "chnsenticorp", "trec", "polarity", "sms"]


def stratified_split(rows, test_fraction, seed):
    """rows: (text, label) pairs. Each label is shuffled with the seed and cut."""
    by_label = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    rng = random.Random(seed)
    train, test = [], []
    for label in sorted(by_label):
        items = by_label[label]
        rng.shuffle(items)
        held = round(test_fraction * len(items))
        test += items[:held]
        train += items[held:]
    return train, test


def decode(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_tar_split(path, prefix_of_split):
    """Files of a tarball, grouped by split: {split: [(text, label)]}, in name order."""
    named = defaultdict(list)
    with tarfile.open(path) as tar:
        for m in tar:  # in the archive's order: a gzip stream does not seek back cheaply
            found = prefix_of_split(m.name) if m.isfile() else None
            if found:
                split, label = found
                named[split].append((m.name, decode(tar.extractfile(m).read()), label))
    return {split: [(text, label) for _, text, label in sorted(rows)] for split, rows in named.items()}


def imdb(data, seed):
    def split_of(name):
        parts = name.split("/")  # aclImdb/train/pos/0_9.txt
        if len(parts) == 4 and parts[1] in ("train", "test") and parts[2] in ("pos", "neg"):
            return parts[1], parts[2]
        return None
    out = read_tar_split(os.path.join(data, "aclImdb_v1_nofeat.tar.gz"), split_of)
    return out["train"], out["test"]


def news20(data, seed):
    def split_of(name):
        parts = name.split("/")  # 20news-bydate-train/alt.atheism/49960
        if len(parts) == 3 and parts[0].startswith("20news-bydate-"):
            return parts[0][len("20news-bydate-"):], parts[1]
        return None
    out = read_tar_split(os.path.join(data, "20news-bydate.tar.gz"), split_of)
    return out["train"], out["test"]


def chnsenticorp(data, seed):
    # bench/split_csv.py's split (80/10/10, seed 1): its test part is the test set.
    with open(os.path.join(data, "ChnSentiCorp_htl_all.csv"), newline="", encoding="utf-8") as f:
        rows = [(r["review"], r["label"]) for r in csv.DictReader(f)]
    by_label = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    rng = random.Random(1)
    train, test = [], []
    for label in sorted(by_label):
        items = by_label[label]
        rng.shuffle(items)
        kept = round(len(items) * 0.8) + round(len(items) * 0.1)  # split_csv.py's train and valid
        train += items[:kept]
        test += items[kept:]
    return train, test


def trec(data, seed):
    def read(name):
        rows = []
        with open(os.path.join(data, name), encoding="latin-1") as f:
            for line in f:
                label, _, question = line.rstrip("\n").partition(" ")
                rows.append((question, label.split(":")[0]))
        return rows
    return read("train_5500.label"), read("TREC_10.label")


def polarity(data, seed):
    rows = []
    for name, label in (("rt-polarity.pos", "pos"), ("rt-polarity.neg", "neg")):
        with open(os.path.join(data, name), encoding="cp1252") as f:
            rows += [(line.strip(), label) for line in f if line.strip()]
    return stratified_split(rows, 0.1, seed)


def sms(data, seed):
    rows = []
    with open(os.path.join(data, "SMSSpamCollection"), encoding="utf-8") as f:
        for line in f:
            label, _, message = line.rstrip("\n").partition("\t")
            rows.append((message, label))
    return stratified_split(rows, 0.1, seed)


READERS = {"imdb": imdb, "20news": news20, "chnsenticorp": chnsenticorp, "trec": trec, "polarity": polarity,
           "sms": sms}


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for text, label in rows:
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--data", default=os.environ.get("HAN_DATA_DIR") or os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--corpora", default=",".join(ALL))
    parser.add_argument("--seed", type=int, default=1, help="seed of the splits made here (polarity, sms)")
    args = parser.parse_args()
    for name in args.corpora.split(","):
        if name not in READERS:
            sys.exit(f"prepare_corpora.py: unknown corpus {name!r} (known: {', '.join(ALL)})")
        target = os.path.join(args.out_dir, name)
        if os.path.exists(os.path.join(target, "test.jsonl")):
            print(f"{name}: already in {target}", file=sys.stderr)
            continue
        try:
            train, test = READERS[name](args.data, args.seed)
        except FileNotFoundError as e:
            sys.exit(f"prepare_corpora.py: {e.filename} is missing (docs/DATA.md says where to get it)")
        os.makedirs(target, exist_ok=True)
        write_jsonl(os.path.join(target, "train.jsonl"), train)
        write_jsonl(os.path.join(target, "test.jsonl"), test)
        labels = sorted({label for _, label in train})
        print(f"{name}: {len(train)} train, {len(test)} test, {len(labels)} labels -> {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
