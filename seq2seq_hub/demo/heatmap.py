"""heatmap.py: the attention heatmap as an HTML table, built as a string: one row per target label, one
column per source label, each cell coloured by its weight (viridis, 0 to 1) and titled
'source → target: weight', so hovering (or tapping, with `HEATMAP_JS`) a cell names both words.

Every label is escaped here; which labels to show (subwords merged or not) is `views.heatmap_data`'s
business. Imports no gradio and no matplotlib: a 60 x 60 table takes a few milliseconds.
"""

from __future__ import annotations

import html

from ..alignment import format_pharaoh

# matplotlib's viridis at 0, 1/8, ..., 1; colours in between are mixed linearly (indistinguishable by eye)
VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]
LEVELS = 100  # weights are shown to two decimals, so 101 colours are all there is to tell apart
LABEL_LIMIT = 18  # characters of a row or column label; the full label is in its title
READOUT_HINT = "Point at (or tap) a cell to see the source word, the translated word and the weight."
ALIGNED = ' class="attn-aligned"'  # a cell of the word alignment


def _mix(low: str, high: str, t: float) -> str:
    a, b = (tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in (low, high))
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b))


def _colour_at(x: float) -> str:
    position = x * (len(VIRIDIS) - 1)
    i = min(int(position), len(VIRIDIS) - 2)
    return _mix(VIRIDIS[i], VIRIDIS[i + 1], position - i)


COLOURS = [_colour_at(level / LEVELS) for level in range(LEVELS + 1)]
LEGEND = (
    '<span class="attn-legend">0<span class="attn-bar" style="background:linear-gradient(to right, '
    + ", ".join(VIRIDIS)
    + ')"></span>1 attention weight</span>'
)

# Scoped to the component by gradio (`css_template`): nested under the heatmap's own element.
HEATMAP_CSS = """
.attn { font-size: 12px; line-height: 1.2; padding-top: 2.2em; }  /* below the component's label */
.attn-head { display: flex; flex-wrap: wrap; align-items: center; gap: 0.3em 1.5em; margin: 0 0 0.4em; }
.attn-title { font-weight: 600; }
.attn-bar { display: inline-block; width: 7em; height: 0.8em; margin: 0 0.4em; vertical-align: middle; }
.attn-scroll { overflow: auto; max-width: 100%; max-height: 75vh; overscroll-behavior-x: contain; }
.attn-table { border-collapse: separate; border-spacing: 1px; margin: 0; width: auto; }
.attn-table th { padding: 0 4px; border: none; font-weight: normal; white-space: nowrap;
  background: var(--block-background-fill, #fff); color: var(--body-text-color, #111); }
.attn-table thead th { position: sticky; top: 0; z-index: 1; vertical-align: bottom; padding: 4px 0; }
.attn-table thead th span { display: inline-block; writing-mode: vertical-rl; transform: rotate(180deg); }
.attn-table tbody th { position: sticky; left: 0; z-index: 1; text-align: right; }
.attn-table thead .attn-corner { left: 0; z-index: 2; text-align: right; padding: 4px; font-style: italic; }
.attn-table td { width: 18px; min-width: 18px; height: 18px; padding: 0; border: none; }
.attn-table td:hover, .attn-table td.attn-picked { outline: 2px solid var(--body-text-color, #111); }
.attn-table td.attn-aligned { box-shadow: inset 0 0 0 2px #fff; }
.attn-readout { min-height: 1.3em; margin: 0.4em 0 0; }
.attn-alignment { margin: 0.3em 0 0; font-family: var(--font-mono, monospace); overflow-wrap: anywhere; }
@media (max-width: 640px) {  /* a phone: the table scrolls in its box; cells stay big enough to tap */
  .attn-table td { width: 16px; min-width: 16px; height: 16px; }
  .attn-table tbody th { max-width: 7.5em; overflow: hidden; text-overflow: ellipsis; }
  .attn-table thead .attn-corner { white-space: normal; max-width: 7.5em; }
}
"""

# Hover, touch or click: the cell's title (escaped text, set as text) in the line under the table, the cell outlined.
HEATMAP_JS = """
const show = (event) => {
  const cell = event.target.closest && event.target.closest("td[title]");
  const out = element.querySelector(".attn-readout");
  if (!cell || !out) return;
  out.textContent = cell.title;
  element.querySelectorAll("td.attn-picked").forEach((c) => c.classList.remove("attn-picked"));
  cell.classList.add("attn-picked");
};
element.addEventListener("mouseover", show);
element.addEventListener("pointerdown", show);  // a finger on a touch screen, before any scrolling
element.addEventListener("click", show);
"""


def colour(weight: float) -> str:
    """The viridis colour of an attention weight (clipped to [0, 1]; NaN counts as 0)."""
    if not 0.0 <= weight <= 1.0:
        weight = 1.0 if weight > 1.0 else 0.0
    return COLOURS[round(weight * LEVELS)]


def short_label(label: str, limit: int = LABEL_LIMIT) -> str:
    """A label cut to `limit` characters (with '…'), not yet escaped."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _header(labels: list[str]) -> str:
    cells = "".join(
        f'<th scope="col" title="{html.escape(label)}"><span>{html.escape(short_label(label))}</span></th>'
        for label in labels
    )
    return f'<thead><tr><th class="attn-corner" scope="col">translation ↓ source →</th>{cells}</tr></thead>'


def _body(src_labels: list[str], tgt_labels: list[str], weights: list[list[float]], aligned: set) -> str:
    sources = [html.escape(label) for label in src_labels]
    rows = []
    for j, (target, row) in enumerate(zip(tgt_labels, weights)):
        tgt = html.escape(target)
        cells = "".join(
            f'<td{ALIGNED if (i, j) in aligned else ""} style="background:{colour(w)}" title="{src} → {tgt}: {w:.2f}">'
            "</td>"
            for i, (src, w) in enumerate(zip(sources, row))
        )
        rows.append(f'<tr><th scope="row" title="{tgt}">{html.escape(short_label(target))}</th>{cells}</tr>')
    return "<tbody>" + "".join(rows) + "</tbody>"


def alignment_line(alignment: list[tuple[int, int]]) -> str:
    """The word alignment in Pharaoh notation (source-target word indices), as a line under the table."""
    pairs = format_pharaoh([(int(i), int(j)) for i, j in alignment])  # ints: nothing else reaches the markup
    return f'<p class="attn-alignment">Alignment (source-target words, outlined): {pairs}</p>'


def attention_table(
    src_labels: list[str],
    tgt_labels: list[str],
    weights: list[list[float]],
    title: str = "",
    alignment: list[tuple[int, int]] | None = None,
) -> str:
    """The heatmap as one HTML fragment (a `<div class="attn">`): `weights` is len(tgt_labels) x
    len(src_labels), [] for a model without attention. Labels and title may hold any text. `alignment`:
    (source, target) label index pairs to outline, listed under the table."""
    head = f'<div class="attn-head"><span class="attn-title">{html.escape(title)}</span>'
    if not weights:
        return f'<div class="attn">{head}</div><p class="attn-empty">this model has no attention</p></div>'
    table = (
        f'<div class="attn-scroll"><table class="attn-table">{_header(src_labels)}'
        f"{_body(src_labels, tgt_labels, weights, set(map(tuple, alignment or [])))}</table></div>"
    )
    readout = f'<p class="attn-readout" aria-live="polite">{READOUT_HINT}</p>'
    extra = alignment_line(alignment) if alignment else ""
    return f'<div class="attn">{head}{LEGEND}</div>{table}{readout}{extra}</div>'
