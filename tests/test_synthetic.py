"""Synthetic data on toy inputs: cleaning monolingual text, back-translation and distillation files (aligned,
tagged, resumable, reproducible when sampling), the `backtranslate` / `distill` commands, and training runs
that mix real and synthetic pairs by a stated ratio or start from a model folder."""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict

import pytest
import torch
from runhelpers import in_process_args, read_metrics, tiny_run, train_main

from seq2seq_hub import DecodingOptions, Seq2SeqModel, Translator
from seq2seq_hub.cli import main as cli_main
from seq2seq_hub.synthetic import SyntheticRecipe, monolingual_lines, pair_paths, tagged, write_synthetic
from seq2seq_hub.training.config import TrainConfig
from seq2seq_hub.training.mixing import mix_training_pairs


def write(path, lines: list[str]) -> str:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def test_monolingual_lines_strip_and_leave_out_blanks_repeats_and_excluded_sentences(tmp_path):
    first = write(tmp_path / "a.de", ["Ein Hund.", "  Eine Katze. ", "", "Ein Hund.", "Ein Test."])
    with gzip.open(tmp_path / "b.de.gz", "wt", encoding="utf-8") as f:
        f.write("Eine Katze.\nZwei Vögel.\n   \n")
    excluded = write(tmp_path / "val.de", ["Ein Test."])
    text = monolingual_lines([first, tmp_path / "b.de.gz"], exclude=[excluded])
    assert text.lines == ["Ein Hund.", "Eine Katze.", "Zwei Vögel."]
    assert (text.read, text.empty, text.repeated, text.excluded) == (8, 2, 2, 1)
    assert "3 lines kept of 8 read" in text.summary()
    kept = monolingual_lines([first], dedupe=False).lines
    assert kept == ["Ein Hund.", "Eine Katze.", "Ein Hund.", "Ein Test."]


def test_tagged_marks_a_text_once():
    assert tagged("Ein Hund.", "<bt>") == "<bt> Ein Hund."
    assert tagged("<bt> Ein Hund.", "<bt>") == "<bt> Ein Hund."
    assert tagged("Ein Hund.", "") == "Ein Hund."


def _recipe(translator: Translator, kind: str = "backtranslation", tag: str = "<bt>") -> SyntheticRecipe:
    options = translator.generation_options
    return SyntheticRecipe(
        kind=kind, model="tiny", src_lang="de", tgt_lang="en", inputs=["x"], excluded=[], options=asdict(options),
        dtype="float32", tag=tag,
    )  # fmt: skip


