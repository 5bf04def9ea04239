"""A han model file as a PyTorch module, and as ONNX.

    from han.export import to_torch, export_onnx
    module = to_torch("model.han")        # torch.nn.Module; module.labels, module.vocabulary
    probabilities, sentence_weights, word_weights = module(word_ids, word_counts, sentence_counts)
    export_onnx("model.han", "model.onnx")

The module takes word ids, not text: han's tokenizer (ICU segmentation, clean-up,
the caps) stays in han. `han explain` gives each word's id ("id" in the attention
JSON), and module.vocabulary maps forms to ids (0 <pad>, 1 <unk>).

Reads the file itself (docs/FORMATS.md, format version 1): needs only torch
(Debian's python3-torch), not the compiled module.
"""

import json
import struct
import warnings
import zlib

import torch
from torch import nn

_PAD_SCORE = -1e9  # finite: a row of padding gives finite (unused) values, never NaN


def read_model_file(path):
    """(header, {name: float32 tensor}) of a han model file; ValueError when it is not one."""
    with open(path, "rb") as file:
        data = file.read()
    if data[:8] != b"HANMODEL":
        raise ValueError(f"{path}: not a han model file")
    version, header_bytes = struct.unpack_from("<IQ", data, 8)
    if version != 1:
        raise ValueError(f"{path}: model format version {version}; this reader knows 1")
    if zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        raise ValueError(f"{path}: checksum mismatch: the file is damaged")
    header = json.loads(data[20:20 + header_bytes])
    offset = 20 + header_bytes + 8
    tensors = {}
    for tensor in header["tensors"]:
        if tensor.get("dtype", "float32") != "float32":
            raise ValueError(f"{path}: tensor {tensor['name']} is {tensor['dtype']}, not float32")
        count = 1
        for size in tensor["shape"]:
            count *= size
        values = torch.frombuffer(bytearray(data[offset:offset + 4 * count]), dtype=torch.float32)
        tensors[tensor["name"]] = values.reshape(tensor["shape"])
        offset += 4 * count
    return header, tensors


class _Attention(nn.Module):
    def __init__(self, size, attention):
        super().__init__()
        self.projection = nn.Linear(size, attention)
        self.context = nn.Parameter(torch.zeros(attention))

    def forward(self, states, mask):
        # states [rows, steps, size], mask [rows, steps] bool
        scores = torch.tanh(self.projection(states)).matmul(self.context)  # [rows, steps]
        weights = torch.softmax(scores.masked_fill(~mask, _PAD_SCORE), dim=1)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1), weights  # [rows, size], [rows, steps]


class _BiGRU(nn.Module):
    """han's encoder: a forward and a backward GRU over right-padded rows. The
    backward one reads each row reversed within its length, so padding never
    reaches a real position (no packed sequences: ONNX can export it)."""

    def __init__(self, size, hidden):
        super().__init__()
        self.forward_gru = nn.GRU(size, hidden, batch_first=True)
        self.backward_gru = nn.GRU(size, hidden, batch_first=True)

    @staticmethod
    def _reverse(x, lengths):
        # x [rows, steps, size]: each row's first lengths[r] steps reversed, padding left in place
        steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # [1, steps]
        last = (lengths - 1).unsqueeze(1)  # [rows, 1]
        index = torch.where(steps <= last, last - steps, steps)  # [rows, steps]
        return x.gather(1, index.unsqueeze(2).expand(-1, -1, x.shape[2]))

    def forward(self, x, lengths):
        # The initial state from x's shape: left to nn.GRU, ONNX would fix it at the example's batch size.
        start = x.new_zeros(1, x.shape[0], self.forward_gru.hidden_size)
        forward_states, _ = self.forward_gru(x, start)
        backward_states, _ = self.backward_gru(self._reverse(x, lengths), start)
        return torch.cat([forward_states, self._reverse(backward_states, lengths)], dim=2)


