"""int8 CPU decoding: weights quantized once per output channel, activations per row or in a fixed range
where they are bounded (RNN states, tanh); products close to float32's, decoding mostly the same as
float32's on the bundled model, the float path untouched outside `int8_decoding()`, every ensemble member
quantized, and `compute_dtype` / `--dtype` accepting 'int8'."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from seq2seq_hub import Seq2SeqModel, Translator
from seq2seq_hub.cli import build_parser
from seq2seq_hub.cli import main as cli_main
from seq2seq_hub.modeling import quantize
from seq2seq_hub.modeling.int8_encoder import Int8RNN
from seq2seq_hub.modeling.quantize import (
    Int8Weight,
    check_int8_device,
    int8_decoding,
    int8_enabled,
    int8_linear,
    linear,
)

BUNDLED = Path(__file__).resolve().parent.parent / "models" / "multi30k-de-en"
INT8_REL_ERROR = 0.05  # relative (Frobenius) error allowed for int8 against float32; int8 rounding gives ~0.01


def rel_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    return float((approx - exact).norm() / exact.norm())


def padded_batch(n: int, vocab: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n random sources of lengths 2..9 (one of the longest), padded with 0."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 10, (n,), generator=generator)
    lengths[0] = 9
    src = torch.randint(4, vocab, (n, 9), generator=generator)
    src[torch.arange(9) >= lengths.unsqueeze(1)] = 0
    return src, lengths


BATCH = 7  # rows of a test batch


def use_policy(monkeypatch, kernel: str, min_weight: int = 0) -> None:
    """Quantize with this policy from here on (the test's own; the process's is left alone)."""
    monkeypatch.setattr(quantize, "int8_policy", lambda: quantize.Int8Policy(kernel, min_weight))


@pytest.fixture(autouse=True)
def every_product_in_int8(request, monkeypatch):
    """Tiny test models' weights are all under the size where oneDNN's policy goes int8: these tests check the
    int8 paths, so every weight is int8 here, on this process's kernel (but in the tests of the policy itself)."""
    if "real_policy" not in request.keywords:
        use_policy(monkeypatch, quantize.int8_policy().kernel)


# ---------------------------------------------------------------------- the int8 product
def test_weights_are_quantized_per_output_channel_within_half_a_step():
    weight = torch.randn(7, 5) * torch.logspace(-3, 1, 7).unsqueeze(1)  # rows of very different ranges
    weight[3] = 0.0
    q = Int8Weight.from_float(weight)
    assert q.qweight.dtype == torch.int8 and q.qweight.shape == (5, 7) and q.scale.shape == (7,)
    assert int(q.qweight.abs().max()) == 127
    step = q.scale.unsqueeze(1)  # (N, 1): each output channel's own step
    assert bool(((q.dequantize() - weight).abs() <= step / 2 + 1e-7).all())
    assert bool((q.dequantize()[3] == 0).all())


@pytest.mark.parametrize("shape", [(5, 64), (3, 4, 64)], ids=["2d", "3d"])
def test_int8_linear_is_close_to_float_linear(shape):
    torch.manual_seed(0)
    x, weight, bias = torch.randn(*shape), torch.randn(48, 64) * 0.1, torch.randn(48)
    out = int8_linear(x, Int8Weight.from_float(weight), bias)
    assert out.shape == (*shape[:-1], 48) and out.dtype == torch.float32
    assert rel_error(out, F.linear(x, weight, bias)) < 0.02
    rows, gates = torch.randn(5, 64), torch.randn(5, 48)  # a 2-D bias (the gates' other shares) is added as is
    assert rel_error(linear(rows, Int8Weight.from_float(weight), gates), gates + rows @ weight.t()) < 0.02


def onednn_int8_exists() -> bool:
    return quantize.onednn_prepack(torch.ones(2, 2, dtype=torch.int8)) is not None


