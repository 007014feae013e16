"""Crashes mid-training: SIGKILL at several points (during checkpoint writes too) and a full disk.

The checkpoint on disk is always loadable, a resumed run reaches exactly the metrics of an
uninterrupted one, and a failed write leaves the previous checkpoint intact with a clear message.
"""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runhelpers import FAST, REPO, TINY_CONFIG, TRAIN_SCRIPT, by_step, read_metrics, subprocess_env, train
from safetensors.torch import load_file

ARGS = (
    "--max_train_examples", "300", "--batch_tokens", "800", "--epochs", "2", "--eval_every", "6",
    "--checkpoint_every", "3", "--log_every", "3", "--tf_schedule", "linear", "--tf_end", "0.5",
    "--max_valid_examples", "20", "--max_test_examples", "10", "--test_beam_size", "1", "--tensorboard", "false",
)  # fmt: skip

# Runs train.py with checkpoint writes slowed down after the tensors are written (before the rename),
# so that a SIGKILL can land in the middle of a write.
SLOW_WRITER = """
import os, runpy, sys, time
import safetensors.torch as st
original = st.save_file
def slow_save_file(tensors, filename, metadata=None):
    original(tensors, filename, metadata=metadata)
    if filename.endswith("state.safetensors"):
        open(os.environ["WRITING_FLAG"], "w").close()
        time.sleep(float(os.environ["SLOW_SECONDS"]))
st.save_file = slow_save_file
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reference")
    result = train(root / "run", *ARGS, env=subprocess_env(root))
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run"


def _kill_during(tmp_path: Path, run: Path, write_number: int) -> None:
    """Start training and SIGKILL it while it writes its `write_number`-th checkpoint."""
    script = tmp_path / "slow_writer.py"
    script.write_text(SLOW_WRITER)
    flag = tmp_path / "writing"
    env = subprocess_env(tmp_path, WRITING_FLAG=str(flag), SLOW_SECONDS="1.5")
    command = [sys.executable, str(script), str(TRAIN_SCRIPT), "--config", str(TINY_CONFIG),
               "--output_dir", str(run), *FAST, *ARGS]  # fmt: skip
    with open(tmp_path / "killed.log", "w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
        try:
            seen, deadline = 0, time.monotonic() + 120
            while seen < write_number and process.poll() is None and time.monotonic() < deadline:
                if flag.exists():
                    seen += 1
                    if seen < write_number:
                        flag.unlink()
                        while not flag.exists() and process.poll() is None:  # wait for the next write
                            time.sleep(0.01)
                        continue
                time.sleep(0.01)
            assert seen == write_number, (tmp_path / "killed.log").read_text()[-3000:]
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    partial = list(run.glob(".checkpoint-*"))
    assert partial, "the kill did not land inside a checkpoint write"


def _assert_loadable(run: Path) -> None:
    latest = run / (run / "latest").read_text().strip()
    state = json.loads((latest / "trainer_state.json").read_text())
    tensors = load_file(str(latest / "state.safetensors"))
    assert state["state"]["step"] > 0 and any(k.startswith("model.") for k in tensors)


@pytest.mark.slow
@pytest.mark.parametrize("write_number", [1, 3])
def test_sigkill_during_a_checkpoint_write_then_resume_matches_an_uninterrupted_run(reference, tmp_path, write_number):
    run = tmp_path / "run"
    _kill_during(tmp_path, run, write_number)
    if write_number > 1:
        _assert_loadable(run)  # the previous, complete checkpoint is what `latest` names
    result = train(run, *ARGS, "--resume", env=subprocess_env(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list(run.glob(".checkpoint-*")), "a partial checkpoint was left behind"
    a, b = read_metrics(reference), read_metrics(run)
    for key in ("valid_loss", "valid_bleu", "loss", "lr", "tf_ratio"):
        assert by_step(b, key) == by_step(a, key), key
    assert json.loads((run / "final_metrics.json").read_text()) == json.loads(
        (reference / "final_metrics.json").read_text()
    )


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_so(tmp_path, monkeypatch, capsys):
    import safetensors.torch

    sys.path.insert(0, str(REPO / "training"))
    import train as train_script

    writes = {"n": 0}
    original = safetensors.torch.save_file

    def failing_save_file(tensors, filename, metadata=None):
        if str(filename).endswith("state.safetensors"):
            writes["n"] += 1
            if writes["n"] == 2:
                with open(filename, "wb") as f:  # a partial write, then the disk is full
                    f.write(b"\0" * 100)
                raise OSError(errno.ENOSPC, "No space left on device")
        return original(tensors, filename, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", failing_save_file)
    run = tmp_path / "run"
    argv = ["--config", str(TINY_CONFIG), "--output_dir", str(run), *FAST, *ARGS, "--eval_every", "100"]
    code = train_script.main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert "could not write checkpoint" in err and "No space left on device" in err
    assert "previous checkpoint is intact" in err and "Traceback" not in err
    assert (run / "latest").read_text().strip() == "checkpoint-3"
    _assert_loadable(run)
    assert not list(run.glob(".checkpoint-*"))
