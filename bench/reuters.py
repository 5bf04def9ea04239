#!/usr/bin/env python3
"""Reuters-21578 ModApte, multi-label: the split han and the baselines share, and the baselines.

    bench/reuters.py prepare DATA_DIR OUT_DIR
    bench/reuters.py baselines OUT_DIR [--json]

prepare reads DATA_DIR/reuters21578-modapte.jsonl.gz ({"id", "text", "labels",
"split"} a line) and writes OUT_DIR/train.jsonl and OUT_DIR/test.jsonl
({"text", "labels"}), keeping only the labels that occur in both splits (90)
and the documents left with one or more of them (7,770 train, 3,019 test):
the set most of the literature scores on.

baselines trains, on train.jsonl only, one-vs-rest classifiers on word 1-2-gram
TF-IDF (sublinear tf, min_df 2; scikit-learn, Debian's python3-sklearn) and
scores them on test.jsonl: a linear SVM (LinearSVC, C = 1) and logistic
regression (C = 10), each deciding every label on its own. Prints micro-F1,
macro-F1 and training seconds for each.
"""
import argparse, gzip, json, os, sys, time


def prepare(data_dir, out_dir):
    rows = [json.loads(l) for l in gzip.open(os.path.join(data_dir, "reuters21578-modapte.jsonl.gz"), "rt",
                                             encoding="utf-8")]
    in_split = {s: {l for r in rows if r["split"] == s for l in r["labels"]} for s in ("train", "test")}
    kept = in_split["train"] & in_split["test"]
    os.makedirs(out_dir, exist_ok=True)
    counts = {}
    for split in ("train", "test"):
        n = 0
        with open(os.path.join(out_dir, f"{split}.jsonl"), "w", encoding="utf-8") as out:
            for r in rows:
                labels = [l for l in r["labels"] if l in kept]
                if r["split"] != split or not labels:
                    continue
                out.write(json.dumps({"text": r["text"], "labels": labels}, ensure_ascii=False) + "\n")
                n += 1
        counts[split] = n
    print(f"reuters: {len(kept)} labels in both splits; {counts['train']} train and {counts['test']} test documents "
          f"in {out_dir}", file=sys.stderr)


def read(path):
    texts, labels = [], []
    for line in open(path, encoding="utf-8"):
        row = json.loads(line)
        texts.append(row["text"])
        labels.append(row["labels"])
    return texts, labels


def baselines(out_dir, as_json):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer
    from sklearn.svm import LinearSVC

    train_texts, train_labels = read(os.path.join(out_dir, "train.jsonl"))
    test_texts, test_labels = read(os.path.join(out_dir, "test.jsonl"))
    binarizer = MultiLabelBinarizer()
    y_train = binarizer.fit_transform(train_labels)
    y_test = binarizer.transform(test_labels)
    systems = {
        "tfidf_svm": lambda: OneVsRestClassifier(LinearSVC(C=1.0)),
        "tfidf_lr": lambda: OneVsRestClassifier(LogisticRegression(C=10.0, max_iter=1000)),
    }
    for name, make in systems.items():
        started = time.monotonic()
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
        x_train = vectorizer.fit_transform(train_texts)
        model = make().fit(x_train, y_train)
        seconds = time.monotonic() - started
        predicted = model.predict(vectorizer.transform(test_texts))
        result = {"system": name, "micro_f1": f1_score(y_test, predicted, average="micro", zero_division=0),
                  "macro_f1": f1_score(y_test, predicted, average="macro", zero_division=0),
                  "labels": len(binarizer.classes_), "seconds": round(seconds, 1)}
        if as_json:
            print(json.dumps(result))
        else:
            print(f"{name}: micro-F1 {100 * result['micro_f1']:.2f}  macro-F1 {100 * result['macro_f1']:.2f}  "
                  f"({result['labels']} labels, {seconds:.0f} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("data_dir")
    p.add_argument("out_dir")
    b = sub.add_parser("baselines")
    b.add_argument("out_dir")
    b.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.data_dir, args.out_dir)
    else:
        baselines(args.out_dir, args.json)


if __name__ == "__main__":
    main()
