"""The model repo format: save / load round trips bit for bit, and every broken or unsafe folder is refused
with an error that names the file and the problem. Never touches the network."""

import json
import shutil

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from seq2seq_hub import Seq2SeqModel, Seq2SeqTokenizer, Translator

FILES = {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "README.md"}


def probe_logits(model):
    """Teacher-forced logits of a fixed padded batch."""
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, model.config.src_vocab_size, (3, 7), generator=g)
    src_lengths = torch.tensor([7, 3, 5])
    src[1, 3:] = 0
    src[2, 5:] = 0
    tgt_in = torch.randint(4, model.config.tgt_vocab_size, (3, 6), generator=g)
    tgt_in[:, 0] = model.config.bos_token_id
    with torch.no_grad():
        return model.eval()(src, src_lengths, tgt_in).logits


@pytest.fixture(scope="module")
def saved(translator, tmp_path_factory):
    """A folder written by `Translator.save_pretrained` (copy it before breaking it)."""
    folder = tmp_path_factory.mktemp("saved")
    translator.save_pretrained(folder)
    return folder


@pytest.fixture
def folder(saved, tmp_path):
    """A fresh copy of the saved folder, for one test to break."""
    return shutil.copytree(saved, tmp_path / "model")


def test_tests_run_offline():
    from huggingface_hub import constants

    assert constants.HF_HUB_OFFLINE


# ---------------------------------------------------------------------- round trips
def test_save_then_load_gives_identical_logits(translator, saved):
    assert {p.name for p in saved.iterdir()} == FILES
    loaded = Translator.from_pretrained(saved)
    assert loaded.config == translator.config
    assert torch.equal(probe_logits(loaded.model), probe_logits(translator.model))
    texts = ["Ein Mann fährt Fahrrad.", "Zwei Hunde."]
    assert [r.text for r in loaded.translate(texts)] == [r.text for r in translator.translate(texts)]


def test_model_card_has_hub_metadata(saved, translator):
    card = (saved / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n")
    metadata = yaml.safe_load(card.split("---\n")[1])
    assert metadata["pipeline_tag"] == "translation"
    assert metadata["library_name"] == "seq2seq-hub"
    assert metadata["license"] == "mit"
    assert metadata["language"] == ["de", "en"]
    assert "translation" in metadata["tags"]
    assert Translator.from_pretrained(saved).card == card


def test_config_json_is_the_config(saved, translator):
    assert json.loads((saved / "config.json").read_text()) == translator.config.to_dict()


def test_model_from_pretrained_reads_a_translator_folder(translator, saved):
    model = Seq2SeqModel.from_pretrained(saved)
    assert not model.training and model.config == translator.config
    assert torch.equal(probe_logits(model), probe_logits(translator.model))


def test_model_save_pretrained_round_trip(make_model, tmp_path):
    model = make_model(attention="luong", cell="gru", encoder_layers=2, tie_embeddings=False)
    model.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in tmp_path.iterdir()}
    loaded = Seq2SeqModel.from_pretrained(tmp_path)
    assert loaded.config == model.config
    assert torch.equal(probe_logits(loaded), probe_logits(model))
    loaded.save_pretrained(tmp_path / "again")  # a loaded model saves its config too
    assert Seq2SeqModel.from_pretrained(tmp_path / "again").config == model.config


def test_separate_vocabularies_round_trip(multi30k, make_translator, tmp_path):
    tokenizer = Seq2SeqTokenizer.train(
        multi30k("train", "de", 200), multi30k("train", "en", 200), vocab_size=340, joint=False, target_vocab_size=310
    )
    translator = make_translator(tokenizer=tokenizer, attention="none")
    translator.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == FILES | {"target_tokenizer.json"}
    loaded = Translator.from_pretrained(tmp_path)
    assert not loaded.tokenizer.joint
    assert loaded.tokenizer.tgt_vocab_size == tokenizer.tgt_vocab_size != tokenizer.src_vocab_size
    assert torch.equal(probe_logits(loaded.model), probe_logits(translator.model))


def test_half_precision_save(make_translator, tmp_path):
    translator = make_translator()
    translator.save_dtype = torch.float16
    translator.save_pretrained(tmp_path)
    assert all(t.dtype == torch.float16 for t in load_file(tmp_path / "model.safetensors").values())
    loaded = Translator.from_pretrained(tmp_path)
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    torch.testing.assert_close(probe_logits(loaded.model), probe_logits(translator.model), atol=1e-2, rtol=1e-2)


# ---------------------------------------------------------------------- refusals
LOADERS = [Translator.from_pretrained, Seq2SeqModel.from_pretrained]


@pytest.mark.parametrize("load", LOADERS)
def test_pickle_only_folder_is_refused_without_unpickling(tmp_path, load):
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ValueError, match=r"has no model\.safetensors \(found pytorch_model\.bin\).*arbitrary code"):
        load(tmp_path)


def test_pickle_next_to_a_config_is_refused(folder):
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"has no model\.safetensors \(found pytorch_model\.bin\)"):
        Translator.from_pretrained(folder)


@pytest.mark.parametrize("load", LOADERS)
@pytest.mark.parametrize("keep", [16, 2000, -100])
def test_truncated_weights_are_refused(folder, load, keep):
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:keep])
    with pytest.raises(ValueError, match=r"model\.safetensors (is truncated|is not a valid safetensors file)"):
        load(folder)


@pytest.mark.parametrize("content", ["random", "short", "json-list", "empty"])
def test_corrupt_weights_are_refused(folder, content):
    header = b"[1, 2]"
    noise = torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    data = {
        "random": noise.numpy().tobytes(),
        "short": b"\x01\x02",
        "json-list": len(header).to_bytes(8, "little") + header,
        "empty": b"",
    }[content]
    (folder / "model.safetensors").write_bytes(data)
    with pytest.raises(ValueError, match=r"model\.safetensors is not a valid safetensors file"):
        Translator.from_pretrained(folder)


