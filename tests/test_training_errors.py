"""Training fails the way a user can act on: one `error:` line and exit status 2 (130 for Ctrl-C), never a
traceback; and it never mixes two runs in one output folder.

--resume falls back past a damaged checkpoint, refuses settings that would change the model or the data
(naming each with both values) and logs the ones that may change; optimizer values torch cannot hold,
bad files and unusable folders stop before training; a busy folder is refused at once, and kill -9 of its
owner leaves it resumable. (Non-finite losses on one rank of several: test_training.py's two-process test.)
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from runhelpers import REPO, TRAIN_SCRIPT, in_process_args, subprocess_env, train, train_main

from seq2seq_hub import Seq2SeqModel
from seq2seq_hub.training import TrainConfig, TrainingError, build_train_parser
from seq2seq_hub.training.config import RESUME_FIXED
from seq2seq_hub.training.output_lock import LOCK_FILE, own_output_dir

# A run of 6 steps with checkpoints at 4 and 6 (two are kept); the subprocess runs get the same settings
# as the in-process ones (in_process_args), so that --resume finds the same configuration.
STEPS = ("--max_steps", "6", "--checkpoint_every", "2", "--eval_every", "6")
TRACEBACK = "Traceback"
INTERRUPTED = "interrupted: rerun the same command with --resume to continue from the last checkpoint"


def run_in_subprocess(output_dir: Path, *args: str, home: Path) -> subprocess.CompletedProcess:
    """train.py in a real process with exactly the settings of `in_process_args(output_dir, *args)`."""
    argv = in_process_args(output_dir, *args)[4:]  # less --config and --output_dir, which `train` adds
    return train(output_dir, *argv, env=subprocess_env(home))


def one_error_line(stderr: str) -> str:
    """The message of a process whose whole stderr is one `error:` line (no traceback, no other output)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and TRACEBACK not in stderr, stderr[-3000:]
    return lines[0].removeprefix("error: ")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished 6-step run with checkpoint-4 and checkpoint-6; tests resume copies of it."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert train_main(in_process_args(out, *STEPS)) == 0
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-6"]
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


# ---------------------------------------------------------------------- --resume past damaged checkpoints
def test_resume_falls_back_past_a_truncated_checkpoint_and_logs_the_settings_that_changed(
    finished_run, tmp_path, capsys
):
    run = copy_of(finished_run, tmp_path)
    tensors = run / "checkpoint-6" / "state.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-100])  # a disk or copy fault, not our writer
    args = in_process_args(run, *STEPS, "--max_steps", "8", "--lr", "0.001", "--weight_decay", "0.01", "--resume")
    assert train_main(args) == 0
    err = capsys.readouterr().err
    skipped = f"--resume: skipped a damaged checkpoint: checkpoint {run / 'checkpoint-6'} is unreadable: "
    assert f"{skipped}state.safetensors: " in err  # and safetensors' reason
    assert "resumed from checkpoint-4 (step 4, epoch 0), the newest intact one (1 skipped)" in err
    changed = re.search(r"--resume: settings changed since checkpoint-6: (.*)", err).group(1)
    assert changed.split("; ") == [
        "max_steps (checkpoint 6, now 8)",
        "lr (checkpoint 0.003, now 0.001)",
        "weight_decay (checkpoint 0.0, now 0.01)",
        f"output_dir (checkpoint {str(finished_run)!r}, now {str(run)!r})",
    ]
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-6", "checkpoint-8"]  # 6 written anew
    meta = json.loads((run / "checkpoint-8" / "trainer_state.json").read_text())
    assert meta["state"]["step"] == 8 and meta["train_config"]["lr"] == 0.001
    assert meta["param_groups"][0]["weight_decay"] == 0.01, "a changed setting takes effect on resume"


def test_resume_with_no_intact_checkpoint_exits_2_with_one_line(finished_run, tmp_path):
    run = copy_of(finished_run, tmp_path)
    (run / "checkpoint-6" / "state.safetensors").write_bytes(b"\0" * 50)
    (run / "checkpoint-4" / "trainer_state.json").write_text('{"state": ')
    result = run_in_subprocess(run, *STEPS, "--resume", home=tmp_path)
    assert result.returncode == 2
    error = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1, result.stderr[-3000:]
    assert re.fullmatch(  # each checkpoint with what is wrong with it (the reasons are the libraries' words)
        f"error: --resume: no intact checkpoint in {re.escape(str(run))} "
        f"\\(checkpoint {re.escape(str(run / 'checkpoint-6'))} is unreadable: state.safetensors: [^;]+; "
        f"checkpoint {re.escape(str(run / 'checkpoint-4'))} is unreadable: trainer_state.json: [^;]+\\); "
        "start a new run with another --output_dir",
        error[0],
    ), error[0]
    assert TRACEBACK not in result.stderr


