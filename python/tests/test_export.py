"""han.export: a han model file as a torch module (the same outputs as the
program to 1e-5) and as ONNX (passes onnx's checker). Skipped, saying why,
where Debian's python3-torch or python3-onnx is missing."""
import json
import os
import subprocess

import pytest

torch = pytest.importorskip("torch", reason="python3-torch is not installed: the torch export is not tested")

from han.export import batch, export_onnx, read_model_file, to_torch  # noqa: E402

HAN = os.environ.get("HAN_BINARY", "han")


def run(*args):
    done = subprocess.run([HAN, "-q", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    """A model the program trained, and `han explain` of documents of varied length."""
    folder = tmp_path_factory.mktemp("export")
    run("demo", "-o", str(folder / "demo"), "--documents", "200", "--epochs", "1", "--heldout", "2")
    model = folder / "m.han"
    run("train", str(folder / "demo" / "train.jsonl"), "-o", str(model), "--no-auto", "--epochs", "1", "--set",
        "model.embedding_dim=16", "--set", "model.word_hidden=8", "--set", "model.sentence_hidden=8")
    texts = [json.loads(line)["text"] for line in open(folder / "demo" / "train.jsonl")][:12]
    texts.append("One. Two words here. And then a much longer third sentence than the others.")
    inputs = []
    for i, text in enumerate(texts):
        (folder / f"d{i}.txt").write_text(text)
        inputs.append(str(folder / f"d{i}.txt"))
    explanations = [json.loads(line) for line in run("explain", str(model), *inputs).splitlines()]
    return model, explanations


def test_the_torch_module_gives_the_programs_outputs(explained):
    model, explanations = explained
    module = to_torch(model)
    documents = [[[w["id"] for w in s["words"]] for s in e["sentences"]] for e in explanations]
    with torch.no_grad():
        probabilities, sentence_weights, word_weights = module(*batch(documents))  # the whole batch, padded
    for i, e in enumerate(explanations):
        for k, label in enumerate(module.labels):
            assert probabilities[i, k].item() == pytest.approx(e["probabilities"][label], abs=1e-5)
        for j, s in enumerate(e["sentences"]):
            assert sentence_weights[i, j].item() == pytest.approx(s["weight"], abs=1e-5)
            for t, w in enumerate(s["words"]):
                assert word_weights[i, j, t].item() == pytest.approx(w["weight"], abs=1e-5)
        # padding gets no weight
        assert sentence_weights[i, len(e["sentences"]):].abs().sum().item() == 0
    assert module.vocabulary["<unk>"] == 1


def test_the_traced_graph_follows_other_shapes(explained):
    """ONNX export records a trace of a two-document example; no ONNX runtime is
    packaged, so the trace itself must give the eager outputs on other shapes."""
    model, explanations = explained
    module = to_torch(model)
    documents = [[[w["id"] for w in s["words"]] for s in e["sentences"]] for e in explanations]
    with torch.no_grad(), pytest.warns(torch.jit.TracerWarning):
        traced = torch.jit.trace(module, batch([[[2, 3, 4], [5, 6]], [[7]]]), check_trace=False)
    with torch.no_grad():
        for eager, graph in zip(module(*batch(documents)), traced(*batch(documents))):
            assert torch.allclose(eager, graph, atol=1e-6)


def test_onnx_export_passes_the_checker(explained, tmp_path):
    onnx = pytest.importorskip("onnx", reason="python3-onnx is not installed: the ONNX export is not checked")
    model, _ = explained
    output = export_onnx(model, str(tmp_path / "m.onnx"))
    graph = onnx.load(output)
    onnx.checker.check_model(graph)
    assert [i.name for i in graph.graph.input] == ["word_ids", "word_counts", "sentence_counts"]
    assert [o.name for o in graph.graph.output] == ["probabilities", "sentence_weights", "word_weights"]


def test_a_file_that_is_not_a_model(tmp_path):
    (tmp_path / "x.han").write_bytes(b"HANMODEX" + bytes(40))
    with pytest.raises(ValueError, match="not a han model"):
        read_model_file(tmp_path / "x.han")
