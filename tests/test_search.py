"""Search (greedy, beam, sampling) over `encode` / `decode_step`, and `Translator.translate` on any input."""

import json
import math

import pytest
import torch

from seq2seq_hub import Hypothesis
from seq2seq_hub.search import beam_search, greedy_or_sample

BOS, EOS = 1, 2


@pytest.fixture(scope="module")
def briefly_trained(make_config, train_toy):
    """A Bahdanau GRU after 100 steps on reversal: it has learned the task, but not so well that search
    cannot go wrong."""
    config = make_config(
        src_vocab_size=14, tgt_vocab_size=14, cell="gru", embedding_size=32, hidden_size=64, attention_size=0
    )
    return train_toy(config, steps=100)


def reversal_inputs(toy_batch, n, seed=1):
    """n padded reversal-task sources (lengths 3-8 + </s>) and room for 4 tokens more than the source."""
    src, src_lengths, _, _, _ = toy_batch(torch.Generator().manual_seed(seed), n, 3, 8, 10, True)
    return src, src_lengths, src_lengths + 4


@pytest.fixture(scope="module")
def inputs(toy_batch):
    return reversal_inputs(toy_batch, 60)


def rescore(model, src_row, length, ids):
    """Teacher-forced log-probs (T,) and attention (T, S) of target `ids` for one padded source row."""
    tgt_in = torch.tensor([[BOS] + ids[:-1]])
    with torch.no_grad():
        out = model(src_row.unsqueeze(0), torch.tensor([length]), tgt_in)
    log_probs = out.logits[0].log_softmax(-1).gather(1, torch.tensor(ids).unsqueeze(1)).squeeze(1)
    return log_probs, None if out.attention is None else out.attention[0]


# ---------------------------------------------------------------------- search on id tensors
@pytest.mark.parametrize("attention", ["bahdanau", "luong", "none"])
def test_beam_size_one_equals_greedy(make_model, inputs, attention):
    model = make_model(src_vocab_size=14, tgt_vocab_size=14, attention=attention)
    greedy = greedy_or_sample(model, *inputs)
    beam = beam_search(model, *inputs, beam_size=1)
    for g, (b,) in zip(greedy, beam):
        assert b.ids == g.ids
        assert b.score == pytest.approx(g.score, abs=1e-5)
        assert b.log_probs == pytest.approx(g.log_probs, abs=1e-5)


def test_beam_size_one_equals_greedy_after_training(briefly_trained, inputs):
    greedy = greedy_or_sample(briefly_trained, *inputs, length_penalty=0.6)
    beam = beam_search(briefly_trained, *inputs, beam_size=1, length_penalty=0.6)
    assert [b.ids for (b,) in beam] == [g.ids for g in greedy]
    assert [b.score for (b,) in beam] == pytest.approx([g.score for g in greedy], abs=1e-5)


@pytest.mark.parametrize("length_penalty", [1.0, 0.0])
def test_beam_never_scores_below_greedy(briefly_trained, toy_batch, length_penalty):
    # 1000 inputs: stopping a row as soon as it had 5 finished hypotheses lost to greedy on a few of them
    inputs = reversal_inputs(toy_batch, 1000, seed=2)
    greedy = greedy_or_sample(briefly_trained, *inputs, length_penalty=length_penalty)
    beam = beam_search(briefly_trained, *inputs, beam_size=5, length_penalty=length_penalty)
    worse = [(g.ids, g.score, b.ids, b.score) for g, (b, *_) in zip(greedy, beam) if b.score < g.score - 1e-5]
    assert not worse
    assert any(b.score > g.score + 1e-3 for g, (b, *_) in zip(greedy, beam))  # and beam does find better ones


def test_nbest_lists_are_sorted_and_distinct(briefly_trained, inputs):
    nbests = beam_search(briefly_trained, *inputs, beam_size=5, num_return_sequences=5)
    assert len(nbests) == inputs[0].size(0)
    for nbest in nbests:
        assert 1 <= len(nbest) <= 5
        scores = [h.score for h in nbest]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.ids) for h in nbest}) == len(nbest)
    assert all(len(nbest) == 5 for nbest in nbests[:10])


