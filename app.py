"""app.py: the Gradio demo of seq2seq-hub (and the entry point of a Hugging Face Space).

A thin client of the library: `main()` loads one `Translator`, `build_demo()` wires the UI around it,
and library errors become `gr.Error`. The small functions before `build_demo` hold the logic that
does not need a browser (request validation, the n-best table, token confidences, heatmap data, the
model panel), so tests call them directly.

    python app.py [--model FOLDER_OR_HUB_ID] [--host 127.0.0.1] [--port 7860]
"""

# ruff: noqa: E402  (the environment must be set before gradio and huggingface_hub are imported)
from __future__ import annotations

import os

# No usage analytics and no Hub telemetry: both libraries read these when they are imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse
import gzip
import html
import logging
import math
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import yaml

from seq2seq_hub import Hypothesis, Translator
from seq2seq_hub.hub import LANGUAGE_NAMES
from seq2seq_hub.plotting import attention_figure, merge_subwords

logger = logging.getLogger("seq2seq_hub.app")

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = HERE / "models" / "multi30k-de-en"
EXAMPLES_FILE = HERE / "data" / "multi30k" / "test_2016_flickr.de.gz"
NUM_EXAMPLES = 8
HEATMAP_MAX_WIDTH = 12.0  # inches at 100 dpi: about the width of the page's content column

MAX_INPUT_CHARS = 2_000  # longer source text is cut here (the model's own token limit usually comes first)
MAX_PREFIX_CHARS = 500
QUEUE_MAX_SIZE = 32  # requests waiting beyond this are turned away ("queue is full")
CONCURRENCY_LIMIT = 2  # translations running at once (the model is shared and read-only)

STRATEGIES = {"greedy": "greedy", "beam": "beam", "sampling": "sample", "sample": "sample"}  # UI -> library
# (low, high) of each numeric control; the sliders and the request validation both read this.
LIMITS = {
    "beam_size": (1, 16),
    "length_penalty": (0.0, 3.0),
    "num_return_sequences": (1, 10),
    "temperature": (0.05, 5.0),
    "top_k": (0, 200),
    "top_p": (0.05, 1.0),
    "seed": (-1, 2**32 - 1),  # -1: a fresh random seed
}
INTEGER_FIELDS = {"beam_size", "num_return_sequences", "top_k", "seed", "max_length"}
LABELS = {
    "beam_size": "beam size",
    "length_penalty": "length penalty",
    "max_length": "max length",
    "num_return_sequences": "n-best count",
    "temperature": "temperature",
    "top_k": "top-k",
    "top_p": "top-p",
    "seed": "seed",
}
KEEP_CONTROLS = "\t\n\r"  # whitespace the tokenizer turns into plain spaces


class InputError(ValueError):
    """A request the user can fix; its message is shown to them as it is."""


# ---------------------------------------------------------------------- requests
@dataclass
class Request:
    """A validated translation request: the text to translate, `Translator.translate` keyword
    arguments, and notices to show next to the result (truncation, removed characters, ...)."""

    text: str
    options: dict[str, Any]
    merge: bool = True
    notices: list[str] = field(default_factory=list)


