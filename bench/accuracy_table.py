#!/usr/bin/env python3
"""The table of docs/ACCURACY.md from bench/accuracy.sh's results.

    bench/accuracy_table.py RESULTS.jsonl [--corpora a,b] [--threads N] [--out docs/ACCURACY.md | -]

RESULTS.jsonl: one object a line, {"corpus", "system", "accuracy", "macro_f1",
"seconds"} (han's lines also carry "seed"). A later line for the same corpus,
system and seed replaces an earlier one. han's figure is the median over its
seeds; fastText's is the best of its variants, named.
"""
import argparse, datetime, json, os, platform, statistics, subprocess, sys

ALL = ["imdb", "20news", "chnsenticorp", "trec", "polarity", "sms"]  # bench/prepare_corpora.py's

HEADER = """# Accuracy: one command against the baselines

What `han train DATA -o MODEL` reaches with no options, beside what a user would try instead, on the
same split of each corpus (`bench/prepare_corpora.py`; the corpora are described in
[DATA.md](DATA.md)). Test accuracy in percent; han's figure is the median of seeds {seeds}
(each seed's figure in brackets); fastText's is the best of its defaults, 25 epochs with lr 0.5 and
word bigrams, and its `-autotune-validation` on 10% of the training data (which one, in brackets).
Seconds are training time on {threads} threads, han's a median too. Produced by `bench/accuracy.sh`
on {machine}, {date}.

| corpus | train / test | han (defaults) | seconds | TF-IDF + LR | seconds | fastText (best) | seconds |
|---|---|---|---|---|---|---|---|
"""


def machine():
    try:
        model = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in model.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        name = platform.processor() or "unknown CPU"
    return f"{name}, {os.cpu_count()} cores"


def count_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return sum(1 for _ in f)
    except OSError:
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results")
    parser.add_argument("--corpora", default="")
    parser.add_argument("--threads", default="2")
    parser.add_argument("--out", default="-")
    args = parser.parse_args()
    rows = {}
    with open(args.results, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            rows[(r["corpus"], r["system"], r.get("seed"))] = r
    corpora = [c for c in args.corpora.split(",") if c] or sorted({k[0] for k in rows})
    work = os.path.dirname(os.path.abspath(args.results))
    seeds = sorted({k[2] for k in rows if k[1] == "han"})
    table = HEADER.format(seeds=", ".join(str(s) for s in seeds), threads=args.threads, machine=machine(),
                          date=datetime.date.today().isoformat())
    for corpus in corpora:
        han = [r for k, r in rows.items() if k[0] == corpus and k[1] == "han"]
        tfidf = rows.get((corpus, "tfidf", None))
        fasttext = [r for k, r in rows.items() if k[0] == corpus and k[1].startswith("fasttext-")]
        if not han and not tfidf:
            continue
        train, test = count_lines(os.path.join(work, corpus, "train.jsonl")), count_lines(
            os.path.join(work, corpus, "test.jsonl"))
        sizes = f"{train:,} / {test:,}" if train and test else ""
        cells = [corpus, sizes]
        if han:
            accuracies = sorted(100 * r["accuracy"] for r in han)
            each = ", ".join(f"{a:.2f}" for a in accuracies)
            cells += [f"**{statistics.median(accuracies):.2f}** ({each})",
                      f"{statistics.median(r['seconds'] for r in han):.0f}"]
        else:
            cells += ["", ""]
        cells += [f"{100 * tfidf['accuracy']:.2f}", f"{tfidf['seconds']:.0f}"] if tfidf else ["", ""]
        if fasttext:
            best = max(fasttext, key=lambda r: r["accuracy"])
            cells += [f"{100 * best['accuracy']:.2f} ({best['system'][len('fasttext-'):]})", f"{best['seconds']:.0f}"]
        else:
            cells += ["", ""]
        table += "| " + " | ".join(cells) + " |\n"
    missing = [c for c in ALL if c not in corpora]
    if missing:
        table += (f"\nNot in this run: {', '.join(missing)} (`CORPORA={','.join(missing)} bench/accuracy.sh` "
                  "measures them; results add to the same `results.jsonl`).\n")
    if args.out == "-":
        sys.stdout.write(table)
    else:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(table)
        print(f"accuracy_table.py: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