def one_sentence_beam_search(model, src_row, length, max_length, k, length_penalty):
    """The beam search rule written plainly, for one sentence, with whole histories: the K beams' 2K best
    extensions; those among the first K that end (</s>, or the last step) join the finished list (its best K
    kept); the first K that do not end go on; stop once no live beam beats the K-th finished one."""
    state = model.encode(src_row.unsqueeze(0), torch.tensor([length])).expand_beams(k)
    beams = [(0.0, [])]  # (total log-prob, ids); all K rows start identical: only the first is expanded
    finished, prev = [], torch.full((k,), BOS)
    for step in range(max_length):
        with torch.no_grad():
            logits, _, state = model.decode_step(prev, state)
        log_probs = torch.log_softmax(logits.float(), dim=-1).tolist()
        candidates = sorted(
            (
                (total + lp, beam, token)
                for beam, (total, _) in enumerate(beams)
                for token, lp in enumerate(log_probs[beam])
            ),
            reverse=True,
        )[: 2 * k]
        for total, beam, token in candidates[:k]:
            if token == EOS or step + 1 >= max_length:
                finished.append(((total / (step + 1) ** length_penalty), beams[beam][1] + [token]))
        finished = sorted(finished, key=lambda f: f[0], reverse=True)[:k]
        going = [c for c in candidates if c[2] != EOS][:k]
        worst = finished[-1][0] if len(finished) == k else -math.inf
        if going[0][0] / (step + 1) ** length_penalty <= worst or step + 1 >= max_length:
            return finished
        state = state.select_hidden(torch.tensor([beam for _, beam, _ in going]))
        beams = [(total, beams[beam][1] + [token]) for total, beam, token in going]
        prev = torch.tensor([token for _, _, token in going])
    return finished


