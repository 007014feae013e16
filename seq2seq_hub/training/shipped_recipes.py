"""shipped_recipes.py: the training recipes that travel with the package (`recipes/*.yaml`): list them and
find the file a `--config` names, a path or a recipe's name (`multi30k_de_en`). Knows nothing of their content.
"""

from __future__ import annotations

import difflib
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


def recipe_names() -> list[str]:
    """The shipped recipes' names, sorted."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def find_recipe(config: str) -> Path:
    """The YAML file `config` names: an existing file, else a shipped recipe of that name (with or without
    '.yaml'; `training/configs/NAME.yaml`, where recipes lived before, also finds it); FileNotFoundError
    naming the recipes otherwise."""
    path = Path(config).expanduser()
    if path.is_file():
        return path
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    shipped = RECIPES_DIR / f"{name}.yaml"
    if shipped.is_file() and (path.parent == Path(".") or path.parent.as_posix().endswith("training/configs")):
        return shipped
    close = difflib.get_close_matches(name, recipe_names(), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise FileNotFoundError(
        f"config file not found: {config}{hint}; give a YAML file or a shipped recipe: {', '.join(recipe_names())}"
    )
