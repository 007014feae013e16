"""Seq2SeqModel: padding changes nothing, attention is a distribution over real source tokens, the fast
teacher-forced path equals stepping, scheduled sampling draws per token, and the loss ignores padding."""

import pytest
import torch
import torch.nn.functional as F

PAD, BOS, EOS = 0, 1, 2

ATTENTIONS = [
    pytest.param(dict(attention="bahdanau"), id="bahdanau"),
    pytest.param(dict(attention="luong", luong_score="dot", bidirectional=False), id="luong-dot"),
    pytest.param(dict(attention="luong", luong_score="general"), id="luong-general"),
    pytest.param(dict(attention="none"), id="none"),
]
CELLS = ["lstm", "gru"]


def deep_model(make_model, cell, attention):
    """Two layers each side, dropout on (eval mode must switch it off), bidirectional unless 'dot'."""
    return make_model(cell=cell, encoder_layers=2, decoder_layers=2, dropout=0.3, **attention)


def sentences(config, src_lengths, tgt_lengths, seed=0):
    """Random (source ids + </s>, <s> + target ids, target ids + </s>) triples of the given lengths."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for s, t in zip(src_lengths, tgt_lengths):
        src = torch.randint(4, config.src_vocab_size, (s - 1,), generator=g).tolist() + [EOS]
        tgt = torch.randint(4, config.tgt_vocab_size, (t - 1,), generator=g).tolist()
        out.append((src, [BOS] + tgt, tgt + [EOS]))
    return out


def pad_batch(triples):
    """Right-pad a list of triples into src (B, S), src_lengths (B,), tgt_in (B, T), labels (B, T)."""
    s_max = max(len(src) for src, _, _ in triples)
    t_max = max(len(tgt) for _, tgt, _ in triples)
    src = torch.tensor([x + [PAD] * (s_max - len(x)) for x, _, _ in triples])
    tgt_in = torch.tensor([y + [PAD] * (t_max - len(y)) for _, y, _ in triples])
    labels = torch.tensor([z + [PAD] * (t_max - len(z)) for _, _, z in triples])
    lengths = torch.tensor([len(x) for x, _, _ in triples])
    return src, lengths, tgt_in, labels


def step_through(model, src, src_lengths, inputs):
    """Drive encode / decode_step over given inputs (B, T): logits (B, T, V), attention (B, T, S) or None."""
    state = model.encode(src, src_lengths)
    logits, attention = [], []
    for t in range(inputs.size(1)):
        step_logits, weights, state = model.decode_step(inputs[:, t], state)
        logits.append(step_logits)
        attention.append(weights)
    return torch.stack(logits, 1), None if attention[0] is None else torch.stack(attention, 1)


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", CELLS)
def test_padding_changes_nothing(make_model, cell, attention):
    model = deep_model(make_model, cell, attention)
    # unsorted lengths, a source that is only </s>, and the longest source with the shortest target
    triples = sentences(model.config, src_lengths=[5, 1, 9, 3], tgt_lengths=[4, 7, 1, 5])
    src, src_lengths, tgt_in, labels = pad_batch(triples)
    with torch.no_grad():
        batched = model(src, src_lengths, tgt_in)
        for row, triple in enumerate(triples):
            alone = model(*pad_batch([triple])[:3])
            t, s = len(triple[1]), len(triple[0])
            torch.testing.assert_close(batched.logits[row, :t], alone.logits[0], atol=1e-5, rtol=0)
            if model.config.attention == "none":
                assert batched.attention is None and alone.attention is None
                continue
            torch.testing.assert_close(batched.attention[row, :t, :s], alone.attention[0], atol=1e-5, rtol=0)
    if batched.attention is not None:
        weights = batched.attention  # (B, T, S)
        real = torch.arange(src.size(1)) < src_lengths.unsqueeze(1)  # (B, S)
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2]), atol=1e-5, rtol=0)
        assert (weights >= 0).all()
        assert (weights.masked_select(~real.unsqueeze(1).expand_as(weights)) == 0).all()  # exactly zero on pads


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", CELLS)
def test_fast_teacher_forcing_equals_stepping(make_model, cell, attention):
    model = deep_model(make_model, cell, attention)
    src, src_lengths, tgt_in, labels = pad_batch(sentences(model.config, [6, 2, 4], [5, 3, 6], seed=1))
    with torch.no_grad():
        fast = model(src, src_lengths, tgt_in, teacher_forcing_ratio=1.0)
        logits, weights = step_through(model, src, src_lengths, tgt_in)
    torch.testing.assert_close(fast.logits, logits, atol=1e-5, rtol=0)
    if weights is None:
        assert fast.attention is None
    else:
        torch.testing.assert_close(fast.attention, weights, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", CELLS)
def test_explicit_cell_equals_torch_rnn_in_values_and_gradients(make_model, cell):
    """Decoder.rnn_step (the step-wise paths' cell arithmetic) against nn.LSTM / nn.GRU on the same
    parameters, two layers, eval mode: outputs, final state and every parameter gradient."""
    model = make_model(cell=cell, attention="none", decoder_layers=2, dropout=0.3)
    decoder, (batch, steps) = model.decoder, (3, 5)
    emb = torch.randn(batch, steps, decoder.embedding.embedding_dim)
    h0 = torch.randn(2, batch, model.config.hidden_size)
    hidden0 = (h0, torch.randn_like(h0)) if cell == "lstm" else h0

    reference, reference_last = decoder.rnn(emb, hidden0)  # (B, T, H)
    ref_grads = torch.autograd.grad(reference.square().sum(), list(decoder.rnn.parameters()))

    hidden, outs, weights = hidden0, [], decoder.weights()
    for x_gates in torch.nn.functional.linear(emb, weights.emb, weights.x_bias[0]).unbind(1):
        out, hidden = decoder.rnn_step(x_gates, hidden, weights)
        outs.append(out)
    ours = torch.stack(outs, 1)
    grads = torch.autograd.grad(ours.square().sum(), list(decoder.rnn.parameters()))

    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)
    for a, b in zip(hidden if cell == "lstm" else [hidden], reference_last if cell == "lstm" else [reference_last]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    for name, a, b in zip([n for n, _ in decoder.rnn.named_parameters()], grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4, msg=f"gradient of {name}")


def record_decoder_inputs(model, monkeypatch):
    """Wrap decoder.advance to record each step's input tokens and the greedy prediction it leads to."""
    inputs, predictions = [], []
    advance = model.decoder.advance

    def recording_advance(prev_tokens, state):
        out, context, emb, weights, state = advance(prev_tokens, state)
        inputs.append(prev_tokens.clone())
        predictions.append(model.decoder.readout(out, context, emb, state.weights).argmax(-1))
        return out, context, emb, weights, state

    monkeypatch.setattr(model.decoder, "advance", recording_advance)
    return inputs, predictions


def test_scheduled_sampling_draws_per_token(make_model, monkeypatch):
    model = make_model(attention="luong")
    src, src_lengths, tgt_in, _ = pad_batch(sentences(model.config, [5] * 16, [10] * 16, seed=2))
    inputs, predictions = record_decoder_inputs(model, monkeypatch)
    torch.manual_seed(0)
    with torch.no_grad():
        model(src, src_lengths, tgt_in, teacher_forcing_ratio=0.5)
    inputs, predictions = torch.stack(inputs, 1), torch.stack(predictions, 1)  # (B, T)
    assert torch.equal(inputs[:, 0], tgt_in[:, 0])  # the first input is always <s>
    gold = inputs[:, 1:] == tgt_in[:, 1:]
    own = inputs[:, 1:] == predictions[:, :-1]
    assert (gold | own).all()  # every input is the gold token or the model's previous prediction
    informative = gold ^ own  # positions where the two differ, so we can tell which was drawn
    chose_gold = gold & informative
    chose_own = own & informative
    assert informative.float().mean() > 0.5
    assert 0.3 < chose_gold.sum() / informative.sum() < 0.7  # about half, with ratio 0.5
    # drawn per token: within one position, rows differ; within one row, positions differ
    assert (chose_gold.any(0) & chose_own.any(0)).any()
    assert (chose_gold.any(1) & chose_own.any(1)).any()


def test_teacher_forcing_ratio_zero_feeds_back_own_predictions(make_model):
    model = make_model(attention="bahdanau")
    src, src_lengths, tgt_in, _ = pad_batch(sentences(model.config, [5, 3, 7], [6, 6, 6], seed=3))
    with torch.no_grad():
        out = model(src, src_lengths, tgt_in, teacher_forcing_ratio=0.0)
        state = model.encode(src, src_lengths)
        prev, logits = tgt_in[:, 0], []
        for _ in range(tgt_in.size(1)):
            step_logits, _, state = model.decode_step(prev, state)
            logits.append(step_logits)
            prev = step_logits.argmax(-1)
    torch.testing.assert_close(out.logits, torch.stack(logits, 1), atol=1e-5, rtol=0)


def test_scheduled_sampling_is_reproducible_with_a_seed(make_model):
    model = make_model(attention="none")
    src, src_lengths, tgt_in, labels = pad_batch(sentences(model.config, [4] * 8, [8] * 8, seed=4))
    outputs = []
    for _ in range(2):
        torch.manual_seed(123)
        outputs.append(model(src, src_lengths, tgt_in, labels, teacher_forcing_ratio=0.5).logits)
    assert torch.equal(*outputs)


def test_loss_ignores_pad_labels(make_model):
    model = make_model()
    triples = sentences(model.config, [5, 3, 6], [2, 7, 4], seed=5)
    src, src_lengths, tgt_in, labels = pad_batch(triples)
    with torch.no_grad():
        out = model(src, src_lengths, tgt_in, labels)
        real = labels != PAD
        expected = F.cross_entropy(out.logits[real], labels[real])
        assert out.num_tokens == int(real.sum()) == sum(len(z) for _, _, z in triples)
        torch.testing.assert_close(out.loss, expected)
        # extra pad columns on the target side do not move the loss
        wider = model(src, src_lengths, F.pad(tgt_in, (0, 3)), F.pad(labels, (0, 3)))
        torch.testing.assert_close(wider.loss, out.loss, atol=1e-6, rtol=0)
        assert wider.num_tokens == out.num_tokens


def test_loss_is_differentiable_and_label_smoothing_changes_it(make_model):
    model = make_model(dropout=0.0).train()
    src, src_lengths, tgt_in, labels = pad_batch(sentences(model.config, [4, 6], [5, 3], seed=6))
    plain = model(src, src_lengths, tgt_in, labels)
    smoothed = model(src, src_lengths, tgt_in, labels, label_smoothing=0.1)
    assert torch.isfinite(plain.loss) and not torch.isclose(plain.loss, smoothed.loss)
    plain.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_pad_embeddings_get_no_gradient(make_model):
    # untied: a tied decoder embedding is also the output layer, whose pad row is trained down
    model = make_model(dropout=0.0, tie_embeddings=False).train()
    src, src_lengths, tgt_in, labels = pad_batch(sentences(model.config, [2, 6], [6, 2], seed=7))
    model(src, src_lengths, tgt_in, labels).loss.backward()
    assert (model.encoder.embedding.weight[PAD] == 0).all()
    assert (model.encoder.embedding.weight.grad[PAD] == 0).all()
    assert (model.decoder.embedding.weight.grad[PAD] == 0).all()


def test_untied_output_layer(make_model):
    model = make_model(tie_embeddings=False)
    src, src_lengths, tgt_in, _ = pad_batch(sentences(model.config, [3], [4], seed=8))
    assert model.decoder.output.weight.shape == (model.config.tgt_vocab_size, model.config.embedding_size)
    assert model(src, src_lengths, tgt_in).logits.shape == (1, 4, model.config.tgt_vocab_size)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_bf16_autocast_on_cpu_stays_close_to_float32(make_model, attention):
    """Under CPU bf16 autocast the matmuls run in bf16 and the Bahdanau attention in float32: logits and
    attention stay near the float32 ones, teacher-forced and stepped alike."""
    model = make_model(cell="lstm", **attention)
    src, src_lengths, tgt_in, _ = pad_batch(sentences(model.config, [6, 2, 4], [5, 3, 6], seed=9))
    with torch.no_grad():
        exact = model(src, src_lengths, tgt_in)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast = model(src, src_lengths, tgt_in)
            logits, weights = step_through(model, src, src_lengths, tgt_in)
    for approx in (fast.logits, logits):
        torch.testing.assert_close(approx.float(), exact.logits, atol=0.05, rtol=0.05)
    if exact.attention is not None:
        if model.config.attention == "bahdanau":
            assert fast.attention.dtype == weights.dtype == torch.float32
        torch.testing.assert_close(fast.attention.float(), exact.attention, atol=0.02, rtol=0)
        torch.testing.assert_close(weights.float(), exact.attention, atol=0.02, rtol=0)