@pytest.mark.parametrize("length_penalty", [1.0, 0.0, 2.0])
@pytest.mark.parametrize("k", [2, 5])
def test_batched_beam_search_equals_the_rule_written_plainly(briefly_trained, inputs, length_penalty, k):
    """Every sentence of a batch (different lengths, sentences leaving the batch as they finish, per-row max
    lengths) gets exactly the n-best list of the plain one-sentence search."""
    src, src_lengths, _ = inputs
    src, src_lengths = src[:24], src_lengths[:24]
    max_lengths = src_lengths + torch.arange(24) % 5 - 2  # some rows stop short of their best hypothesis
    nbests = beam_search(
        briefly_trained,
        src,
        src_lengths,
        max_lengths,
        beam_size=k,
        num_return_sequences=k,
        length_penalty=length_penalty,
    )
    for row, nbest in enumerate(nbests):
        expected = one_sentence_beam_search(
            briefly_trained, src[row], int(src_lengths[row]), int(max_lengths[row]), k, length_penalty
        )
        assert [h.ids for h in nbest] == [ids for _, ids in expected]
        assert [h.score for h in nbest] == pytest.approx([score for score, _ in expected], rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("length_penalty", [1.0, 0.6])
def test_hypothesis_score_is_length_normalized_log_prob(briefly_trained, inputs, length_penalty):
    nbests = beam_search(briefly_trained, *inputs, beam_size=3, num_return_sequences=3, length_penalty=length_penalty)
    for nbest in nbests:
        for h in nbest:
            assert len(h.ids) == len(h.log_probs)
            assert h.score == pytest.approx(sum(h.log_probs) / len(h.ids) ** length_penalty, abs=1e-5)


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_beam_attention_and_log_probs_equal_teacher_forced_rescoring(make_model, inputs, attention):
    model = make_model(src_vocab_size=14, tgt_vocab_size=14, attention=attention, encoder_layers=2)
    src, src_lengths, max_lengths = (x[:12] for x in inputs)
    nbests = beam_search(model, src, src_lengths, max_lengths, beam_size=4, num_return_sequences=4)
    for row, nbest in enumerate(nbests):
        for h in nbest:
            log_probs, weights = rescore(model, src[row], int(src_lengths[row]), h.ids)
            assert h.attention.shape == (len(h.ids), src.size(1))
            torch.testing.assert_close(h.attention, weights, atol=1e-5, rtol=0)
            assert h.log_probs == pytest.approx(log_probs.tolist(), abs=1e-5)


def test_attention_none_gives_no_attention(make_model, inputs):
    model = make_model(src_vocab_size=14, tgt_vocab_size=14, attention="none")
    assert all(h.attention is None for (h,) in beam_search(model, *inputs, beam_size=2))
    assert all(h.attention is None for h in greedy_or_sample(model, *inputs))


def test_per_row_max_lengths_are_respected(make_model, inputs):
    model = make_model(src_vocab_size=14, tgt_vocab_size=14, seed=5)
    src, src_lengths, _ = inputs
    max_lengths = torch.arange(src.size(0)) % 4 + 1  # 1, 2, 3, 4, 1, ...
    for hyps in (
        greedy_or_sample(model, src, src_lengths, max_lengths),
        [b[0] for b in beam_search(model, src, src_lengths, max_lengths, beam_size=3)],
    ):
        for h, limit in zip(hyps, max_lengths.tolist()):
            assert 1 <= len(h.ids) <= limit
            assert EOS not in h.ids[:-1]


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_min_length_is_respected(briefly_trained, inputs, search):
    src, src_lengths, _ = inputs
    max_lengths = torch.full_like(src_lengths, 20)
    if search == "greedy":
        hyps = greedy_or_sample(briefly_trained, src, src_lengths, max_lengths, min_length=12)
    else:
        hyps = [b[0] for b in beam_search(briefly_trained, src, src_lengths, max_lengths, min_length=12)]
    for h in hyps:
        assert EOS not in h.ids[:12]
        assert len(h.ids) >= 13


@pytest.mark.parametrize("search", ["greedy", "beam", "sample"])
def test_prefix_is_forced(briefly_trained, inputs, search):
    prefixes = [[7, 7, 13][: row % 4] for row in range(inputs[0].size(0))]  # some rows have none
    if search == "beam":
        hyps = [b[0] for b in beam_search(briefly_trained, *inputs, beam_size=3, prefixes=prefixes)]
    else:
        sample = dict(sample=True, generator=torch.Generator().manual_seed(0)) if search == "sample" else {}
        hyps = greedy_or_sample(briefly_trained, *inputs, prefixes=prefixes, **sample)
    for h, prefix in zip(hyps, prefixes):
        assert h.ids[: len(prefix)] == prefix


def test_wrong_number_of_prefixes_is_refused(briefly_trained, inputs):
    with pytest.raises(ValueError, match="got 2 prefixes for 60 sentences"):
        greedy_or_sample(briefly_trained, *inputs, prefixes=[[5], [6]])


def test_sampling_with_a_seed_is_reproducible(make_model, inputs):
    model = make_model(src_vocab_size=14, tgt_vocab_size=14)
    draws = [
        greedy_or_sample(model, *inputs, sample=True, generator=torch.Generator().manual_seed(seed))
        for seed in (7, 7, 8)
    ]
    assert [h.ids for h in draws[0]] == [h.ids for h in draws[1]]
    assert [h.ids for h in draws[0]] != [h.ids for h in draws[2]]


@pytest.mark.parametrize("options", [dict(top_k=1), dict(top_p=1e-6), dict(top_k=1, temperature=5.0)])
def test_sampling_that_keeps_one_token_equals_greedy(make_model, inputs, options):
    model = make_model(src_vocab_size=14, tgt_vocab_size=14, seed=1)
    greedy = greedy_or_sample(model, *inputs)
    sampled = greedy_or_sample(model, *inputs, sample=True, generator=torch.Generator().manual_seed(0), **options)
    assert [h.ids for h in sampled] == [h.ids for h in greedy]
    assert [h.score for h in sampled] == pytest.approx([h.score for h in greedy], abs=1e-6)


# ---------------------------------------------------------------------- Translator.translate
def check_hypothesis(h: Hypothesis, length_penalty: float = 1.0):
    assert isinstance(h.text, str) and math.isfinite(h.score)
    assert len(h.tokens) == len(h.token_probs) == len(h.attention)
    assert all(len(row) == len(h.src_tokens) for row in h.attention)
    assert all(0.0 < p <= 1.0 for p in h.token_probs)
    assert all(sum(row) == pytest.approx(1.0, abs=1e-4) for row in h.attention)
    if h.tokens:
        assert h.src_tokens[-1] == "</s>"
        assert h.log_prob == pytest.approx(sum(math.log(p) for p in h.token_probs), abs=1e-4)
        assert h.score == pytest.approx(h.log_prob / len(h.tokens) ** length_penalty, abs=1e-4)
    json.dumps(h.to_dict())


@pytest.mark.parametrize(
    "options",
    [
        dict(strategy="greedy"),
        dict(beam_size=4, num_return_sequences=3, length_penalty=0.6),
        dict(strategy="sample", seed=0, num_return_sequences=2, top_p=0.9, temperature=0.7),
    ],
)
def test_hypotheses_are_consistent(translator, options):
    texts = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Hallo"]
    results = translator.translate(texts, **options)
    assert len(results) == len(texts)
    for best in results:
        assert best.nbest[0] is best
        assert len(best.nbest) == options.get("num_return_sequences", 1)
        assert [h.score for h in best.nbest] == sorted((h.score for h in best.nbest), reverse=True)
        for h in best.nbest:
            check_hypothesis(h, options.get("length_penalty", 1.0))


@pytest.mark.parametrize("text", ["", " ", "\t\n  "])
def test_empty_text_translates_to_empty_text(translator, text):
    (result,) = translator.translate(text)
    assert result.text == "" and result.score == 0.0 and result.tokens == []
    assert result.nbest == [result]
    check_hypothesis(result)


def test_a_string_or_a_list(translator):
    text = "Ein Mann läuft."
    (single,) = translator.translate(text, strategy="greedy")
    listed = translator.translate([text, "", text], strategy="greedy")
    as_tuple = translator.translate((text,), strategy="greedy")
    assert [r.text for r in listed] == [single.text, "", single.text]
    assert as_tuple[0].text == single.text
    assert translator.translate([]) == []


def test_batching_and_order_do_not_change_results(translator, multi30k):
    texts = multi30k("val", "de", 12)
    together = translator.translate(texts, beam_size=3, batch_size=5)
    alone = [translator.translate(t, beam_size=3)[0] for t in texts]
    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.score for r in together] == pytest.approx([r.score for r in alone], abs=1e-4)