def clean_input(value: Any, name: str, limit: int, notices: list[str]) -> str:
    """Check that `value` is a string, remove control characters and cut it to `limit` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        notices.append(f"The {name} was {len(value):,} characters long; only the first {limit:,} were used.")
        value = value[:limit]
    kept = "".join(ch for ch in value if ch in KEEP_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cs"))
    if len(kept) < len(value):
        removed = len(value) - len(kept)
        notices.append(f"Removed {removed} control character{'s' if removed > 1 else ''} from the {name}.")
    return kept


def _number(name: str, value: Any, low: float, high: float) -> int | float:
    integer = name in INTEGER_FIELDS
    label = LABELS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        kind = "an integer" if integer else "a number"
        shown = type(value).__name__ if not isinstance(value, (int, float)) else repr(value)
        raise InputError(f"{label} must be {kind} between {low:g} and {high:g}, got {shown}")
    if integer and value != int(value):
        raise InputError(f"{label} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise InputError(f"{label} must be between {low:g} and {high:g}, got {value:g}")
    return int(value) if integer else float(value)


def parse_request(
    text: Any,
    strategy: Any = "beam",
    beam_size: Any = 5,
    length_penalty: Any = 1.0,
    max_length: Any = 0,
    num_return_sequences: Any = 1,
    temperature: Any = 1.0,
    top_k: Any = 0,
    top_p: Any = 1.0,
    seed: Any = -1,
    prefix: Any = "",
    merge: Any = True,
    *,
    max_target_length: int = 160,
    source_language: str = "source",
) -> Request:
    """Validate the raw values of the UI (or of an API call) and turn them into a `Request`.

    Raises `InputError` with a message for the user. `max_length` 0 means automatic; `seed` None
    (or -1, or an empty string) means a fresh random seed.
    """
    notices: list[str] = []
    text = clean_input(text, "text", MAX_INPUT_CHARS, notices)
    if not text.strip():
        raise InputError(f"Enter some {source_language} text to translate.")
    if strategy not in STRATEGIES:
        raise InputError("strategy must be one of 'greedy', 'beam', 'sampling'")
    strategy = STRATEGIES[strategy]
    values = {
        "beam_size": beam_size,
        "length_penalty": length_penalty,
        "num_return_sequences": num_return_sequences,
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
    }
    options: dict[str, Any] = {name: _number(name, v, *LIMITS[name]) for name, v in values.items()}
    options["strategy"] = strategy
    max_length = _number("max_length", max_length, 0, max_target_length)
    options["max_length"] = max_length or None
    seed = -1 if seed is None or seed == "" else _number("seed", seed, *LIMITS["seed"])
    options["seed"] = None if seed == -1 else seed
    prefix = clean_input(prefix, "target prefix", MAX_PREFIX_CHARS, notices)
    options["prefix"] = prefix if prefix.strip() else None
    if not isinstance(merge, bool):
        raise InputError(f"merge must be true or false, got {type(merge).__name__}")

    wanted = options["num_return_sequences"]
    if strategy == "greedy" and wanted > 1:
        notices.append("Greedy search finds one translation; choose beam search or sampling for an n-best list.")
        options["num_return_sequences"] = 1
    elif strategy == "beam" and wanted > options["beam_size"]:
        notices.append(f"The n-best list is limited to the beam size ({options['beam_size']}).")
        options["num_return_sequences"] = options["beam_size"]
    return Request(text=text, options=options, merge=merge, notices=notices)


# ---------------------------------------------------------------------- result views
def display_token(token: str) -> str:
    """A subword as it reads in running text ('▁' marks a space before the token)."""
    return token.replace("▁", " ")


def nbest_rows(hyp: Hypothesis) -> list[list[Any]]:
    """Rows of the n-best table: rank, translation, score (length-normalized), log-prob, tokens."""
    hyps = hyp.nbest or [hyp]
    return [[rank, h.text, round(h.score, 3), round(h.log_prob, 3), len(h.tokens)] for rank, h in enumerate(hyps, 1)]


CONFIDENCE_LEVELS = [  # (lowest probability, label, colour) for the per-token confidence view
    (0.7, "sure (p ≥ 0.7)", "#4ade80"),
    (0.3, "unsure (0.3 ≤ p < 0.7)", "#fbbf24"),
    (0.0, "doubtful (p < 0.3)", "#f87171"),
]


def confidence_level(prob: float) -> str:
    return next(label for low, label, _ in CONFIDENCE_LEVELS if prob >= low)


def confidence_spans(hyp: Hypothesis) -> list[tuple[str, str]]:
    """(token, confidence level) pairs for the per-token confidence view (exact probabilities are in
    `result_json`)."""
    return [(display_token(tok), confidence_level(p)) for tok, p in zip(hyp.tokens, hyp.token_probs)]


@dataclass
class HeatmapData:
    """What the heatmap shows: one row per target label, one column per source label."""

    src_labels: list[str]
    tgt_labels: list[str]
    weights: list[list[float]]  # len(tgt_labels) x len(src_labels); [] for a model without attention


def heatmap_data(hyp: Hypothesis, merge: bool = True) -> HeatmapData:
    """Attention of one hypothesis, optionally with subwords merged into words (rows still sum to 1)."""
    src, tgt, weights = list(hyp.src_tokens), list(hyp.tokens), [list(row) for row in hyp.attention]
    if merge and weights:
        tgt, weights = merge_subwords(tgt, weights, axis=0)
        src, weights = merge_subwords(src, weights, axis=1)
    return HeatmapData(src_labels=src, tgt_labels=tgt, weights=weights)


def heatmap_figure(hyp: Hypothesis, merge: bool = True, rank: int = 1):
    """A matplotlib Figure of `heatmap_data(hyp, merge)` (source across, translation down)."""
    data = heatmap_data(hyp, merge)
    title = f"hypothesis {rank}" + ("" if merge else "  (▁ marks the start of a word)")
    return attention_figure(
        data.src_labels, data.tgt_labels, data.weights, merge=False, title=title, max_width=HEATMAP_MAX_WIDTH
    )


def result_json(hyp: Hypothesis) -> dict[str, Any]:
    """The hypothesis as JSON for API users, floats rounded."""
    out = hyp.to_dict()
    out["score"], out["log_prob"] = round(hyp.score, 4), round(hyp.log_prob, 4)
    out["token_probs"] = [round(p, 4) for p in hyp.token_probs]
    out["attention"] = [[round(w, 4) for w in row] for row in hyp.attention]
    out["nbest"] = [{"text": h.text, "score": round(h.score, 4)} for h in hyp.nbest]
    return out


def notice_markdown(notices: list[str], hyp: Hypothesis, max_source_length: int) -> str:
    """The notices under the translation (plain sentences, no user text)."""
    notices = list(notices)
    if hyp.truncated:
        notices.append(
            f"The source is longer than the model's limit of {max_source_length} tokens; "
            "only its beginning was translated."
        )
    return "\n".join(f"⚠️ {n}  " for n in notices)


# ---------------------------------------------------------------------- model panel
@dataclass
class CardInfo:
    """What the model panel shows from a model card."""

    metadata: dict[str, Any] = field(default_factory=dict)  # the YAML front matter
    scores: list[tuple[str, float, str]] = field(default_factory=list)  # (metric, value, dataset)
    training: dict[str, str] = field(default_factory=dict)  # the '- **key**: value' lines under '## Training'


def parse_card(card: str | None) -> CardInfo:
    """Read the YAML metadata, the scores and the training facts of a model card (README.md).

    Scores come from the `model-index` metadata, or else from a '## Scores' table. Anything
    malformed is skipped: a card is documentation, not configuration.
    """
    info = CardInfo()
    if not card:
        return info
    match = re.match(r"\A---\s*\n(.*?)\n---\s*\n", card, re.DOTALL)
    if match:
        try:
            data = yaml.safe_load(match.group(1))
        except yaml.YAMLError:
            data = None
        info.metadata = data if isinstance(data, dict) else {}
    for model in _as_list(info.metadata.get("model-index")):
        for result in _as_list(model.get("results") if isinstance(model, dict) else None):
            if not isinstance(result, dict):
                continue
            dataset = result.get("dataset") if isinstance(result.get("dataset"), dict) else {}
            for metric in _as_list(result.get("metrics")):
                if isinstance(metric, dict) and isinstance(metric.get("value"), (int, float)):
                    name = metric.get("name") or metric.get("type") or "metric"
                    info.scores.append((str(name), float(metric["value"]), str(dataset.get("name", ""))))
    body = card[match.end() :] if match else card
    if not info.scores:
        for line in _section(body, "Scores"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 2 and not set(cells[0]) <= set("-: ") and cells[0] != "metric":
                try:
                    info.scores.append((cells[0], float(cells[1]), ""))
                except ValueError:
                    pass
    for line in _section(body, "Training"):
        bullet = re.match(r"\s*[-*]\s+\*\*(.+?)\*\*:\s*(.+)", line)
        if bullet:
            info.training[bullet.group(1)] = bullet.group(2).strip()
    return info


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _section(body: str, title: str) -> list[str]:
    """Lines of the '## title' section of a Markdown text."""
    lines, inside = [], False
    for line in body.splitlines():
        if line.startswith("#"):
            inside = line.lstrip("#").strip().lower() == title.lower()
        elif inside:
            lines.append(line)
    return lines


def _md(value: Any, limit: int = 200) -> str:
    """Card text made inert in Markdown: no HTML, no links, no table breaks."""
    text = " ".join(str(value).split())[:limit]
    return re.sub(r"([\\`*_\[\]<>|#!])", r"\\\1", text)


def model_markdown(translator: Translator) -> str:
    """The model panel: languages, architecture, size, data and scores (from config and model card)."""
    cfg = translator.config
    card = parse_card(translator.card)
    src, tgt = LANGUAGE_NAMES.get(cfg.src_lang, cfg.src_lang), LANGUAGE_NAMES.get(cfg.tgt_lang, cfg.tgt_lang)
    attention = {"bahdanau": "Bahdanau (additive)", "luong": f"Luong ({cfg.luong_score})", "none": "no"}
    encoder = f"{'bidirectional ' if cfg.bidirectional else ''}{cfg.cell.upper()}"
    params = translator.model.num_parameters()
    vocab = (
        f"{cfg.src_vocab_size:,} shared subwords"
        if cfg.shared_vocab or translator.tokenizer.joint
        else f"{cfg.src_vocab_size:,} source / {cfg.tgt_vocab_size:,} target subwords"
    )
    rows = [
        ("languages", f"{_md(src)} → {_md(tgt)}"),
        ("architecture", f"{encoder} encoder-decoder, {attention[cfg.attention]} attention"),
        ("layers", f"{cfg.encoder_layers} encoder, {cfg.decoder_layers} decoder"),
        ("sizes", f"embedding {cfg.embedding_size}, hidden {cfg.hidden_size}"),
        ("parameters", f"{params / 1e6:.2f}M ({params:,})"),
        ("vocabulary", f"{vocab} (byte-level BPE)"),
        ("max length", f"{cfg.max_source_length} source / {cfg.max_target_length} target tokens"),
    ]
    datasets = [str(d) for d in _as_list(card.metadata.get("datasets"))]
    if datasets:
        rows.append(("datasets", ", ".join(_md(d) for d in datasets)))
    for key, value in card.training.items():
        if key != "reproduce":
            rows.append((_md(key, 40), _md(value)))
    lines = [f"- **{key}**: {value}" for key, value in rows]
    lines += ["", "### Scores (from the model card)", ""]
    if card.scores:
        lines += ["| metric | value | test set |", "|---|---|---|"]
        lines += [f"| {_md(name, 40)} | {value:.2f} | {_md(data, 80)} |" for name, value, data in card.scores]
    else:
        lines.append("The model card reports no scores." if translator.card else "This model has no model card.")
    return "\n".join(lines)


# ---------------------------------------------------------------------- examples
def load_examples(path: Path = EXAMPLES_FILE, count: int = NUM_EXAMPLES) -> list[str]:
    """The first `count` non-empty lines of a gzip text file, or [] when it cannot be read."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = []
            for line in f:
                if line.strip():
                    lines.append(line.strip())
                if len(lines) == count:
                    break
            return lines
    except (OSError, UnicodeDecodeError, EOFError):
        return []