def _read(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_back_translation_files_are_aligned_named_by_language_and_every_synthetic_source_is_tagged(
    translator, multi30k, tmp_path
):
    lines = multi30k("val", "de", 9)
    options = DecodingOptions(strategy="greedy", max_length=8)
    recipe = write_synthetic(translator, lines, tmp_path / "bt", _recipe(translator), options, progress=False)
    inputs, translations, recipe_file = pair_paths(tmp_path / "bt", "de", "en")
    assert inputs.name == "bt.de" and translations.name == "bt.en" and recipe_file.name == "bt.json"
    assert _read(inputs) == lines
    expected = [h.text for h in translator.translate(lines, options)]
    assert _read(translations) == [tagged(text, "<bt>") for text in expected]
    saved = json.loads(recipe_file.read_text(encoding="utf-8"))
    assert saved["written"] == saved["lines"] == 9 and saved["tag"] == "<bt>" and recipe.complete
    assert saved["options"]["strategy"] == "greedy"


@pytest.mark.parametrize("strategy", ["greedy", "sample"])
def test_a_stopped_job_resumes_to_the_same_files_as_one_uninterrupted_run(translator, multi30k, tmp_path, strategy):
    lines = multi30k("val", "de", 11)
    options = DecodingOptions(strategy=strategy, seed=3, max_length=8)

    def run(prefix, resume=False, upto=None):
        return write_synthetic(
            translator, lines[:upto] if upto else lines, prefix, _recipe(translator, tag=""), options,
            resume=resume, chunk_lines=4, progress=False,
        )  # fmt: skip

    run(tmp_path / "whole")
    run(tmp_path / "part", upto=11)
    inputs, translations, recipe_file = pair_paths(tmp_path / "part", "de", "en")
    # a stop mid-write: the third chunk lost, the second pair's translation side cut in the middle of a line
    inputs.write_text("".join(line + "\n" for line in lines[:8]), encoding="utf-8")
    kept = _read(translations)[:5]
    translations.write_text("".join(t + "\n" for t in kept) + "half a li", encoding="utf-8")
    run(tmp_path / "part", resume=True)
    whole_inputs, whole_translations, _ = pair_paths(tmp_path / "whole", "de", "en")
    assert _read(inputs) == _read(whole_inputs) == lines
    assert _read(translations) == _read(whole_translations)


def test_existing_files_need_resume_and_resume_refuses_other_settings(translator, multi30k, tmp_path):
    lines = multi30k("val", "de", 3)
    options = DecodingOptions(strategy="greedy", max_length=5)
    write_synthetic(translator, lines, tmp_path / "bt", _recipe(translator), options, progress=False, chunk_lines=1)
    with pytest.raises(FileExistsError, match="pass --resume"):
        write_synthetic(translator, lines, tmp_path / "bt", _recipe(translator), options, progress=False)
    with pytest.raises(ValueError, match="tag differ"):
        write_synthetic(
            translator, lines, tmp_path / "bt", _recipe(translator, tag="<x>"), options, resume=True, chunk_lines=1
        )
    other = multi30k("val", "de", 5)[2:]
    with pytest.raises(ValueError, match="lines differ|another job"):
        write_synthetic(translator, other, tmp_path / "bt", _recipe(translator), options, resume=True, chunk_lines=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    run, _ = tiny_run(tmp_path_factory)
    return run / "model"


def test_backtranslate_and_distill_commands_write_tagged_sources_and_teacher_targets(model_dir, multi30k, tmp_path):
    # the tiny model translates de -> en: as a reverse model its English translations are an en -> de run's sources
    german = write(tmp_path / "mono.de", multi30k("val", "de", 6) + multi30k("val", "de", 2))
    common = ["--model", str(model_dir), "--strategy", "greedy", "--max-length", "12", "--progress", "off"]
    assert (
        cli_main(["backtranslate", *common, "--input", german, "--output", str(tmp_path / "bt"), "--tag", "<bt>"]) == 0
    )
    assert _read(tmp_path / "bt.de") == multi30k("val", "de", 6)  # repeats left out
    synthetic = _read(tmp_path / "bt.en")
    assert len(synthetic) == 6 and all(line.startswith("<bt> ") for line in synthetic)
    assert json.loads((tmp_path / "bt.json").read_text())["kind"] == "backtranslation"
    excluded = write(tmp_path / "val.de", multi30k("val", "de", 1))
    args = ["distill", *common, "--input", german, "--output", str(tmp_path / "kd"), "--exclude", excluded]
    assert cli_main(args) == 0
    assert _read(tmp_path / "kd.de") == multi30k("val", "de", 6)[1:]
    teacher = Translator.from_pretrained(model_dir)
    expected = teacher.translate(multi30k("val", "de", 6)[1:], strategy="greedy", max_length=12)
    assert _read(tmp_path / "kd.en") == [h.text for h in expected]  # untagged teacher translations


def test_backtranslate_refuses_to_overwrite_in_one_error_line(model_dir, multi30k, tmp_path, capsys):
    german = write(tmp_path / "mono.de", multi30k("val", "de", 2))
    args = ["backtranslate", "--model", str(model_dir), "--strategy", "greedy", "--progress", "off"]
    args += ["--input", german, "--output", str(tmp_path / "bt")]
    assert cli_main(args) == 0
    capsys.readouterr()
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[1].startswith("error:") and "--resume" in err[1]  # after the input summary
    assert cli_main([*args, "--resume"]) == 0


def _config(tmp_path, **fields) -> TrainConfig:
    return TrainConfig(dataset="files", train_files="x,y", valid_files="x,y", **fields)


def _synthetic_files(tmp_path, count: int) -> str:
    src = write(tmp_path / "syn.de", [f"synthetisch {i}" for i in range(count)])
    tgt = write(tmp_path / "syn.en", [f"synthetic {i}" for i in range(count)])
    return f"{src},{tgt}"


def test_mixing_upsamples_the_real_pairs_and_holds_the_synthetic_ratio(tmp_path):
    from datasets import Dataset

    real = Dataset.from_dict({"src": [f"echt {i}" for i in range(10)], "tgt": [f"real {i}" for i in range(10)]})
    files = _synthetic_files(tmp_path, 100)
    cfg = _config(tmp_path, synthetic_files=files, real_upsample=3, synthetic_ratio=1.5, synthetic_tag="<bt>")
    mixed, mix = mix_training_pairs(cfg, real, lambda message: None)
    sources = mixed["src"]
    real_rows = [s for s in sources if s.startswith("echt")]
    synthetic_rows = [s for s in sources if not s.startswith("echt")]
    assert len(real_rows) == 30 and sorted(set(real_rows)) == sorted(real["src"])  # each real pair 3 times
    assert len(synthetic_rows) == 45 == mix.synthetic  # 1.5 synthetic per upsampled real pair
    assert len(set(synthetic_rows)) == 45 and all(s.startswith("<bt> synthetisch ") for s in synthetic_rows)
    assert (mix.real, mix.real_upsample, mix.synthetic_available, mix.total) == (10, 3, 100, 75)
    again, _ = mix_training_pairs(cfg, real, lambda message: None)
    assert again["src"] == sources  # the sample is seeded
    everything, mix = mix_training_pairs(_config(tmp_path, synthetic_files=files), real, lambda message: None)
    assert len(everything) == 110 and mix.synthetic == 100 and not any(s.startswith("<bt>") for s in everything["src"])
    only, mix = mix_training_pairs(_config(tmp_path, distilled_files=files, real_upsample=0), real, print)
    assert len(only) == 100 and mix.total == 100
    both = _config(tmp_path, synthetic_files=files, distilled_files=files, synthetic_tag="<bt>")
    mixed, mix = mix_training_pairs(both, real, lambda message: None)
    tagged_rows = [s for s in mixed["src"] if s.startswith("<bt> ")]
    assert len(mixed) == 210 and mix.synthetic == 200 and len(tagged_rows) == 100  # distilled sources stay untagged


def test_training_config_checks_the_mixing_settings(tmp_path):
    with pytest.raises(ValueError, match="real_upsample 0 trains on synthetic pairs only"):
        _config(tmp_path, real_upsample=0)
    with pytest.raises(ValueError, match="score_test must be true or false"):
        _config(tmp_path, score_test="no")
    with pytest.raises(ValueError, match=r"synthetic_ratio must be a number >= 0, got -1"):
        _config(tmp_path, synthetic_files="a,b", synthetic_ratio=-1)
    with pytest.raises(ValueError, match=r"real_upsample must be an integer >= 0, got 1.5"):
        _config(tmp_path, real_upsample=1.5)


def test_a_run_mixes_synthetic_pairs_and_a_run_can_start_from_a_model_folder(model_dir, multi30k, tmp_path):
    synthetic = (
        f"{write(tmp_path / 's.de', multi30k('val', 'de', 40))},{write(tmp_path / 's.en', multi30k('val', 'en', 40))}"
    )
    (tmp_path / "s.json").write_text(json.dumps({"model": "a-teacher", "written": 40, "src_lang": "de"}))
    args = ["--synthetic_files", synthetic, "--real_upsample", "2", "--synthetic_ratio", "0.05", "--epochs", "1"]
    assert train_main(in_process_args(tmp_path / "mixed", *args, "--score_test", "false")) == 0
    card = (tmp_path / "mixed" / "model" / "README.md").read_text(encoding="utf-8")
    assert "300 real pairs x 2 + 30 synthetic (of 40) = 630 pairs per epoch" in card
    assert "## Synthetic data" in card and "40 de lines translated" in card and "`a-teacher`" in card
    final = json.loads((tmp_path / "mixed" / "final_metrics.json").read_text())
    assert final and not any(key.startswith("test") for key in final)  # val only, while recipes are chosen

    # fine-tuning with a learning rate too small to move a float16 weight: the start model comes back
    start = Seq2SeqModel.from_pretrained(model_dir)
    tiny_lr = ["--init_from", str(model_dir), "--lr", "1e-12", "--max_steps", "2", "--average_last", "0"]
    assert train_main(in_process_args(tmp_path / "tuned", *tiny_lr)) == 0
    tuned = Seq2SeqModel.from_pretrained(tmp_path / "tuned" / "model")
    for name, weight in start.state_dict().items():
        torch.testing.assert_close(tuned.state_dict()[name], weight, rtol=1e-3, atol=1e-3)
    assert read_metrics(tmp_path / "tuned")
    assert (tmp_path / "tuned" / "model" / "tokenizer.json").read_bytes() == (model_dir / "tokenizer.json").read_bytes()


def test_starting_from_a_model_with_other_settings_is_one_clear_error(model_dir, tmp_path, capsys):
    args = in_process_args(tmp_path / "run", "--init_from", str(model_dir), "--model.hidden_size", "32")
    assert train_main(args) != 0
    assert "init_from: the model settings must match the starting model's; hidden_size: 32" in capsys.readouterr().err
