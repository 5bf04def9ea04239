#!/usr/bin/env python3
"""Writes a seeded synthetic corpus of paper-size documents as JSON Lines.

For measuring memory and speed on corpora the size of the HAN paper's
(Yelp 2015: 1.1 M reviews; Amazon: 3.65 M), which no test corpus reaches.
Words are drawn Zipf-like from a vocabulary of invented words (rank r with
probability proportional to 1 / (r + 2.7)), sentences and documents have
log-normal lengths near Yelp's (about 9 sentences of 15 words, capped at 60
and 80), and each document's label (one of --labels) is carried by one cue
word in one of its sentences, so a model can learn it.

    bench/make_corpus.py 4000000 -o big.jsonl --seed 1
"""
import argparse
import json
import sys

import numpy as np


def invented_words(count, rng):
    """`count` distinct lower-case words of 2 to 9 letters."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words, seen = [], set()
    while len(words) < count:
        length = int(rng.integers(2, 10))
        word = "".join(rng.choice(letters, length))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("documents", type=int)
    parser.add_argument("-o", "--output", required=True, help="JSON Lines file to write ('-': stdout)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--vocabulary", type=int, default=200_000, help="distinct words")
    parser.add_argument("--labels", type=int, default=5)
    args = parser.parse_args()
    if args.documents < 1 or args.vocabulary < 100 or args.labels < 2:
        parser.error("give at least 1 document, 100 words and 2 labels")

    rng = np.random.default_rng(args.seed)
    words = np.array(invented_words(args.vocabulary, rng), dtype=object)
    weights = 1.0 / (np.arange(args.vocabulary) + 2.7)
    cumulative = np.cumsum(weights / weights.sum())
    cues = [f"cue{k}" for k in range(args.labels)]

    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    chunk = 10_000
    for start in range(0, args.documents, chunk):
        n = min(chunk, args.documents - start)
        sentences = np.clip(np.rint(rng.lognormal(2.0, 0.6, n)), 1, 60).astype(int)
        lengths = np.clip(np.rint(rng.lognormal(2.6, 0.5, sentences.sum())), 1, 80).astype(int)
        ids = np.searchsorted(cumulative, rng.random(lengths.sum()))
        drawn = words[np.minimum(ids, args.vocabulary - 1)]
        labels = rng.integers(0, args.labels, n)
        cue_at = (rng.random(n) * sentences).astype(int)
        word_at, sentence_at = 0, 0
        lines = []
        for d in range(n):
            text = []
            for s in range(sentences[d]):
                sentence = list(drawn[word_at:word_at + lengths[sentence_at]])
                word_at += lengths[sentence_at]
                sentence_at += 1
                if s == cue_at[d]:
                    sentence[len(sentence) // 2] = cues[labels[d]]
                text.append(" ".join(sentence).capitalize() + ".")
            lines.append(json.dumps({"text": " ".join(text), "label": f"class{labels[d]}"}))
        out.write("\n".join(lines) + "\n")
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
