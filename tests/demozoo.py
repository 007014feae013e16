"""demozoo.py: a tiny model zoo for the demo's tests: untrained tiny translators saved as model folders in
a temporary directory (point SEQ2SEQ_MODELS_DIR or --models-dir at it), with BLEU-by-length files for the
German -> English ones, a comparison model without attention, and a direction whose weights are broken.
"""

import json
import socket
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

# name, source, target, attention, seed
MODELS = [
    ("multi30k-de-en", "de", "en", "bahdanau", 1),
    ("compare-de-en-no-attention", "de", "en", "none", 2),
    ("multi30k-en-de", "en", "de", "bahdanau", 3),
    ("multi30k-fr-en", "fr", "en", "luong", 4),
    ("multi30k-cs-en", "cs", "en", "bahdanau", 5),  # its weights are broken: it cannot load
]
BROKEN = "multi30k-cs-en"
COMPARISON = "compare-de-en-no-attention"
SIGNATURE = "nrefs:1|case:mixed|<b>13a</b>"  # markup in a file is shown as text
BLEU = {"multi30k-de-en": [45.1, 41.0, 30.2], COMPARISON: [35.1, 30.0, 15.2]}
BINS = [(0, 7, 172), (8, 16, 753), (17, None, 75)]


def length_scores(bleus: list[float]) -> dict:
    bins = [{"min_words": lo, "max_words": hi, "count": n, "bleu": b} for (lo, hi, n), b in zip(BINS, bleus)]
    bins.append({"min_words": 99, "max_words": None, "count": 0, "bleu": None})  # an empty bin has no point
    return {"split": "test_2016_flickr", "length_unit": "source words", "bleu_signature": SIGNATURE, "bins": bins}


def make_zoo(root: Path, make_translator) -> Path:
    """The zoo under `root` (created); `make_translator` is conftest's fixture."""
    for name, src, tgt, attention, seed in MODELS:
        translator = make_translator(
            seed=seed, src_lang=src, tgt_lang=tgt, attention=attention, max_source_length=80, max_target_length=40
        )
        translator.save_pretrained(root / name)
    (root / COMPARISON / "README.md").write_text("---\npurpose: no attention\n---\n\n# comparison\n", encoding="utf-8")
    (root / BROKEN / "model.safetensors").write_bytes(b"these are not weights")
    for name, bleus in BLEU.items():
        (root / name / "bleu_by_length.json").write_text(json.dumps(length_scores(bleus)), encoding="utf-8")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_locally(demo) -> str:
    """Serve `demo` on a free local port in this process (close it with `demo.close()`); returns its URL."""
    from seq2seq_hub.demo import server as demo_server

    _, url, _ = demo_server.serve(demo, "127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True)
    return url


@contextmanager
def serve_zoo(zoo: Path, *args: str):
    """The demo serving the zoo found through SEQ2SEQ_MODELS_DIR (command-line `args` added), launched in
    this process: yields (url, demo, models)."""
    from seq2seq_hub.demo import layout
    from seq2seq_hub.demo import server as demo_server

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQ2SEQ_MODELS_DIR", str(zoo))
        models = demo_server.load_models(demo_server.parse_args(["--device", "cpu", *args]))
    demo = layout.build_demo(models)
    url = launch_locally(demo)
    try:
        yield SimpleNamespace(url=url, demo=demo, models=models)
    finally:
        demo.close()
