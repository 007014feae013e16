"""The README's layout map is written by the tree: it lists every module with its opening line."""

from __future__ import annotations

import importlib.util

from runhelpers import REPO


def _layout():
    spec = importlib.util.spec_from_file_location("layout", REPO / "docs" / "layout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_layout_is_the_one_the_tree_writes():
    layout = _layout()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert layout.readme_with_layout(readme) == readme, "README.md's layout is stale: run python docs/layout.py"


def test_every_module_of_the_package_is_on_the_map():
    rendered = _layout().render()
    for path in (REPO / "seq2seq_hub").rglob("*.py"):
        name = path.parent.name + "/" if path.name == "__init__.py" else path.name
        assert f" {name} " in rendered or f"\n{name} " in rendered or f"{name}  " in rendered, name


def test_a_module_is_summed_up_by_its_first_sentence_on_one_line(tmp_path):
    layout = _layout()
    module = tmp_path / "thing.py"
    module.write_text('"""thing.py: does one thing, well. More detail follows."""\n', encoding="utf-8")
    assert layout.summary(module) == "does one thing, well"
    long = "a " + "very " * 30 + "long summary: with a clause"
    assert len(layout.one_line(long, 80)) <= 80
