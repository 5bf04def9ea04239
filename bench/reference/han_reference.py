#!/usr/bin/env python3
"""A small PyTorch HAN of our own: the Python reference han is measured against.

It is written the way the fastest public PyTorch HANs are: packed sequences at
both levels (pack_padded_sequence into bidirectional nn.GRU), masked attention.
Run it with Debian's python3-torch (/usr/bin/python3).

  han_reference.py bench DOCS.jsonl [--threads 2] [--device cuda [--amp]] [--json]
      training docs/s (Adam, batch 64, one epoch), batch inference docs/s,
      one-document latency and peak RSS, on documents written by
      `han bench --write-documents DOCS.jsonl`: the same ones han measures.
      --device cuda runs it on the GPU (batches built on the host and copied,
      as han does); --amp trains with float16 autocast and a GradScaler, as
      `han bench --amp` does (inference stays float32 in both).

  han_reference.py oracle MODEL.han EXPLAIN.jsonl [--tolerance 1e-4]
      loads the weights of a han model file and recomputes, for every
      document `han explain` wrote, the probabilities and the sentence and
      word attention from the word ids in the JSON; exits 1 when any differs
      by more than the tolerance.
"""

import argparse
import contextlib
import json
import random
import resource
import statistics
import struct
import sys
import time
import zlib

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Attention(nn.Module):
    """u = tanh(W h + b); alpha = softmax over real positions of u . context."""

    def __init__(self, input_size, attention_size):
        super().__init__()
        self.projection = nn.Linear(input_size, attention_size)
        self.context = nn.Parameter(torch.empty(attention_size).uniform_(-0.1, 0.1))

    def forward(self, states, mask):
        # states [rows, steps, input], mask [rows, steps] bool
        hidden = torch.tanh(self.projection(states))  # [rows, steps, attention]
        scores = hidden.matmul(self.context)  # [rows, steps]
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)  # [rows, steps]
        pooled = torch.bmm(weights.unsqueeze(1), states).squeeze(1)  # [rows, input]
        return pooled, weights


class HAN(nn.Module):
    def __init__(self, vocabulary, labels, embedding=200, word_hidden=50, sentence_hidden=50,
                 word_attention=100, sentence_attention=100):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, embedding)
        self.word_gru = nn.GRU(embedding, word_hidden, batch_first=True, bidirectional=True)
        self.word_attention = Attention(2 * word_hidden, word_attention)
        self.sentence_gru = nn.GRU(2 * word_hidden, sentence_hidden, batch_first=True, bidirectional=True)
        self.sentence_attention = Attention(2 * sentence_hidden, sentence_attention)
        self.classifier = nn.Linear(2 * sentence_hidden, labels)

    def forward(self, word_ids, word_counts, sentence_counts):
        # word_ids [docs, max_sents, max_words], word_counts [docs, max_sents], sentence_counts [docs]
        docs, max_sents, max_words = word_ids.shape
        flat_counts = word_counts.reshape(-1)  # [docs * max_sents]
        real = flat_counts > 0
        counts = flat_counts[real]  # [sentences]
        embedded = self.embedding(word_ids.reshape(-1, max_words)[real])  # [sentences, max_words, embed]
        # pack_padded_sequence wants the lengths on the host.
        packed = pack_padded_sequence(embedded, counts.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.word_gru(packed)[0], batch_first=True, total_length=max_words)
        word_mask = torch.arange(max_words, device=counts.device).unsqueeze(0) < counts.unsqueeze(1)
        sentence_vectors, word_weights = self.word_attention(states, word_mask)  # [sentences, 2h], [sentences, words]

        grid = sentence_vectors.new_zeros(docs * max_sents, sentence_vectors.shape[1])
        grid[real] = sentence_vectors
        grid = grid.view(docs, max_sents, -1)  # [docs, max_sents, 2h]
        packed = pack_padded_sequence(grid, sentence_counts.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.sentence_gru(packed)[0], batch_first=True, total_length=max_sents)
        sentence_mask = torch.arange(max_sents, device=sentence_counts.device).unsqueeze(0) < sentence_counts.unsqueeze(1)
        document_vectors, sentence_weights = self.sentence_attention(states, sentence_mask)
        logits = self.classifier(document_vectors)  # [docs, labels]

        word_attention = word_weights.new_zeros(docs * max_sents, max_words)
        word_attention[real] = word_weights
        return logits, sentence_weights, word_attention.view(docs, max_sents, max_words)