@pytest.mark.parametrize(
    "text",
    ["😀👍🏽🇩🇪", "日本語", "\ud800", "a\udfffb", "a\x00b", "\x00", "\u200b\u202e", "Ünïcödé ñ ç ø"],
)
def test_any_unicode_translates(translator, text):
    for strategy in ("greedy", "beam"):
        (result,) = translator.translate(text, strategy=strategy, max_length=8)
        check_hypothesis(result)
        assert not result.truncated


def test_long_input_is_truncated_and_flagged(translator):
    max_source = translator.config.max_source_length
    results = translator.translate(["Ein Mann läuft. " * 2000, "x" * 10**6, "Ein Mann läuft."], beam_size=2)
    for result in results[:2]:
        assert result.truncated
        assert len(result.src_tokens) == max_source
        check_hypothesis(result)
    assert not results[2].truncated


def test_prefix_text_starts_the_translation(translator):
    texts = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen."]
    for options in (dict(strategy="greedy"), dict(beam_size=3), dict(strategy="sample", seed=1)):
        results = translator.translate(texts, prefix="A man with", **options)
        assert all(r.text.startswith("A man with") for r in results)
    results = translator.translate(texts, prefix=["Two", "The dogs"], strategy="greedy")
    assert results[0].text.startswith("Two") and results[1].text.startswith("The dogs")
    (forced,) = translator.translate("", prefix="A man")  # a prefix makes even empty input decode
    assert forced.text.startswith("A man")


def test_min_and_max_length(translator):
    for strategy in ("greedy", "beam"):
        for result in translator.translate(["Ein Mann.", "Hallo"], strategy=strategy, beam_size=3, min_length=6):
            assert len(result.tokens) >= 7 or result.tokens[-1] != "</s>"
            assert "</s>" not in result.tokens[:6]
        for result in translator.translate(["Ein Mann.", "Hallo"], strategy=strategy, beam_size=3, max_length=3):
            assert 1 <= len(result.tokens) <= 3