# ---------------------------------------------------------------------- the UI
CSS = """
#translation textarea { font-size: 1.1em; }
"""
THEME = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])  # no web fonts


def _user_error(message: str) -> gr.Error:
    # Toasts render HTML: escape, so nothing in a message is ever taken as markup.
    return gr.Error(html.escape(message, quote=False), print_exception=False)


def build_demo(translator: Translator) -> gr.Blocks:
    """The Gradio app around one loaded `Translator`; its translate event is the API endpoint `translate`."""
    cfg = translator.config
    src_name = LANGUAGE_NAMES.get(cfg.src_lang, cfg.src_lang)
    tgt_name = LANGUAGE_NAMES.get(cfg.tgt_lang, cfg.tgt_lang)

    def translate(
        text,
        strategy,
        beam_size,
        length_penalty,
        max_length,
        num_return_sequences,
        temperature,
        top_k,
        top_p,
        seed,
        prefix,
        merge,
    ):
        try:
            request = parse_request(
                text,
                strategy,
                beam_size,
                length_penalty,
                max_length,
                num_return_sequences,
                temperature,
                top_k,
                top_p,
                seed,
                prefix,
                merge,
                max_target_length=cfg.max_target_length,
                source_language=src_name,
            )
            hyp = translator.translate(request.text, **request.options)[0]
        except (ValueError, TypeError) as err:  # InputError, and the library's own argument checks
            raise _user_error(str(err)) from None
        except Exception:
            logger.exception("translation failed")
            raise _user_error("The translation failed because of an internal error (it has been logged).") from None
        return (
            hyp.text,
            notice_markdown(request.notices, hyp, cfg.max_source_length),
            heatmap_figure(hyp, request.merge),
            nbest_rows(hyp),
            confidence_spans(hyp),
            result_json(hyp),
            (hyp, 0),
        )

    def show(state, merge, row=None):
        """Heatmap and confidences of n-best entry `row` (default: the one shown now); state is (hypothesis, row)."""
        if not state:
            return gr.skip(), gr.skip(), state
        hyp, index = state
        hyps = hyp.nbest or [hyp]
        index = index if row is None else min(max(row, 0), len(hyps) - 1)
        return heatmap_figure(hyps[index], bool(merge), rank=index + 1), confidence_spans(hyps[index]), (hyp, index)

    def select_row(state, merge, evt: gr.SelectData):
        return show(state, merge, row=evt.index[0] if isinstance(evt.index, (list, tuple)) else None)

    with gr.Blocks(title=f"seq2seq-hub: {src_name} → {tgt_name}") as demo:
        gr.Markdown(
            f"# {src_name} → {tgt_name} translation\n"
            "An attention-based recurrent encoder-decoder from "
            "[seq2seq-hub](https://github.com/seq2seq-hub/seq2seq-hub). Type a sentence, pick a decoding "
            "strategy, and see the translation, the n-best list, how confident the model is in each token, "
            "and where it looked while translating."
        )
        state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                source = gr.Textbox(
                    label=src_name,
                    lines=1,
                    max_lines=6,
                    autofocus=True,
                    elem_id="source",
                    placeholder=f"Type a {src_name} sentence and press Enter",
                )
                with gr.Row():
                    button = gr.Button("Translate", variant="primary", elem_id="translate-button")
                    gr.ClearButton([source], value="Clear")
                examples = load_examples()
                if examples:
                    gr.Examples(
                        examples=[[e] for e in examples],
                        inputs=[source],
                        label="Examples from the test set",
                        cache_examples=False,
                    )
                output = gr.Textbox(label=tgt_name, lines=2, interactive=False, buttons=["copy"], elem_id="translation")
                notice = gr.Markdown(label="notices", elem_id="notice")
                confidence = gr.HighlightedText(
                    label="Confidence per token",
                    show_legend=True,
                    show_inline_category=False,
                    color_map={label: colour for _, label, colour in CONFIDENCE_LEVELS},
                    elem_id="confidence",
                )
            with gr.Column(scale=2):
                with gr.Accordion("Decoding", open=True):
                    strategy = gr.Radio(["greedy", "beam", "sampling"], value="beam", label="Strategy")
                    with gr.Row():
                        beam_size = gr.Slider(*LIMITS["beam_size"], value=5, step=1, label="Beam size")
                        nbest = gr.Slider(*LIMITS["num_return_sequences"], value=5, step=1, label="n-best count")
                    with gr.Row():
                        length_penalty = gr.Slider(
                            *LIMITS["length_penalty"],
                            value=1.0,
                            step=0.1,
                            label="Length penalty",
                            info="beam: longer output as it grows",
                        )
                        max_length = gr.Slider(
                            0,
                            cfg.max_target_length,
                            value=0,
                            step=1,
                            label="Max length",
                            info="target tokens; 0 = automatic",
                        )
                    with gr.Row():
                        temperature = gr.Slider(
                            *LIMITS["temperature"], value=1.0, step=0.05, label="Temperature", info="sampling"
                        )
                        top_k = gr.Slider(
                            LIMITS["top_k"][0],
                            min(LIMITS["top_k"][1], cfg.tgt_vocab_size),
                            value=0,
                            step=1,
                            label="Top-k",
                            info="sampling; 0 = off",
                        )
                    with gr.Row():
                        top_p = gr.Slider(*LIMITS["top_p"], value=1.0, step=0.01, label="Top-p", info="sampling")
                        seed = gr.Number(
                            value=-1,
                            precision=0,
                            minimum=LIMITS["seed"][0],
                            maximum=LIMITS["seed"][1],
                            label="Seed",
                            info="sampling; -1 = random",
                        )
                    prefix = gr.Textbox(
                        value="",
                        label="Target prefix (optional)",
                        lines=1,
                        elem_id="target-prefix",
                        placeholder=f"The {tgt_name} translation must start with this",
                    )
                with gr.Accordion("Model", open=False):
                    gr.Markdown(model_markdown(translator), elem_id="model-info")
        with gr.Row():
            with gr.Column():
                merge = gr.Checkbox(value=True, label="Merge subwords into words")
                heatmap = gr.Plot(label="Attention heatmap", format="png", elem_id="heatmap")
        table = gr.Dataframe(
            headers=["#", "translation", "score", "log-prob", "tokens"],
            datatype=["number", "str", "number", "number", "number"],
            label="n-best list",
            interactive=False,
            wrap=True,
            column_widths=["6%", "64%", "10%", "10%", "10%"],
            elem_id="nbest",
        )
        with gr.Accordion("Raw result (JSON, as the API returns it)", open=False):
            details = gr.JSON(label="result")

        controls = [
            source,
            strategy,
            beam_size,
            length_penalty,
            max_length,
            nbest,
            temperature,
            top_k,
            top_p,
            seed,
            prefix,
            merge,
        ]
        gr.on(
            triggers=[button.click, source.submit],
            fn=translate,
            inputs=controls,
            outputs=[output, notice, heatmap, table, confidence, details, state],
            api_name="translate",
            api_description=f"Translate {src_name} text to {tgt_name}.",
            preprocess=False,  # translate() validates the raw payloads: an API call cannot slip in a non-string
            concurrency_limit=CONCURRENCY_LIMIT,
        )
        table.select(select_row, [state, merge], [heatmap, confidence, state], api_visibility="private")
        merge.change(show, [state, merge], [heatmap, confidence, state], api_visibility="private")
    return demo