class HierarchicalAttentionNetwork(nn.Module):
    """han's network, for inference: word ids [docs, sentences, words] (right-padded
    with 0), words per sentence [docs, sentences], sentences per document [docs]
    -> probabilities [docs, labels], sentence weights [docs, sentences], word
    weights [docs, sentences, words]."""

    def __init__(self, vocabulary, labels, embedding_dim, word_hidden, sentence_hidden, word_attention,
                 sentence_attention):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, embedding_dim)
        self.word_encoder = _BiGRU(embedding_dim, word_hidden)
        self.word_attention = _Attention(2 * word_hidden, word_attention)
        self.sentence_encoder = _BiGRU(2 * word_hidden, sentence_hidden)
        self.sentence_attention = _Attention(2 * sentence_hidden, sentence_attention)
        self.classifier = nn.Linear(2 * sentence_hidden, labels)

    def forward(self, word_ids, word_counts, sentence_counts):
        docs, sentences, words = word_ids.shape
        rows = word_ids.reshape(docs * sentences, words)  # [docs*sentences, words]
        counts = word_counts.reshape(docs * sentences).clamp(min=1)  # empty (padding) rows read one pad
        word_mask = torch.arange(words, device=word_ids.device).unsqueeze(0) < counts.unsqueeze(1)
        states = self.word_encoder(self.embedding(rows), counts)  # [docs*sentences, words, 2Hw]
        sentence_vectors, word_weights = self.word_attention(states, word_mask)  # [docs*sentences, 2Hw]
        grid = sentence_vectors.reshape(docs, sentences, -1)  # [docs, sentences, 2Hw]
        lengths = sentence_counts.clamp(min=1)
        sentence_mask = torch.arange(sentences, device=word_ids.device).unsqueeze(0) < lengths.unsqueeze(1)
        states = self.sentence_encoder(grid, lengths)  # [docs, sentences, 2Hs]
        document_vectors, sentence_weights = self.sentence_attention(states, sentence_mask)
        probabilities = torch.softmax(self.classifier(document_vectors), dim=1)  # [docs, labels]
        word_weights = word_weights * (word_counts.reshape(docs * sentences, 1) > 0)  # no weight on padding rows
        return probabilities, sentence_weights, word_weights.reshape(docs, sentences, words)


def to_torch(path):
    """The model of a han model file as a HierarchicalAttentionNetwork in eval mode,
    with .labels and .vocabulary (id order) and .header (the file's JSON header)."""
    header, tensors = read_model_file(path)
    config = header["config"]["model"]
    if config.get("pooling", "attention") != "attention":
        raise ValueError(f"{path}: model.pooling is {config['pooling']}; only attention models can be exported")
    module = HierarchicalAttentionNetwork(len(header["vocabulary"]), len(header["labels"]), config["embedding_dim"],
                                          config["word_hidden"], config["sentence_hidden"], config["word_attention"],
                                          config["sentence_attention"])
    state = {}
    for name, value in tensors.items():
        # han's GRU names (word_encoder.forward_gru.weight_ih_l0) are this module's too.
        state[name] = value
    module.load_state_dict(state)
    module.eval()
    module.labels = list(header["labels"])
    module.vocabulary = {form: i for i, form in enumerate(header["vocabulary"])}
    module.header = header
    return module


def batch(documents):
    """Padded inputs for the module from documents given as lists of sentences of word ids."""
    sentences = max(1, max((len(d) for d in documents), default=1))
    words = max(1, max((len(s) for d in documents for s in d), default=1))
    word_ids = torch.zeros(len(documents), sentences, words, dtype=torch.long)
    word_counts = torch.zeros(len(documents), sentences, dtype=torch.long)
    for i, document in enumerate(documents):
        for j, sentence in enumerate(document):
            word_ids[i, j, :len(sentence)] = torch.tensor(sentence, dtype=torch.long)
            word_counts[i, j] = len(sentence)
    return word_ids, word_counts, torch.tensor([len(d) for d in documents], dtype=torch.long)


def export_onnx(path, output, opset=13):
    """Writes the model of a han model file as ONNX: inputs word_ids, word_counts,
    sentence_counts (int64, documents/sentences/words dynamic), outputs
    probabilities, sentence_weights, word_weights."""
    module = to_torch(path)
    example = batch([[[2, 3, 4], [5, 6]], [[7]]])
    with warnings.catch_warnings():
        # nn.GRU's shape checks are traced as constants; the shapes are dynamic axes below.
        warnings.simplefilter("ignore")
        _export(module, example, output, opset)
    return output


def _export(module, example, output, opset):
    torch.onnx.export(
        module, example, output, opset_version=opset,
        input_names=["word_ids", "word_counts", "sentence_counts"],
        output_names=["probabilities", "sentence_weights", "word_weights"],
        dynamic_axes={"word_ids": {0: "documents", 1: "sentences", 2: "words"},
                      "word_counts": {0: "documents", 1: "sentences"},
                      "sentence_counts": {0: "documents"},
                      "probabilities": {0: "documents"},
                      "sentence_weights": {0: "documents", 1: "sentences"},
                      "word_weights": {0: "documents", 1: "sentences", 2: "words"}})
