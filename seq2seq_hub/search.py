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
@dataclass
class _Ending:
    """A finished beam-search candidate, kept as a back-pointer until the search ends."""

    score: float  # length-normalized
    step: int  # the step that produced its last token
    origin: int  # the row (of that step's rows) it extends
    token: int  # its last token
    log_prob: float  # its last token's log-prob


def _record_endings(finished, finishing, picked, alive, step, k, length_penalty, worst) -> None:
    """Add the finishing candidates to their sentences' lists (each kept to its best k, best first); a list that
    holds k sets its row of `worst` (B,) to its k-th score.

    finishing (B', 2K) marks them; picked = (scores, rows in N, tokens, token log-probs), each (B', 2K).
    """
    top_scores, flat_origin, token, token_lp = picked
    rows, ranks = finishing.nonzero(as_tuple=True)  # (F,), (F,)
    values = (top_scores[rows, ranks], flat_origin[rows, ranks], token[rows, ranks], token_lp[rows, ranks])
    totals, origins, tokens, lps = (v.tolist() for v in values)
    originals = alive.index_select(0, rows).tolist()
    for j, original in enumerate(originals):
        score = normalized_score(totals[j], step + 1, length_penalty)
        finished[original].append(_Ending(score, step, origins[j], tokens[j], lps[j]))
    for original in set(originals):  # keep each row's best k, best first
        finished[original].sort(key=lambda h: h.score, reverse=True)
        del finished[original][k:]
        if len(finished[original]) == k:
            worst[original] = finished[original][-1].score


def _backtrack(
    endings: list[_Ending], trail: list[tuple[Tensor, Tensor, Tensor]], attentions: list[Tensor | None]
) -> list[RawHypothesis]:
    """Follow each ending's back-pointers to its whole hypothesis (every sentence's at once: one pass over the steps).

    trail[t] = (tokens, parents, log-probs), each (N_t+1,): the beams step t kept, each with its last token,
    the row of step t it extends and that token's log-prob. attentions[t]: step t's attention (N_t, S) or None.
    """
    tokens, parents, lps = ([entry[i].tolist() for entry in trail] for i in range(3))
    out, rows_at = [], []  # rows_at[h][t]: the row whose step t produced hypothesis h's token t
    for end in endings:
        ids, log_probs, rows = [end.token], [end.log_prob], [end.origin]
        for t in range(end.step - 1, -1, -1):
            row = rows[-1]  # a row of step t + 1: its token t, and the row of step t it extends
            ids.append(tokens[t][row])
            log_probs.append(lps[t][row])
            rows.append(parents[t][row])
        rows_at.append(rows[::-1])
        out.append(RawHypothesis(ids[::-1], log_probs[::-1], None, end.score))
    if endings and attentions[0] is not None:
        attention = torch.zeros(len(endings), max(e.step for e in endings) + 1, attentions[0].size(-1))  # (F, T, S)
        for t, step_attention in enumerate(attentions):
            hyps = [h for h, end in enumerate(endings) if end.step >= t]
            if not hyps:
                break
            rows = torch.tensor([rows_at[h][t] for h in hyps], device=step_attention.device)
            attention[hyps, t] = step_attention.index_select(0, rows).float().cpu()
        for h, hyp in enumerate(out):
            hyp.attention = attention[h, : len(hyp.ids)]
    return out


