"""layout.py: writes the README's "Layout" map from the tree: one line per module, the first sentence of its
opening docstring. `python docs/layout.py` rewrites the map in README.md; `python docs/layout.py --check`
exits 1 when the README and the tree disagree (tests/test_layout.py does the same).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- layout: written by docs/layout.py -->", "<!-- layout: end -->"
ROOTS = ("app.py", "seq2seq_hub", "training/train.py", "benchmarks", "docs/layout.py")
WIDTH = 118
NAME_COLUMN = 30


def summary(path: Path) -> str:
    """The first sentence of a module's docstring, without its leading 'name.py:' label."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = doc.split("\n\n")[0].replace("\n", " ")
    first = re.sub(rf"^(seq2seq_hub\.)?[\w.]*{re.escape(path.stem)}(\.py)?:\s*", "", first)
    sentence = re.split(r"(?<=[a-z0-9)`'\"])\.\s", first + " ", maxsplit=1)[0].strip().rstrip(".")
    return sentence or "(no docstring)"


def one_line(text: str, width: int) -> str:
    """`text` cut to `width` characters: at its last clause break (':', ';', ' (', ',') that fits, else at a word."""
    if len(text) <= width:
        return text
    depth, breaks = 0, []
    for i, ch in enumerate(text[: width + 1]):
        if depth == 0 and i >= 20 and (text[i : i + 2] in (": ", "; ", ", ") or text[i : i + 2] == " ("):
            breaks.append(i)
        depth += {"(": 1, ")": -1}.get(ch, 0)
    if breaks:
        return text[: breaks[-1]].rstrip()
    return text[: width - 1].rsplit(" ", 1)[0] + "…"


def _entry(label: str, text: str, indent: int) -> list[str]:
    name = " " * indent + label
    return [f"{name.ljust(NAME_COLUMN - 1)} {one_line(text, WIDTH - NAME_COLUMN)}".rstrip()]


def _folder(folder: Path, indent: int) -> list[str]:
    init = folder / "__init__.py"
    label = f"{folder.relative_to(REPO)}/" if indent == 0 else f"{folder.name}/"
    lines = _entry(label, summary(init), indent) if init.exists() else [" " * indent + label]
    for path in sorted(folder.iterdir()):
        if path.is_dir() and (path / "__init__.py").exists():
            lines += _folder(path, indent + 2)
        elif path.suffix == ".py" and path.name != "__init__.py":
            lines += _entry(path.name, summary(path), indent + 2)
    return lines


def render() -> str:
    """The map, as the README shows it (inside a code block)."""
    lines: list[str] = []
    for root in ROOTS:
        path = REPO / root
        lines += _folder(path, 0) if path.is_dir() else _entry(root, summary(path), 0)
    return "\n".join(["```", *lines, "```"])


def readme_with_layout(readme: str) -> str:
    """README text with the map between its markers replaced by the tree's."""
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"README.md has no {BEGIN} ... {END} block")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    updated = readme_with_layout(text)
    if "--check" in argv:
        if updated != text:
            print("README.md's layout differs from the tree: run python docs/layout.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
