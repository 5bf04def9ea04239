"""The Python module against the han program: same probabilities, same
attention, same training; bad inputs; several threads on one model.

Run by CTest (python_module) with HAN_BINARY=build/han and PYTHONPATH=build/python.
"""
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import han

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))
from prediction_schema import check_prediction  # noqa: E402

HAN = os.environ.get("HAN_BINARY", "han")
SMALL = ["--no-auto", "--set", "model.embedding_dim=16", "--set", "model.word_hidden=8", "--set",
         "model.sentence_hidden=8", "--min-count", "2", "--seed", "3", "--epochs", "2"]
SMALL_SETTINGS = dict(embedding_dim=16, word_hidden=8, sentence_hidden=8, min_count=2, seed=3, epochs=2)


def run(*args, stdin=None):
    done = subprocess.run([HAN, "-q", *args], input=stdin, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The demo's synthetic corpus (text we generate) and a model the program trained on it."""
    folder = tmp_path_factory.mktemp("han")
    run("demo", "-o", str(folder / "demo"), "--documents", "240", "--epochs", "1", "--heldout", "2")
    corpus = folder / "demo" / "train.jsonl"
    model = folder / "cli.han"
    run("--threads", "1", "train", str(corpus), "-o", str(model), *SMALL)
    texts = [json.loads(line)["text"] for line in open(corpus)][:40]
    return {"folder": folder, "corpus": corpus, "model": model, "texts": texts}


def cli_probabilities(model_path, labels, texts, folder):
    """`han classify --json --top-k all` on one file per text: [documents, labels] in `labels` order."""
    inputs = []
    for i, text in enumerate(texts):
        path = folder / f"doc{i}.txt"
        path.write_text(text)
        inputs.append(str(path))
    rows = []
    for line in run("classify", str(model_path), "--json", "--top-k", str(len(labels)), *inputs).splitlines():
        probability = {entry["label"]: entry["probability"] for entry in json.loads(line)["labels"]}
        rows.append([probability[name] for name in labels])
    return np.array(rows)


def test_probabilities_match_the_program(work):
    model = han.load(work["model"])
    python = model.predict_proba(work["texts"])
    assert python.shape == (len(work["texts"]), len(model.labels))
    assert python.dtype == np.float32
    np.testing.assert_allclose(python.sum(axis=1), 1, atol=1e-5)
    cli = cli_probabilities(work["model"], model.labels, work["texts"], work["folder"])
    np.testing.assert_allclose(python, cli, atol=1e-6)


def test_classify_uses_the_prediction_schema(work):
    model = han.load(work["model"])
    predictions = model.classify(work["texts"][:3], top_k=2)
    probabilities = model.predict_proba(work["texts"][:3])
    for prediction, row in zip(predictions, probabilities):
        check_prediction(prediction, known_labels=model.labels, count=2)
        top = prediction["labels"][0]
        assert top["label"] == model.labels[int(np.argmax(row))]
        assert top["probability"] == pytest.approx(float(row.max()), abs=1e-7)
        assert prediction["labels"][0]["probability"] >= prediction["labels"][1]["probability"]
    # A document without words gets no label, as in `han classify`.
    assert model.classify(["   "]) == [{"labels": [], "empty": True}]


def test_attention_matches_the_program(work):
    model = han.load(work["model"])
    texts = work["texts"][:5]
    python = model.explain(texts)
    for i, text in enumerate(texts):
        (work["folder"] / f"explain{i}.txt").write_text(text)
    cli = [json.loads(line) for line in
           run("explain", str(work["model"]), *[str(work["folder"] / f"explain{i}.txt") for i in range(5)]).splitlines()]
    assert len(python) == len(cli) == 5
    for p, c in zip(python, cli):
        assert p["label"] == c["label"]
        assert abs(sum(s["weight"] for s in p["sentences"]) - 1) < 1e-4
        assert [s["text"] for s in p["sentences"]] == [s["text"] for s in c["sentences"]]
        for ps, cs in zip(p["sentences"], c["sentences"]):
            assert ps["weight"] == pytest.approx(cs["weight"], abs=1e-6)
            assert [w["weight"] for w in ps["words"]] == pytest.approx([w["weight"] for w in cs["words"]], abs=1e-6)


def test_training_from_python_equals_training_from_the_program(work):
    output = work["folder"] / "python.han"
    seen = []
    report = han.train(str(work["corpus"]), output, auto=False, threads=1, progress=seen.append, **SMALL_SETTINGS)
    assert report["output"] == str(output) and not report["interrupted"]
    assert len(report["epochs"]) == 2
    assert seen and {p["stage"] for p in seen} >= {"training"}
    assert not os.path.exists(str(output) + ".ckpt"), "the checkpoint outlived a finished run"
    texts = work["texts"]
    np.testing.assert_array_equal(han.load(output).predict_proba(texts), han.load(work["model"]).predict_proba(texts))


def test_training_from_texts_and_labels(work):
    rows = [json.loads(line) for line in open(work["corpus"])]
    output = work["folder"] / "lists.han"
    report = han.train(([r["text"] for r in rows], [r["label"] for r in rows]), output, threads=1,
                       **SMALL_SETTINGS)
    assert report["best_epoch"] >= 1
    assert report["refit_epochs"] == report["best_epoch"]  # the recipe's refit, on a corpus this small
    assert sorted(han.load(output).labels) == sorted({r["label"] for r in rows})


def test_a_refit_trains_on_every_document(work):
    rows = [json.loads(line) for line in open(work["corpus"])]
    output = work["folder"] / "refit.han"
    report = han.train(str(work["corpus"]), output, auto=False, threads=1, refit="always", **SMALL_SETTINGS)
    assert report["refit_epochs"] == report["best_epoch"] >= 1
    assert report["refit_documents"] == len(rows) > report["train_documents"]
    assert han.train(str(work["corpus"]), output, auto=False, threads=1, **SMALL_SETTINGS)["refit_epochs"] == 0


def test_unlabeled_text_pretrains_the_vectors_too(work):
    rows = [json.loads(line) for line in open(work["corpus"])]
    unlabeled = work["folder"] / "unlabeled.txt"
    unlabeled.write_text("".join(r["text"].replace("\n", " ") + " quokka quokka.\n" for r in rows))
    output = work["folder"] / "unlabeled.han"
    report = han.train(str(work["corpus"]), output, threads=1, unlabeled=unlabeled, **SMALL_SETTINGS)
    assert report["unlabeled_documents"] == len(rows)
    assert report["unlabeled_words"] >= 1  # quokka
    assert han.load(output).config["train"]["unlabeled"] == str(unlabeled)
    with pytest.raises(ValueError, match="train.pretrain_epochs is 0"):
        han.train(str(work["corpus"]), output, auto=False, threads=1, unlabeled=unlabeled, **SMALL_SETTINGS)


def test_unlabeled_json_lines_read_with_the_training_text_field(work):
    rows = [json.loads(line) for line in open(work["corpus"])]
    corpus = work["folder"] / "reviews.jsonl"
    corpus.write_text("".join(json.dumps({"id": "r", "note": r["text"], "label": r["label"]}) + "\n" for r in rows))
    unlabeled = work["folder"] / "unlabeled-reviews.jsonl"
    unlabeled.write_text("".join(json.dumps({"id": "u", "note": r["text"] + " quokka."}) + "\n" for r in rows))
    output = work["folder"] / "reviews.han"
    report = han.train(str(corpus), output, text_field="note", threads=1, unlabeled=unlabeled, **SMALL_SETTINGS)
    assert report["unlabeled_documents"] == len(rows)
    assert report["unlabeled_words"] >= 1  # quokka


def test_a_raising_progress_callback_stops_training(work):
    def stop(progress):
        if progress["stage"] == "training":
            raise RuntimeError("enough")

    output = work["folder"] / "stopped.han"
    with pytest.raises(RuntimeError, match="enough"):
        han.train(str(work["corpus"]), output, threads=1, progress=stop, **SMALL_SETTINGS)
    assert not output.exists(), "a stopped run wrote a model"
    assert os.path.exists(str(output) + ".ckpt"), "a stopped run left no checkpoint to resume from"


def test_one_model_from_four_threads(work):
    model = han.load(work["model"], threads=1)
    texts = work["texts"]
    expected = model.predict_proba(texts)
    answers, errors = {}, []

    def worker(k):
        try:
            for _ in range(5):
                answers.setdefault(k, []).append(model.predict_proba(texts))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(answers) == 4
    for results in answers.values():
        for result in results:
            np.testing.assert_array_equal(result, expected)


def test_bad_inputs(work, tmp_path):
    with pytest.raises(FileNotFoundError):
        han.load(tmp_path / "missing.han")
    (tmp_path / "not.han").write_text("not a model")
    with pytest.raises(OSError, match="not.han"):
        han.load(tmp_path / "not.han")
    model = han.load(work["model"])
    with pytest.raises(TypeError, match="not one string"):
        model.classify("one text")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        model.predict_proba(["fine", 3])
    with pytest.raises(ValueError, match="top_k"):
        model.classify(["x"], top_k=0)
    with pytest.raises(ValueError, match="unknown setting 'epoch'"):
        han.train(str(work["corpus"]), tmp_path / "m.han", epoch=3)
    with pytest.raises(ValueError, match="learning_rate"):
        han.train(str(work["corpus"]), tmp_path / "m.han", learning_rate=-1)
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        han.train((["a", "b"], ["x"]), tmp_path / "m.han")
    with pytest.raises(FileNotFoundError):
        han.train(tmp_path / "no-corpus.jsonl", tmp_path / "m.han")
    assert model.predict_proba([]).shape == (0, len(model.labels))


def test_ctrl_c_checkpoints_and_the_program_resumes(work, tmp_path):
    output = tmp_path / "interrupted.han"
    script = f"""
import os, signal, han
def progress(p):
    if p["stage"] == "training":
        os.kill(os.getpid(), signal.SIGINT)
try:
    han.train({str(work["corpus"])!r}, {str(output)!r}, auto=False, threads=1, progress=progress, **{SMALL_SETTINGS!r})
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""
    done = subprocess.run(["python3", "-c", script], capture_output=True, text=True, env=os.environ)
    assert "KeyboardInterrupt" in done.stdout, done.stderr
    assert "checkpoint saved to" in done.stderr
    checkpoint = str(output) + ".ckpt"
    assert os.path.exists(checkpoint) and not output.exists()
    run("--threads", "1", "train", "--resume", checkpoint, "-o", str(output))
    np.testing.assert_array_equal(han.load(output).predict_proba(work["texts"]),
                                  han.load(work["model"]).predict_proba(work["texts"]))


def test_outputs_and_texts_people_get_wrong(work, tmp_path):
    corpus = str(work["corpus"])
    before = open(corpus, "rb").read()
    with pytest.raises(ValueError, match="is also an input"):
        han.train(corpus, corpus)
    assert open(corpus, "rb").read() == before, "the corpus was overwritten"
    with pytest.raises(ValueError, match="is a folder"):
        han.train(corpus, tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        han.train(corpus, tmp_path / "no" / "m.han")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ValueError, match="device, FIFO or socket"):
        han.train(corpus, tmp_path / "fifo")
    assert not list(tmp_path.glob("*.ckpt")), "a refused run left a checkpoint"
    with pytest.raises(TypeError, match=r"tuple\(zip\(\*pairs\)\)"):
        han.train([("great film", "pos"), ("dull", "neg")], tmp_path / "m.han")
    with pytest.raises(TypeError, match="labels must be a list, not one string"):
        han.train((["a", "b", "c"], "xyz"), tmp_path / "m.han")
    with pytest.raises(TypeError, match="progress must be a function"):
        han.train(corpus, tmp_path / "m.han", progress=5)
    assert han.settings(epochs=np.int64(3), embeddings=tmp_path / "v.vec") == [
        "train.epochs=3", f'train.embeddings="{tmp_path / "v.vec"}"']
    model = han.load(work["model"])
    with pytest.raises(ValueError, match=r"texts\[1\] cannot be encoded as UTF-8"):
        model.classify(["fine", "bad \ud800"])
    with pytest.raises(TypeError, match="not a dict"):
        model.classify({"a": 1})
    with pytest.raises(ValueError, match="threshold"):
        model.classify(["x"], threshold=float("nan"))
    assert len(model.classify(["a film"], top_k=2**40)[0]["labels"]) == len(model.labels)
    with pytest.raises(ValueError, match="batch_size"):
        han.load(work["model"], batch_size=0)
    with pytest.raises(FileNotFoundError):
        han.Model(str(tmp_path / "missing.han"))
