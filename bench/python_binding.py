#!/usr/bin/env python3
"""What the Python module costs over the program: `han classify --lines` and
han.load(...).classify(...) on the same documents, end to end (start, load,
classify), interleaved, median of several runs; and `import han`.

    PYTHONPATH=build/python python3 bench/python_binding.py MODEL CORPUS.jsonl [--documents 5000] [--runs 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("corpus", help="JSON Lines with a text field")
    parser.add_argument("--documents", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--han", default=os.path.join(os.path.dirname(__file__), "..", "build", "han"))
    args = parser.parse_args()

    texts = []
    with open(args.corpus, encoding="utf-8") as corpus:
        for line in corpus:
            texts.append(" ".join(json.loads(line)["text"].split()))  # one line each, for --lines
            if len(texts) == args.documents:
                break
    folder = tempfile.mkdtemp()
    lines = os.path.join(folder, "docs.txt")
    with open(lines, "w", encoding="utf-8") as out:
        out.write("\n".join(texts) + "\n")
    python_run = (f"import han, sys; texts = open({lines!r}, encoding='utf-8').read().splitlines(); "
                  f"p = han.load({args.model!r}).classify(texts); assert len(p) == {len(texts)}")
    cli, python, imports, bare = [], [], [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([args.han, "-q", "classify", args.model, "--lines", lines], check=True, stdout=subprocess.DEVNULL)
        cli.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", python_run], check=True)
        python.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import han"], check=True)
        imports.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - start)
    result = {
        "documents": len(texts),
        "runs": args.runs,
        "cli_seconds": statistics.median(cli),
        "python_seconds": statistics.median(python),
        "python_over_cli": statistics.median(python) / statistics.median(cli),
        "cli_docs_per_second": len(texts) / statistics.median(cli),
        "python_docs_per_second": len(texts) / statistics.median(python),
        "import_seconds": statistics.median(imports) - statistics.median(bare),  # over a bare interpreter's start
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
