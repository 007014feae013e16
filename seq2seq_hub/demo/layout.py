"""layout.py: the page (a `gr.Blocks`) around the served models and its event wiring: the language
pickers, the Translate tab (the `translate` API endpoint, n-best row selection, the merge-subwords
toggle), and the Compare and About tabs (`tabs`).

The decoding controls start from the direction's model's decoding defaults (`requests.control_values`)
and start again from the next model's when the direction changes; what the events do is in `handlers`
and `compare`, what they show in `views` and `panel`.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from .directions import direction_events
from .handlers import select_row, show, translate_handler
from .panel import language_name, model_markdown
from .pool import DemoModels
from .requests import CAPS, control_values, max_length_cap
from .tabs import about_tab, compare_tab
from .views import CONFIDENCE_LEVELS, NBEST_HEADERS
from .widgets import examples_for, heatmap_component

QUEUE_MAX_SIZE = 32  # requests waiting beyond this are turned away ("queue is full")
CONCURRENCY_LIMIT = 16  # translate and compare events in progress at once; they share model calls
MAX_BATCH_SIZE = 16  # most requests decoded in one model call (`batching.BatchingTranslator`)
CSS = """
#translation textarea { font-size: 1.1em; }
#swap-languages { align-self: center; }
/* n-best table: numbers and headers never break letter by letter; a narrow screen scrolls it sideways */
#nbest [role=gridcell], #nbest [role=columnheader], #nbest [role=gridcell] *, #nbest [role=columnheader] * {
  white-space: nowrap; word-break: keep-all; overflow-wrap: normal; }
"""
THEME = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])  # no web fonts


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


def _source_column(src_name: str, tgt_name: str, examples: tuple[str, ...]) -> dict[str, Any]:
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
    # Its samples follow the source language (`tabs.direction_events`); a click passes the sample's index.
    dataset = gr.Dataset(
        components=[source],
        samples=[[e] for e in examples],
        type="index",
        label="Examples from the test set",
        elem_id="examples",
    )
    return {
        "source": source,
        "button": button,
        "examples": dataset,
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
            heatmap = heatmap_component("heatmap")
    table = gr.Dataframe(
        headers=NBEST_HEADERS,
        datatype=["number", "str", "number", "number", "number"],
        label="n-best list",
        interactive=False,
        wrap=False,
        elem_id="nbest",
    )
    with gr.Accordion("Raw result (JSON, as the API returns it)", open=False):
        details = gr.JSON(label="result")
    return {"merge": merge, "heatmap": heatmap, "table": table, "details": details}


def _pickers(models: DemoModels) -> dict[str, Any]:
    """Source and target language pickers (names shown, codes as values) and the swap button."""
    catalog = models.catalog
    src, tgt = catalog.default_direction
    with gr.Row(equal_height=True):
        names = {"label": "From", "elem_id": "src-lang", "min_width": 110}  # one row on a phone too
        source = gr.Dropdown([(language_name(code), code) for code in catalog.sources()], value=src, **names)
        swap = gr.Button("⇄", elem_id="swap-languages", scale=0, min_width=48, interactive=catalog.has(tgt, src))
        names = {"label": "To", "elem_id": "tgt-lang", "min_width": 110}
        target = gr.Dropdown([(language_name(code), code) for code in catalog.targets(src)], value=tgt, **names)
    return {"src": source, "swap": swap, "tgt": target}


def _translate_tab(models: DemoModels, panel_text: str) -> dict[str, Any]:
    """The Translate tab: source and result on the left, decoding controls and the model panel on the right."""
    served = models.served()
    cfg, (src, tgt) = served.translator.config, models.catalog.default_direction
    start = control_values(served.translator.generation_options, cfg.max_target_length)
    src_name, tgt_name = language_name(src), language_name(tgt)
    with gr.Row():
        with gr.Column(scale=3):
            page = _source_column(src_name, tgt_name, examples_for(src))
        with gr.Column(scale=2):
            with gr.Accordion("Decoding", open=True):
                controls = decoding_controls(start, cfg.max_target_length, cfg.tgt_vocab_size, tgt_name)
            with gr.Accordion("Model", open=False):
                page["panel"] = gr.Markdown(panel_text, elem_id="model-info")
    return {**page, **_result_views(), "controls": controls, "state": gr.State(None)}


def build_demo(
    models: Any, concurrency_limit: int = CONCURRENCY_LIMIT, max_batch_size: int = MAX_BATCH_SIZE
) -> gr.Blocks:
    """The Gradio app around `models` (a `pool.DemoModels`, or one loaded `Translator` served alone); its
    events `translate` and `compare` are the API's endpoints.

    Up to `concurrency_limit` translate and compare events run at once, and those waiting for the same
    model together are decoded in one call of up to `max_batch_size` requests."""
    models = DemoModels.of(models, max_batch_size=max_batch_size)
    catalog = models.catalog
    languages = sorted({language_name(code) for direction in catalog.directions for code in direction})
    with gr.Blocks(title="seq2seq-hub: translation demo") as demo:
        gr.Markdown(
            f"# Translation: {', '.join(languages)}\n"
            "Attention-based recurrent encoder-decoders from "
            "[seq2seq-hub](https://github.com/seq2seq-hub/seq2seq-hub). Pick the languages, type a sentence, "
            "pick a decoding strategy, and see the translation, the n-best list, how confident the model is in "
            "each token, and where it looked while translating; compare strategies and models side by side."
        )
        pickers = _pickers(models)
        with gr.Tabs():
            with gr.Tab("Translate", id="translate"):
                page = _translate_tab(models, model_markdown(models.served().translator))
            with gr.Tab("Compare", id="compare"):
                compare = compare_tab(models, pickers, concurrency_limit)
            with gr.Tab("About the models", id="about"):
                about_tab(models)
        gr.on(
            triggers=[page["button"].click, page["source"].submit],
            fn=translate_handler(models),
            inputs_kwargs={  # the API's parameters, in this order
                "text": page["source"],
                **page["controls"],
                "merge": page["merge"],
                "src_lang": pickers["src"],
                "tgt_lang": pickers["tgt"],
            },
            outputs=[page["output"], page["notice"], page["heatmap"], page["table"], page["confidence"]]
            + [page["details"], page["state"]],
            api_name="translate",
            api_description="Translate text from src_lang to tgt_lang (language codes; default German to English).",
            preprocess=False,  # the handler validates the raw payloads: an API call cannot slip in a non-string
            concurrency_limit=concurrency_limit,
            concurrency_id="decode",
        )
        redrawn = [page["heatmap"], page["confidence"], page["state"]]
        page["table"].select(select_row, [page["state"], page["merge"]], redrawn, api_visibility="private")
        page["merge"].change(show, [page["state"], page["merge"]], redrawn, api_visibility="private")
        direction_events(models, pickers, page, compare)
    return demo
