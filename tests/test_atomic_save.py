"""A save killed at any point (SIGKILL, in a real process) leaves the old model folder or the new one, never
a mix: the folder is written beside the old one and swapped in. Also: entries that are not part of a model
repo (a `.git`, notes) survive a save."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from seq2seq_hub import Translator

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    sys.path.insert(0, {tests!r})
    from conftest import tiny_config
    from seq2seq_hub import Seq2SeqModel, Seq2SeqTokenizer, Translator

    kill_at, folder, count = int(sys.argv[1]), sys.argv[2], [0]
    tokenizer = Seq2SeqTokenizer.from_pretrained(sys.argv[3])
    torch.manual_seed(int(sys.argv[4]))
    config = tiny_config(src_vocab_size=tokenizer.src_vocab_size, tgt_vocab_size=tokenizer.tgt_vocab_size,
                         shared_vocab=tokenizer.joint)
    translator = Translator(Seq2SeqModel(config), tokenizer)
    real_fsync = os.fsync

    def fsync(fd):  # every file write and the folder swap fsync: die at the kill_at-th one
        count[0] += 1
        if count[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_fsync(fd)

    os.fsync = fsync
    translator.save_pretrained(folder)
    print(count[0])
    """
)


def _save(tmp_path, tokenizer_dir, folder, seed: int, kill_at: int = 0):
    script = CHILD.format(tests=os.path.dirname(__file__))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    args = [sys.executable, "-c", script, str(kill_at), str(folder), str(tokenizer_dir), str(seed)]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


def _weights(folder) -> dict[str, torch.Tensor]:
    return Translator.from_pretrained(folder).model.state_dict()


@pytest.fixture(scope="module")
def tokenizer_dir(tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    tokenizer.save(folder)
    return folder


def test_a_save_killed_at_any_write_leaves_the_old_folder_or_the_new_one(tokenizer_dir, tmp_path):
    folder = tmp_path / "model"
    first = _save(tmp_path, tokenizer_dir, folder, seed=0)
    assert first.returncode == 0, first.stderr
    old = _weights(folder)
    (folder / "notes.txt").write_text("mine")
    complete = _save(tmp_path, tokenizer_dir, tmp_path / "probe", seed=1)
    writes = int(complete.stdout.split()[-1])  # fsyncs in one whole save
    new = _weights(tmp_path / "probe")
    assert writes >= 6
    seen = set()
    # every write of the last few (the swap) and some of the others: about ten processes
    kill_points = sorted({*range(1, writes - 3, max(1, (writes - 4) // 5)), *range(max(1, writes - 3), writes + 1)})
    for kill_at in kill_points:
        result = _save(tmp_path, tokenizer_dir, folder, seed=1, kill_at=kill_at)
        assert result.returncode == -signal.SIGKILL, result.stderr
        state = _weights(folder)  # loads: config, weights and tokenizer belong together
        is_old = all(torch.equal(state[k], old[k]) for k in old)
        is_new = all(torch.equal(state[k], new[k]) for k in new)
        assert is_old or is_new, f"killed at write {kill_at}: a mix of two saves"
        seen.add("old" if is_old else "new")
        assert (folder / "notes.txt").read_text() == "mine"  # in the old folder and the new one alike
        if is_new:
            break
    assert "old" in seen  # the kills before the swap left the old folder whole


def test_a_save_keeps_entries_that_are_not_part_of_a_model_repo(translator, tmp_path):
    folder = tmp_path / "repo"
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "notes.txt").write_text("mine")
    (folder / "model.safetensors").write_text("stale")
    translator.save_pretrained(folder)
    assert (folder / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert (folder / "notes.txt").read_text() == "mine"
    assert Translator.from_pretrained(folder).config == translator.config
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]  # no staging folder left behind


def test_saved_files_get_the_permissions_a_new_file_gets(translator, tmp_path):
    folder = tmp_path / "model"
    translator.save_pretrained(folder)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    expected = plain.stat().st_mode & 0o777
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {p.name: expected for p in folder.iterdir()}
    (tmp_path / "sub").mkdir()
    assert folder.stat().st_mode & 0o777 == (tmp_path / "sub").stat().st_mode & 0o777  # the folder too