# ---------------------------------------------------------------------- command line
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the seq2seq-hub translation demo.")
    parser.add_argument(
        "--model",
        default=os.environ.get("SEQ2SEQ_MODEL") or str(DEFAULT_MODEL),
        help="model folder or Hub repo id (default: $SEQ2SEQ_MODEL, else the bundled models/multi30k-de-en)",
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument(
        "--offline", action="store_true", help="use only local folders and the Hub cache (as HF_HUB_OFFLINE=1 does)"
    )
    return parser.parse_args(argv)


def load_translator(model: str, device: str | None = None, offline: bool = False) -> Translator:
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return Translator.from_pretrained(model, device=device, local_files_only=offline)


def serve(demo: gr.Blocks, host: str, port: int, **launch_kwargs):
    """Queue requests (limited concurrency, bounded queue) and start the server."""
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=CONCURRENCY_LIMIT)
    return demo.launch(server_name=host, server_port=port, theme=THEME, css=CSS, **launch_kwargs)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        translator = load_translator(args.model, args.device, args.offline)
    except Exception as err:  # any failure to load is one line for the user, not a traceback
        message = " ".join(str(err).split()) or type(err).__name__
        hint = " (pass --model FOLDER_OR_HUB_ID or set SEQ2SEQ_MODEL)" if args.model == str(DEFAULT_MODEL) else ""
        print(f"error: cannot load the model {args.model!r}: {message}{hint}", file=sys.stderr)
        return 2
    serve(build_demo(translator), args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
