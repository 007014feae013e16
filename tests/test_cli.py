"""The `seq2seq-hub` command on the session's tiny trained model: translate (stdin -> stdout, one line per
line, with word alignments on request), evaluate (BLEU with its signature, chrF, perplexity), and errors as
one `error:` line with exit 2."""

from __future__ import annotations

import gzip
import re

import pytest
import sacrebleu
from runhelpers import REPO, cli, subprocess_env, tiny_run

from seq2seq_hub import Translator
from seq2seq_hub.cli import main as cli_main

DATA_DIR = REPO / "data" / "multi30k"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    run, _ = tiny_run(tmp_path_factory)
    return run / "model"


def test_translate_reads_stdin_and_writes_one_line_per_line(model_dir, tmp_path):
    lines = ["Ein Mann fährt Fahrrad.", "", "Zwei Hunde spielen im Schnee.", "   ", "Eine Frau liest ein Buch."]
    stdin = "".join(line + "\n" for line in lines)
    args = ["translate", "--model", str(model_dir), *"--beam-size 1 --batch-size 2".split()]
    result = cli(*args, env=subprocess_env(tmp_path), stdin=stdin)
    assert result.returncode == 0, result.stderr
    out = result.stdout.split("\n")
    assert out[-1] == "" and len(out) - 1 == len(lines)  # one line out per line in, newline-terminated
    out = out[:-1]
    assert out[1] == "" and out[3] == ""  # blank in, blank out
    expected = Translator.from_pretrained(model_dir).translate(lines, beam_size=1)
    assert out == [h.text for h in expected]  # the command and the library agree
    assert all(out[i] for i in (0, 2, 4))


def test_translate_nbest_prints_hypotheses_with_scores(model_dir, tmp_path):
    args = ["translate", "--model", str(model_dir), *"--beam-size 3 --nbest 2".split()]
    result = cli(*args, env=subprocess_env(tmp_path), stdin="Ein Mann.\nEin Hund.\n")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert len(rows) == 2
    for row in rows:
        fields = row.split("\t")
        assert len(fields) == 4  # text, score, text, score
        scores = [float(fields[1]), float(fields[3])]
        assert scores[0] >= scores[1]


def links(pharaoh: str) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in (pair.split("-") for pair in pharaoh.split())]


def test_translate_alignments_follow_each_translation_in_pharaoh_format(model_dir, tmp_path, capsys):
    lines = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", ""]
    source = tmp_path / "in.de"
    source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    args = ["translate", "--model", str(model_dir), "--beam-size", "2", "--input", str(source), "--alignments"]
    assert cli_main(args) == 0
    rows = [row.split(" ||| ") for row in capsys.readouterr().out.split("\n")[:-1]]
    expected = Translator.from_pretrained(model_dir).translate(lines, beam_size=2)
    assert rows == [[h.text, h.pharaoh()] for h in expected]  # the command and the library agree
    for line, (text, pharaoh) in zip(lines, rows):
        assert [j for _, j in links(pharaoh)] == list(range(len(text.split())))  # one link per target word
        assert all(0 <= i < len(line.split()) for i, _ in links(pharaoh))
    assert rows[0][1] and rows[2] == ["", ""]  # a blank line has nothing to align

    source.write_text("".join(line + "\n" for line in lines[:2]), encoding="utf-8")
    assert cli_main([*args, "--nbest", "2"]) == 0
    for line, row in zip(lines, capsys.readouterr().out.splitlines()):
        fields = row.split("\t")
        assert len(fields) == 4  # 'text ||| alignment', score, 'text ||| alignment', score
        for text, pharaoh in (fields[0].split(" ||| "), fields[2].split(" ||| ")):
            assert [j for _, j in links(pharaoh)] == list(range(len(text.split())))
            assert all(0 <= i < len(line.split()) for i, _ in links(pharaoh))
        assert float(fields[1]) >= float(fields[3])


