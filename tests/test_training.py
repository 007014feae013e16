"""The training pipeline: an end-to-end tiny run (model folder, card, metrics, plot), resuming after SIGKILL
ends exactly where an uninterrupted run ends, teacher-forcing and learning-rate schedules, pretrained
embeddings, config errors that stop before training with one line and exit status 2, non-finite losses,
two-process data-parallel training (whose ranks skip a step together when one meets a NaN loss); and the
pieces: the training state (in the checkpoint format of earlier versions), checkpoint save / load / pruning
and the order --resume tries them in, checkpoint averaging, the decoding options of evaluation."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from runhelpers import (
    FAST,
    REPO,
    TINY_CONFIG,
    TRAIN_SCRIPT,
    by_step,
    cli,
    in_process_args,
    read_metrics,
    subprocess_env,
    tiny_run,
    train,
    train_main,
)
from safetensors.torch import load_file

from seq2seq_hub import DecodingOptions, Seq2SeqModel, Translator
from seq2seq_hub.tokenizer import SPECIAL_TOKENS, readable_tokens
from seq2seq_hub.training import TrainConfig, TrainingError, TrainingState
from seq2seq_hub.training.checkpoints import (
    average_weights,
    keep_for_averaging,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from seq2seq_hub.training.embeddings import load_pretrained_embeddings
from seq2seq_hub.training.schedules import LR_SCHEDULES, TF_SCHEDULES, learning_rate_scale, teacher_forcing_ratio


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """(output folder, CompletedProcess) of the session's tiny training run."""
    return tiny_run(tmp_path_factory)


def all_finite(path: Path) -> bool:
    return all(bool(torch.isfinite(t.float()).all()) for t in load_file(str(path)).values())


# ---------------------------------------------------------------------- end to end
def test_end_to_end_run_writes_a_loadable_model_folder(tiny):
    run, result = tiny
    folder = run / "model"
    assert result.stdout.strip().splitlines()[-1] == str(folder)
    assert sorted(os.listdir(folder)) == [
        "README.md", "bleu_by_length.json", "config.json", "generation_config.json", "model.safetensors",
        "tokenizer.json",
    ]  # fmt: skip
    translator = Translator.from_pretrained(folder)
    # the decoding defaults are the test decoding: tiny.yaml's test_beam_size, test_length_penalty's default
    assert translator.generation_options == DecodingOptions(num_beams=3, length_penalty=1.0)
    assert (translator.config.src_lang, translator.config.tgt_lang) == ("de", "en")
    assert (translator.config.cell, translator.config.hidden_size) == ("gru", 96)  # tiny.yaml's model
    hyp = translator.translate(["Ein Mann fährt Fahrrad."], beam_size=1)[0]
    assert isinstance(hyp.text, str) and hyp.tokens
    assert (run / "latest").is_file() and (run / (run / "latest").read_text().strip() / "state.safetensors").is_file()
    assert list((run / "tensorboard").iterdir()), "TensorBoard logs are on by default"


def test_model_card_holds_test_scores_with_signature_and_the_reproduce_command(tiny):
    run, result = tiny
    card = (run / "model" / "README.md").read_text(encoding="utf-8")
    final = json.loads((run / "final_metrics.json").read_text())
    assert final["test_bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")

    # the scores table: one row per metric, the signature in its own (escaped) cell
    row = next(line for line in card.splitlines() if line.startswith("| test_bleu |"))
    cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)[1:-1]]
    assert cells == ["test_bleu", f"{final['test_bleu']:.2f}", final["test_bleu_signature"]]

    # the metadata's model-index carries the same score (in its test-split result; the validation score has its own)
    meta = yaml.safe_load(card.split("---")[1])
    test_result = next(r for r in meta["model-index"][0]["results"] if r["dataset"].get("split") == "test")
    scores = {m["type"]: m["value"] for m in test_result["metrics"]}
    assert scores == {"bleu": round(final["test_bleu"], 2), "chrf": round(final["test_chrf"], 2)}

    # the reproduce line is exactly the command that was run
    line = next(line for line in card.splitlines() if line.startswith("- **reproduce**:"))
    command = shlex.split(line.split("`")[1])
    assert command == ["python", "training/train.py", *result.args[2:]]
    assert "--max_train_examples" in command and str(TINY_CONFIG) in command


