"""Batching is invisible: a sentence's translation is the same whether it is decoded alone, in a batch of 32,
or through the demo's micro-batcher beside other visitors' requests. Float32 and int8: identical text and
scores within 1e-5, on 200 test sentences. bf16 rounds by batch size, so the demo decodes each bf16 request
alone. Seeded sampling draws each sentence from its own stream."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from seq2seq_hub import DecodingOptions, Translator
from seq2seq_hub.demo.batching import BatchingTranslator, DecodingThread

MODEL = "models/multi30k-en-de"  # a shipped single model (the contract holds for ensembles as for members)
SENTENCES = 200


@pytest.fixture(scope="module")
def sources(multi30k):
    return multi30k("test_2016_flickr", "en", SENTENCES)


@pytest.fixture(scope="module", params=["float32", "int8"])
def shipped(request):
    from runhelpers import REPO

    dtype = None if request.param == "float32" else request.param
    return Translator.from_pretrained(REPO / MODEL, compute_dtype=dtype)


def _same(a, b, tolerance: float = 1e-5) -> bool:
    return a.text == b.text and abs(a.score - b.score) <= tolerance


def test_a_sentence_translates_the_same_alone_and_in_a_batch_of_32(shipped, sources):
    options = DecodingOptions(num_beams=5)
    alone = shipped.translate(sources, options, batch_size=1)
    batched = shipped.translate(sources, options, batch_size=32)
    moved = [i for i, (a, b) in enumerate(zip(alone, batched)) if not _same(a, b)]
    assert not moved, f"{len(moved)} of {len(sources)} sentences changed with their batch, e.g. #{moved[0]}"
    greedy = shipped.translate(sources[:60], strategy="greedy", batch_size=1)
    assert all(_same(a, b) for a, b in zip(greedy, shipped.translate(sources[:60], strategy="greedy", batch_size=32)))


def test_a_visitor_gets_the_same_translation_whatever_other_visitors_send(shipped, sources):
    """Sixteen clients send different sentences at once through the demo's batcher (one decoding thread)."""
    batcher = BatchingTranslator(shipped, max_batch_size=16, thread=DecodingThread())
    options = DecodingOptions(num_beams=5)
    texts = sources[:48]
    alone = shipped.translate(texts, options, batch_size=1)
    start = threading.Barrier(16)

    def visitor(k: int) -> list:
        start.wait(60)
        return [batcher.translate(texts[i], options) for i in range(k, len(texts), 16)]

    with ThreadPoolExecutor(16) as clients:
        results = list(clients.map(visitor, range(16)))
    served = {i: hyp for k, hyps in enumerate(results) for i, hyp in zip(range(k, len(texts), 16), hyps)}
    assert all(_same(served[i], alone[i]) for i in range(len(texts)))


def test_the_demo_decodes_bf16_requests_one_at_a_time(make_translator):
    bf16 = make_translator()
    bf16.compute_dtype = "bfloat16"
    assert BatchingTranslator(bf16, max_batch_size=16, thread=DecodingThread()).max_batch_size == 1
    assert BatchingTranslator(make_translator(), max_batch_size=16, thread=DecodingThread()).max_batch_size == 16


def test_seeded_sampling_draws_each_sentence_from_its_own_stream(translator, multi30k):
    texts = multi30k("val", "de", 6)
    options = DecodingOptions(strategy="sample", seed=7, temperature=1.5, max_length=12)
    together = translator.translate(texts, options)
    assert all(_same(translator.translate(text, options)[0], hyp, 0.0) for text, hyp in zip(texts, together))
    assert len({h.text for h in translator.translate([texts[0]] * 3, options)}) == 1
    reversed_order = translator.translate(texts[::-1], options)[::-1]
    assert [h.text for h in reversed_order] == [h.text for h in together]
    assert torch.is_tensor(torch.tensor(0))  # the module's torch import is used by the fixtures' translators
