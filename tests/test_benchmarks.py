"""The benchmarks' references and the data path they measure.

* The naive decoding reference decodes what the library decodes: the decoding speed ratios in
  BENCHMARKS.md compare two implementations of the same greedy search, not two different computations.
* The training reference (benchmarks/tutorial.py, the tutorial's own loop) trains, and builds word
  vocabularies of the tutorial's sizes.
* The data path the data_scale section times streams the texts to the tokenizer trainer and reads ids
  into compact `TokenIds`, giving the same tokenizer and the same ids as materialised lists.
"""

import gzip
import math
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from datasets import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import tutorial  # noqa: E402
from context import Report  # noqa: E402
from naive import textbook_greedy  # noqa: E402
from sections_data import measure_size  # noqa: E402
from sections_decode import per_op_floor  # noqa: E402
from sections_train import train_ours, train_tutorial  # noqa: E402
from synthetic import write_corpus  # noqa: E402

from seq2seq_hub import Seq2SeqTokenizer  # noqa: E402
from seq2seq_hub.data import TokenIds, filter_by_length, iter_column, tokenize_dataset  # noqa: E402
from seq2seq_hub.search import greedy_or_sample  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "data" / "multi30k"
ATTENTIONS = [
    dict(attention="bahdanau"),
    dict(attention="luong", luong_score="general"),
    dict(attention="none"),
]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("attention", ATTENTIONS, ids=lambda a: a["attention"])
def test_textbook_greedy_equals_batched_greedy(make_model, cell, attention):
    model = make_model(cell=cell, decoder_layers=2, **attention)
    g = torch.Generator().manual_seed(0)
    sources = [torch.randint(4, model.config.src_vocab_size, (n,), generator=g).tolist() + [2] for n in (3, 7, 1, 5)]
    lengths = torch.tensor([len(s) for s in sources])
    src = torch.zeros(len(sources), int(lengths.max()), dtype=torch.long)
    for row, ids in enumerate(sources):
        src[row, : len(ids)] = torch.tensor(ids)
    max_lengths = 2 * lengths + 10
    batched = greedy_or_sample(model, src, lengths, max_lengths)
    for ids, limit, hyp in zip(sources, max_lengths.tolist(), batched):
        assert textbook_greedy(model, ids, limit) == hyp.ids


# ---------------------------------------------------------------------- the tutorial's training loop
@pytest.fixture(scope="module")
def word_data():
    return tutorial.load_word_data(DATA, limit=400)


def test_tutorial_vocabularies_on_a_slice(multi30k):
    """Specials first, then every word seen at least twice (and no other), most frequent first."""
    sentences = [tutorial.tokenize(s) for s in multi30k("train", "en", 2000)]
    vocab = tutorial.build_vocab(sentences)
    counts = Counter(t for s in sentences for t in s)
    assert list(vocab)[:4] == tutorial.SPECIALS
    words = list(vocab)[4:]
    assert set(words) == {t for t, c in counts.items() if c >= 2 and t not in tutorial.SPECIALS}
    assert [counts[w] for w in words] == sorted((counts[w] for w in words), reverse=True)
    assert 1000 < len(vocab) < 3000


def test_tutorial_vocabularies_have_the_notebooks_sizes():
    """The regex word split stands in for spaCy: within 1% of the notebook's 7,853 / 5,893 entries."""
    data = tutorial.load_word_data(DATA)
    assert len(data) == 29000
    assert abs(len(data.de_vocab) - 7853) / 7853 < 0.01
    assert abs(len(data.en_vocab) - 5893) / 5893 < 0.01


