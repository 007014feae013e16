"""layout.py: the page (a `gr.Blocks`) around one loaded `Translator` and its event wiring: the
`translate` API endpoint, n-best row selection and the merge-subwords toggle.

The decoding controls start from the model's decoding defaults (`requests.control_values`); what the
events do is in `handlers`, what they show in `views` and `panel`.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import gradio as gr

from .handlers import select_row, show, translate_handler
from .heatmap import HEATMAP_CSS, HEATMAP_JS
from .panel import language_name, model_markdown
from .requests import CAPS, control_values, max_length_cap
from .views import CONFIDENCE_LEVELS, NBEST_HEADERS

CHECKOUT = Path(__file__).resolve().parents[2]  # the repository (the Space) this package runs from
EXAMPLES_FILE = CHECKOUT / "data" / "multi30k" / "test_2016_flickr.de.gz"
NUM_EXAMPLES = 8
QUEUE_MAX_SIZE = 32  # requests waiting beyond this are turned away ("queue is full")
CONCURRENCY_LIMIT = 16  # translate events in progress at once; they share model calls (see MAX_BATCH_SIZE)
MAX_BATCH_SIZE = 16  # most requests decoded in one model call (`batching.BatchingTranslator`)
CSS = """
#translation textarea { font-size: 1.1em; }
"""
THEME = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])  # no web fonts


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


def _slider(name: str, value: Any, step: float, label: str, info: str | None = None, high: float | None = None):
    cap = CAPS[name]
    return gr.Slider(cap.low, cap.high if high is None else high, value=value, step=step, label=label, info=info)


def decoding_controls(start: dict[str, Any], max_target_length: int, tgt_vocab_size: int, tgt_name: str) -> dict:
    """The decoding controls, keyed by the `translate` endpoint's parameter names (in its order)."""
    controls: dict[str, Any] = {
        "strategy": gr.Radio(["greedy", "beam", "sampling"], value=start["strategy"], label="Strategy")
    }
    with gr.Row():
        controls["beam_size"] = _slider("beam_size", start["beam_size"], 1, "Beam size")
        nbest = _slider("num_return_sequences", start["num_return_sequences"], 1, "n-best count")
    with gr.Row():
        info = "beam: longer output as it grows"
        controls["length_penalty"] = _slider("length_penalty", start["length_penalty"], 0.1, "Length penalty", info)
        cap = max_length_cap(max_target_length)
        controls["max_length"] = gr.Slider(
            cap.low,
            cap.high,
            value=start["max_length"],
            step=1,
            label="Max length",
            info="target tokens; 0 = automatic",
        )
    controls["num_return_sequences"] = nbest
    with gr.Row():
        controls["temperature"] = _slider("temperature", start["temperature"], 0.05, "Temperature", "sampling")
        top_k_high = min(CAPS["top_k"].high, tgt_vocab_size)
        controls["top_k"] = _slider("top_k", start["top_k"], 1, "Top-k", "sampling; 0 = off", high=top_k_high)
    with gr.Row():
        controls["top_p"] = _slider("top_p", start["top_p"], 0.01, "Top-p", "sampling")
        seed = CAPS["seed"]
        controls["seed"] = gr.Number(
            value=start["seed"],
            precision=0,
            minimum=seed.low,
            maximum=seed.high,
            label="Seed",
            info="sampling; -1 = random",
        )
    controls["prefix"] = gr.Textbox(
        value="",
        label="Target prefix (optional)",
        lines=1,
        elem_id="target-prefix",
        placeholder=f"The {tgt_name} translation must start with this",
    )
    return controls


def _source_column(src_name: str, tgt_name: str) -> dict[str, Any]:
    """Source text, buttons, examples, and the translation with its notices and confidences."""
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
            examples=[[e] for e in examples], inputs=[source], label="Examples from the test set", cache_examples=False
        )
    return {
        "source": source,
        "button": button,
        "output": gr.Textbox(label=tgt_name, lines=2, interactive=False, buttons=["copy"], elem_id="translation"),
        "notice": gr.Markdown(label="notices", elem_id="notice"),
        "confidence": gr.HighlightedText(
            label="Confidence per token",
            show_legend=True,
            show_inline_category=False,
            color_map={label: colour for _, label, colour in CONFIDENCE_LEVELS},
            elem_id="confidence",
        ),
    }


def _result_views() -> dict[str, Any]:
    """The merge toggle, the heatmap, the n-best table and the raw JSON, below the columns."""
    with gr.Row():
        with gr.Column():
            merge = gr.Checkbox(value=True, label="Merge subwords into words")
            heatmap = gr.HTML(
                label="Attention heatmap",
                show_label=True,
                container=True,
                padding=True,
                apply_default_css=False,
                css_template=HEATMAP_CSS,
                js_on_load=HEATMAP_JS,
                elem_id="heatmap",
            )
    table = gr.Dataframe(
        headers=NBEST_HEADERS,
        datatype=["number", "str", "number", "number", "number"],
        label="n-best list",
        interactive=False,
        wrap=True,
        column_widths=["6%", "64%", "10%", "10%", "10%"],
        elem_id="nbest",
    )
    with gr.Accordion("Raw result (JSON, as the API returns it)", open=False):
        details = gr.JSON(label="result")
    return {"merge": merge, "heatmap": heatmap, "table": table, "details": details}


def build_demo(
    translator: Any, concurrency_limit: int = CONCURRENCY_LIMIT, max_batch_size: int = MAX_BATCH_SIZE
) -> gr.Blocks:
    """The Gradio app around one loaded `Translator`; its translate event is the API endpoint `translate`.

    Up to `concurrency_limit` translate events run at once, and those waiting for the model together are
    decoded in one call of up to `max_batch_size` requests."""
    cfg = translator.config
    src_name, tgt_name = language_name(cfg.src_lang), language_name(cfg.tgt_lang)
    start = control_values(translator.generation_options, cfg.max_target_length)
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
                page = _source_column(src_name, tgt_name)
            with gr.Column(scale=2):
                with gr.Accordion("Decoding", open=True):
                    controls = decoding_controls(start, cfg.max_target_length, cfg.tgt_vocab_size, tgt_name)
                with gr.Accordion("Model", open=False):
                    gr.Markdown(model_markdown(translator), elem_id="model-info")
        views = _result_views()
        gr.on(
            triggers=[page["button"].click, page["source"].submit],
            fn=translate_handler(translator, max_batch_size=max_batch_size),
            inputs_kwargs={"text": page["source"], **controls, "merge": views["merge"]},  # the API's parameters
            outputs=[page["output"], page["notice"], views["heatmap"], views["table"], page["confidence"]]
            + [views["details"], state],
            api_name="translate",
            api_description=f"Translate {src_name} text to {tgt_name}.",
            preprocess=False,  # the handler validates the raw payloads: an API call cannot slip in a non-string
            concurrency_limit=concurrency_limit,
        )
        redrawn = [views["heatmap"], page["confidence"], state]
        views["table"].select(select_row, [state, views["merge"]], redrawn, api_visibility="private")
        views["merge"].change(show, [state, views["merge"]], redrawn, api_visibility="private")
    return demo