def test_metrics_jsonl_has_training_and_validation_records(tiny):
    run, _ = tiny
    records = read_metrics(run)
    train_records = [r for r in records if "loss" in r]
    valid_records = [r for r in records if "valid_loss" in r]
    assert len(train_records) >= 3 and len(valid_records) == 2  # one validation per epoch, 2 epochs
    for r in train_records:
        assert {"step", "epoch", "loss", "lr", "tf_ratio", "tokens_per_s", "grad_norm"} <= set(r)
    for r in valid_records:
        assert {"step", "valid_loss", "valid_ppl", "valid_bleu", "valid_chrf", "best_bleu"} <= set(r)
        assert r["valid_ppl"] == pytest.approx(math.exp(r["valid_loss"]), rel=1e-6)
    steps = [r["step"] for r in train_records]
    assert steps == sorted(steps)
    assert train_records[-1]["loss"] < train_records[0]["loss"]
    assert valid_records[1]["valid_loss"] < valid_records[0]["valid_loss"]
    assert "test_bleu" in records[-1]


def test_plot_writes_a_png(tiny, tmp_path):
    run, _ = tiny
    result = cli("plot", "--run", str(run), "--output", str(tmp_path / "curves.png"), env=subprocess_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------- resume after SIGKILL
# small checkpoint / eval intervals, scheduled sampling on (so the RNG state matters), windows of 4 steps
# for the training loss so that a run resumed from a checkpoint logs the same windows
RESUME_ARGS = (
    "--max_train_examples", "400", "--batch_tokens", "800", "--epochs", "2", "--eval_every", "8",
    "--checkpoint_every", "4", "--log_every", "4", "--tf_schedule", "linear", "--tf_start", "1.0",
    "--tf_end", "0.5", "--max_valid_examples", "30", "--max_test_examples", "10", "--test_beam_size", "1",
    "--tensorboard", "false",
)  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("uninterrupted")
    result = train(root / "run", *RESUME_ARGS, env=subprocess_env(root))
    assert result.returncode == 0, result.stderr[-4000:]
    return root / "run"


def test_resume_after_sigkill_ends_exactly_where_an_uninterrupted_run_ends(uninterrupted, tmp_path):
    run = tmp_path / "run"
    env = subprocess_env(tmp_path)
    command = [sys.executable, str(TRAIN_SCRIPT), "--config", str(TINY_CONFIG), "--output_dir", str(run), *FAST]
    with open(tmp_path / "killed.log", "w") as log:
        process = subprocess.Popen([*command, *RESUME_ARGS], cwd=REPO, env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 90
            while not (run / "latest").exists() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert (run / "latest").exists(), (tmp_path / "killed.log").read_text()
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (run / "final_metrics.json").exists(), "the run finished before it could be killed"

    result = train(run, *RESUME_ARGS, "--resume", env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    resumed_at = int(re.search(r"resumed from checkpoint-(\d+)", result.stderr).group(1))
    steps_per_epoch = int(re.search(r"batches: (\d+) per epoch", result.stderr).group(1))
    latest = run / (run / "latest").read_text().strip()
    final_step = json.loads((latest / "trainer_state.json").read_text())["state"]["step"]
    assert 0 < resumed_at < steps_per_epoch < final_step  # resumed mid-epoch, then crossed an epoch boundary

    a, b = read_metrics(uninterrupted), read_metrics(run)
    for key in ("valid_loss", "valid_bleu", "loss", "tf_ratio", "lr"):
        assert by_step(b, key) == by_step(a, key), key
    assert json.loads((run / "final_metrics.json").read_text()) == json.loads(
        (uninterrupted / "final_metrics.json").read_text()
    )
    for name in ("model/model.safetensors", (uninterrupted / "latest").read_text().strip() + "/state.safetensors"):
        expected, got = load_file(str(uninterrupted / name)), load_file(str(run / name))
        assert expected.keys() == got.keys()
        for key in expected:  # weights, optimizer moments and the RNG state
            assert torch.equal(expected[key], got[key]), f"{name}: {key} differs"


# ---------------------------------------------------------------------- schedules
@pytest.mark.parametrize("start, end", [(1.0, 0.5), (1.0, 0.0), (0.3, 0.9)])
@pytest.mark.parametrize("schedule", ["linear", "exponential", "inverse_sigmoid"])
def test_teacher_forcing_schedules_move_monotonically_from_start_to_end(schedule, start, end):
    steps = 1000
    values = [teacher_forcing_ratio(schedule, s, start, end, steps) for s in range(0, steps + 1, 10)]
    assert values[0] == pytest.approx(start, abs=0.01 * abs(start - end))
    assert values[-1] == pytest.approx(end, abs=0.01 * abs(start - end))
    direction = 1 if end > start else -1
    assert all(direction * (later - earlier) >= 0 for earlier, later in zip(values, values[1:]))
    assert all(min(start, end) - 1e-12 <= v <= max(start, end) + 1e-12 for v in values)
    assert teacher_forcing_ratio(schedule, 5 * steps, start, end, steps) == pytest.approx(end, abs=0.01)


def test_teacher_forcing_schedule_shapes():
    assert teacher_forcing_ratio("constant", 500, 0.7, 0.1, 1000) == 0.7
    assert teacher_forcing_ratio("linear", 500, 1.0, 0.5, 1000) == pytest.approx(0.75)
    assert teacher_forcing_ratio("inverse_sigmoid", 500, 1.0, 0.5, 1000) == pytest.approx(0.75)  # centred
    assert teacher_forcing_ratio("exponential", 200, 1.0, 0.0, 1000) == pytest.approx(math.exp(-1))
    assert set(TF_SCHEDULES) == {"constant", "linear", "exponential", "inverse_sigmoid"}
    with pytest.raises(ValueError, match="tf_schedule must be one of .*got 'cosine'"):
        teacher_forcing_ratio("cosine", 1, 1.0, 0.5, 10)


def test_linear_teacher_forcing_run_logs_a_decreasing_ratio(uninterrupted):
    records = [r for r in read_metrics(uninterrupted) if "tf_ratio" in r]
    total = max(r["step"] for r in records)
    ratios = [r["tf_ratio"] for r in records]
    assert len(ratios) >= 5
    assert all(later < earlier for earlier, later in zip(ratios, ratios[1:]))
    for r in records:  # the ratio used at step s is the schedule's value after s - 1 steps
        assert r["tf_ratio"] == pytest.approx(1.0 - 0.5 * (r["step"] - 1) / total)
    assert 0.5 <= ratios[-1] < 0.55


@pytest.mark.parametrize("schedule", LR_SCHEDULES)
def test_learning_rate_warmup_ramps_linearly_to_the_peak(schedule):
    ramp = [learning_rate_scale(schedule, s, 100, 1000) for s in range(1, 101)]
    assert ramp == pytest.approx([s / 100 for s in range(1, 101)])
    assert learning_rate_scale(schedule, 0, 100, 1000) == pytest.approx(0.01)  # step 0 counts as step 1


def test_learning_rate_schedules_after_warmup():
    cosine = [learning_rate_scale("cosine", s, 100, 1000) for s in range(100, 1001)]
    assert cosine[0] == pytest.approx(1.0) and cosine[-1] == pytest.approx(0.0, abs=1e-9)
    assert cosine[450] == pytest.approx(0.5)  # half way through the decay
    assert all(b <= a for a, b in zip(cosine, cosine[1:]))
    linear = [learning_rate_scale("linear", s, 100, 1000) for s in range(100, 1001)]
    assert linear[0] == pytest.approx(1.0) and linear[-1] == pytest.approx(0.0) and linear[450] == pytest.approx(0.5)
    assert learning_rate_scale("linear", 2000, 100, 1000) == 0.0  # never negative past the end
    assert learning_rate_scale("inverse_sqrt", 400, 100, 1000) == pytest.approx(0.5)
    assert learning_rate_scale("inverse_sqrt", 10_000, 100, 1000) == pytest.approx(0.1)
    for flat in ("constant", "plateau"):
        assert learning_rate_scale(flat, 100, 100, 1000) == learning_rate_scale(flat, 999, 100, 1000) == 1.0
    assert learning_rate_scale("cosine", 1, 0, 1000) == pytest.approx(1.0, abs=1e-4)  # no warmup: the peak at once
    with pytest.raises(ValueError, match="lr_schedule must be one of .*got 'step'"):
        learning_rate_scale("step", 500, 100, 1000)


# ---------------------------------------------------------------------- pretrained embeddings
def _whole_words(tok, count: int) -> dict[int, str]:
    """ids -> text of `count` vocabulary entries that are whole words starting with a space."""
    pieces = readable_tokens(tok, list(range(tok.get_vocab_size())))
    found = {i: p[1:] for i, p in enumerate(pieces) if p.startswith("▁") and len(p) > 3 and p[1:].isalpha()}
    assert len(found) >= count
    return dict(sorted(found.items())[:count])


def test_pretrained_embeddings_fill_matching_rows_and_report_coverage(tokenizer, tmp_path):
    tok = tokenizer.source
    words = _whole_words(tok, 6)
    dim = 8
    gen = torch.Generator().manual_seed(0)
    vectors = {w: torch.randn(dim, generator=gen) for w in words.values()}
    vectors["zzzunseen"] = torch.randn(dim, generator=gen)  # in the file, not in the vocabulary
    lines = [f"{len(vectors)} {dim}"] + [f"{w} " + " ".join(f"{x:.6f}" for x in v.tolist()) for w, v in vectors.items()]
    path = tmp_path / "vectors.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    embedding = torch.nn.Embedding(tok.get_vocab_size(), dim)
    before = embedding.weight.detach().clone()
    found, total = load_pretrained_embeddings(embedding, tok, path)

    # a row is filled when its text, without the leading-space marker, is in the file exactly or lowercased
    # (so one vector can fill several rows: 'Mann' word-initially and inside a word, 'The' and 'the')
    pieces = readable_tokens(tok, list(range(tok.get_vocab_size())))
    expected = {}
    for i, piece in enumerate(pieces):
        word = piece.lstrip("▁")
        if piece not in SPECIAL_TOKENS and (word in vectors or word.lower() in vectors):
            expected[i] = vectors[word] if word in vectors else vectors[word.lower()]
    assert set(words) <= set(expected)
    assert (found, total) == (len(expected), tok.get_vocab_size() - len(SPECIAL_TOKENS))
    after = embedding.weight.detach()
    for i in range(tok.get_vocab_size()):
        if i in expected:
            assert torch.allclose(after[i], expected[i], atol=1e-6)
        else:
            assert torch.equal(after[i], before[i])


def test_pretrained_embeddings_of_the_wrong_dimension_are_refused(tokenizer, tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("2 7\nMann " + " ".join(["0.5"] * 7) + "\nFrau " + " ".join(["0.1"] * 7) + "\n")
    embedding = torch.nn.Embedding(tokenizer.source.get_vocab_size(), 8)
    with pytest.raises(ValueError, match="vectors have 7 dimensions but the model's embedding_size is 8"):
        load_pretrained_embeddings(embedding, tokenizer.source, path)
    with pytest.raises(FileNotFoundError, match="embeddings file not found"):
        load_pretrained_embeddings(embedding, tokenizer.source, tmp_path / "missing.txt")


# ---------------------------------------------------------------------- bad configs
@pytest.mark.parametrize(
    "args, message",
    [
        (("--model.cell", "lstn"), "Invalid training config: model: cell must be one of {'gru', 'lstm'}, got 'lstn'"),
        (("--lr", "-1"), "Invalid training config: lr must be a number > 0, got -1"),
        (("--epochs", "1.5"), "Invalid training config: epochs must be an integer >= 0, got 1.5"),
        (("--lr_schedule", "cosin"), "lr_schedule must be one of {'constant', 'cosine', "),
        (("--tf_end", "2"), "tf_end must be a number in [0, 1], got 2"),
        (("--data_dir", "/nonexistent"), "data file not found: /nonexistent/train.de.gz"),
        (("--src_lang", "xx"), "Multi30k has languages"),
        (("--config", "/nonexistent.yaml"), "config file not found: /nonexistent.yaml"),
    ],
)
def test_bad_config_stops_before_training_with_one_line(args, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(in_process_args(out, *args)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], captured.err
    assert captured.out == ""
    assert not (out / "tokenizer").exists() and not (out / "latest").exists()


def test_bad_config_in_a_real_process_exits_2_without_a_traceback(tmp_path):
    result = train(tmp_path / "run", "--model.cell", "lstn", "--lr", "1e-3", env=subprocess_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: Invalid training config: model: cell must be one of {'gru', 'lstm'}, got 'lstn'"
    ]  # and '--lr 1e-3' (YAML would read it as a string) was taken as the number it is
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------- non-finite losses
@pytest.fixture
def nan_loss_at(monkeypatch):
    """nan_loss_at({3, 5}) makes the 3rd and 5th training forward passes return a NaN loss; returns the call counter."""

    def install(bad_calls: set[int]) -> dict[str, int]:
        calls = {"n": 0}
        original = Seq2SeqModel.forward

        def forward(self, *args, **kwargs):
            out = original(self, *args, **kwargs)
            if self.training:
                calls["n"] += 1
                if calls["n"] in bad_calls:
                    out.loss = out.loss * float("nan")
            return out

        monkeypatch.setattr(Seq2SeqModel, "forward", forward)
        return calls

    return install


def test_nonfinite_loss_with_stop_ends_training_and_saves_nothing_bad(nan_loss_at, tmp_path, capsys):
    nan_loss_at({7})
    out = tmp_path / "run"
    args = in_process_args(out, "--eval_every", "4", "--checkpoint_every", "2", "--nonfinite", "stop")
    assert train_main(args) == 2
    err = capsys.readouterr().err
    error = [line for line in err.splitlines() if line.startswith("error: ")]
    assert error == [
        f"error: non-finite loss at step 7: training stopped and nothing bad was saved (the last good checkpoint "
        f"is {out / 'checkpoint-6'}); try a lower lr, a smaller clip_norm, or nonfinite=skip"
    ]
    assert "Traceback" not in err
    assert (out / "latest").read_text().strip() == "checkpoint-6"
    saved = [*out.glob("checkpoint-*/state.safetensors"), out / "model" / "model.safetensors"]
    assert len(saved) == 3 and all(all_finite(path) for path in saved)  # checkpoints 4 and 6 (two are kept)
    assert all(math.isfinite(r.get("loss", 0.0)) for r in read_metrics(out))
    assert not (out / "final_metrics.json").exists()


def test_nonfinite_loss_with_skip_continues_and_counts_skipped_steps(nan_loss_at, tmp_path, capsys):
    calls = nan_loss_at({3, 5})
    out = tmp_path / "run"
    assert train_main(in_process_args(out, "--max_steps", "10", "--eval_every", "5", "--nonfinite", "skip")) == 0
    err = capsys.readouterr().err
    assert "non-finite loss, update skipped (1 so far)" in err and "update skipped (2 so far)" in err
    assert calls["n"] == 12  # 10 updates + 2 skipped batches
    state = json.loads((out / "checkpoint-10" / "trainer_state.json").read_text())["state"]
    assert (state["step"], state["skipped_steps"]) == (10, 2)
    assert max(r["step"] for r in read_metrics(out)) == 10
    assert all_finite(out / "model" / "model.safetensors") and all_finite(out / "checkpoint-10" / "state.safetensors")


# ---------------------------------------------------------------------- two processes
DUMPING_TRAINER = """
import os, sys
from safetensors.torch import save_file
from seq2seq_hub import Seq2SeqModel
from seq2seq_hub.training import Trainer, build_train_parser, load_train_config

calls, original = {"n": 0}, Seq2SeqModel.forward


def forward(self, *args, **kwargs):  # rank 1's NAN_CALL-th training forward pass gives a NaN loss
    out = original(self, *args, **kwargs)
    if self.training and os.environ["RANK"] == "1":
        calls["n"] += 1
        if calls["n"] == int(os.environ["NAN_CALL"]):
            out.loss = out.loss * float("nan")
    return out


Seq2SeqModel.forward = forward


class DumpingTrainer(Trainer):
    def _train_loop(self):
        super()._train_loop()  # then each rank writes the weights it ends the loop with
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        path = self.output_dir / f"rank{self.rank}.safetensors"
        save_file(state, str(path), metadata={"step": str(self.state.step)})


DumpingTrainer(load_train_config(build_train_parser().parse_args(sys.argv[1:]))).run()
"""


@pytest.mark.slow
def test_two_process_training_keeps_ranks_identical_and_lowers_the_loss(tmp_path):
    """...also when one rank alone meets a NaN loss (nonfinite=skip): every rank skips that update together."""
    script = tmp_path / "dumping_train.py"
    script.write_text(DUMPING_TRAINER)
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
        "--config", str(TINY_CONFIG), "--output_dir", str(out), *FAST, "--max_train_examples", "800",
        "--max_steps", "30", "--epochs", "5", "--log_every", "5", "--eval_every", "15", "--max_valid_examples", "20",
        "--max_test_examples", "10", "--test_beam_size", "1", "--tensorboard", "false", "--nonfinite", "skip",
    ]  # fmt: skip
    env = subprocess_env(tmp_path, GLOO_SOCKET_IFNAME="lo", NAN_CALL="10")
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "x 2 processes" in result.stderr
    assert "step 10: non-finite loss, update skipped (1 so far)" in result.stderr  # said once, by rank 0
    state = json.loads((out / "checkpoint-30" / "trainer_state.json").read_text())["state"]
    assert (state["step"], state["skipped_steps"]) == (30, 1)

    from safetensors import safe_open

    ranks = [out / f"rank{r}.safetensors" for r in (0, 1)]
    for path in ranks:
        with safe_open(str(path), "pt") as f:
            assert f.metadata()["step"] == "30"
    rank0, rank1 = (load_file(str(p)) for p in ranks)
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), f"ranks disagree on {key}"

    losses = [r["loss"] for r in read_metrics(out) if "loss" in r]
    assert len(losses) == 6 and losses[-1] < losses[0] - 0.5
    Translator.from_pretrained(out / "model")


# ---------------------------------------------------------------------- state and checkpoints
# the "state" entry of trainer_state.json as the trainer has always written it (from a run of the code before
# the state became a type: tiny.yaml, resumed mid-epoch from this checkpoint)
OLD_FORMAT_STATE = {
    "step": 12, "epoch": 0, "batch_in_epoch": 12, "best_bleu": 0.21489650253260661, "best_step": 8, "bad_evals": 0,
    "lr_scale": 1.0, "plateau_bad": 0, "skipped_steps": 0, "history": [{"step": 8, "valid_bleu": 0.21489650253260661}],
    "train_seconds": 0.8837901160000001, "stopped_early": False,
}  # fmt: skip


def test_training_state_reads_and_writes_the_checkpoint_format_unchanged():
    state = TrainingState.from_dict(json.loads(json.dumps(OLD_FORMAT_STATE)))
    assert (state.step, state.epoch, state.batch_in_epoch, state.best_step) == (12, 0, 12, 8)
    assert state.history == [{"step": 8, "valid_bleu": 0.21489650253260661}]
    assert json.dumps(state.to_dict()) == json.dumps(OLD_FORMAT_STATE)  # same keys, same order, same values
    assert list(TrainingState().to_dict()) == list(OLD_FORMAT_STATE)
    assert TrainingState.from_dict({"step": 3}) == TrainingState(step=3)  # missing keys take their defaults
    copy = TrainingState.from_dict(state.to_dict())
    copy.history.append({"step": 9, "valid_bleu": 0.0})
    assert len(state.history) == 1, "the dict form shares nothing with the state"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"step": 1, "best_blue": 3.0}, r"training state has unknown keys \['best_blue'\]"),
        ({"step": "12"}, "step must be int, got '12'"),
        ({"stopped_early": 1}, "stopped_early must be bool, got 1"),
        ({"lr_scale": True}, "lr_scale must be float, got True"),
        ({"history": {"step": 1}}, "history must be list"),
        ([1, 2], "training state must be a JSON object, got list"),
    ],
)
def test_training_state_refuses_what_it_cannot_read(data, message):
    with pytest.raises(ValueError, match=message):
        TrainingState.from_dict(data)