@pytest.mark.skipif(not onednn_int8_exists(), reason="no oneDNN int8 linear in this PyTorch")
@pytest.mark.parametrize("bound", [None, 1.0], ids=["row-scales", "fixed-scale"])
@pytest.mark.parametrize("shape", [(5, 64), (3, 4, 64), (640, 64), (1, 64)], ids=["2d", "3d", "many-rows", "one-row"])
def test_the_onednn_kernel_gives_the_int_mm_numbers(shape, bound, monkeypatch):
    """The two int8 paths share the quantization; they differ only by float rounding of the scaling. oneDNN
    is used here even on a CPU where it is too slow to be chosen."""
    use_policy(monkeypatch, "onednn")
    torch.manual_seed(1)
    x, weight = torch.randn(*shape), torch.randn(48, 64) * 0.1
    x = x if bound is None else torch.tanh(x)
    fast = Int8Weight.from_float(weight, input_bound=bound)
    assert fast.packed is not None
    plain = dataclasses.replace(fast, packed=None, zero_points=None)
    for bias in (None, torch.randn(48), torch.randn(*shape[:-1], 48)):
        assert torch.allclose(int8_linear(x, fast, bias), int8_linear(x, plain, bias), rtol=1e-5, atol=1e-5)


@pytest.mark.real_policy
@pytest.mark.parametrize(
    "onednn_s,int_mm_s,pays", [(2e-5, 1e-5, True), (9e-5, 1e-5, True), (2e-2, 1e-5, False)], ids=["2x", "9x", "2000x"]
)
def test_onednn_is_chosen_only_where_its_kernel_is_not_the_reference_one(monkeypatch, onednn_s, int_mm_s, pays):
    """Timed once per process: oneDNN first, then torch._int_mm; oneDNN serves unless over 10x slower."""
    if not onednn_int8_exists():
        pytest.skip("no oneDNN int8 linear in this PyTorch")
    timings = iter([onednn_s, int_mm_s])
    monkeypatch.setattr(quantize, "_seconds", lambda product: next(timings))
    quantize.onednn_int8_pays.cache_clear()
    quantize.int8_policy.cache_clear()
    try:
        assert quantize.onednn_int8_pays() is pays
        policy = quantize.int8_policy()
        assert policy.kernel == ("onednn" if pays else "int_mm")
        assert policy.min_weight == (quantize.ONEDNN_MIN_WEIGHT if pays else 0)
        assert (Int8Weight.from_float(torch.randn(48, 64)).packed is not None) is pays
    finally:
        quantize.onednn_int8_pays.cache_clear()
        quantize.int8_policy.cache_clear()


def test_without_onednn_products_run_on_int_mm_with_the_same_quantization(monkeypatch):
    use_policy(monkeypatch, "int_mm")
    torch.manual_seed(2)
    x, weight, bias = torch.tanh(torch.randn(5, 64)), torch.randn(48, 64) * 0.1, torch.randn(48)
    plain = Int8Weight.from_float(weight, input_bound=1.0)
    assert plain.packed is None and plain.zero_points is None
    assert rel_error(int8_linear(x, plain, bias), F.linear(x, weight, bias)) < 0.02


def test_a_bounded_input_takes_one_fixed_scale_and_each_row_is_independent_of_its_batch():
    torch.manual_seed(3)
    weight, bias = torch.randn(48, 64) * 0.1, torch.randn(48)
    bounded = Int8Weight.from_float(weight, input_bound=1.0)
    assert bounded.input_bound == 1.0 and Int8Weight.from_float(weight).input_bound is None
    x = torch.tanh(torch.randn(9, 64) * 3)  # a tanh, as the output layer and the RNN cells get
    x[0] = 1.0  # the bound itself: the top of the int8 range, not beyond it
    out = int8_linear(x, bounded, bias)
    assert rel_error(out, F.linear(x, weight, bias)) < 0.02
    assert torch.allclose(out[0], bounded.dequantize().sum(1) + bias, atol=1e-4)
    for row in (0, 4, 8):  # a row alone gives what it gives in its batch
        assert torch.allclose(int8_linear(x[row : row + 1], bounded, bias), out[row : row + 1], atol=1e-6)
    x[1] *= 0.01  # a row of small values keeps the fixed step (1/127): within half a step of x, and of w
    x_part = weight.abs().sum(1) * 0.5 / 127  # (N,) the inputs' rounding, through |w|
    w_part = x.abs().sum(1, keepdim=True) * bounded.scale / 2  # (M, N) the weights' rounding, through |x|
    assert bool(((int8_linear(x, bounded) - x @ weight.t()).abs() <= x_part + w_part + 1e-6).all())
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="input_bound must be positive"):
            Int8Weight.from_float(weight, input_bound=bad)


