"""runhelpers.py: run `training/train.py` and the `seq2seq-hub` command in subprocesses for the tests, offline,
on one thread, with every cache under the test's temporary folder (or train.py's `main` in the test's own
process, for speed); and one tiny trained run per session.

Imported by test_training.py, test_training_errors.py, test_cli.py and test_push.py; the tiny run is cached
here (not in a fixture) so that one session trains it once, whichever test module asks first.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAIN_SCRIPT = REPO / "training" / "train.py"
TINY_CONFIG = REPO / "seq2seq_hub" / "training" / "recipes" / "tiny.yaml"
CLI = Path(sys.executable).with_name("seq2seq-hub")
DATA_DIR = REPO / "data" / "multi30k"

# tiny.yaml, cut down to a few seconds: 1000 pairs, 2 epochs, small validation and test slices
FAST = (
    "--max_train_examples", "1000", "--epochs", "2", "--max_valid_examples", "40", "--max_test_examples", "40",
    "--progress", "false", "--num_threads", "1",
)  # fmt: skip


def subprocess_env(home: Path, **overrides: str | None) -> dict[str, str]:
    """The environment of a test subprocess: offline, one polite thread, caches under `home` (None removes a key)."""
    env = dict(os.environ)
    env.update(
        OMP_WAIT_POLICY="PASSIVE",  # a background job shares the cores: spinning OpenMP threads stall both
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HOME=str(home / "hf-home"),
        MPLCONFIGDIR=str(home / "mpl-config"),
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def train(output_dir: Path, *args: str, env: dict[str, str], timeout: float = 120, config: Path = TINY_CONFIG):
    """`python training/train.py --config tiny.yaml --output_dir DIR <FAST> <args>`; returns the CompletedProcess."""
    command = [sys.executable, str(TRAIN_SCRIPT), "--config", str(config), "--output_dir", str(output_dir), *FAST]
    return subprocess.run([*command, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def train_main(argv: list[str]) -> int:
    """training/train.py's `main(argv)`, run in this process (train.py is loaded on the first call)."""
    if "main" not in _TRAIN_SCRIPT:
        spec = importlib.util.spec_from_file_location("train_script", TRAIN_SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _TRAIN_SCRIPT["main"] = module.main
    return _TRAIN_SCRIPT["main"](argv)


_TRAIN_SCRIPT: dict[str, object] = {}


def in_process_args(output_dir: Path, *args: str) -> list[str]:
    """train.py arguments for an in-process run: tiny.yaml, 300 pairs, a few steps, absolute data path."""
    return [
        "--config", str(TINY_CONFIG), "--output_dir", str(output_dir), "--data_dir", str(DATA_DIR), *FAST,
        "--max_train_examples", "300", "--max_valid_examples", "10", "--max_test_examples", "5",
        "--test_beam_size", "1", "--tensorboard", "false", *args,
    ]  # fmt: skip


def cli(*args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 60):
    """`seq2seq-hub <args>`; returns the CompletedProcess."""
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "seq2seq_hub.cli"]
    return subprocess.run(
        [*command, *args], cwd=REPO, env=env, input=stdin, capture_output=True, text=True, timeout=timeout
    )


def read_metrics(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def by_step(records: list[dict], key: str) -> dict[int, float]:
    """step -> value of `key` (the last record wins: a resumed run may repeat the steps after its checkpoint)."""
    return {r["step"]: r[key] for r in records if key in r}


_TINY_RUN: dict[str, object] = {}


def tiny_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The output folder of one tiny end-to-end training run per test session, and its process result."""
    if "run" not in _TINY_RUN:
        root = tmp_path_factory.mktemp("tiny-run")
        result = train(root / "run", env=subprocess_env(root))
        assert result.returncode == 0, f"tiny training run failed:\n{result.stderr[-4000:]}"
        _TINY_RUN.update(run=root / "run", result=result)
    return _TINY_RUN["run"], _TINY_RUN["result"]  # type: ignore[return-value]
