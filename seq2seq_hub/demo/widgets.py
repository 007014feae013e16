"""widgets.py: pieces the page's tabs share: the attention heatmap component and the examples (the first
sentences of the Multi30k test set in the source language).
"""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

import gradio as gr

from .heatmap import HEATMAP_CSS, HEATMAP_JS

CHECKOUT = Path(__file__).resolve().parents[2]  # the repository (the Space) this package runs from
DATA_DIR = CHECKOUT / "data" / "multi30k"
EXAMPLES_FILE = DATA_DIR / "test_2016_flickr.de.gz"
NUM_EXAMPLES = 8


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


@cache
def examples_for(lang: str) -> tuple[str, ...]:
    """The examples in language `lang` (the test set's first sentences), () when there is no file."""
    if not (isinstance(lang, str) and lang.isascii() and lang.isalpha() and len(lang) <= 8):
        return ()  # a language code, never a path
    return tuple(load_examples(DATA_DIR / f"test_2016_flickr.{lang}.gz"))


def heatmap_component(elem_id: str, label: str = "Attention heatmap") -> gr.HTML:
    """An HTML component for `heatmap.attention_table` fragments, with their styles and read-out script."""
    return gr.HTML(
        label=label,
        show_label=True,
        container=True,
        padding=True,
        apply_default_css=False,
        css_template=HEATMAP_CSS,
        js_on_load=HEATMAP_JS,
        elem_id=elem_id,
    )
