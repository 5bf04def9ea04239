#!/usr/bin/env python3
"""Does train.refit help? Judged without any test split.

    bench/refit_check.py WORK CORPORA SEEDS [--han build/han]

For each corpus of WORK (bench/prepare_corpora.py's folders), 10% of
WORK/CORPUS/train.jsonl is set aside (seeded shuffle) as an outer validation
split, and han trains on the rest twice per seed: with its defaults but no
refit (early-stopped on its own held-out 10%), and again with --refit. Both models
are scored on the outer split. Prints each seed's figures and the medians and
means over the seeds.
"""
import argparse, json, os, random, statistics, subprocess, tempfile


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work")
    parser.add_argument("corpora")
    parser.add_argument("seeds")
    parser.add_argument("--han", default="build/han")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in args.corpora.split(","):
            lines = open(os.path.join(args.work, corpus, "train.jsonl"), encoding="utf-8").read().splitlines()
            random.Random(99).shuffle(lines)
            cut = len(lines) // 10
            outer, inner = os.path.join(tmp, "outer.jsonl"), os.path.join(tmp, "inner.jsonl")
            open(outer, "w", encoding="utf-8").write("\n".join(lines[:cut]) + "\n")
            open(inner, "w", encoding="utf-8").write("\n".join(lines[cut:]) + "\n")
            plain, refit = [], []
            for seed in [int(s) for s in args.seeds.split(",")]:
                def score(options):
                    model = os.path.join(tmp, "m.han")
                    subprocess.run([args.han, "-q", "train", inner, "-o", model, "--no-checkpoint", "--seed", str(seed)]
                                   + options, check=True, capture_output=True)
                    done = subprocess.run([args.han, "evaluate", "--json", model, outer], check=True,
                                          capture_output=True, text=True)
                    return 100 * json.loads(done.stdout)["accuracy"]
                plain.append(score(["--set", "train.refit=never"]))
                refit.append(score(["--refit"]))
                print(f"{corpus} seed {seed}: early-stopped {plain[-1]:.2f}, refit {refit[-1]:.2f}", flush=True)
            print(f"{corpus}: median {statistics.median(plain):.2f} -> {statistics.median(refit):.2f}, "
                  f"mean {statistics.mean(plain):.2f} -> {statistics.mean(refit):.2f}", flush=True)


if __name__ == "__main__":
    main()
