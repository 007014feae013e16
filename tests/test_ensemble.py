"""Ensembles and checkpoint averaging: an ensemble of one is the model, two copies of a model decode as
one, members that cannot share a tokenizer are refused, an ensemble folder round-trips (and is pushed
like any model), and averaging computes the mean of the weight sets it is given."""

from __future__ import annotations

import json

import pytest
import torch
from hubserver import FakeHub
from runhelpers import cli, subprocess_env
from safetensors.torch import save_file

from seq2seq_hub import Seq2SeqModel, Translator
from seq2seq_hub.averaging import average_weights
from seq2seq_hub.cli import main as cli_main
from seq2seq_hub.ensemble import Ensemble

SENTENCES = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Eine Frau liest ein Buch am Strand."]
STRATEGIES = [dict(strategy="greedy"), dict(beam_size=3, num_return_sequences=2), dict(strategy="sample", seed=4)]


def as_rows(hyps):
    return [(h.text, h.score, h.token_probs, h.attention, [n.text for n in h.nbest]) for h in hyps]


@pytest.fixture
def two(make_translator):
    """Two differently seeded tiny translators with one tokenizer."""
    return make_translator(seed=1), make_translator(seed=2)


@pytest.mark.parametrize("options", STRATEGIES, ids=["greedy", "beam", "sample"])
def test_an_ensemble_of_one_equals_the_single_model_exactly(translator, options):
    single = Translator.ensemble([translator])
    assert isinstance(single.model, Ensemble)
    assert as_rows(single.translate(SENTENCES, **options)) == as_rows(translator.translate(SENTENCES, **options))
    assert single.score(SENTENCES, SENTENCES) == translator.score(SENTENCES, SENTENCES)


@pytest.mark.parametrize("options", STRATEGIES, ids=["greedy", "beam", "sample"])
def test_an_ensemble_of_two_identical_models_decodes_as_one(translator, options):
    pair = Translator.ensemble([translator, translator])
    ours, theirs = pair.translate(SENTENCES, **options), translator.translate(SENTENCES, **options)
    assert [h.text for h in ours] == [h.text for h in theirs]
    for a, b in zip(ours, theirs):
        assert a.score == pytest.approx(b.score, abs=1e-4)
        assert torch.allclose(torch.tensor(a.attention), torch.tensor(b.attention), atol=1e-5)
    nll, tokens = pair.score(SENTENCES, SENTENCES)
    assert nll == pytest.approx(translator.score(SENTENCES, SENTENCES)[0], rel=1e-4)


def test_the_ensemble_averages_the_members_log_probabilities(two):
    a, b = two
    pair = Translator.ensemble([a, b])
    src = torch.tensor([[5, 6, 7, 2]])
    lengths = torch.tensor([4])
    prev = torch.tensor([a.config.bos_token_id])
    with torch.no_grad():
        combined, attention, _ = pair.model.decode_step(prev, pair.model.encode(src, lengths))
        la, aa, _ = a.model.decode_step(prev, a.model.encode(src, lengths))
        lb, ab, _ = b.model.decode_step(prev, b.model.encode(src, lengths))
    expected = (la.log_softmax(-1) + lb.log_softmax(-1)) / 2
    assert torch.allclose(combined, expected, atol=1e-6)
    assert torch.allclose(attention, (aa + ab) / 2, atol=1e-6)


def test_the_ensemble_folder_round_trips(two, tmp_path):
    pair = Translator.ensemble(list(two))
    pair.save_pretrained(tmp_path / "ens")
    config = json.loads((tmp_path / "ens" / "config.json").read_text())
    assert config["members"] == ["member-1", "member-2"]
    assert not (tmp_path / "ens" / "model.safetensors").exists()
    loaded = Translator.from_pretrained(tmp_path / "ens")
    assert len(loaded.members) == 2
    assert as_rows(loaded.translate(SENTENCES, beam_size=2)) == as_rows(pair.translate(SENTENCES, beam_size=2))
    member = Seq2SeqModel.from_pretrained(tmp_path / "ens" / "member-2")
    assert all(torch.equal(p, q) for p, q in zip(member.state_dict().values(), two[1].model.state_dict().values()))
    with pytest.raises(ValueError, match="describes an ensemble of 2 models: load it with Translator.from_pretrained"):
        Seq2SeqModel.from_pretrained(tmp_path / "ens")


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(tgt_lang="fr"), "tgt_lang is 'en' in member 1, 'fr' in member 2"),
        (dict(eos_token_id=3, unk_token_id=2), "does not match config.json"),
        (dict(members="member-1"), "members must be a list of distinct subfolder names"),
        (dict(members=["member-1", "../x"]), "members must be a list of distinct subfolder names"),
        (dict(combine="max"), "combine must be 'mean_log_prob'"),
    ],
)
def test_loading_refuses_members_that_disagree_or_a_bad_manifest(two, tmp_path, change, message):
    Translator.ensemble(list(two)).save_pretrained(tmp_path / "ens")
    if "members" in change or "combine" in change:
        path = tmp_path / "ens" / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    else:
        path = tmp_path / "ens" / "member-2" / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(ValueError, match=message):
        Translator.from_pretrained(tmp_path / "ens")