def test_evaluate_prints_bleu_with_signature_chrf_and_perplexity(model_dir, tmp_path):
    for lang in ("de", "en"):
        with gzip.open(DATA_DIR / f"test_2016_flickr.{lang}.gz", "rt", encoding="utf-8") as f:
            (tmp_path / f"test.{lang}").write_text("".join(next(f) for _ in range(20)), encoding="utf-8")
    hyps_path = tmp_path / "hyps.en"
    src, ref = str(tmp_path / "test.de"), str(tmp_path / "test.en")
    args = ["evaluate", "--model", str(model_dir), "--src", src, "--ref", ref]
    result = cli(*args, "--beam-size", "2", "--output", str(hyps_path), env=subprocess_env(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    bleu = re.search(
        r"^BLEU = (\d+\.\d\d) +\((nrefs:1\|case:mixed\|eff:no\|tok:13a\|smooth:exp\|version:[\d.]+)\)$", out, re.M
    )
    assert bleu, out
    assert re.search(r"^BLEU \(lowercased\) = \d+\.\d\d$", out, re.M)
    assert re.search(
        r"^chrF = \d+\.\d\d +\(nrefs:1\|case:mixed\|eff:yes\|nc:6\|nw:0\|space:no\|version:[\d.]+\)$", out, re.M
    )
    ppl = re.search(r"^perplexity = (\d+\.\d\d) +\(teacher-forced, (\d+) reference tokens\)$", out, re.M)
    assert ppl and float(ppl.group(1)) > 1.0 and int(ppl.group(2)) > 20

    # the printed BLEU is sacreBLEU's on the written translations
    hyps = hyps_path.read_text(encoding="utf-8").splitlines()
    refs = (tmp_path / "test.en").read_text(encoding="utf-8").splitlines()
    assert len(hyps) == len(refs) == 20
    assert bleu.group(1) == f"{sacrebleu.corpus_bleu(hyps, [refs]).score:.2f}"


def test_missing_model_folder_is_one_error_line_and_exit_2_in_a_real_process(tmp_path):
    result = cli("translate", "--model", str(tmp_path / "no-such-model"), env=subprocess_env(tmp_path), stdin="Hallo\n")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: model folder not found: {tmp_path / 'no-such-model'} (nor is it a Hub repo id like 'org/name')"
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["translate", "--model", "{tmp}/missing"], "error: model folder not found: {tmp}/missing"),
        (
            ["evaluate", "--model", "{tmp}/missing", "--src", "{tmp}/a.de", "--ref", "{tmp}/a.en"],
            "error: model folder not found: {tmp}/missing",
        ),
        (
            ["evaluate", "--model", "{model}", "--src", "{tmp}/nope.de", "--ref", "{tmp}/a.en"],
            "error: data file not found: {tmp}/nope.de",
        ),
        (
            ["evaluate", "--model", "{model}", "--src", "{tmp}/a.de", "--ref", "{tmp}/short.en"],
            "error: --src has 2 lines but --ref has 1",
        ),
        (["translate", "--model", "{tmp}"], "error: {tmp} has no config.json"),
        (["translate", "--model", "org/not-cached"], "error: cannot get config.json of Hub repo 'org/not-cached'"),
        (["plot", "--run", "{tmp}"], "error: no metrics.jsonl in {tmp}"),
        (["push", "--model", "{tmp}", "--repo-id", "org/name"], "error: {tmp} has no config.json"),
    ],
)
def test_errors_are_one_line_and_exit_2(argv, message, model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl-config"))  # if `plot` is the first to import matplotlib
    (tmp_path / "a.de").write_text("eins\nzwei\n", encoding="utf-8")
    (tmp_path / "a.en").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "short.en").write_text("one\n", encoding="utf-8")
    argv = [a.format(tmp=tmp_path, model=model_dir) for a in argv]
    assert cli_main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(tmp=tmp_path)), captured.err