# ---------------------------------------------------------------------- --resume with other settings
def test_resume_refuses_settings_that_change_the_model_or_the_data_naming_both_values(finished_run, tmp_path):
    run = copy_of(finished_run, tmp_path)
    args = (*STEPS, "--resume", "--model.hidden_size", "128", "--batch_tokens", "800", "--lr", "0.01")
    result = run_in_subprocess(run, *args, home=tmp_path)
    assert result.returncode == 2
    assert one_error_line(result.stderr) == (
        "--resume refused: settings that cannot change within a run differ from checkpoint-6's: "
        "model.hidden_size (checkpoint 96, now 128); batch_tokens (checkpoint 1500, now 800); "
        "resume with the checkpoint's values, or start a new run with another --output_dir"
    )
    assert (run / "latest").read_text().strip() == "checkpoint-6"


def test_resume_refuses_a_checkpoint_whose_model_does_not_fit_the_run_tokenizer(
    finished_run, tmp_path, tokenizer, capsys
):
    run = copy_of(finished_run, tmp_path)
    shutil.rmtree(run / "tokenizer")
    tokenizer.save(run / "tokenizer")  # a different vocabulary (400 entries) under the same settings
    assert train_main(in_process_args(run, *STEPS, "--resume")) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and error[0].startswith(
        "error: --resume refused: the model built from this data differs from checkpoint-6's: "
        "src_vocab_size (checkpoint 1000, now 400); tgt_vocab_size (checkpoint 1000, now 400) "
        f"(was {run / 'tokenizer'} replaced?)"
    )


def test_which_settings_resume_refuses_is_documented_in_the_help():
    help_text = " ".join(build_train_parser().format_help().split())
    assert "settings marked [fixed on --resume] must match the checkpoint's" in help_text
    assert "token budget per batch (rows x longest sentence) [fixed on --resume]" in help_text
    assert "peak learning rate (default: 0.001)" in help_text  # lr may change
    assert "model settings (Seq2SeqConfig fields, all fixed on --resume)" in help_text
    assert set(RESUME_FIXED) <= {f for f in TrainConfig.__dataclass_fields__}
    assert not {"epochs", "max_steps", "lr", "lr_schedule", "patience", "eval_every", "log_every"} & set(RESUME_FIXED)