@pytest.mark.real_policy
@pytest.mark.skipif(not onednn_int8_exists(), reason="no oneDNN int8 linear in this PyTorch")
def test_with_onednn_small_weights_stay_float32_and_large_ones_go_int8_whatever_the_rows(monkeypatch):
    use_policy(monkeypatch, "onednn", quantize.ONEDNN_MIN_WEIGHT)
    torch.manual_seed(2)
    small, large = torch.randn(1024, 256) * 0.1, torch.randn(6000, 256) * 0.1  # an LSTM matrix, an output layer
    assert small.numel() < quantize.ONEDNN_MIN_WEIGHT <= large.numel()
    q_small, q_large = Int8Weight.from_float(small), Int8Weight.from_float(large)
    assert not q_small.active and q_large.active
    for rows in (1, 5, 64):  # the decision is the weight's, never the batch's
        x = torch.randn(rows, 256)
        assert torch.equal(linear(x, q_small), F.linear(x, small))
        assert torch.equal(linear(x, q_large), int8_linear(x, q_large))
        assert torch.equal(linear(x[:1], q_large), linear(x, q_large)[:1])  # a row alone = the row in its batch
    without_float = dataclasses.replace(q_small, weight=None)  # no float weight kept: int8 whatever the size
    assert torch.equal(linear(x, without_float), int8_linear(x, q_small))


@pytest.mark.real_policy
def test_with_int_mm_every_product_is_int8_whatever_its_size(monkeypatch):
    use_policy(monkeypatch, "int_mm", 0)
    torch.manual_seed(2)
    weight, bias = torch.randn(1024, 256) * 0.1, torch.randn(1024)
    q = Int8Weight.from_float(weight)
    assert q.packed is None and q.active
    for rows in (1, 5, 64):
        x = torch.randn(rows, 256)
        assert torch.equal(linear(x, q, bias), int8_linear(x, q, bias))
        assert not torch.equal(linear(x, q, bias), F.linear(x, weight, bias))


def test_the_policy_says_what_it_decided():
    assert quantize.Int8Policy("int_mm", 0).describe().startswith("int8 inference: every product in int8")
    assert "weights of 1,048,576+ entries" in quantize.Int8Policy("onednn", 1 << 20).describe()


