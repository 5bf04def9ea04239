"""han: document classification with Hierarchical Attention Networks.

    import han
    model = han.load("model.han")
    model.classify(["A gripping, well acted film."])  # [{"labels": [{"label": ..., "probability": ...}]}]
    model.predict_proba(texts)                          # numpy array [documents, labels]
    model.explain(texts)                                # the attention JSON of `han explain`, as dicts
    han.train("corpus.jsonl", "model.han", epochs=5)    # as `han train corpus.jsonl -o model.han --set train.epochs=5`

docs/PYTHON.md has the whole interface.
"""

import functools as _functools
import numbers as _numbers
import json as _json
import os as _os

from . import _core

__version__ = _core.__version__
__all__ = ["Model", "load", "train", "settings", "__version__"]

Model = _core.Model


def load(path, device="cpu", threads=0, batch_size=64):
    """Loads a model file written by `han train` or han.train().

    device: "cpu", "cuda", "cuda:N" or "auto"; threads: 0 for every core.
    Raises FileNotFoundError when there is no such file and OSError when it is
    not a han model (damaged, truncated, another format version).
    """
    path = _os.fspath(path)
    if not _os.path.exists(path):
        raise FileNotFoundError(2, "no such model file", path)
    return _core.Model(path, device, threads, batch_size)


@_functools.lru_cache(maxsize=None)
def _setting_keys():
    # Every key of the configuration, by its short name (no two sections share one).
    keys = {}
    for section, values in _core.default_config().items():
        if isinstance(values, dict):
            for key in values:
                keys[key] = section + "." + key
    return keys


def settings(**kwargs):
    """The `--set` assignments han.train() makes of its keyword settings, e.g.
    settings(epochs=5, learning_rate=0.01) == ["train.epochs=5", "train.learning_rate=0.01"].
    A key is a configuration key (`han train --dump-config`), bare when only one
    section has it (epochs) or as section__key (train__epochs)."""
    keys = _setting_keys()
    out = []
    for name, value in kwargs.items():
        if "__" in name:
            key = name.replace("__", ".", 1)
        elif name in keys:
            key = keys[name]
        else:
            close = [k for k in keys if k.startswith(name[:3])]
            hint = f"; did you mean {', '.join(sorted(close))}?" if close else ""
            raise ValueError(f"unknown setting '{name}': han train --dump-config lists them{hint}")
        out.append(f"{key}={_json.dumps(value, default=_plain)}")
    return out


def _plain(value):
    # numpy scalars and paths as JSON: what json.dumps does not know
    if isinstance(value, _os.PathLike):
        return _os.fspath(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"a setting of type {type(value).__name__}: give a number, a str, a bool or a path")


def train(data, output, *, valid=None, format="auto", text_field="", label_field="", progress=None,
          threads=0, auto=True, checkpoint=True, **kwargs):
    """Trains a model in this process, as `han train DATA -o OUTPUT` does, and writes it to `output`.

    data, valid: a corpus path (a folder, CSV/TSV, JSON Lines or fastText file, as
        `han train` reads), or a pair (texts, labels) of lists of str.
    kwargs: settings, e.g. epochs=5, seed=1, word_dropout=0.2 (see settings()); the
        automatic recipe chooses the others from the corpus unless auto=False.
    progress: called with a dict (stage, epoch, epochs, done, total, loss,
        docs_per_second) as training goes; if it raises, training stops and it re-raises.
    checkpoint: True writes OUTPUT.ckpt as `han train` does; Ctrl-C (KeyboardInterrupt)
        then saves it before the exception propagates, and `han train --resume` continues.
    Returns a dict: output, best_epoch, epochs (one dict each), choices, ...
    """
    output = _os.fspath(output)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a function taking one dict, not a {type(progress).__name__}")
    request = _core.TrainRequest()
    request.output = output
    request.settings = settings(**kwargs)
    request.automatic = bool(auto)
    request.checkpoint = output + ".ckpt" if checkpoint else ""
    request.threads = int(threads)
    # Corpus paths, for `han train --resume`; texts given as lists have none.
    paths = {name: _os.path.abspath(_os.fsdecode(value)) if isinstance(value, (str, bytes, _os.PathLike)) else ""
             for name, value in (("data", data), ("valid", valid)) if value is not None}
    request.run = _json.dumps({**paths, "format": format, "text_field": text_field, "label_field": label_field})
    # Before any work: not a folder, not a device, not one of the corpora, in a folder that exists.
    inputs = [p for p in paths.values() if p]
    _core.check_output(output, inputs)
    if checkpoint:
        _core.check_output(request.checkpoint, inputs)
    train_corpus = _corpus(data, format, text_field, label_field)
    valid_corpus = None if valid is None else _corpus(valid, format, text_field, label_field)
    return _core.train(train_corpus, valid_corpus, request, progress)


def _corpus(data, format, text_field, label_field):
    if isinstance(data, (str, bytes, _os.PathLike)):
        path = _os.fsdecode(data)
        if not _os.path.exists(path):
            raise FileNotFoundError(2, "no such corpus", path)
        return _core.read_corpus(path, format, text_field, label_field)
    if not isinstance(data, tuple) or len(data) != 2:
        hint = " (from a list of (text, label) pairs: tuple(zip(*pairs)))" if isinstance(data, list) else ""
        raise TypeError(f"data must be a corpus path or a tuple (texts, labels) of two lists{hint}, "
                        f"not a {type(data).__name__}")
    texts, labels = data
    return _core.corpus_of(texts, [_label(label) for label in _items(labels, "labels")])


def _items(values, what):
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a list, not one string")
    return values


def _label(value):
    # Integer labels (0/1, numpy's too) are names like any other: "0", "1".
    if isinstance(value, _numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    return value