def test_sampling_with_a_seed_is_reproducible_through_translate(translator):
    texts = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
    first = translator.translate(texts, strategy="sample", seed=11, num_return_sequences=3)
    again = translator.translate(texts, strategy="sample", seed=11, num_return_sequences=3)
    other = translator.translate(texts, strategy="sample", seed=12, num_return_sequences=3)
    assert [[h.text for h in r.nbest] for r in first] == [[h.text for h in r.nbest] for r in again]
    assert [[h.text for h in r.nbest] for r in first] != [[h.text for h in r.nbest] for r in other]


def test_top_k_one_sampling_equals_greedy_through_translate(translator):
    texts = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
    greedy = translator.translate(texts, strategy="greedy")
    sampled = translator.translate(texts, strategy="sample", top_k=1, seed=5)
    assert [r.text for r in sampled] == [r.text for r in greedy]
    assert [r.score for r in sampled] == pytest.approx([r.score for r in greedy], abs=1e-6)


def test_attention_none_translator_has_empty_attention(make_translator):
    (result,) = make_translator(attention="none").translate("Ein Mann.", beam_size=2)
    assert result.attention == [] and len(result.tokens) == len(result.token_probs) > 0


@pytest.mark.parametrize(
    "texts, message",
    [
        (None, "texts must be a string or a list of strings, got None"),
        (42, "got int"),
        (b"Ein Mann", "got bytes"),
        (["Ein Mann", 3], "got a list of int, str"),
        ([None], "got a list of NoneType"),
        ({"text": "Ein Mann"}, "got dict"),
    ],
)
def test_non_strings_raise_type_error(translator, texts, message):
    with pytest.raises(TypeError, match=message):
        translator.translate(texts)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(strategy="beems"), r"strategy must be one of \{'beam', 'greedy', 'sample'\}, got 'beems'"),
        (dict(beam_size=0), r"beam_size must be an integer in \[1, 64\], got 0"),
        (dict(beam_size=2.5), r"beam_size must be an integer in \[1, 64\], got 2.5"),
        (dict(beam_size="5"), r"beam_size must be an integer in \[1, 64\], got '5'"),
        (dict(beam_size=True), r"beam_size must be an integer .* got True"),
        (dict(length_penalty=-1.0), r"length_penalty must be a number in \[0, 10\], got -1.0"),
        (dict(temperature=0.0), "temperature must be a number .* got 0.0"),
        (dict(temperature=float("nan")), "temperature must be a number .* got nan"),
        (dict(top_p=0.0), "top_p must be a number .* got 0.0"),
        (dict(top_p=float("nan")), "top_p must be a number .* got nan"),
        (dict(top_k=-1), "top_k must be an integer .* got -1"),
        (dict(min_length=-1), "min_length must be an integer .* got -1"),
        (dict(max_length=0), "max_length must be an integer .* got 0"),
        (dict(batch_size=0), "batch_size must be an integer .* got 0"),
        (dict(seed=-1), "seed must be an integer .* got -1"),
        (dict(beam_size=3, num_return_sequences=4), r"num_return_sequences must be an integer in \[1, 3\], got 4"),
        (dict(strategy="greedy", num_return_sequences=2), r"num_return_sequences must be an integer in \[1, 1\]"),
        (dict(prefix=5), "prefix must be a string or a list of 2 strings, got int"),
        (dict(prefix=["A"]), "prefix must be a string or a list of 2 strings, got a list of str"),
        (dict(prefix="word " * 1000), "prefix is too long: .* tokens, the model allows 29"),
    ],
)
def test_bad_decoding_arguments_raise_value_error(translator, options, message):
    with pytest.raises(ValueError, match=message):
        translator.translate(["Ein Mann.", "Hallo"], **options)


def test_bfloat16_autocast_decoding_gives_well_formed_hypotheses(make_translator):
    translator = make_translator()
    translator.compute_dtype = "bfloat16"
    assert translator.compute_dtype is torch.bfloat16
    for strategy in ("greedy", "beam", "sample"):
        (hyp,) = translator.translate("Ein Mann fährt Fahrrad.", strategy=strategy, beam_size=3, seed=0)
        assert len(hyp.tokens) == len(hyp.token_probs) == len(hyp.attention)
        assert all(0.0 <= p <= 1.0 for p in hyp.token_probs)
    translator.compute_dtype = "float32"
    assert translator.compute_dtype is None
    with pytest.raises(ValueError, match="compute_dtype must be one of"):
        translator.compute_dtype = "int4"