def _expand(log_probs: Tensor, scores: Tensor, width: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Each sentence's best 2K one-token extensions of its K beams: the best `width` tokens of each beam
    (N, V) -> (N, W), then the best 2K of those, without adding the beams' scores over the whole vocabulary.

    scores (B', K) cumulative log-probs -> candidate scores, rows in N, tokens and token log-probs, each (B', 2K).
    """
    live, k = scores.shape
    beam_lps, beam_tokens = log_probs.topk(width, dim=-1)  # (N, W); any sentence's best 2K lie among these
    candidates = (scores.view(-1, 1) + beam_lps).view(live, k * width)  # (B', K*W)
    top_scores, top_index = candidates.topk(2 * k, dim=-1)  # (B', 2K)
    flat_origin = top_index // width + torch.arange(live, device=log_probs.device).unsqueeze(1) * k  # rows in N
    token = beam_tokens.view(live, k * width).gather(1, top_index)
    token_lp = beam_lps.view(live, k * width).gather(1, top_index)
    return top_scores, flat_origin, token, token_lp


def _next_beams(top_scores, flat_origin, token, token_lp, is_eos, offsets) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The beams that go on: each sentence's first K candidates that are not </s> (a beam has one </s>
    candidate, so K of the 2K are not). Candidates (B', 2K), best first -> scores (B', K), best first, and
    next tokens, the rows they extend, their log-probs, each (N,). offsets: (2K,) 0, 1, ..., 2K - 1."""
    k = offsets.numel() // 2
    order = (is_eos * (2 * k) + offsets).topk(k, dim=-1, largest=False).indices  # (B', K), in rank order
    scores = top_scores.gather(1, order)
    return scores, *(x.gather(1, order).view(-1) for x in (token, flat_origin, token_lp))


def _rows_to_keep(done: Tensor, going: int) -> Tensor | None:
    """done (B',) with `going` sentences not done -> the rows that stay: those, padded with done ones to a multiple
    of SENTENCE_MULTIPLE (done sentences leave a few at a time: few distinct matmul shapes); None: all stay."""
    width = min(done.numel(), -(-going // SENTENCE_MULTIPLE) * SENTENCE_MULTIPLE)
    if width == done.numel():
        return None
    return torch.cat([(~done).nonzero().squeeze(1), done.nonzero().squeeze(1)[: width - going]])


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
    that reaches its row's max length finishes without `</s>`. Beams keep back-pointers, not copies of
    their histories: hypotheses are put together once, at the end.
    """
    config = model.config
    k, eos = beam_size, config.eos_token_id
    width = min(2 * k, config.tgt_vocab_size)
    batch, device = src.size(0), src.device
    state = model.encode(src, src_lengths).expand_beams(k)  # K rows per sentence, memory shared
    forced_all = _prefix_tensor(prefixes, batch, device)
    max_lengths = max_lengths.to(device)

    alive = torch.arange(batch, device=device)  # original row of each sentence still in the batch
    active = torch.ones(batch, dtype=torch.bool, device=device)  # False: done, kept only to round the batch
    scores = torch.full((batch, k), NEG_INF, device=device)  # cumulative log-probs (B, K)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first
    trail: list[tuple[Tensor, Tensor, Tensor]] = []  # per step: the beams it kept, see `_backtrack`
    attentions: list[Tensor | None] = []  # per step (N_t, S)
    prev = torch.full((batch * k,), config.bos_token_id, dtype=torch.long, device=device)
    finished: list[list[_Ending]] = [[] for _ in range(batch)]
    worst = torch.full((batch,), NEG_INF, device=device)  # per original row: its k-th best finished score
    offsets = torch.arange(2 * k, device=device)
    first_k = offsets < k  # (2K,) the candidates that may finish: the top K
    alive_max_lengths = max_lengths  # (B',) each sentence still in the batch's max length

    for step in range(int(max_lengths.max())):
        live = alive.numel()
        logits, attn, state = model.decode_step(prev, state)
        attentions.append(attn)
        forced = None if forced_all is None else forced_all.index_select(0, alive).repeat_interleave(k, 0)
        log_probs = torch.log_softmax(logits if logits.dtype == torch.float32 else logits.float(), dim=-1)
        log_probs = _constrain(log_probs, step, eos, min_length, forced)  # (N, V)
        picked = _expand(log_probs, scores, width)  # scores, rows in N, tokens, token log-probs: (B', 2K), best first
        top_scores, _, token, _ = picked
        is_eos = token == eos
        last_step = (step + 1) >= alive_max_lengths  # (B',)

        # finished candidates: </s> among the top K, or every top-K candidate at the row's last step
        finishing = (is_eos | last_step.unsqueeze(1)) & first_k & torch.isfinite(top_scores) & active.unsqueeze(1)
        if bool(finishing.any()):
            _record_endings(finished, finishing, picked, alive, step, k, length_penalty, worst)

        scores, next_token, next_origin, next_lp = _next_beams(*picked, is_eos, offsets)

        best_live = scores[:, 0] / (step + 1) ** length_penalty  # (B',)
        done = (best_live <= worst.index_select(0, alive)) | last_step | ~active
        finished_rows = int(done.sum())
        if finished_rows == live:
            break
        active, keep = ~done, _rows_to_keep(done, live - finished_rows)
        if keep is not None:
            alive, scores, active = alive.index_select(0, keep), scores.index_select(0, keep), active[keep]
            alive_max_lengths = alive_max_lengths.index_select(0, keep)
            next_token, next_origin, next_lp = (
                x.view(live, k).index_select(0, keep).view(-1) for x in (next_token, next_origin, next_lp)
            )
        trail.append((next_token, next_origin, next_lp))
        # beams only move within their sentence, so memory / keys / mask need moving only when rows left
        state = state.select(next_origin) if keep is not None else state.select_hidden(next_origin)
        prev = next_token
    chosen = [hyps[:num_return_sequences] for hyps in finished]
    hypotheses = iter(_backtrack([end for ends in chosen for end in ends], trail, attentions))  # all at once
    return [[next(hypotheses) for _ in ends] for ends in chosen]
