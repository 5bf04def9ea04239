#!/usr/bin/env python3
"""What a user would try instead of han, on exactly han's split.

    bench/baselines.py CORPUS_DIR [--systems tfidf,fasttext] [--seed 1] [--autotune-seconds 60] [--json]

CORPUS_DIR holds train.jsonl and test.jsonl ({"text", "label"} a line;
bench/prepare_corpora.py writes them). Prints one line per system, or one JSON
object per system with --json: accuracy, macro-F1 and training seconds.

- tfidf: TF-IDF + logistic regression (scikit-learn, Debian's python3-sklearn):
  word 1-2-grams, sublinear tf, min_df 2, C = 10; for Chinese and Japanese
  text, character 1-3-grams instead.
- fasttext: Debian's fasttext 0.9.2, three ways, and the best of the three:
  its defaults; 25 epochs, lr 0.5, word bigrams; and -autotune-validation
  on a seeded 10% of train for --autotune-seconds (where its search runs
  out of memory, again limited to 2 GB models). Text is lower-cased with
  punctuation split off (CJK characters one token each), as fastText's own
  examples prepare it.

Every choice uses the training data only; the test split gives the figure.
scripts/install-deps.sh --bench installs both.
"""
import argparse, json, os, random, re, shutil, subprocess, sys, tempfile, time
from collections import defaultdict

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def read(path):
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(str(row["label"]))
    return texts, labels


def is_cjk(texts):
    sample = "".join(texts[:2000])
    return len(CJK.findall(sample)) > 0.3 * max(1, len(sample))


def macro_f1(gold, predicted):
    labels = sorted(set(gold) | set(predicted))
    f1s = []
    for label in sorted(set(gold)):
        tp = sum(g == label and p == label for g, p in zip(gold, predicted))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(f1s) / len(f1s)


def scores(gold, predicted):
    accuracy = sum(g == p for g, p in zip(gold, predicted)) / len(gold)
    return {"accuracy": accuracy, "macro_f1": macro_f1(gold, predicted)}


def tfidf(train, test, cjk):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.time()
    if cjk:
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    else:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    features = vectorizer.fit_transform(train[0])
    model = LogisticRegression(C=10, max_iter=2000)
    model.fit(features, train[1])
    seconds = time.time() - start
    predicted = list(model.predict(vectorizer.transform(test[0])))
    return {**scores(test[1], predicted), "seconds": seconds}


def fasttext_line(text, cjk):
    text = text.lower().replace("\n", " ").replace("\r", " ")
    text = re.sub(r"<br\s*/?>", " ", text)
    text = re.sub(r"([.!?,;:()\"'/\[\]{}])", r" \1 ", text)
    if cjk:
        text = CJK.sub(lambda m: " " + m.group(0) + " ", text)
    return " ".join(text.split())


def write_fasttext(path, texts, labels, cjk):
    with open(path, "w", encoding="utf-8") as f:
        for text, label in zip(texts, labels):
            f.write(f"__label__{label.replace(' ', '_')} {fasttext_line(text, cjk)}\n")


def fasttext_run(binary, work, name, train_file, test, cjk, options):
    model = os.path.join(work, name)
    start = time.time()
    subprocess.run([binary, "supervised", "-input", train_file, "-output", model, "-seed", "1", *options],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.time() - start
    test_file = os.path.join(work, "test.txt")
    write_fasttext(test_file, test[0], test[1], cjk)
    out = subprocess.run([binary, "predict", model + ".bin", test_file], check=True, capture_output=True, text=True)
    predicted = [line.strip()[len("__label__"):] for line in out.stdout.splitlines()]
    gold = [label.replace(" ", "_") for label in test[1]]
    return {**scores(gold, predicted), "seconds": seconds}


def fasttext(train, test, cjk, seed, autotune_seconds):
    binary = shutil.which("fasttext")
    if not binary:
        sys.exit("baselines.py: fasttext is missing (scripts/install-deps.sh --bench, or apt-get install fasttext)")
    with tempfile.TemporaryDirectory() as work:
        train_file = os.path.join(work, "train.txt")
        write_fasttext(train_file, train[0], train[1], cjk)
        results = {
            "defaults": fasttext_run(binary, work, "defaults", train_file, test, cjk, []),
            "bigrams": fasttext_run(binary, work, "bigrams", train_file, test, cjk,
                                    ["-epoch", "25", "-lr", "0.5", "-wordNgrams", "2"]),
        }
        # Autotune on a seeded, stratified 10% of train, then the same search's model on test.
        by_label = defaultdict(list)
        for i, label in enumerate(train[1]):
            by_label[label].append(i)
        rng = random.Random(seed)
        held = set()
        for label in sorted(by_label):
            indices = by_label[label]
            rng.shuffle(indices)
            held.update(indices[:max(1, round(0.1 * len(indices)))] if len(indices) > 1 else [])
        fit_file, valid_file = os.path.join(work, "fit.txt"), os.path.join(work, "valid.txt")
        keep = [i for i in range(len(train[0])) if i not in held]
        write_fasttext(fit_file, [train[0][i] for i in keep], [train[1][i] for i in keep], cjk)
        write_fasttext(valid_file, [train[0][i] for i in sorted(held)], [train[1][i] for i in sorted(held)], cjk)
        autotune = ["-autotune-validation", valid_file, "-autotune-duration", str(autotune_seconds)]
        try:
            results["autotune"] = fasttext_run(binary, work, "autotune", fit_file, test, cjk, autotune)
        except subprocess.CalledProcessError as e:
            # Its search tries models of up to ~20 GB; where that does not fit, search small ones.
            print(f"baselines.py: fastText's autotune failed ({e.returncode}); again with -autotune-modelsize 2G",
                  file=sys.stderr)
            try:
                results["autotune-2G"] = fasttext_run(binary, work, "autotune", fit_file, test, cjk,
                                                      autotune + ["-autotune-modelsize", "2G"])
            except subprocess.CalledProcessError as again:
                # The other systems' figures still count; the table shows the autotune missing.
                print(f"baselines.py: fastText's autotune failed again ({again.returncode}); left out",
                      file=sys.stderr)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus_dir")
    parser.add_argument("--systems", default="tfidf,fasttext")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--autotune-seconds", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    train = read(os.path.join(args.corpus_dir, "train.jsonl"))
    test = read(os.path.join(args.corpus_dir, "test.jsonl"))
    cjk = is_cjk(train[0])
    name = os.path.basename(os.path.normpath(args.corpus_dir))
    results = {}
    for system in args.systems.split(","):
        if system == "tfidf":
            results["tfidf"] = tfidf(train, test, cjk)
        elif system == "fasttext":
            for variant, result in fasttext(train, test, cjk, args.seed, args.autotune_seconds).items():
                results["fasttext-" + variant] = result
        else:
            sys.exit(f"baselines.py: unknown system {system!r} (tfidf, fasttext)")
    for system, result in results.items():
        if args.json:
            print(json.dumps({"corpus": name, "system": system, **result}))
        else:
            print(f"{name:14} {system:18} accuracy {100 * result['accuracy']:6.2f}%  "
                  f"macro-F1 {100 * result['macro_f1']:6.2f}%  {result['seconds']:7.1f}s")


if __name__ == "__main__":
    main()