def test_training_state_counts_evaluations_for_early_stopping_and_the_plateau_schedule():
    state = TrainingState()
    assert state.record_evaluation(10, 5.0, plateau_patience=2, plateau_factor=0.5)
    assert not state.record_evaluation(20, 4.0, plateau_patience=2, plateau_factor=0.5)
    assert (state.bad_evals, state.plateau_bad, state.lr_scale) == (1, 1, 1.0)
    assert not state.record_evaluation(30, 5.0, plateau_patience=2, plateau_factor=0.5)  # equal is not better
    assert (state.bad_evals, state.plateau_bad, state.lr_scale) == (2, 0, 0.5)
    assert state.record_evaluation(40, 6.0, plateau_patience=2, plateau_factor=0.5)
    assert (state.best_bleu, state.best_step, state.bad_evals, state.lr_scale) == (6.0, 40, 0, 0.5)
    assert [h["step"] for h in state.history] == [10, 20, 30, 40]
    other = TrainingState()
    for step in (1, 2, 3):
        other.record_evaluation(step, -5.0)  # no plateau schedule: the lr scale never moves
    assert (other.bad_evals, other.lr_scale) == (3, 1.0)


def _trained_tiny(make_model, seed: int):
    model = make_model(seed=seed).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    src = torch.randint(4, 23, (3, 5))
    out = model(src, torch.tensor([5, 4, 3]), torch.randint(4, 19, (3, 6)), labels=torch.randint(4, 19, (3, 6)))
    out.loss.backward()
    optimizer.step()
    return model, optimizer