def make_batch(documents):
    """documents: lists of sentences of word ids -> padded tensors."""
    max_sents = max(len(d) for d in documents)
    max_words = max(len(s) for d in documents for s in d)
    word_ids = torch.zeros(len(documents), max_sents, max_words, dtype=torch.long)
    word_counts = torch.zeros(len(documents), max_sents, dtype=torch.long)
    for i, doc in enumerate(documents):
        for j, sentence in enumerate(doc):
            word_ids[i, j, :len(sentence)] = torch.tensor(sentence, dtype=torch.long)
            word_counts[i, j] = len(sentence)
    sentence_counts = torch.tensor([len(d) for d in documents], dtype=torch.long)
    return word_ids, word_counts, sentence_counts


# --- han model files ------------------------------------------------------------

# han's tensor names -> this module's, for the GRUs (the attention and
# classifier names are the same in both).
def _gru_names(han_prefix, ours):
    names = {}
    for direction, suffix in (("forward_gru", ""), ("backward_gru", "_reverse")):
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            names[f"{han_prefix}.{direction}.{kind}_l0"] = f"{ours}.{kind}_l0{suffix}"
    return names


NAME_MAP = {**_gru_names("word_encoder", "word_gru"), **_gru_names("sentence_encoder", "sentence_gru")}


def load_han_model(path):
    """Reads a han model file (format version 1, docs/FORMATS.md) into a HAN."""
    data = open(path, "rb").read()
    if data[:8] != b"HANMODEL":
        raise SystemExit(f"{path}: not a han model file")
    version, header_bytes = struct.unpack_from("<IQ", data, 8)
    if version != 1:
        raise SystemExit(f"{path}: model format version {version}, this reader knows 1")
    if zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        raise SystemExit(f"{path}: checksum mismatch")
    header = json.loads(data[20:20 + header_bytes])
    offset = 20 + header_bytes + 8
    config = header["config"]["model"]
    if config.get("pooling", "attention") != "attention":
        raise SystemExit(f"{path}: model.pooling is {config['pooling']}; this reader implements attention only")
    model = HAN(len(header["vocabulary"]), len(header["labels"]), config["embedding_dim"], config["word_hidden"],
                config["sentence_hidden"], config["word_attention"], config["sentence_attention"])
    state = {}
    for tensor in header["tensors"]:
        count = 1
        for size in tensor["shape"]:
            count *= size
        values = torch.frombuffer(bytearray(data[offset:offset + 4 * count]), dtype=torch.float32)
        state[NAME_MAP.get(tensor["name"], tensor["name"])] = values.reshape(tensor["shape"])
        offset += 4 * count
    model.load_state_dict(state)
    model.eval()
    return model, header


def oracle(arguments):
    model, header = load_han_model(arguments.model)
    labels = header["labels"]
    worst = {"probability": 0.0, "sentence": 0.0, "word": 0.0}
    documents = 0
    failures = []
    with open(arguments.explanations) as lines, torch.inference_mode():
        for number, line in enumerate(lines, 1):
            explanation = json.loads(line)
            sentences = [[word["id"] for word in s["words"]] for s in explanation["sentences"]]
            if not sentences:
                continue  # an empty document: nothing to compare attention with
            logits, sentence_weights, word_weights = model(*make_batch([sentences]))
            probabilities = torch.softmax(logits, 1)[0]
            differences = {
                "probability": max(abs(probabilities[k].item() - explanation["probabilities"][label])
                                   for k, label in enumerate(labels)),
                "sentence": max(abs(sentence_weights[0, j].item() - s["weight"])
                                for j, s in enumerate(explanation["sentences"])),
                "word": max(abs(word_weights[0, j, t].item() - w["weight"])
                            for j, s in enumerate(explanation["sentences"]) for t, w in enumerate(s["words"])),
            }
            for key, value in differences.items():
                worst[key] = max(worst[key], value)
                if value > arguments.tolerance:
                    failures.append(f"line {number} ({explanation['source']}): {key} differs by {value:.3g}")
            documents += 1
    print(json.dumps({"documents": documents, "max_difference": worst, "tolerance": arguments.tolerance}))
    if documents == 0:
        print("oracle: no document to compare", file=sys.stderr)
        return 1
    for failure in failures[:20]:
        print(f"oracle: {failure}", file=sys.stderr)
    return 1 if failures else 0


# --- benchmark ----------------------------------------------------------------------

def bucket_batches(documents, batch_size, rng):
    """As han does: sort by sentence count (ties shuffled), cut, shuffle the batches."""
    order = list(range(len(documents)))
    if rng:
        rng.shuffle(order)
    order.sort(key=lambda i: len(documents[i]))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng:
        rng.shuffle(batches)
    return batches


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def to_device(batch, device):
    return tuple(t.to(device, non_blocking=True) for t in batch)