def test_tutorial_model_forward_and_backward(word_data):
    torch.manual_seed(0)
    model = tutorial.build_model(len(word_data.de_vocab), len(word_data.en_vocab), torch.device("cpu"), 16, 24)
    biases = [p for name, p in model.named_parameters() if "weight" not in name]
    assert all(bool((p == 0).all()) for p in biases)  # the notebook's init_weights
    batch = word_data.collate(list(range(8)))
    src, trg = batch["de_ids"], batch["en_ids"]
    assert src.shape[1] == trg.shape[1] == 8  # time-major
    assert bool((trg[0] == word_data.en_vocab[tutorial.SOS]).all())
    outputs = model(src, trg, 0.5)
    assert outputs.shape == (trg.shape[0], 8, len(word_data.en_vocab))
    assert bool((outputs[0] == 0).all())  # the buffer's first row is never filled
    optimizer = torch.optim.Adam(model.parameters())
    criterion = torch.nn.CrossEntropyLoss(ignore_index=word_data.pad_index)
    before = [p.detach().clone() for p in model.parameters()]
    loss = tutorial.train_step(model, batch, optimizer, criterion, tutorial.CLIP, 0.5, torch.device("cpu"))
    assert math.isfinite(loss) and loss > 0
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_the_timed_training_loops_run(word_data, tokenizer, make_config, multi30k):
    theirs = train_tutorial(word_data, 16, 24, batch_size=4, steps=2, device=torch.device("cpu"), seed=0)
    assert theirs.tokens > 0 and theirs.sentences > 0 and theirs.rows == 4
    src = [e.ids for e in tokenizer.encode_source(multi30k("train", "de", 40))]
    tgt = [e.ids for e in tokenizer.encode_target(multi30k("train", "en", 40))]
    cfg = make_config(src_vocab_size=tokenizer.src_vocab_size, tgt_vocab_size=tokenizer.tgt_vocab_size)
    ours = train_ours(cfg, src, tgt, 0.5, steps=2, device=torch.device("cpu"), seed=0, max_tokens=400)
    assert ours.tokens > 0 and ours.sentences > 0


# ---------------------------------------------------------------------- the data path
@pytest.mark.parametrize("joint", [True, False])
def test_streamed_tokenizer_training_equals_training_on_lists(multi30k, joint):
    src, tgt = multi30k("train", "de", 300), multi30k("train", "en", 300)
    ds = Dataset.from_dict({"src": src, "tgt": tgt})
    sizes = dict(vocab_size=500, joint=joint, target_vocab_size=400)
    from_lists = Seq2SeqTokenizer.train(src, tgt, **sizes)
    streamed = Seq2SeqTokenizer.train(iter_column(ds, "src", 64), iter_column(ds, "tgt", 64), **sizes)
    assert streamed.same_vocabularies(from_lists)


def test_token_ids_equal_the_id_lists_after_the_length_filter(multi30k, tokenizer):
    ds = Dataset.from_dict({"src": multi30k("train", "de", 200), "tgt": multi30k("train", "en", 200)})
    kept = filter_by_length(tokenize_dataset(ds, tokenizer, 30, 30), 30, 30)
    assert 0 < len(kept) < 200  # the filter dropped some: the ids are read through its selection
    for column in ("src_ids", "tgt_ids"):
        expected = [list(ids) for ids in kept[column]]
        ids = TokenIds(kept, column, batch_size=37)
        assert len(ids) == len(expected)
        assert [ids[i] for i in range(len(ids))] == expected
        assert ids.lengths() == [len(x) for x in expected]
        assert ids[-1] == expected[-1] and isinstance(ids[0][0], int)
        with pytest.raises(IndexError):
            ids[len(expected)]


def test_synthetic_corpus_is_deterministic(tmp_path):
    sizes = [write_corpus(tmp_path / name, 1500, seed=3) for name in ("a", "b")]
    assert sizes[0] == sizes[1]
    for lang in ("de", "en"):
        texts = [gzip.decompress((tmp_path / name / f"train.{lang}.gz").read_bytes()) for name in ("a", "b")]
        assert texts[0] == texts[1] and texts[0].count(b"\n") == 1500


def test_data_scale_stages_run_on_a_small_corpus(tmp_path):
    measured = measure_size(2000, tmp_path, threads=1)
    assert measured["load"]["pairs"] == 2000
    assert 300 < measured["tokenizer"]["tgt_vocab"] <= 6000
    assert 0 < measured["tokenize"]["kept"] <= 2000
    assert measured["bucket"]["batches"] > 0
    assert all(measured[stage]["peak_mib"] >= measured[stage]["start_mib"] > 0 for stage in ("load", "bucket"))


@pytest.mark.parametrize("attention", ATTENTIONS, ids=lambda a: a["attention"])
def test_the_per_op_floor_runs_the_same_architecture_shrunk(make_model, attention):
    model = make_model(src_vocab_size=30, tgt_vocab_size=30, bidirectional=True, **attention)
    ctx = SimpleNamespace(translator=SimpleNamespace(model=model), report=Report())
    per_op_floor(ctx, steps=4, repeats=2)
    (line,) = [line for line in ctx.report.lines if line]
    assert "4 decoder steps" in line and "8 wide" in line