def test_a_checkpoint_restores_weights_optimizer_state_and_rng(make_model, tmp_path):
    model, optimizer = _trained_tiny(make_model, seed=0)
    state = TrainingState.from_dict(OLD_FORMAT_STATE)
    torch.manual_seed(7)
    state.capture_rng(torch.device("cpu"))
    expected_draw = torch.rand(3)
    configs = {"train_config": {"lr": 0.01}, "model_config": model.config.to_dict()}
    path = save_checkpoint(tmp_path, model=model, optimizer=optimizer, state=state, configs=configs, keep=1)
    assert path == tmp_path / "checkpoint-12" and latest_checkpoint(tmp_path) == path
    meta = json.loads((path / "trainer_state.json").read_text())
    assert list(meta) == ["state", "param_groups", "train_config", "model_config"] and meta["state"] == OLD_FORMAT_STATE
    assert {"rng.torch", "model.encoder.embedding.weight", "optim.0.exp_avg", "optim.0.step"} <= set(
        load_file(str(path / "state.safetensors"))
    )

    fresh, fresh_optimizer = _trained_tiny(make_model, seed=1)
    loaded = load_checkpoint(path, model=fresh, optimizer=fresh_optimizer, device=torch.device("cpu"))
    assert loaded.to_dict() == OLD_FORMAT_STATE
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    for pid, pstate in optimizer.state_dict()["state"].items():
        for key, value in pstate.items():
            assert torch.equal(fresh_optimizer.state_dict()["state"][pid][key], value), (pid, key)
    loaded.restore_rng(torch.device("cpu"))
    assert torch.equal(torch.rand(3), expected_draw)