def test_an_all_zero_row_gives_exactly_the_bias():
    out = int8_linear(torch.zeros(2, 8), Int8Weight.from_float(torch.randn(3, 8)), torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(out, torch.tensor([[1.0, 2.0, 3.0]] * 2))


def test_linear_on_a_float_weight_is_exactly_f_linear():
    x, weight, bias = torch.randn(4, 6), torch.randn(3, 6), torch.randn(4, 3)
    assert torch.equal(linear(x, weight, bias), F.linear(x, weight, bias))


def test_int8_decoding_is_a_nestable_switch():
    assert not int8_enabled()
    with int8_decoding():
        assert int8_enabled()
        with int8_decoding(False):
            assert not int8_enabled()
        assert int8_enabled()
    assert not int8_enabled()


def test_int8_is_refused_off_the_cpu():
    check_int8_device(torch.device("cpu"))
    with pytest.raises(ValueError, match="CPU only.*'cuda'"):
        check_int8_device(torch.device("cuda"))


# ---------------------------------------------------------------------- tiny seeded models
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional,layers", [(True, 1), (False, 2)], ids=["bi-1", "uni-2"])
def test_the_int8_encoder_rnn_is_close_to_nn_rnn_and_zero_on_padding(cell, bidirectional, layers):
    torch.manual_seed(0)
    kind = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    rnn = kind(16, 24, layers, batch_first=True, bidirectional=bidirectional)
    src, lengths = padded_batch(BATCH, 30)
    x = torch.randn(*src.shape, 16)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        out, hidden = rnn(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        q_out, q_hidden = Int8RNN.from_rnn(rnn)(x, lengths)
    assert q_out.shape == out.shape
    assert rel_error(q_out, out) < INT8_REL_ERROR
    for q_h, h in zip(q_hidden, hidden) if cell == "lstm" else [(q_hidden, hidden)]:
        assert q_h.shape == h.shape and rel_error(q_h, h) < INT8_REL_ERROR
    assert bool((q_out[torch.arange(9) >= lengths.unsqueeze(1)] == 0).all())


@pytest.mark.parametrize("attention", ["bahdanau", "luong", "none"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_int8_logits_are_close_to_float32_on_a_tiny_model(make_model, attention, cell):
    model = make_model(attention=attention, cell=cell, decoder_layers=2, encoder_layers=2, hidden_size=24)
    model.quantize_int8()
    for batch in (1, BATCH):
        src, lengths = padded_batch(batch, model.config.src_vocab_size)
        tgt_in = torch.randint(4, model.config.tgt_vocab_size, (batch, 6))
        with torch.inference_mode():
            exact = model(src, lengths, tgt_in).logits
            steps = model.decode_step(tgt_in[:, 0], model.encode(src, lengths))[0]
            with int8_decoding():
                approx = model(src, lengths, tgt_in).logits
                approx_steps = model.decode_step(tgt_in[:, 0], model.encode(src, lengths))[0]
        assert rel_error(approx, exact) < INT8_REL_ERROR
        assert rel_error(approx_steps, steps) < INT8_REL_ERROR
        assert not torch.equal(approx, exact)  # the int8 path really ran


@pytest.mark.parametrize("layers", [1, 2])
def test_the_fixed_input_range_goes_only_to_matrices_whose_inputs_are_rnn_states_or_a_tanh(make_model, layers):
    model = make_model(encoder_layers=layers, decoder_layers=layers)
    model.quantize_int8()
    w = model.decoder.int8_weights
    bounded = [w.context, w.output, *w.w_hh, *w.w_ih[1:]]  # context mix, tanh, hidden state, layer below
    assert all(m.input_bound == 1.0 for m in bounded) and len(bounded) == 2 + 2 * layers - 1
    assert w.emb.input_bound is None and w.pre_output.input_bound is None  # both see the embedding
    cells = model.encoder.int8_rnn.cells  # layer by layer, both directions
    assert [c.w_ih.input_bound for c in cells] == [None, None] + [1.0, 1.0] * (layers - 1)
    assert all(c.w_hh.input_bound == 1.0 for c in cells)


def test_quantizing_leaves_the_float_model_and_its_state_dict_alone(make_model):
    model = make_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    src, lengths = padded_batch(BATCH, model.config.src_vocab_size)
    tgt_in = torch.randint(4, model.config.tgt_vocab_size, (BATCH, 5))
    with torch.inference_mode():
        exact = model(src, lengths, tgt_in).logits
    model.quantize_int8()
    assert model.is_int8
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with torch.inference_mode():
        assert torch.equal(model(src, lengths, tgt_in).logits, exact)  # outside int8_decoding(): float32
    model.quantize_int8(False)
    assert not model.is_int8


# ---------------------------------------------------------------------- Translator, CLI and ensembles
@pytest.fixture(scope="module")
def bundled_pair():
    return Translator.from_pretrained(BUNDLED), Translator.from_pretrained(BUNDLED, compute_dtype="int8")


@pytest.mark.real_policy  # as shipped: the policy of the int8 kernel this CPU gets
@pytest.mark.parametrize("options", [dict(strategy="greedy"), dict(beam_size=5)], ids=["greedy", "beam"])
def test_int8_decodes_the_bundled_model_mostly_as_float32_does(bundled_pair, multi30k, options):
    sources = multi30k("test_2016_flickr", "de", 30)
    float32, int8 = bundled_pair
    assert int8.compute_dtype is torch.int8 and all(m.is_int8 for m in int8.members)
    for batch_size in (1, 30):  # one sentence at a time (float encoder) and a batch (int8 encoder)
        exact = [h.text for h in float32.translate(sources, batch_size=batch_size, **options)]
        approx = int8.translate(sources, batch_size=batch_size, **options)
        same = sum(a.text == e for a, e in zip(approx, exact))
        assert same >= 0.8 * len(sources), f"{same} of {len(sources)} translations unchanged"
        assert all(len(h.tokens) == len(h.token_probs) == len(h.attention) for h in approx)


def rows(hyps):
    return [h.to_dict() for h in hyps]


def test_compute_dtype_accepts_int8_and_its_errors_list_it(make_translator):
    translator, sentences = make_translator(), ["Ein Mann fährt Fahrrad.", "Zwei Hunde."]
    with pytest.raises(ValueError, match=r"compute_dtype must be one of \[.*'int8'.*\], got 'int4'"):
        translator.compute_dtype = "int4"
    with pytest.raises(ValueError, match="compute_dtype must be float32, bfloat16, float16 or int8, got torch.int16"):
        translator.compute_dtype = torch.int16
    float_hyps = rows(translator.translate(sentences, beam_size=3))
    translator.compute_dtype = torch.int8
    assert translator.compute_dtype is torch.int8 and translator.model.is_int8
    (hyp,) = translator.translate(sentences[0], strategy="sample", seed=0)
    assert all(0.0 <= p <= 1.0 for p in hyp.token_probs)
    translator.compute_dtype = "float32"  # the int8 copies stay, unused: float32 decoding is exactly as before
    assert rows(translator.translate(sentences, beam_size=3)) == float_hyps


def test_an_int8_ensemble_quantizes_every_member(make_translator):
    members = [make_translator(seed=1), make_translator(seed=2, attention="luong", cell="gru")]
    float_ensemble, sentences = Translator.ensemble(members), ["Ein Mann fährt Fahrrad.", "Zwei Hunde im Schnee."]
    float_hyps = rows(float_ensemble.translate(sentences))
    ensemble = Translator(float_ensemble.model, members[0].tokenizer, compute_dtype="int8")
    assert len(ensemble.members) == 2 and all(m.is_int8 for m in ensemble.members)
    hyps = ensemble.translate(sentences, beam_size=3, num_return_sequences=2)
    assert all(len(h.nbest) == 2 and h.nbest[0].score >= h.nbest[1].score for h in hyps)
    assert rows(float_ensemble.translate(sentences)) == float_hyps  # sharing the members leaves it float32
    assert Translator.ensemble([ensemble, members[0]]).compute_dtype is torch.int8  # the first one's dtype


def test_the_cli_accepts_dtype_int8(tmp_path, capsys):
    args = build_parser().parse_args(["translate", "--model", "m", "--dtype", "int8"])
    assert args.dtype == "int8"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["translate", "--model", "m", "--dtype", "int4"])
    capsys.readouterr()
    source = tmp_path / "in.de"
    source.write_text("Ein Hund rennt durch den Schnee.\nZwei Männer spielen Fußball.\n", encoding="utf-8")
    assert cli_main(["translate", "--model", str(BUNDLED), "--dtype", "int8", "--input", str(source)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "dog" in lines[0].lower() and "snow" in lines[0].lower()


def test_a_quantized_model_still_trains_in_float32(make_model):
    model: Seq2SeqModel = make_model()
    model.quantize_int8()
    src, lengths = padded_batch(BATCH, model.config.src_vocab_size)
    tgt_in = torch.randint(4, model.config.tgt_vocab_size, (BATCH, 5))
    model.train()(src, lengths, tgt_in, labels=tgt_in).loss.backward()
    assert all(p.grad is not None for p in model.parameters())