@pytest.mark.parametrize("load", LOADERS)
def test_missing_weights_and_config_are_refused(folder, load):
    (folder / "model.safetensors").unlink()
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no config\.json; a model folder holds config\.json"):
        load(folder)


def test_missing_weights_are_refused(folder):
    (folder / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"has no model\.safetensors: seq2seq-hub reads weights only from safetensors"):
        Translator.from_pretrained(folder)


def test_missing_tokenizer_is_refused_by_the_translator_only(folder):
    (folder / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no tokenizer\.json"):
        Translator.from_pretrained(folder)
    Seq2SeqModel.from_pretrained(folder)  # the model alone does not need it


def edit_config(folder, **changes):
    path = folder / "config.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("load", LOADERS)
@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(hiden_size=12), r"config\.json has unknown keys \['hiden_size'\]"),
        (dict(cell="lstn"), r"config\.json: Invalid Seq2SeqConfig: cell must be one of \{'gru', 'lstm'\}, got 'lstn'"),
        (dict(dropout=-0.5), r"config\.json: .*dropout must be a number in \[0, 1\), got -0\.5"),
        (
            dict(src_vocab_size=10**9),
            r"config\.json: .*src_vocab_size must be an integer in \[5, 1000000\], got 1000000000",
        ),
        (dict(hidden_size=16_384, embedding_size=16_384, encoder_layers=16), r"config\.json: .*parameters, more than"),
    ],
)
def test_bad_config_is_refused(folder, load, changes, message):
    edit_config(folder, **changes)
    with pytest.raises(ValueError, match=message):
        load(folder)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff\xfe"])
def test_unreadable_config_is_refused(folder, content):
    (folder / "config.json").write_text(content, encoding="latin-1")
    with pytest.raises(ValueError, match=r"config\.json (is not readable JSON|must hold a JSON object)"):
        Translator.from_pretrained(folder)


def rewrite_weights(folder, edit):
    path = folder / "model.safetensors"
    state = load_file(path)
    edit(state)
    save_file(state, path)


@pytest.mark.parametrize("load", LOADERS)
@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.pop("decoder.output_bias"), r"missing tensors \['decoder\.output_bias'\]"),
        (lambda s: s.update(extra=torch.zeros(2)), r"unexpected tensors \['extra'\]"),
        (
            lambda s: s.update({"decoder.output_bias": torch.zeros(7)}),
            r"shape mismatch: decoder\.output_bias \[7\] \(config needs \[\d+\]\)",
        ),
        (
            lambda s: s.update({"decoder.output_bias": s["decoder.output_bias"].long()}),
            r"non-float tensors \['decoder\.output_bias'\]",
        ),
    ],
)
def test_weights_that_do_not_match_the_config_are_refused(folder, load, edit, message):
    rewrite_weights(folder, edit)
    with pytest.raises(ValueError, match=r"model\.safetensors does not match config\.json: " + message):
        load(folder)


def test_weights_of_another_config_are_refused(folder):
    edit_config(folder, hidden_size=14)
    with pytest.raises(ValueError, match=r"model\.safetensors does not match config\.json: shape mismatch"):
        Translator.from_pretrained(folder)


@pytest.mark.parametrize("content", ["{not json", '{"model": {"type": "BPE"}}', ""])
def test_malformed_tokenizer_is_refused(folder, content):
    (folder / "tokenizer.json").write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=r"tokenizer\.json is not a valid tokenizers file"):
        Translator.from_pretrained(folder)


def test_tokenizer_that_disagrees_with_the_config_is_refused(folder, multi30k):
    other = Seq2SeqTokenizer.train(multi30k("train", "de", 100), multi30k("train", "en", 100), vocab_size=320)
    other.save(folder)
    message = r"tokenizer\.json does not match config\.json: source vocabulary has \d+ entries, config\.json says"
    with pytest.raises(ValueError, match=message):
        Translator.from_pretrained(folder)


def test_translator_refuses_a_mismatched_tokenizer_in_memory(make_model, tokenizer):
    with pytest.raises(ValueError, match=r"target vocabulary has \d+ entries, config\.json says 19"):
        Translator(make_model(), tokenizer)


@pytest.mark.parametrize("load", LOADERS)
def test_uncached_hub_repo_gives_a_clear_connection_error(tmp_path, load):
    message = r"cannot get config\.json of Hub repo 'nobody/not-cached': .* not in the local cache"
    with pytest.raises(ConnectionError, match=message) as info:
        load("nobody/not-cached", cache_dir=tmp_path)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # one error, not a stack of HTTP ones


@pytest.mark.parametrize("name", ["./no/such/folder", "/no/such/folder", "not a repo id!"])
def test_missing_local_folder_is_not_sent_to_the_hub(name):
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        Translator.from_pretrained(name)


def test_unexpected_loading_arguments_are_refused(saved):
    with pytest.raises(TypeError, match=r"unexpected arguments to from_pretrained: \['strict'\]"):
        Seq2SeqModel.from_pretrained(saved, strict=False)


def test_a_git_lfs_pointer_where_the_weights_should_be_says_what_it_is(folder):
    pointer = (
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12837304\n"
    )
    (folder / "model.safetensors").write_text(pointer)
    for load in (Seq2SeqModel.from_pretrained, Translator.from_pretrained):
        with pytest.raises(ValueError, match=r"Git LFS pointer .* cloned without Git LFS; run `git lfs install"):
            load(folder)
