"""BLEU by source length: sentences binned by source words (every Multi30k test sentence in one bin, each
bin well filled), sacreBLEU per bin, the model folder's bleu_by_length.json (round trip, absent or broken
file read as None), `seq2seq-hub evaluate --record-length-scores`, and the training run writing it."""

from __future__ import annotations

import gzip
import json

import pytest
import sacrebleu
from runhelpers import DATA_DIR, in_process_args, train_main

from seq2seq_hub.cli import main as cli_main
from seq2seq_hub.length_scores import (
    LENGTH_BINS,
    LENGTH_SCORES_FILE,
    bleu_by_length,
    read_length_scores,
    split_name,
    write_length_scores,
)

SIGNATURE = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.4.0"


def test_sentences_fall_in_the_bin_of_their_source_word_count():
    sources = ["a b", "a b c", "a b c d e", "a b c d e f g h", ""]  # 2, 3, 5, 8 and 0 words
    hyps = ["the cat", "a dog runs", "one two three four five", "x y z", ""]
    refs = ["the cat", "a dog walks", "one two three four five", "p q r", "nothing"]
    bins = bleu_by_length(sources, hyps, refs, bins=[(0, 2), (3, 4), (5, 7), (8, None)])
    assert [(b["min_words"], b["max_words"], b["count"]) for b in bins] == [
        (0, 2, 2),
        (3, 4, 1),
        (5, 7, 1),
        (8, None, 1),
    ]
    for b, rows in zip(bins, [[0, 4], [1], [2], [3]]):
        expected = sacrebleu.corpus_bleu([hyps[i] for i in rows], [[refs[i] for i in rows]]).score
        assert b["bleu"] == pytest.approx(expected)
    assert bins[2]["bleu"] == pytest.approx(100.0) and bins[3]["bleu"] == 0.0


def test_an_empty_bin_has_no_bleu_and_sentences_outside_every_bin_are_left_out():
    bins = bleu_by_length(["a", "a b c d"], ["x", "y"], ["x", "y"], bins=[(1, 1), (2, 3)])
    assert [b["count"] for b in bins] == [1, 0]  # 'a b c d' has 4 words: in no bin
    assert bins[0]["bleu"] == pytest.approx(sacrebleu.corpus_bleu(["x"], [["x"]]).score) and bins[1]["bleu"] is None


@pytest.mark.parametrize(
    "bins",
    [[], [(3, 2)], [(0, 5), (5, 9)], [(4, 9), (0, 3)], [(0, None), (3, 4)], [(-1, 3)], [(0, 2.5)], ["0-3"]],
)
def test_bad_bins_are_refused(bins):
    with pytest.raises(ValueError, match="length bins must"):
        bleu_by_length(["a"], ["a"], ["a"], bins=bins)


def test_sources_hypotheses_and_references_must_be_aligned():
    with pytest.raises(ValueError, match="got 2 sources, 1 hypotheses and 2 references; they must be aligned"):
        bleu_by_length(["a", "b"], ["a"], ["a", "b"])


@pytest.mark.parametrize("lang", ["de", "en", "fr", "cs"])
def test_the_default_bins_spread_every_multi30k_test_set(lang):
    with gzip.open(DATA_DIR / f"test_2016_flickr.{lang}.gz", "rt", encoding="utf-8") as f:
        sources = [line.rstrip("\n") for line in f]
    bins = bleu_by_length(sources, sources, sources)  # hypotheses = references: 100 BLEU in each bin
    assert [(b["min_words"], b["max_words"]) for b in bins] == list(LENGTH_BINS)
    assert sum(b["count"] for b in bins) == len(sources) == 1000
    assert min(b["count"] for b in bins) >= 40
    assert all(b["bleu"] == pytest.approx(100.0) for b in bins)