def test_a_missing_member_is_named(two, tmp_path):
    Translator.ensemble(list(two)).save_pretrained(tmp_path / "ens")
    (tmp_path / "ens" / "member-2" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="has no member-2/model.safetensors"):
        Translator.from_pretrained(tmp_path / "ens")


def test_members_with_other_tokenizers_are_refused(translator, multi30k, make_translator):
    from seq2seq_hub import Seq2SeqTokenizer

    other = Seq2SeqTokenizer.train(multi30k("train", "de", 200), multi30k("train", "en", 200), vocab_size=400)
    with pytest.raises(ValueError, match="translator 2 has other vocabularies than translator 1"):
        Translator.ensemble([translator, make_translator(tokenizer=other)])


# ---------------------------------------------------------------------- the CLI and averaging
def test_cli_builds_an_ensemble_that_the_cli_translates_with(two, tmp_path, capsys):
    for i, t in enumerate(two):
        t.save_pretrained(tmp_path / f"m{i}")
    assert cli_main(["ensemble", "--model", str(tmp_path / "m0"), "--model", str(tmp_path / "m1"),
                     "--output", str(tmp_path / "ens"), "--dtype", "float16"]) == 0  # fmt: skip
    capsys.readouterr()
    loaded = Translator.from_pretrained(tmp_path / "ens")
    assert "An ensemble of 2 recurrent encoder-decoders" in loaded.card
    source = tmp_path / "in.txt"
    source.write_text("\n".join(SENTENCES) + "\n")
    assert cli_main(["translate", "--model", str(tmp_path / "ens"), "--input", str(source)]) == 0
    assert capsys.readouterr().out.splitlines() == [h.text for h in loaded.translate(SENTENCES)]


def test_average_is_the_mean_of_the_weight_sets(two, tmp_path):
    a, b = (t.model.state_dict() for t in two)
    save_file({k: v.contiguous() for k, v in a.items()}, str(tmp_path / "a.safetensors"))
    checkpoint = {f"model.{k}": v.contiguous() for k, v in b.items()} | {"optim.0.step": torch.tensor(3.0)}
    (tmp_path / "checkpoint-9").mkdir()
    save_file(checkpoint, str(tmp_path / "checkpoint-9" / "state.safetensors"))
    mean = average_weights([tmp_path / "a.safetensors", tmp_path / "checkpoint-9"], a)
    assert all(torch.allclose(mean[k], (a[k] + b[k]) / 2) for k in a)


def test_cli_average_writes_a_model_with_the_mean_weights(two, tmp_path, capsys):
    two[0].save_pretrained(tmp_path / "m0")
    two[1].save_pretrained(tmp_path / "m1")
    assert cli_main(["average", "--model", str(tmp_path / "m0"), "--weights", str(tmp_path / "m0"),
                     str(tmp_path / "m1"), "--output", str(tmp_path / "avg")]) == 0  # fmt: skip
    averaged = Seq2SeqModel.from_pretrained(tmp_path / "avg").state_dict()
    a, b = two[0].model.state_dict(), two[1].model.state_dict()
    assert all(torch.allclose(averaged[k], (a[k] + b[k]) / 2, atol=1e-6) for k in a)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "{m0}", "--weights", "{m0}"], "averaging needs at least two weight sets, got 1"),
        (["--model", "{m0}", "--weights", "{m0}", "{other}"], "holds weights of another model"),
        (["--run", "{tmp}/no-run"], "training run not found"),
    ],
)
def test_cli_average_refuses_with_one_line(two, make_translator, tmp_path, capsys, args, message):
    two[0].save_pretrained(tmp_path / "m0")
    make_translator(hidden_size=16).save_pretrained(tmp_path / "other")
    names = dict(m0=tmp_path / "m0", other=tmp_path / "other", tmp=tmp_path)
    argv = ["average", *[a.format(**names) for a in args], "--output", str(tmp_path / "avg")]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_an_ensemble_is_pushed_and_loaded_from_the_hub(two, tmp_path):
    Translator.ensemble(list(two)).save_pretrained(tmp_path / "ens")
    with FakeHub() as hub:
        env = subprocess_env(tmp_path, HF_ENDPOINT=hub.url, HF_TOKEN="hf_FAKE0123456789", HF_HUB_OFFLINE="0")
        result = cli("push", "--model", str(tmp_path / "ens"), "--repo-id", "org/ens", env=env)
        assert result.returncode == 0, result.stderr
        files = set(hub.repos["org/ens"].files)
        assert {
            "config.json",
            "member-1/config.json",
            "member-1/model.safetensors",
            "member-2/model.safetensors",
        } <= files
        assert "model.safetensors" not in files
        result = cli("translate", "--model", "org/ens", "--beam-size", "2", env=env, stdin="\n".join(SENTENCES) + "\n")
    assert result.returncode == 0, result.stderr
    local = Translator.from_pretrained(tmp_path / "ens").translate(SENTENCES, beam_size=2)
    assert result.stdout.splitlines() == [h.text for h in local]
