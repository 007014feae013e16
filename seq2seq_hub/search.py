"""search.py: batched greedy, beam and sampling over `Seq2SeqModel.encode` / `decode_step`.

Works on id tensors and returns `RawHypothesis` objects (ids, per-token log-probs, attention rows);
knows nothing of tokenizers, text or the Hub. Every strategy decodes the whole batch at once and
supports a forced target prefix, a minimum length and a per-sentence maximum length.

Shapes: B batch, K beam size, N = active rows (B*K for beam search), S source length, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .decoding import DecodingOptions

NEG_INF = float("-inf")
ROW_MULTIPLE = 16  # greedy / sampling shrink the batch in steps of this many rows: few distinct matmul shapes
SENTENCE_MULTIPLE = 4  # beam search: this many sentences (x beam size rows)


@dataclass
class RawHypothesis:
    """One decoded target sequence, before detokenization."""

    ids: list[int]  # target ids, `</s>` included when the hypothesis finished
    log_probs: list[float]  # log-probability of each id under the model
    attention: Tensor | None  # (len(ids), S) attention rows over the (padded) source
    score: float  # sum(log_probs) / len(ids) ** length_penalty


def normalized_score(total_log_prob: float, length: int, length_penalty: float) -> float:
    return total_log_prob / max(length, 1) ** length_penalty


def _constrain(log_probs: Tensor, step: int, eos_id: int, min_length: int, forced: Tensor | None) -> Tensor:
    """Apply min length (no `</s>` before it) and a forced prefix to log-probs (N, V) at `step`.

    forced: (N, P) ids, -1 where a row has no forced token at that position.
    """
    if step < min_length:
        log_probs[:, eos_id] = NEG_INF
    if forced is not None and step < forced.size(1):
        column = forced[:, step]  # (N,)
        rows = (column >= 0).nonzero().squeeze(1)
        if rows.numel():
            keep = log_probs[rows, column[rows]].clone()
            log_probs[rows] = NEG_INF
            log_probs[rows, column[rows]] = keep
    return log_probs


def _prefix_tensor(prefixes: list[list[int]] | None, batch: int, device: torch.device) -> Tensor | None:
    if not prefixes or not any(prefixes):
        return None
    if len(prefixes) != batch:
        raise ValueError(f"got {len(prefixes)} prefixes for {batch} sentences")
    width = max(len(p) for p in prefixes)
    forced = torch.full((batch, width), -1, dtype=torch.long)
    for i, p in enumerate(prefixes):
        forced[i, : len(p)] = torch.tensor(p, dtype=torch.long)
    return forced.to(device)


# ---------------------------------------------------------------------- greedy and sampling
def _filter_top_k_top_p(logits: Tensor, top_k: int, top_p: float) -> Tensor:
    """Keep the top_k most likely tokens and the smallest set whose mass reaches top_p. (N, V)."""
    if top_k and top_k < logits.size(-1):
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (N, 1)
        logits = logits.masked_fill(logits < kth, NEG_INF)
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        mass_before = probs.cumsum(-1) - probs  # mass of strictly more likely tokens
        drop_sorted = mass_before >= top_p  # the first token is always kept
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, NEG_INF)
    return logits


@torch.inference_mode()
def greedy_or_sample(
    model,
    src: Tensor,
    src_lengths: Tensor,
    max_lengths: Tensor,
    *,
    min_length: int = 0,
    prefixes: list[list[int]] | None = None,
    length_penalty: float = 1.0,
    sample: bool = False,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[RawHypothesis]:
    """Decode one hypothesis per row: argmax (greedy) or a draw (sampling). src (B, S) -> B hypotheses.

    max_lengths (B,): most tokens a row may produce, `</s>` included. Finished rows leave the batch
    (16 at a time, so that the matmuls see few distinct shapes), and the work shrinks with them.
    """
    config = model.config
    batch, device = src.size(0), src.device
    state = model.encode(src, src_lengths)
    forced = _prefix_tensor(prefixes, batch, device)
    max_lengths = max_lengths.to(device)
    steps = int(max_lengths.max())
    ids = torch.full((batch, steps), config.pad_token_id, dtype=torch.long, device=device)  # (B, T)
    lps = torch.zeros((batch, steps), device=device)  # (B, T) log-prob of each chosen id
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    attention: Tensor | None = None  # (B, T, S), allocated at the first step
    rows = torch.arange(batch, device=device)  # original row of each row still in the batch
    finished = torch.zeros(batch, dtype=torch.bool, device=device)  # per row still in the batch
    prev = torch.full((batch,), config.bos_token_id, dtype=torch.long, device=device)
    for step in range(steps):
        logits, attn, state = model.decode_step(prev, state)  # (N, V), (N, S) over the N live rows
        log_probs = _constrain(torch.log_softmax(logits.float(), dim=-1), step, config.eos_token_id, min_length, forced)
        if sample:
            scores = _constrain(logits.float() / temperature, step, config.eos_token_id, min_length, forced)
            scores = _filter_top_k_top_p(scores, top_k, top_p)
            choice = torch.multinomial(scores.softmax(-1), 1, generator=generator).squeeze(1)  # (N,)
            choice_lp = log_probs.gather(1, choice.unsqueeze(1)).squeeze(1)
        else:
            choice_lp, choice = log_probs.max(dim=-1)  # (N,), (N,); max(): argmax is slower on CPU
        ids[rows, step] = choice
        lps[rows, step] = choice_lp
        if attn is not None:
            if attention is None:
                attention = torch.zeros((batch, steps, attn.size(-1)), device=device)
            attention[rows, step] = attn.float()
        ended = ((choice == config.eos_token_id) | (step + 1 >= max_lengths)) & ~finished  # (N,)
        if bool(ended.any()):
            lengths[rows[ended]] = step + 1  # what a finished row writes later lies past its length
            finished |= ended
            live = (~finished).nonzero().squeeze(1)
            if live.numel() == 0:
                break
            width = min(finished.numel(), -(-live.numel() // ROW_MULTIPLE) * ROW_MULTIPLE)
            if width < finished.numel():  # finished rows leave the batch, a multiple of 16 rows at a time
                keep = torch.cat([live, finished.nonzero().squeeze(1)[: width - live.numel()]])
                rows, choice, max_lengths, finished = rows[keep], choice[keep], max_lengths[keep], finished[keep]
                forced = None if forced is None else forced.index_select(0, keep)
                state = state.select(keep)
        prev = choice
    ids, lps, lengths = ids.cpu(), lps.cpu(), lengths.tolist()
    attention = None if attention is None else attention.cpu()
    out = []
    for row, length in enumerate(lengths):
        row_lps = lps[row, :length].tolist()
        out.append(
            RawHypothesis(
                ids=ids[row, :length].tolist(),
                log_probs=row_lps,
                attention=None if attention is None else attention[row, :length],
                score=normalized_score(sum(row_lps), length, length_penalty),
            )
        )
    return out


# ---------------------------------------------------------------------- beam search
def _collect_finished(
    finished: list[list[RawHypothesis]],
    finishing: Tensor,
    picked: tuple[Tensor, Tensor, Tensor],
    history: tuple[Tensor, Tensor, Tensor | None],
    log_probs: Tensor,
    attn: Tensor | None,
    alive: Tensor,
    k: int,
    length_penalty: float,
) -> None:
    """Add the finishing candidates to their sentences' lists (each kept to its best k, best first).

    finishing (B', 2K) marks them; picked = (scores, rows in N, tokens), each (B', 2K); history = the
    beams' ids (N, t), log-probs (N, t) and attention (N, t, S) so far. Gathered for all finishing
    candidates at once, then split per hypothesis.
    """
    top_scores, flat_origin, token = picked
    history_ids, history_lps, history_attn = history
    rows, ranks = finishing.nonzero(as_tuple=True)  # (F,), (F,)
    origins, tokens = flat_origin[rows, ranks], token[rows, ranks]  # (F,) rows in N, (F,) ids
    ids = torch.cat([history_ids.index_select(0, origins), tokens.unsqueeze(1)], 1).tolist()
    lps = torch.cat([history_lps.index_select(0, origins), log_probs[origins, tokens].unsqueeze(1)], 1).tolist()
    totals = top_scores[rows, ranks].tolist()
    attention = None
    if attn is not None:
        last = attn.index_select(0, origins).unsqueeze(1)  # (F, 1, S)
        if history_attn is not None:
            last = torch.cat([history_attn.index_select(0, origins), last], 1)  # (F, t + 1, S)
        attention = last.float().cpu()
    originals = alive.index_select(0, rows).tolist()
    for j, original in enumerate(originals):
        score = normalized_score(totals[j], len(ids[j]), length_penalty)
        finished[original].append(RawHypothesis(ids[j], lps[j], None if attention is None else attention[j], score))
    for original in set(originals):  # keep each row's best k, best first
        finished[original].sort(key=lambda h: h.score, reverse=True)
        del finished[original][k:]


@torch.inference_mode()
def beam_search(
    model,
    src: Tensor,
    src_lengths: Tensor,
    max_lengths: Tensor,
    *,
    beam_size: int = 5,
    num_return_sequences: int = 1,
    length_penalty: float = 1.0,
    min_length: int = 0,
    prefixes: list[list[int]] | None = None,
) -> list[list[RawHypothesis]]:
    """Beam search over the whole batch at once; src (B, S) -> B n-best lists, best first.

    A row keeps its `beam_size` best finished hypotheses and leaves the batch once it has that many and
    no live beam, scored at its current length, beats the worst of them (so a strong beam still running
    is not cut off by weaker ones that ended early); the work shrinks as sentences finish. A hypothesis
    that reaches its row's max length finishes without `</s>`.
    """
    config = model.config
    k, vocab, eos = beam_size, config.tgt_vocab_size, config.eos_token_id
    batch, device = src.size(0), src.device
    state = model.encode(src, src_lengths).select(torch.arange(batch, device=device).repeat_interleave(k))
    forced_all = _prefix_tensor(prefixes, batch, device)
    max_lengths = max_lengths.to(device)

    alive = torch.arange(batch, device=device)  # original row of each sentence still in the batch
    active = torch.ones(batch, dtype=torch.bool, device=device)  # False: done, kept only to round the batch
    scores = torch.full((batch, k), NEG_INF, device=device)  # cumulative log-probs (B, K)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first
    history_ids = torch.empty((batch * k, 0), dtype=torch.long, device=device)
    history_lps = torch.empty((batch * k, 0), device=device)
    history_attn: Tensor | None = None  # (N, t, S)
    prev = torch.full((batch * k,), config.bos_token_id, dtype=torch.long, device=device)
    finished: list[list[RawHypothesis]] = [[] for _ in range(batch)]
    offsets = torch.arange(2 * k, device=device)

    for step in range(int(max_lengths.max())):
        live = alive.numel()
        logits, attn, state = model.decode_step(prev, state)
        forced = None if forced_all is None else forced_all.index_select(0, alive).repeat_interleave(k, 0)
        log_probs = _constrain(torch.log_softmax(logits.float(), dim=-1), step, eos, min_length, forced)  # (N, V)
        candidates = (scores.view(-1, 1) + log_probs).view(live, k * vocab)  # (B', K*V)
        top_scores, top_index = candidates.topk(2 * k, dim=-1)  # (B', 2K)
        origin = top_index // vocab  # beam each candidate extends
        token = top_index % vocab
        flat_origin = origin + torch.arange(live, device=device).unsqueeze(1) * k  # (B', 2K) rows in N
        is_eos = token == eos
        last_step = (step + 1) >= max_lengths.index_select(0, alive)  # (B',)

        # finished candidates: </s> among the top K, or every top-K candidate at the row's last step
        finishing = (is_eos & (offsets < k)) | (last_step.unsqueeze(1) & (offsets < k))
        finishing &= torch.isfinite(top_scores) & active.unsqueeze(1)
        if bool(finishing.any()):
            history = (history_ids, history_lps, history_attn)
            picked = (top_scores, flat_origin, token)
            _collect_finished(finished, finishing, picked, history, log_probs, attn, alive, k, length_penalty)

        # next beams: the first K candidates that are not </s>
        order = (is_eos.long() * (2 * k) + offsets).argsort(dim=-1)[:, :k]  # (B', K)
        scores = top_scores.gather(1, order)
        next_token = token.gather(1, order).view(-1)  # (N,)
        next_origin = flat_origin.gather(1, order).view(-1)  # (N,)

        worst = [finished[r][-1].score if len(finished[r]) >= k else NEG_INF for r in alive.tolist()]
        best_live = scores.max(dim=1).values / (step + 1) ** length_penalty  # (B',)
        done = (best_live <= torch.tensor(worst, device=device)) | last_step | ~active
        if bool(done.all()):
            break
        active = ~done
        going = active.nonzero().squeeze(1)
        width = min(live, -(-going.numel() // SENTENCE_MULTIPLE) * SENTENCE_MULTIPLE)
        moved = width < live
        if moved:  # done sentences leave, a multiple of 4 at a time (few distinct matmul shapes)
            keep = torch.cat([going, done.nonzero().squeeze(1)[: width - going.numel()]])
            alive, scores, active = alive.index_select(0, keep), scores.index_select(0, keep), active[keep]
            next_token = next_token.view(live, k).index_select(0, keep).view(-1)
            next_origin = next_origin.view(live, k).index_select(0, keep).view(-1)

        history_ids = torch.cat([history_ids.index_select(0, next_origin), next_token.unsqueeze(1)], 1)
        picked_lp = log_probs[next_origin, next_token].unsqueeze(1)  # (N, 1)
        history_lps = torch.cat([history_lps.index_select(0, next_origin), picked_lp], 1)
        if attn is not None:
            new_rows = attn.index_select(0, next_origin).unsqueeze(1)  # (N, 1, S)
            history_attn = (
                new_rows
                if history_attn is None
                else torch.cat([history_attn.index_select(0, next_origin), new_rows], 1)
            )
        # beams only move within their sentence, so memory / keys / mask need moving only when rows left
        state = state.select(next_origin) if moved else state.select_hidden(next_origin)
        prev = next_token

    results = []
    for hyps in finished:
        hyps.sort(key=lambda h: h.score, reverse=True)
        results.append(hyps[:num_return_sequences])
    return results


# ---------------------------------------------------------------------- one batch of id lists
def _max_lengths(src_lengths: Tensor, prefixes: list[list[int]], max_length: int | None, cap: int) -> Tensor:
    """(B,) most target tokens per sentence: `max_length`, or 2 x source + 10 (+ prefix), within `cap`."""
    prefix_len = torch.tensor([len(p) for p in prefixes])
    if max_length is None:
        lengths = 2 * src_lengths + 10 + prefix_len
    else:
        lengths = torch.maximum(torch.full_like(src_lengths, max_length), prefix_len + 1)
    return lengths.clamp(max=cap)


def decode_ids(
    model, ids: list[list[int]], prefixes: list[list[int]], options: DecodingOptions, generator=None
) -> list[list[RawHypothesis]]:
    """Source id lists of one batch -> an n-best list per sentence, best first, by `options.search`."""
    config, device = model.config, model.device
    lengths = torch.tensor([len(x) for x in ids])
    src = torch.full((len(ids), int(lengths.max())), config.pad_token_id, dtype=torch.long)
    for row, x in enumerate(ids):
        src[row, : len(x)] = torch.tensor(x)
    max_lengths = _max_lengths(lengths, prefixes, options.max_length, config.max_target_length)
    src, device_lengths = src.to(device), lengths.to(device)
    common = dict(min_length=options.min_length, prefixes=prefixes, length_penalty=options.length_penalty)
    if options.search == "beam":
        k, n = options.num_beams, options.num_return_sequences
        return beam_search(model, src, device_lengths, max_lengths, beam_size=k, num_return_sequences=n, **common)
    if options.search == "greedy":
        return [[h] for h in greedy_or_sample(model, src, device_lengths, max_lengths, **common)]
    n = options.num_return_sequences
    index = torch.arange(len(ids)).repeat_interleave(n)  # each sentence n times
    common["prefixes"] = [prefixes[i] for i in index.tolist()]
    sampling = dict(temperature=options.temperature, top_k=options.top_k, top_p=options.top_p, generator=generator)
    raw = greedy_or_sample(
        model,
        src[index.to(device)],
        device_lengths[index.to(device)],
        max_lengths[index],
        sample=True,
        **sampling,
        **common,
    )
    return [sorted(raw[i * n : (i + 1) * n], key=lambda h: h.score, reverse=True) for i in range(len(ids))]