def finish(device):
    """Waits for the device's queued work, so that the clock reads the work done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(arguments):
    torch.set_num_threads(arguments.threads)
    torch.manual_seed(1)
    device = torch.device(arguments.device)
    if arguments.amp and device.type != "cuda":
        raise SystemExit("han_reference.py: --amp needs --device cuda")
    documents, labels = [], []
    with open(arguments.documents) as lines:
        for line in lines:
            d = json.loads(line)
            documents.append(d["sentences"])
            labels.append(d["label"])
    model = HAN(arguments.vocabulary, arguments.labels).to(device)
    tokens = sum(len(s) for d in documents for s in d)
    result = {"engine": "pytorch-reference", "torch": torch.__version__, "threads": arguments.threads,
              "device": str(device), "amp": arguments.amp,
              "documents": len(documents), "tokens_per_document": tokens / len(documents)}

    model.eval()
    with torch.inference_mode():
        batches = [make_batch([documents[i] for i in b]) for b in bucket_batches(documents, arguments.batch_size, None)]
        torch.softmax(model(*to_device(batches[0], device))[0], 1).cpu()  # the GPU's first kernels
        finish(device)
        start = time.perf_counter()
        for batch in batches:
            torch.softmax(model(*to_device(batch, device))[0], 1).cpu()
        finish(device)
        seconds = time.perf_counter() - start
        result["inference"] = {"documents": len(documents), "seconds": seconds,
                               "docs_per_second": len(documents) / seconds}
        result["peak_rss_mib_inference"] = peak_rss_mib()
        times = []
        for doc in documents[:arguments.latency_documents]:
            batch = make_batch([doc])
            start = time.perf_counter()
            torch.softmax(model(*to_device(batch, device))[0], 1).cpu()
            times.append(1e3 * (time.perf_counter() - start))
        times.sort()
        result["latency"] = {"documents": len(times), "median_ms": statistics.median(times),
                             "p90_ms": times[min(len(times) - 1, len(times) * 9 // 10)]}

    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    # Mixed precision as PyTorch documents it: autocast around the forward pass
    # and the loss, a GradScaler around the backward pass and the step.
    scaler = torch.amp.GradScaler("cuda") if arguments.amp else None
    rng = random.Random(1)
    batches = [(make_batch([documents[i] for i in b]), torch.tensor([labels[i] for i in b]))
               for b in bucket_batches(documents, arguments.batch_size, rng)]
    def train_step(batch, gold):
        optimizer.zero_grad()
        batch, gold = to_device(batch, device), gold.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16) if arguments.amp else contextlib.nullcontext():
            loss = nn.functional.cross_entropy(model(*batch)[0], gold)
        if scaler:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()

    if device.type == "cuda":
        train_step(*batches[0])  # untimed: cuDNN's plans and the allocator's first blocks
    finish(device)
    start = time.perf_counter()
    for batch, gold in batches:
        train_step(batch, gold)
    finish(device)
    seconds = time.perf_counter() - start
    result["training"] = {"documents": len(documents), "seconds": seconds, "docs_per_second": len(documents) / seconds}
    result["peak_rss_mib"] = peak_rss_mib()
    if device.type == "cuda":
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    print(json.dumps(result) if arguments.json else
          f"training {result['training']['docs_per_second']:.1f} docs/s, "
          f"inference {result['inference']['docs_per_second']:.1f} docs/s, "
          f"latency {result['latency']['median_ms']:.2f} ms, peak RSS {result['peak_rss_mib']:.0f} MiB")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("bench", help="training and inference speed on han's synthetic documents")
    b.add_argument("documents", help="JSON lines from han bench --write-documents")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    b.add_argument("--amp", action="store_true", help="train with float16 autocast (CUDA)")
    b.add_argument("--batch-size", type=int, default=64)
    b.add_argument("--vocabulary", type=int, default=30000)
    b.add_argument("--labels", type=int, default=2)
    b.add_argument("--latency-documents", type=int, default=200)
    b.add_argument("--json", action="store_true")
    o = commands.add_parser("oracle", help="compare han explain's output with this implementation")
    o.add_argument("model")
    o.add_argument("explanations")
    o.add_argument("--tolerance", type=float, default=1e-4)
    arguments = parser.parse_args()
    return bench(arguments) if arguments.command == "bench" else oracle(arguments)


if __name__ == "__main__":
    sys.exit(main())