def test_an_unreadable_checkpoint_is_one_training_error(make_model, tmp_path):
    model, optimizer = _trained_tiny(make_model, seed=0)
    (tmp_path / "checkpoint-5").mkdir()
    (tmp_path / "checkpoint-5" / "trainer_state.json").write_text('{"state": {"step": "five"}}')
    with pytest.raises(TrainingError, match="checkpoint .*checkpoint-5 is unreadable"):
        load_checkpoint(tmp_path / "checkpoint-5", model=model, optimizer=optimizer, device=torch.device("cpu"))


def test_pruning_keeps_the_newest_checkpoints_and_removes_unfinished_ones(tmp_path):
    for step in (3, 12, 6, 9):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / ".checkpoint-15-abc").mkdir()  # a write that never finished
    (tmp_path / "checkpoint-notes").mkdir()  # not a checkpoint: left alone
    prune_checkpoints(tmp_path, keep=2, current=tmp_path / "checkpoint-12")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-12", "checkpoint-9", "checkpoint-notes"]
    # after a resume that fell back to checkpoint-9 (12 was damaged), the run's next checkpoint replaces 12
    (tmp_path / "checkpoint-10").mkdir()
    prune_checkpoints(tmp_path, keep=2, current=tmp_path / "checkpoint-10")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10", "checkpoint-9", "checkpoint-notes"]
    prune_checkpoints(tmp_path, keep=1, current=tmp_path / "checkpoint-10")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10", "checkpoint-notes"]


