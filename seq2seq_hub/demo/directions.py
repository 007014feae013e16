"""directions.py: what happens when a visitor picks languages: the target choices follow the source (only
directions that have a model), the swap button works only where the reverse direction exists, and the
page follows the direction's model: labels, examples, model panel, decoding controls (back to that
model's defaults), the comparison's column choices; the previous direction's results are cleared.

The direction's model is loaded here if it is not yet (`pool`); a model that fails to load is one
warning, and the rest of the page keeps working.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from .catalog import direction_name
from .compare import DEFAULT_COLUMNS
from .panel import language_name, model_markdown
from .pool import DemoModels, ModelLoadError
from .requests import CAPS, control_values
from .tabs import spec_choices
from .widgets import examples_for


def _control_updates(translator: Any, controls: dict[str, Any], tgt_name: str) -> list[Any]:
    """Every decoding control back at the model's defaults, its ranges the model's."""
    cfg = translator.config
    start = control_values(translator.generation_options, cfg.max_target_length)
    updates = []
    for name in controls:
        if name == "prefix":
            updates.append(gr.Textbox(value="", placeholder=f"The {tgt_name} translation must start with this"))
        elif name == "max_length":
            updates.append(gr.Slider(maximum=cfg.max_target_length, value=start[name]))
        elif name == "top_k":
            updates.append(gr.Slider(maximum=min(CAPS["top_k"].high, cfg.tgt_vocab_size), value=start[name]))
        else:
            updates.append(gr.update(value=start[name]))
    return updates


def direction_views(models: DemoModels, src: str, tgt: str, controls: dict[str, Any]) -> list[Any]:
    """Updates of `direction_outputs` for the direction src -> tgt (tgt: the first target of src when src
    has no model into tgt)."""
    catalog = models.catalog
    targets = catalog.targets(src)
    tgt = tgt if tgt in targets else targets[0]
    src_name, tgt_name = language_name(src), language_name(tgt)
    placeholder = f"Type a {src_name} sentence and press Enter"
    updates = [
        gr.Dropdown(value=src),
        gr.Dropdown(choices=[(language_name(code), code) for code in targets], value=tgt),
        gr.Button(interactive=catalog.has(tgt, src)),
        gr.Textbox(label=src_name, placeholder=placeholder),
        gr.Textbox(label=tgt_name, value=""),
        *["", "", None, None, None, None],  # notice, heatmap, n-best, confidences, JSON, state: cleared
        gr.Dataset(samples=[[e] for e in examples_for(src)]),
    ]
    try:
        translator = models.served(src, tgt).translator
    except ModelLoadError as err:
        gr.Warning(str(err))
        return updates + [str(err)] + [gr.skip()] * (len(controls) + 4)
    updates += [model_markdown(translator), *_control_updates(translator, controls, tgt_name)]
    updates.append(gr.Textbox(label=src_name, placeholder=placeholder))
    for number, default in enumerate(DEFAULT_COLUMNS, 1):
        updates.append(gr.Dropdown(choices=spec_choices(models, src, tgt, number), value=default))
    return updates


def direction_events(models: DemoModels, pickers: dict[str, Any], page: dict[str, Any], compare: dict[str, Any]):
    """Wire the language pickers, the swap button and the examples (none of them is an API endpoint)."""
    controls = page["controls"]
    results = [page[name] for name in ("notice", "heatmap", "table", "confidence", "details", "state")]
    outputs = [pickers["src"], pickers["tgt"], pickers["swap"], page["source"], page["output"], *results]
    outputs += [page["examples"], page["panel"], *controls.values(), compare["text"], *compare["specs"]]

    def change(src: Any, tgt: Any) -> list[Any]:
        if src not in models.catalog.sources():  # raw payloads: a stale or made-up value changes nothing
            gr.Warning(
                f"There is no model from {str(src)[:20]!r} here. Available directions: {models.catalog.available()}."
            )
            return [gr.skip()] * len(outputs)
        return direction_views(models, src, tgt, controls)

    def swap(src: Any, tgt: Any) -> list[Any]:
        if not (isinstance(src, str) and isinstance(tgt, str)):
            return [gr.skip()] * len(outputs)
        if not models.catalog.has(tgt, src):
            gr.Warning(f"There is no {direction_name(tgt, src)} model here.")
            return [gr.skip()] * len(outputs)
        return direction_views(models, tgt, src, controls)

    def pick_example(index: Any, src: str) -> Any:
        examples = examples_for(src)
        return examples[index] if isinstance(index, int) and 0 <= index < len(examples) else gr.skip()

    # The handlers take the pickers' raw values (preprocess=False), as `translate` does: gradio's check of a
    # value against the dropdown's choices fails when an event still in flight carries the old target after
    # a new source has changed the target's choices, and showed an error over the target picker.
    languages, private = [pickers["src"], pickers["tgt"]], {"api_visibility": "private", "preprocess": False}
    pickers["src"].input(change, languages, outputs, **private)
    pickers["tgt"].input(change, languages, outputs, **private)
    pickers["swap"].click(swap, languages, outputs, **private)
    page["examples"].click(pick_example, [page["examples"], pickers["src"]], page["source"], api_visibility="private")
