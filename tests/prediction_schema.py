"""The prediction JSON schema (docs/PREDICTION_JSON.md), checked the same way
for every producer: han classify --json and -o, evaluate --predictions,
explain, serve's /v1/classify results and the Python module."""

import math

VERSION = 1
EXTRA = {"source", "gold", "correct", "id", "label", "confidence", "probabilities", "schema_version", "sentences",
         "length", "pooling"}  # fields producers add around the prediction object


def check_prediction(obj, known_labels=None, count=None):
    """Raises AssertionError naming what is wrong with one prediction object."""
    assert isinstance(obj, dict), f"not an object: {obj!r}"
    assert isinstance(obj.get("labels"), list), f"no labels list: {obj}"
    unknown = set(obj) - {"labels", "empty", "truncated"} - EXTRA
    assert not unknown, f"fields outside the schema: {sorted(unknown)}"
    previous = math.inf
    for entry in obj["labels"]:
        assert set(entry) == {"label", "probability"}, f"label entry {entry}"
        assert isinstance(entry["label"], str) and entry["label"], f"label {entry}"
        p = entry["probability"]
        assert isinstance(p, float) and 0.0 <= p <= 1.0, f"probability {entry}"
        assert p <= previous, f"labels not best first: {obj['labels']}"
        previous = p
        if known_labels is not None:
            assert entry["label"] in known_labels, f"label {entry['label']!r} is not the model's"
    names = [entry["label"] for entry in obj["labels"]]
    assert len(names) == len(set(names)), f"a label twice: {names}"
    if "empty" in obj:
        assert obj["empty"] is True and obj["labels"] == [], f"empty document with labels: {obj}"
    elif count is not None:
        assert len(obj["labels"]) == count, f"{len(obj['labels'])} labels, expected {count}: {obj}"
    if "truncated" in obj:
        cut = obj["truncated"]
        assert set(cut) <= {"sentences", "words", "bytes"} and all(isinstance(v, int) and v >= 0 for v in cut.values()), \
            f"truncated {cut}"
    return obj
