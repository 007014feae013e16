"""Data: Multi30k in any language pair, local aligned files / TSV / JSONL (both row styles), clear errors for
misaligned or missing files, the Hub path offline, and the token-budget bucketing sampler."""

from __future__ import annotations

import gzip
import json
import random
import time
from pathlib import Path

import datasets
import pytest
from datasets import Dataset

from seq2seq_hub.data import (
    TokenBucketSampler,
    collate,
    load_hub_dataset,
    load_multi30k,
    load_parallel_files,
    padding_ratio,
    select_pair_columns,
)

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "multi30k"
PAIRS = [
    ("Ein Hund läuft.", "A dog runs."),
    ("Zwei Kinder spielen im Schnee.", "Two children play in the snow."),
    ("Eine Frau liest.", "A woman reads."),
]


@pytest.fixture(autouse=True)
def datasets_cache_in_tmp(tmp_path, monkeypatch):
    """`datasets` caches what load_dataset builds: keep it under this test's folder, and stay offline."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def gz_lines(split: str, lang: str) -> list[str]:
    with gzip.open(DATA_DIR / f"{split}.{lang}.gz", "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


# ---------------------------------------------------------------------- Multi30k
@pytest.mark.parametrize("src, tgt", [("fr", "cs"), ("en", "de")])
def test_multi30k_any_language_pair(src, tgt):
    ds = load_multi30k(DATA_DIR, "validation", src, tgt)
    assert ds.column_names == ["src", "tgt"]
    assert ds["src"] == gz_lines("val", src) and ds["tgt"] == gz_lines("val", tgt)
    assert len(ds) == 1014
    test = load_multi30k(DATA_DIR, "test", src, tgt)
    assert len(test) == 1000 and test[0]["src"] == gz_lines("test_2016_flickr", src)[0]


def test_multi30k_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="Multi30k has languages .* got 'es'"):
        load_multi30k(DATA_DIR, "train", "es", "en")
    with pytest.raises(ValueError, match="source and target language are both 'de'"):
        load_multi30k(DATA_DIR, "train", "de", "de")
    with pytest.raises(ValueError, match="split must be one of .* got 'dev'"):
        load_multi30k(DATA_DIR, "dev", "de", "en")
    with pytest.raises(FileNotFoundError, match="data file not found: .*train.de.gz"):
        load_multi30k(tmp_path, "train", "de", "en")


# ---------------------------------------------------------------------- local files
def test_two_aligned_text_files(tmp_path):
    (tmp_path / "a.de").write_text("".join(s + "\n" for s, _ in PAIRS), encoding="utf-8")
    with gzip.open(tmp_path / "a.en.gz", "wt", encoding="utf-8") as f:  # gzipped works too
        f.write("".join(t + "\n" for _, t in PAIRS))
    ds = load_parallel_files(f"{tmp_path / 'a.de'},{tmp_path / 'a.en.gz'}", "de", "en")
    assert list(zip(ds["src"], ds["tgt"])) == PAIRS


def test_tsv(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in PAIRS) + "\n", encoding="utf-8")  # a trailing blank line
    ds = load_parallel_files(str(path), "de", "en")
    assert list(zip(ds["src"], ds["tgt"])) == PAIRS
    path.write_text(f"{PAIRS[0][0]}\t{PAIRS[0][1]}\nonly one column\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train.tsv:2: expected 'source<TAB>target', got 1 column"):
        load_parallel_files(str(path), "de", "en")


@pytest.mark.parametrize("style", ["columns", "translation"])
def test_jsonl_in_both_row_styles(style, tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [{"de": s, "en": t} for s, t in PAIRS]
    if style == "translation":
        rows = [{"translation": row, "id": i} for i, row in enumerate(rows)]
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    ds = load_parallel_files(str(path), "de", "en")
    assert ds.column_names == ["src", "tgt"]
    assert list(zip(ds["src"], ds["tgt"])) == PAIRS
    reverse = load_parallel_files(str(path), "en", "de")
    assert list(zip(reverse["tgt"], reverse["src"])) == PAIRS
    with pytest.raises(ValueError, match="fr"):
        load_parallel_files(str(path), "fr", "en")


def test_misaligned_and_missing_files_give_clear_errors(tmp_path):
    (tmp_path / "a.de").write_text("eins\nzwei\ndrei\n", encoding="utf-8")
    (tmp_path / "a.en").write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(ValueError, match="source has 3 lines but target has 2; files must be aligned"):
        load_parallel_files(f"{tmp_path / 'a.de'},{tmp_path / 'a.en'}", "de", "en")
    with pytest.raises(FileNotFoundError, match=r"data file not found: .*missing\.en"):
        load_parallel_files(f"{tmp_path / 'a.de'},{tmp_path / 'missing.en'}", "de", "en")
    for missing in ("missing.tsv", "missing.jsonl"):
        with pytest.raises(FileNotFoundError, match=f"data file not found: .*{missing}"):
            load_parallel_files(str(tmp_path / missing), "de", "en")
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="unsupported data file .*data.csv"):
        load_parallel_files(str(tmp_path / "data.csv"), "de", "en")
    with pytest.raises(ValueError, match="data files must be 'source,target'"):
        load_parallel_files("a,b,c", "de", "en")


# ---------------------------------------------------------------------- the Hub
def test_hub_dataset_offline_fails_fast_with_a_clear_connection_error():
    start = time.monotonic()
    with pytest.raises(
        ConnectionError, match="cannot load Hub dataset 'some-org/some-corpus' \\(offline, or not cached\\)"
    ):
        load_hub_dataset("some-org/some-corpus", "train", "de", "en")
    assert time.monotonic() - start < 10


def test_select_pair_columns_handles_both_styles():
    columns = Dataset.from_dict({"de": [s for s, _ in PAIRS], "en": [t for _, t in PAIRS], "id": [0, 1, 2]})
    out = select_pair_columns(columns, "de", "en", "test data")
    assert out.column_names == ["src", "tgt"] and list(zip(out["src"], out["tgt"])) == PAIRS

    nested = Dataset.from_dict({"translation": [{"de": s, "en": t} for s, t in PAIRS]})
    out = select_pair_columns(nested, "en", "de", "test data")
    assert out.column_names == ["src", "tgt"] and list(zip(out["tgt"], out["src"])) == PAIRS

    with pytest.raises(ValueError, match=r"test data: no column \['fr'\]; columns are \['de', 'en', 'id'\]"):
        select_pair_columns(columns, "fr", "en", "test data")
    with pytest.raises(ValueError, match=r"test data: the translation dicts have no \['cs'\] \(keys: \['de', 'en'\]\)"):
        select_pair_columns(nested, "de", "cs", "test data")


# ---------------------------------------------------------------------- batching
def _lengths(n: int = 3000, seed: int = 0) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    src = [rng.randint(3, 40) for _ in range(n)]
    tgt = [max(2, s + rng.randint(-4, 6)) for s in src]
    return src, tgt


def test_bucket_sampler_covers_every_example_once_within_the_token_budget():
    src, tgt = _lengths()
    sampler = TokenBucketSampler(src, tgt, max_tokens=600, seed=7, max_sentences=40)
    for epoch in range(3):
        batches = sampler.batches(epoch)
        assert sorted(i for b in batches for i in b) == list(range(len(src)))
        for batch in batches:
            assert max(max(src[i], tgt[i]) for i in batch) * len(batch) <= 600
            assert 1 <= len(batch) <= 40
    assert len(sampler) == len(sampler.batches(0)) and list(sampler) == sampler.batches(0)


def test_bucket_sampler_order_changes_per_epoch_and_is_deterministic():
    src, tgt = _lengths()
    a = TokenBucketSampler(src, tgt, max_tokens=600, seed=7)
    b = TokenBucketSampler(src, tgt, max_tokens=600, seed=7)
    assert a.batches(0) != a.batches(1) != a.batches(2)
    assert a.batches(3) == b.batches(3)
    assert a.batches(0) != TokenBucketSampler(src, tgt, max_tokens=600, seed=8).batches(0)


def test_bucket_sampler_pads_much_less_than_random_batches():
    src, tgt = _lengths()
    batches = TokenBucketSampler(src, tgt, max_tokens=600, seed=7).batches(0)
    order = list(range(len(src)))
    random.Random(0).shuffle(order)
    random_batches, start = [], 0
    for batch in batches:  # the same batch sizes, random members
        random_batches.append(order[start : start + len(batch)])
        start += len(batch)
    bucketed, unsorted = padding_ratio(batches, tgt), padding_ratio(random_batches, tgt)
    assert bucketed < 0.1 and unsorted > 0.3, (bucketed, unsorted)


def test_bucket_sampler_splits_batches_between_two_ranks():
    src, tgt = _lengths()
    single = TokenBucketSampler(src, tgt, max_tokens=600, seed=7).batches(1)
    ranks = [TokenBucketSampler(src, tgt, max_tokens=600, seed=7, num_replicas=2, rank=r).batches(1) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(single) // 2
    seen = [set(i for b in batches for i in b) for batches in ranks]
    assert not seen[0] & seen[1]
    dropped = set(range(len(src))) - seen[0] - seen[1]
    assert len(dropped) <= max(len(b) for b in single)  # at most the one batch that does not split evenly
    assert sorted(ranks[0] + ranks[1]) == sorted(single[: 2 * len(ranks[0])])


def test_bucket_sampler_refuses_a_budget_below_the_longest_example():
    with pytest.raises(ValueError, match=r"batch_tokens \(30\) is smaller than the longest example"):
        TokenBucketSampler([10, 40], [12, 8], max_tokens=30)


def test_collate_pads_and_shifts_targets():
    batch = collate([[5, 6, 2], [7, 2]], [[8, 9, 10, 2], [11, 2]], pad_id=0, bos_id=1)
    assert batch.src.tolist() == [[5, 6, 2], [7, 2, 0]]
    assert batch.src_lengths.tolist() == [3, 2]
    assert batch.tgt_in.tolist() == [[1, 8, 9, 10], [1, 11, 0, 0]]
    assert batch.labels.tolist() == [[8, 9, 10, 2], [11, 2, 0, 0]]
    assert batch.num_tokens == 6