def test_resume_on_an_empty_folder_starts_from_scratch(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    assert train_main(in_process_args(run, "--max_steps", "2", "--resume")) == 0
    assert f"--resume: no checkpoint in {run}; starting from scratch" in capsys.readouterr().err
    assert (run / "latest").read_text().strip() == "checkpoint-2"


# ---------------------------------------------------------------------- settings and files
@pytest.mark.parametrize(
    "args, message",
    [
        (("--lr", "1e39"), "lr 1e+39 is too large: Adam's first step, lr / (1 - betas[0]) = 1e+40, must be at most"),
        (("--lr", "1e38"), "Adam's first step, lr / (1 - betas[0]) = 1e+39, must be at most 3.403e+38"),
        (("--lr", ".inf"), "lr must be a number > 0, got inf"),
        (("--lr", ".nan"), "lr must be a number > 0, got nan"),
        (("--betas", "[0.9, 1.0]"), "betas must be two numbers in [0, 1), got (0.9, 1.0)"),
        (("--betas", "0.9"), "betas must be two numbers in [0, 1), got 0.9"),
        (("--weight_decay", "1e39"), "weight_decay must be a number in [0, 3.40282e+38], got 1e+39"),
        (("--optimizer", "adamw", "--lr", "1e30", "--weight_decay", "1e10"), "lr * weight_decay = 1e+40 is too large"),
        (("--plateau_factor", "-3"), "plateau_factor must be a number in (0, 1], got -3"),
        (("--keep_checkpoints", "0"), "keep_checkpoints must be an integer >= 1, got 0"),
        (("--seed", str(2**64)), "seed must be an integer in [0, 18446744073709551615], got 18446744073709551616"),
        (("--vocab_size", "99999999999"), "vocab_size must be an integer in [1, 1000000], got 99999999999"),
        (("--progress", "maybe"), "progress must be true or false, got 'maybe'"),
    ],
)
def test_optimizer_and_other_values_torch_cannot_take_stop_before_training(args, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(in_process_args(out, *args)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Invalid training config: ") and message in lines[0], lines
    assert not out.exists()


def test_betas_given_as_integers_reach_torch_as_floats():
    betas = TrainConfig(betas=[0, 1 / 2]).betas
    assert betas == (0.0, 0.5) and [type(b) for b in betas] == [float, float]  # (0, 0.5) == (0.0, 0.5) too


def _files(folder: Path, **contents: bytes) -> None:
    """_files(d, t_de=b"...") writes d/t.de."""
    for name, content in contents.items():
        (folder / name.replace("_", ".")).write_bytes(content)


@pytest.mark.parametrize(
    "make, args, message",
    [
        (lambda d: (d / "c.yaml").write_text("lr: [1\n"), ("--config", "{d}/c.yaml"), "{d}/c.yaml is not valid YAML (line 2, column 1): expected ',' or ']', but got '<stream end>'"),  # noqa: E501
        (lambda d: (d / "c.yaml").write_bytes(b"\xff\xfe"), ("--config", "{d}/c.yaml"), "{d}/c.yaml is not UTF-8 text (invalid start byte at byte 0)"),  # noqa: E501
        (lambda d: (d / "c.yaml").write_text("lr: 0.1\nbogus: 3\n"), ("--config", "{d}/c.yaml"), "unknown training config keys ['bogus']"),  # noqa: E501
        (lambda d: (d / "run").write_text("a file"), (), "output_dir {d}/run is a file, not a folder"),
        (lambda d: (d / "file").write_text(""), ("--output_dir", "{d}/file/run"), "cannot use output_dir {d}/file/run: Not a directory"),  # noqa: E501
        (lambda d: _files(d, e_de=b"", e_en=b"", v_de=b"ein Hund\n", v_en=b"a dog\n"), ("--dataset", "files", "--train_files", "{d}/e.de,{d}/e.en", "--valid_files", "{d}/v.de,{d}/v.en"), "the training and validation data must not be empty"),  # noqa: E501
        (lambda d: _files(d, t_de=b"a\nb\n", t_en=b"x\n", v_de=b"ein Hund\n", v_en=b"a dog\n"), ("--dataset", "files", "--train_files", "{d}/t.de,{d}/t.en", "--valid_files", "{d}/v.de,{d}/v.en"), "{d}/t.de,{d}/t.en: source has 2 lines but target has 1; files must be aligned"),  # noqa: E501
        (lambda d: _files(d, b_de=b"\xff\n", b_en=b"\xff\n"), ("--dataset", "files", "--train_files", "{d}/b.de,{d}/b.en", "--valid_files", "{d}/b.de,{d}/b.en"), "cannot read the train data from {d}/b.de,{d}/b.en: 'utf-8' codec can't decode byte 0xff"),  # noqa: E501
    ],
)  # fmt: skip
def test_bad_files_and_folders_stop_with_one_line(make, args, message, tmp_path, capsys):
    make(tmp_path)
    argv = in_process_args(tmp_path / "run", "--max_steps", "2", *(a.format(d=tmp_path) for a in args))
    assert train_main(argv) == 2
    err = capsys.readouterr().err
    error = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and error[0].startswith("error: " + message.format(d=tmp_path)), err
    assert TRACEBACK not in err


@pytest.mark.parametrize(
    "args, message",
    [
        (("--lr", "1e39"), "Invalid training config: lr 1e+39 is too large"),
        (("--output_dir", "{d}/file/run"), "cannot use output_dir {d}/file/run: Not a directory"),
    ],
)
def test_user_errors_in_a_real_process_exit_2_with_one_line(args, message, tmp_path):
    (tmp_path / "file").write_text("")
    argv = [a.format(d=tmp_path) for a in args]
    result = train(tmp_path / "run", "--max_steps", "2", *argv, env=subprocess_env(tmp_path))
    assert result.returncode == 2
    assert one_error_line(result.stderr).startswith(message.format(d=tmp_path))


def test_out_of_memory_is_one_line_and_a_bug_keeps_its_traceback(tmp_path, monkeypatch, capsys):
    def out_of_memory(self, *args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore details")

    monkeypatch.setattr(Seq2SeqModel, "forward", out_of_memory)
    assert train_main(in_process_args(tmp_path / "a", "--max_steps", "2")) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: out of memory: CUDA out of memory. Tried to allocate 2.00 GiB; lower batch_tokens or max_sentences"
    )

    def bug(self, *args, **kwargs):
        raise AttributeError("'NoneType' object has no attribute 'size'")

    monkeypatch.setattr(Seq2SeqModel, "forward", bug)
    with pytest.raises(AttributeError, match="has no attribute 'size'"):
        train_main(in_process_args(tmp_path / "b", "--max_steps", "2"))


# ---------------------------------------------------------------------- one run per folder, Ctrl-C
def _start(run: Path, log: Path, *args: str, home: Path) -> subprocess.Popen:
    """train.py in the background: a longer run (up to 40 steps), so that it is still going when signalled."""
    command = [sys.executable, str(TRAIN_SCRIPT), *in_process_args(run, *STEPS, "--max_steps", "40", *args)]
    command += ["--epochs", "10"]
    with open(log, "w") as f:  # Ctrl-C as in a terminal, also when the tests run as a background job (SIGINT ignored)
        return subprocess.Popen(
            command, cwd=REPO, env=subprocess_env(home), stdout=f, stderr=f, preexec_fn=_default_sigint
        )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_checkpoint(run: Path, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while not (run / "latest").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (run / "latest").exists() and process.poll() is None, log.read_text()[-3000:]


def test_a_busy_folder_is_refused_at_once_and_kill_9_of_its_owner_leaves_it_resumable(tmp_path, capsys):
    run, log = tmp_path / "run", tmp_path / "owner.log"
    owner = _start(run, log, home=tmp_path)
    try:
        _wait_for_checkpoint(run, owner, log)
        owner.send_signal(signal.SIGSTOP)  # mid-run, holding the folder
        second = subprocess.run(
            [sys.executable, str(TRAIN_SCRIPT), *in_process_args(run, *STEPS)],
            cwd=REPO, env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert second.returncode == 2
        assert one_error_line(second.stderr) == (
            f"{run} is in use by another training run (process {owner.pid}); wait for it to end, "
            "or choose another --output_dir"
        )
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    finally:
        owner.kill()
        owner.wait()
    assert owner.returncode == -signal.SIGKILL
    assert train_main(in_process_args(run, *STEPS, "--max_steps", "8", "--resume")) == 0  # the lock is free
    assert re.search(r"resumed from checkpoint-\d+ \(step \d+", capsys.readouterr().err)


def test_ctrl_c_stops_with_one_line_and_exit_130(tmp_path):
    run, log = tmp_path / "run", tmp_path / "run.log"
    process = _start(run, log, home=tmp_path)
    try:
        _wait_for_checkpoint(run, process, log)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        process.kill()
        process.wait()
    text = log.read_text()
    assert process.returncode == 130, text[-3000:]
    assert text.strip().splitlines()[-1] == INTERRUPTED and TRACEBACK not in text


def test_the_lock_is_held_for_the_block_and_released_after(tmp_path):
    cpu = torch.device("cpu")
    with own_output_dir(tmp_path / "run", is_main=True, world=1, device=cpu):
        assert (tmp_path / "run" / LOCK_FILE).is_file()
        with pytest.raises(TrainingError, match=r"run is in use by another training run \(process \d+\)"):
            with own_output_dir(tmp_path / "run", is_main=True, world=1, device=cpu):
                pass
        with own_output_dir(tmp_path / "run", is_main=False, world=1, device=cpu):
            pass  # only the first process of several takes the lock
    with own_output_dir(tmp_path / "run", is_main=True, world=1, device=cpu):
        pass


def test_a_mistyped_option_is_one_line_with_the_nearest_name(tmp_path):
    result = train(tmp_path / "run", "--model.hidden_sise", "3", env=subprocess_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unrecognized arguments: --model.hidden_sise 3 (did you mean --model.hidden_size?); "
        "see python training/train.py --help"
    ]