# ---------------------------------------------------------------------- the file
def test_the_file_round_trips_and_a_missing_or_broken_one_reads_as_none(tmp_path):
    bins = bleu_by_length(["a b", "a b c d e f g h i j k"], ["x y", "z"], ["x y", "w"])
    path = write_length_scores(tmp_path, "test_2016_flickr", bins, SIGNATURE)
    assert path == tmp_path / LENGTH_SCORES_FILE and sorted(p.name for p in tmp_path.iterdir()) == [LENGTH_SCORES_FILE]
    assert read_length_scores(tmp_path) == {
        "split": "test_2016_flickr",
        "length_unit": "source words",
        "bleu_signature": SIGNATURE,
        "bins": bins,
    }
    assert read_length_scores(tmp_path / "elsewhere") is None
    for broken in ("{not json", "[1, 2]", '{"split": "test"}', "\udcff"):
        path.write_text(broken, encoding="utf-8", errors="surrogateescape")
        assert read_length_scores(tmp_path) is None
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        write_length_scores(tmp_path / "missing", "test", bins, SIGNATURE)


@pytest.mark.parametrize(
    "path, name",
    [
        ("data/test_2016_flickr.de.gz", "test_2016_flickr"),
        ("newstest2014.en", "newstest2014"),
        ("held-out", "held-out"),
    ],
)
def test_the_split_is_named_after_the_source_file(path, name):
    assert split_name(path) == name


# ---------------------------------------------------------------------- the command line and training
@pytest.fixture
def test_files(tmp_path, multi30k):
    for lang in ("de", "en"):
        lines = multi30k("test_2016_flickr", lang, 30)
        (tmp_path / f"test_2016_flickr.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path / "test_2016_flickr.de", tmp_path / "test_2016_flickr.en"


def test_evaluate_records_bleu_by_length_in_the_model_folder(translator, test_files, tmp_path, capsys):
    translator.save_pretrained(tmp_path / "model")
    src, ref = test_files
    argv = ["evaluate", "--model", str(tmp_path / "model"), "--src", str(src), "--ref", str(ref), "--beam-size", "1"]
    assert cli_main([*argv, "--record-length-scores"]) == 0
    out = capsys.readouterr().out
    record = read_length_scores(tmp_path / "model")
    assert record["split"] == "test_2016_flickr" and record["length_unit"] == "source words"
    assert out.count(record["bleu_signature"]) == 1  # the signature evaluate printed for the whole set
    assert sum(b["count"] for b in record["bins"]) == 30
    table = out[out.index("BLEU by source length in words (test_2016_flickr):") :].splitlines()
    assert table[1].split() == ["words", "sentences", "BLEU"]
    assert [row.split()[:2] for row in table[2:8]] == [
        [f"{b['min_words']}-{b['max_words']}" if b["max_words"] is not None else f"{b['min_words']}+", str(b["count"])]
        for b in record["bins"]
    ]
    assert table[8] == f"recorded in {tmp_path / 'model' / LENGTH_SCORES_FILE}"

    assert cli_main([*argv, "--record-length-scores", "--split-name", "flickr-30"]) == 0
    assert read_length_scores(tmp_path / "model")["split"] == "flickr-30"
    capsys.readouterr()
    (tmp_path / "model" / LENGTH_SCORES_FILE).unlink()
    assert cli_main(argv) == 0  # without the flag: no table, no file
    assert "BLEU by source length" not in capsys.readouterr().out
    assert read_length_scores(tmp_path / "model") is None


def test_evaluate_refuses_to_record_for_a_hub_model(test_files, capsys):
    src, ref = test_files
    argv = ["evaluate", "--model", "org/name", "--src", str(src), "--ref", str(ref), "--record-length-scores"]
    assert cli_main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --record-length-scores writes into a local model folder, and org/name is a Hub repo id: "
        "download it to a folder and evaluate that"
    ]


def test_a_training_run_stores_its_test_bleu_by_length_in_its_model_folder(tmp_path):
    assert train_main(in_process_args(tmp_path / "run")) == 0
    record = read_length_scores(tmp_path / "run" / "model")
    final = json.loads((tmp_path / "run" / "final_metrics.json").read_text(encoding="utf-8"))
    assert record["split"] == "test_2016_flickr" and record["bleu_signature"] == final["test_bleu_signature"]
    assert sum(b["count"] for b in record["bins"]) == 5  # in_process_args: 5 test sentences
    assert [(b["min_words"], b["max_words"]) for b in record["bins"]] == list(LENGTH_BINS)
    assert "bins" not in json.dumps(final)  # final_metrics.json stays as it was
