"""tabs.py: the page's Compare tab (the `compare` API endpoint: one input, two or three columns of
translation, score and heatmap) and its About tab (the models on offer and BLEU by source length).

What the comparison computes is `compare`'s; the plot's data is `scores`'.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from .catalog import direction_name
from .compare import DEFAULT_COLUMNS, MAX_COLUMNS, NO_COLUMN, column_choices, compare_handler
from .panel import inert, language_name
from .pool import DemoModels
from .scores import COUNT, SERIES, X, Y, length_plot
from .widgets import heatmap_component

NO_THIRD_COLUMN = ("No third column", NO_COLUMN)


def spec_choices(models: DemoModels, src: str, tgt: str, number: int) -> list[tuple[str, str]]:
    """The choices of column `number`'s dropdown for a direction."""
    choices = column_choices(models.catalog, src, tgt)
    return choices + [NO_THIRD_COLUMN] if number > 2 else choices


def _columns() -> list[Any]:
    """Three result columns side by side (a phone stacks them): label, translation, score, heatmap each."""
    views = []
    with gr.Row(equal_height=False):
        for number in range(1, MAX_COLUMNS + 1):
            with gr.Column(min_width=300):
                views += [
                    gr.Markdown(label=f"column {number}", elem_id=f"compare-label-{number}"),
                    gr.Textbox(
                        label="Translation", lines=2, interactive=False, elem_id=f"compare-translation-{number}"
                    ),
                    gr.Number(label="Log-probability per token", interactive=False, elem_id=f"compare-score-{number}"),
                    heatmap_component(f"compare-heatmap-{number}"),
                ]
    return views


def compare_tab(models: DemoModels, pickers: dict[str, Any], concurrency_limit: int) -> dict[str, Any]:
    """The Compare tab, wired to the `compare` endpoint; returns the components a direction change updates."""
    src, tgt = models.catalog.default_direction
    gr.Markdown(
        "Translate one sentence several ways at once: decoding strategies of the direction's model, or other "
        "models of the direction (for example one without attention), each with its score and heatmap."
    )
    text = gr.Textbox(
        label=language_name(src),
        lines=1,
        max_lines=6,
        elem_id="compare-source",
        placeholder=f"Type a {language_name(src)} sentence and press Enter",
    )
    with gr.Row():
        specs = [
            gr.Dropdown(
                spec_choices(models, src, tgt, number),
                value=DEFAULT_COLUMNS[number - 1],
                label=f"Column {number}",
                elem_id=f"compare-spec-{number}",
            )
            for number in range(1, MAX_COLUMNS + 1)
        ]
    button = gr.Button("Compare", variant="primary", elem_id="compare-button")
    notice = gr.Markdown(label="notices", elem_id="compare-notice")
    views = _columns()
    with gr.Accordion("Raw result (JSON, as the API returns it)", open=False):
        result = gr.JSON(label="result")
    gr.on(
        triggers=[button.click, text.submit],
        fn=compare_handler(models),
        inputs_kwargs={  # the API's parameters, in this order
            "text": text,
            "src_lang": pickers["src"],
            "tgt_lang": pickers["tgt"],
            **{f"column_{number}": spec for number, spec in enumerate(specs, 1)},
        },
        outputs=[notice, *views, result],
        api_name="compare",
        api_description=(
            "Translate text from src_lang to tgt_lang in two or three columns side by side: each column is a "
            "strategy of the direction's model ('greedy', 'beam', 'sampling') or 'model:NAME' (a model of that "
            "direction); column_3 '' for two columns."
        ),
        preprocess=False,  # the handler validates the raw payloads, as translate's does
        concurrency_limit=concurrency_limit,
        concurrency_id="decode",
    )
    return {"text": text, "specs": specs}


def _model_table(models: DemoModels) -> str:
    rows = ["| model | direction | role |", "|---|---|---|"]
    for src, tgt in models.catalog.directions:
        for choice in models.catalog.models(src, tgt):
            role = "default" if choice.default else "for comparison"
            role += f": {inert(choice.purpose)}" if choice.purpose else ""
            rows.append(f"| {inert(choice.name)} | {direction_name(src, tgt)} | {role} |")
    return "\n".join(rows)


def about_tab(models: DemoModels) -> None:
    """The models on offer, and German -> English BLEU by source length (a note when no model has it)."""
    gr.Markdown("### The models\n\n" + _model_table(models), elem_id="model-list")
    gr.Markdown("### BLEU by source length (German → English)")
    plot = length_plot(models.catalog)
    if plot is None:
        gr.Markdown(
            "No German → English model here has BLEU scores by source length yet: a model folder with a "
            "`bleu_by_length.json` adds a line to this plot.",
            elem_id="bleu-by-length-note",
        )
        return
    gr.LinePlot(
        plot.value,
        x=X,
        y=Y,
        color=SERIES,
        sort=plot.order,
        tooltip=[SERIES, X, Y, COUNT],
        x_title=X,
        y_title="BLEU",
        caption=plot.caption,
        elem_id="bleu-by-length",
    )
