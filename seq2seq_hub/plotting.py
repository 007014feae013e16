"""plotting.py: the attention heatmap of a hypothesis and a training run's curves, as matplotlib figures.

matplotlib is imported inside the functions (it is not needed to translate). Figures are built with
`matplotlib.figure.Figure` (no pyplot global state), so they are safe in a multi-threaded server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .tokenizer import merge_subwords


def plot_label(label: str, limit: int = 18) -> str:
    """A tick label that is safe and readable: long words shortened, '$' not read as math."""
    label = label if len(label) <= limit else label[: limit - 1] + "…"
    return label.replace("$", r"\$")


def attention_figure(
    src_tokens: list[str],
    tgt_tokens: list[str],
    attention: list[list[float]],
    merge: bool = False,
    title: str | None = None,
    max_width: float = 12.0,
):
    """Heatmap: source tokens across, target tokens down, with a colour bar. Returns a Figure.

    Labels get the largest font (6-10 pt) that their rows and columns leave room for, so a
    40-token sentence stays readable; the figure is at most `max_width` inches wide.
    """
    from matplotlib.figure import Figure

    if merge and attention:
        tgt_tokens, attention = merge_subwords(tgt_tokens, attention, axis=0)
        src_tokens, attention = merge_subwords(src_tokens, attention, axis=1)
    rows, cols = len(tgt_tokens), len(src_tokens)
    width = min(max(4.0, 0.38 * cols + 2.2), max_width)
    height = min(max(3.0, 0.32 * rows + 1.6), 22.0)
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    if not attention:
        ax.text(0.5, 0.5, "this model has no attention", ha="center", va="center")
        ax.set_axis_off()
        return fig
    image = ax.imshow(attention, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    points_per_column = (width - 2.2) * 72 / max(cols, 1)  # 2.2 in: labels and colour bar
    points_per_row = (height - 1.6) * 72 / max(rows, 1)  # 1.6 in: title and source labels
    ax.set_xticks(
        range(cols),
        labels=[plot_label(t) for t in src_tokens],
        rotation=60,
        ha="right",
        rotation_mode="anchor",
        fontsize=min(10.0, max(6.0, 0.7 * points_per_column)),
    )
    ax.set_yticks(
        range(rows), labels=[plot_label(t) for t in tgt_tokens], fontsize=min(10.0, max(6.0, 0.7 * points_per_row))
    )
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    if title:
        ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="attention weight")
    return fig


def plot_training_curves(run_dir: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """Plot training loss, validation perplexity and BLEU of a run's metrics.jsonl to a PNG."""
    from matplotlib.figure import Figure

    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        raise FileNotFoundError(f"no metrics.jsonl in {run_dir}")
    records = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines() if line.strip()]
    train = [r for r in records if "loss" in r]
    valid = [r for r in records if "valid_loss" in r]  # not the final summary record (valid_bleu only)
    if not train and not valid:
        raise ValueError(f"{metrics} holds no training or validation records yet")
    fig = Figure(figsize=(12, 3.6), dpi=100, layout="constrained")
    panels = [
        ("training loss", train, "loss"),
        ("validation perplexity", valid, "valid_ppl"),
        ("validation BLEU", valid, "valid_bleu"),
    ]
    for i, (title, rows, key) in enumerate(panels, 1):
        ax = fig.add_subplot(1, 3, i)
        ax.plot([r["step"] for r in rows], [r[key] for r in rows], marker="o" if rows is valid else None)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    output = Path(output) if output else run_dir / "curves.png"
    fig.savefig(output)
    return output