def test_resume_tries_the_checkpoint_latest_names_then_the_others_newest_first(tmp_path):
    assert list_checkpoints(tmp_path) == [] and latest_checkpoint(tmp_path) is None
    for step in (4, 12, 8):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / ".checkpoint-16-abc").mkdir()
    (tmp_path / "latest").write_text("checkpoint-8\n")  # killed after writing checkpoint-12, before naming it
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-8", "checkpoint-12", "checkpoint-4"]
    for damaged in ("garbage", "../..", "", "checkpoint-99"):  # a `latest` that names no checkpoint is ignored
        (tmp_path / "latest").write_text(damaged)
        assert latest_checkpoint(tmp_path) is None
        assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-12", "checkpoint-8", "checkpoint-4"]


def test_averaging_keeps_the_best_evaluations_and_averages_their_weights(make_model, tmp_path):
    assert average_weights(tmp_path) is None
    models = {step: make_model(seed=step) for step in (1, 2, 3, 4)}
    for step, bleu in ((1, 10.0), (2, 30.0), (3, 20.0), (4, 5.0)):
        keep_for_averaging(tmp_path, models[step], step, bleu, count=2)
        if step == 1:
            assert average_weights(tmp_path) is None  # one set of weights is nothing to average
    index = json.loads((tmp_path / "averaging" / "index.json").read_text())
    assert index == [{"step": 2, "bleu": 30.0}, {"step": 3, "bleu": 20.0}]
    assert sorted(p.name for p in (tmp_path / "averaging").glob("*.safetensors")) == [
        "step-2.safetensors",
        "step-3.safetensors",
    ]
    averaged = average_weights(tmp_path)
    for key, value in averaged.items():
        expected = (models[2].state_dict()[key].float() + models[3].state_dict()[key].float()) / 2
        assert torch.allclose(value, expected), key
    keep_for_averaging(tmp_path, models[1], 3, 1.0, count=2)  # a resumed run evaluates step 3 again
    assert json.loads((tmp_path / "averaging" / "index.json").read_text()) == [
        {"step": 2, "bleu": 30.0},
        {"step": 3, "bleu": 1.0},
    ]
    assert torch.equal(
        average_weights(tmp_path)["encoder.embedding.weight"],
        (models[2].state_dict()["encoder.embedding.weight"] + models[1].state_dict()["encoder.embedding.weight"]) / 2,
    )


def test_train_config_builds_the_decoding_options_once_and_checks_them_early():
    cfg = TrainConfig(eval_beam_size=1, test_beam_size=4, test_length_penalty=1.3)
    assert cfg.validation_decoding() == DecodingOptions(num_beams=1) and cfg.validation_decoding().search == "greedy"
    assert cfg.test_decoding() == DecodingOptions(num_beams=4, length_penalty=1.3)
    with pytest.raises(ValueError, match=r"test_length_penalty: length_penalty must be a number in \[0, 10\]"):
        TrainConfig(test_length_penalty=11.0)
    with pytest.raises(ValueError, match=r"eval_beam_size: num_beams must be an integer in \[1, 64\], got 100"):
        TrainConfig(eval_beam_size=100)
