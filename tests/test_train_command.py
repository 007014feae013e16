"""`seq2seq-hub train`: the packaged training command, with recipes found by name; `training/train.py` is a
shim over the same command."""

from __future__ import annotations

from pathlib import Path

import pytest
from runhelpers import DATA_DIR, FAST, cli, subprocess_env

from seq2seq_hub.training.shipped_recipes import RECIPES_DIR, find_recipe, recipe_names


def test_recipes_travel_with_the_package_and_are_found_by_name():
    assert {"tiny", "multi30k_de_en", "bt_en_de", "st_en_fr"} <= set(recipe_names())
    assert find_recipe("tiny") == RECIPES_DIR / "tiny.yaml" == find_recipe("tiny.yaml")
    assert find_recipe("training/configs/multi30k_de_en.yaml") == RECIPES_DIR / "multi30k_de_en.yaml"  # old path
    with pytest.raises(FileNotFoundError, match=r"config file not found: tiyn \(did you mean tiny\?\).*multi30k_de_en"):
        find_recipe("tiyn")


def test_a_file_of_ones_own_wins_over_a_recipe_of_that_name(tmp_path, monkeypatch):
    mine = tmp_path / "tiny.yaml"
    mine.write_text("epochs: 1\n")
    monkeypatch.chdir(tmp_path)
    assert find_recipe("tiny.yaml") == Path("tiny.yaml")


def test_seq2seq_hub_train_trains_a_shipped_recipe_by_name(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--config", "tiny", "--output_dir", str(out), "--data_dir", str(DATA_DIR), *FAST]
    result = cli(*args, "--epochs", "1", "--max_train_examples", "300", env=subprocess_env(tmp_path), timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith(str(out / "model"))
    card = (out / "model" / "README.md").read_text(encoding="utf-8")
    assert "seq2seq-hub train --config tiny" in card  # the card's command reproduces the run


def test_seq2seq_hub_train_help_and_mistakes(tmp_path):
    env = subprocess_env(tmp_path)
    assert "--synthetic_files" in cli("train", "--help", env=env).stdout
    result = cli("train", "--config", "nope", env=env)
    assert result.returncode == 2 and result.stderr.strip().startswith("error: config file not found: nope")
