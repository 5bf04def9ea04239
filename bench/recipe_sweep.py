#!/usr/bin/env python3
"""Validation accuracy of han train settings, to choose the automatic recipe
without looking at any test split.

    bench/recipe_sweep.py WORK CORPORA [--han build/han] [--seeds 1,2,3] VARIANT...

WORK holds bench/prepare_corpora.py's splits; only WORK/CORPUS/train.jsonl is
read, and han holds out its own validation share of it (seeded). Each VARIANT
is one string of han train options ("" is the defaults, "--no-auto" the plain
built-in settings). Prints, per corpus and variant, the median over the seeds
of the best epoch's validation accuracy, each seed's figure and the median
training time.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time


def best_validation(metrics_path):
    rows = [json.loads(line) for line in open(metrics_path, encoding="utf-8")]
    return max(r.get("valid_accuracy", 0) for r in rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work")
    parser.add_argument("corpora")
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--han", default="build/han")
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in args.corpora.split(","):
            for variant in args.variants:
                accuracies, seconds = [], []
                for seed in seeds:
                    model = os.path.join(tmp, f"{corpus}-{seed}.han")
                    command = [args.han, "-q", "train", os.path.join(args.work, corpus, "train.jsonl"), "-o", model,
                               "--no-checkpoint", "--seed", str(seed)] + variant.split()
                    start = time.time()
                    done = subprocess.run(command, capture_output=True, text=True)
                    seconds.append(time.time() - start)
                    if done.returncode != 0:
                        print(f"{corpus} {variant!r}: han failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
                        break
                    accuracies.append(100 * best_validation(model + ".metrics.jsonl"))
                if len(accuracies) == len(seeds):
                    each = " ".join(f"{a:.2f}" for a in accuracies)
                    print(f"{corpus:13} {statistics.median(accuracies):6.2f}  [{each}]  "
                          f"{statistics.median(seconds):5.0f}s  {variant}", flush=True)


if __name__ == "__main__":
    main()
