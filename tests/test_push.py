"""Publishing, offline: `seq2seq-hub push` and `train.py --push_to_hub` against a fake Hub on 127.0.0.1 upload
exactly the files `Translator.from_pretrained` needs, byte for byte; the token is sent as the Authorization
header and nowhere else; and `Translator.from_pretrained("org/name")` round-trips through the fake Hub."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from hubserver import FakeHub
from runhelpers import REPO, cli, subprocess_env, tiny_run, train

from seq2seq_hub import Translator

TOKEN = "hf_FAKEtokenForTests0123456789abcdefXYZ"
MODEL_FILES = {
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "generation_config.json",
    "README.md",
    "bleu_by_length.json",  # the run's BLEU by source length on its test set, published with the model
}


@pytest.fixture(scope="module")
def hub():
    with FakeHub() as fake:
        yield fake


def hub_env(home, hub: FakeHub, token: str = TOKEN) -> dict[str, str]:
    """Online, but only to the fake Hub (huggingface_hub reads HF_ENDPOINT when the subprocess imports it)."""
    return subprocess_env(home, HF_ENDPOINT=hub.url, HF_TOKEN=token, HF_HUB_OFFLINE="0")


def assert_no_token(*texts: str | bytes) -> None:
    for text in texts:
        assert (TOKEN.encode() if isinstance(text, bytes) else TOKEN) not in text


@pytest.fixture(scope="module")
def pushed(hub, tmp_path_factory):
    """A copy of the tiny model folder, with files that must not be published, pushed with the CLI."""
    run, _ = tiny_run(tmp_path_factory)
    root = tmp_path_factory.mktemp("push")
    folder = root / "model"
    shutil.copytree(run / "model", folder)
    (folder / "pytorch_model.bin").write_bytes(b"not a pickle, and not to be uploaded")
    (folder / "notes.txt").write_text(f"HF_TOKEN={TOKEN}\n")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "x.lock").write_text("")
    result = cli("push", "--model", str(folder), "--repo-id", "org/tiny-de-en", "--private", env=hub_env(root, hub))
    return folder, result


def test_push_uploads_exactly_the_model_files(hub, pushed):
    folder, result = pushed
    assert result.returncode == 0, result.stderr
    repo = hub.repos["org/tiny-de-en"]
    assert result.stdout.strip() == f"{hub.url}/org/tiny-de-en/commit/{repo.head}"
    assert set(repo.files) == MODEL_FILES
    for name in MODEL_FILES:
        assert repo.files[name] == (folder / name).read_bytes(), name
    assert repo.private and len(repo.commits) == 1
    calls = [(r.method, r.path.split("?")[0]) for r in hub.requests if "tiny-de-en" in r.path or "repos" in r.path]
    assert ("POST", "/api/repos/create") in calls
    assert ("POST", "/api/models/org/tiny-de-en/commit/main") in calls


def test_push_sends_the_token_only_as_the_authorization_header(hub, pushed):
    _, result = pushed
    assert_no_token(result.stdout, result.stderr)
    assert_no_token(*hub.repos["org/tiny-de-en"].files.values())  # the card included
    uploads = [r for r in hub.requests if r.method == "POST" and "tiny-de-en" in (r.path + r.body.decode("latin-1"))]
    assert uploads
    for request in uploads:
        assert request.headers.get("authorization") == f"Bearer {TOKEN}"
        assert_no_token(request.body, request.path)


ROUND_TRIP = """
import json, sys
from seq2seq_hub import Translator
translator = Translator.from_pretrained(sys.argv[1])
print(json.dumps({"texts": [h.text for h in translator.translate(sys.argv[2:], beam_size=2)], "card": translator.card}))
"""


def test_from_pretrained_round_trips_through_the_fake_hub(hub, pushed, tmp_path):
    folder, result = pushed
    assert result.returncode == 0, result.stderr
    sentences = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
    download = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, "org/tiny-de-en", *sentences],
        cwd=REPO,
        env=hub_env(tmp_path, hub),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert download.returncode == 0, download.stderr
    remote = json.loads(download.stdout)
    local = Translator.from_pretrained(folder)
    assert remote["texts"] == [h.text for h in local.translate(sentences, beam_size=2)]
    assert remote["card"] == (folder / "README.md").read_text(encoding="utf-8")
    fetched = {r.path.split("/resolve/main/")[1] for r in hub.requests if r.method == "GET" and "/resolve/" in r.path}
    assert fetched == MODEL_FILES - {"bleu_by_length.json"}  # translating needs no results file
    cached = list((tmp_path / "hf-home" / "hub").rglob("model.safetensors"))
    assert cached and cached[0].read_bytes() == (folder / "model.safetensors").read_bytes()


def test_train_push_to_hub_publishes_the_final_folder(hub, tmp_path):
    out = tmp_path / "run"
    short = "--max_train_examples 300 --max_steps 6 --max_valid_examples 10 --max_test_examples 5 --test_beam_size 1"
    args = [*short.split(), "--tensorboard", "false", "--push_to_hub", "org/pushed-by-train"]
    result = train(out, *args, env=hub_env(tmp_path, hub))
    assert result.returncode == 0, result.stderr[-4000:]
    repo = hub.repos["org/pushed-by-train"]
    assert f"pushed to {hub.url}/org/pushed-by-train/commit/{repo.head}" in result.stderr
    assert set(repo.files) == MODEL_FILES
    for name in MODEL_FILES:
        assert repo.files[name] == (out / "model" / name).read_bytes(), name
    card = repo.files["README.md"].decode("utf-8")
    assert 'Translator.from_pretrained("org/pushed-by-train")' in card
    assert "name: org/pushed-by-train" in card  # the model-index
    assert_no_token(result.stdout, result.stderr, *repo.files.values())
    assert_no_token(*(p.read_bytes() for p in out.rglob("*") if p.is_file()))


def test_a_refused_push_is_one_error_line_without_the_token(hub, tmp_path):
    run_folder = tmp_path / "model"
    run_folder.mkdir()
    (run_folder / "config.json").write_text("{}")
    result = cli("push", "--model", str(run_folder), "--repo-id", "org/incomplete", env=hub_env(tmp_path, hub))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {run_folder} has no model.safetensors: seq2seq-hub reads weights only from safetensors, "
        "because unpickling .bin/.pt files can run arbitrary code"
    ]
    assert "org/incomplete" not in hub.repos
    assert_no_token(result.stdout, result.stderr)


def test_a_push_the_hub_refuses_is_one_error_line_without_the_token(hub, pushed, tmp_path):
    folder, _ = pushed
    bad = TOKEN[::-1]
    hub.refused_tokens.add(bad)
    result = cli("push", "--model", str(folder), "--repo-id", "org/refused", env=hub_env(tmp_path, hub, token=bad))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "401" in lines[0], result.stderr
    assert bad not in result.stdout + result.stderr
    assert "org/refused" not in hub.repos
