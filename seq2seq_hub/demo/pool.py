"""pool.py: the demo's loaded models: each `ModelChoice` is loaded on its first request and kept, with
its own `BatchingTranslator`, among at most `max_loaded` models (the least recently used one is
dropped when another is needed). Loading is thread-safe: concurrent first requests for a model load
it once, and a model that fails to load is one `ModelLoadError` for its requests, not for the demo.

Knows nothing of gradio; `handlers` and `compare` ask it for a model, `server` sets its size.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..checks import number_problem, raise_problems
from .batching import BatchingTranslator
from .catalog import Catalog, ModelChoice, direction_name

logger = logging.getLogger("seq2seq_hub.demo")

# One default model per direction stays loaded while comparison models take turns; what that costs in memory
# is in BENCHMARKS.md ("Demo memory").
MAX_LOADED_MODELS = 6


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message is for the user (the cause is logged)."""


@dataclass(frozen=True)
class Served:
    """A loaded model: its catalog entry, its `Translator` and the batcher in front of it."""

    choice: ModelChoice
    translator: Any
    batcher: BatchingTranslator


class ModelPool:
    """`get(choice) -> Served`, loading `choice` with `load(choice) -> Translator` when it is not loaded.

    At most `max_loaded` models stay loaded (least recently used dropped first; a dropped model finishes
    the requests it has and is then freed). One model loads at a time, so memory peaks at
    `max_loaded + 1` models."""

    def __init__(
        self, load: Callable[[ModelChoice], Any], max_loaded: int = MAX_LOADED_MODELS, max_batch_size: int = 16
    ):
        raise_problems([number_problem("max_loaded", max_loaded, 1, integer=True)])
        self._load = load
        self.max_loaded = max_loaded
        self.max_batch_size = max_batch_size
        self.loads = 0  # models loaded so far (for tests and monitoring)
        self._served: OrderedDict[str, Served] = OrderedDict()  # least recently used first
        self._loading: dict[str, Future] = {}
        self._lock = threading.Lock()  # guards the two dicts
        self._load_lock = threading.Lock()  # one load at a time

    @property
    def loaded(self) -> list[str]:
        """Names of the loaded models, least recently used first."""
        with self._lock:
            return list(self._served)

    def put(self, choice: ModelChoice, translator: Any) -> Served:
        """Serve an already-loaded translator as `choice` (the command line's single model)."""
        with self._lock:
            return self._keep(choice, translator)

    def get(self, choice: ModelChoice) -> Served:
        """The loaded `choice`, loading it first if needed; raises `ModelLoadError` if that fails."""
        with self._lock:
            served = self._served.get(choice.name)
            if served is not None:
                self._served.move_to_end(choice.name)
                return served
            pending = self._loading.get(choice.name)
            owner = pending is None
            if owner:
                pending = self._loading[choice.name] = Future()
        if not owner:  # another request is loading it: share its outcome
            return pending.result()
        try:
            with self._load_lock:
                translator = self._load(choice)
        except Exception as err:
            logger.exception("cannot load the model %r from %r", choice.name, choice.source)
            direction = direction_name(choice.src_lang, choice.tgt_lang)
            error = ModelLoadError(
                f"The {direction} model {choice.name!r} could not be loaded (the error has been logged); "
                "the other models still work."
            )
            with self._lock:
                del self._loading[choice.name]
            pending.set_exception(error)
            raise error from err
        with self._lock:
            del self._loading[choice.name]
            self.loads += 1
            served = self._keep(choice, translator)
        pending.set_result(served)
        return served

    def _keep(self, choice: ModelChoice, translator: Any) -> Served:
        """Add a loaded model (the lock held), dropping the least recently used beyond `max_loaded`."""
        served = Served(choice, translator, BatchingTranslator(translator, max_batch_size=self.max_batch_size))
        self._served[choice.name] = served
        while len(self._served) > self.max_loaded:
            _, dropped = self._served.popitem(last=False)
            logger.info("unloaded the model %r (more than %d loaded)", dropped.choice.name, self.max_loaded)
        return served


@dataclass(frozen=True)
class DemoModels:
    """What the demo serves: the catalog of models and the pool that keeps some of them loaded."""

    catalog: Catalog
    pool: ModelPool

    @classmethod
    def of(cls, models: Any, max_batch_size: int = 16, source: str | None = None) -> DemoModels:
        """`models` itself, or a loaded `Translator` served alone (its direction only)."""
        if isinstance(models, DemoModels):
            return models
        catalog = Catalog.single(models, source)
        pool = ModelPool(lambda choice: models, max_loaded=1, max_batch_size=max_batch_size)
        pool.put(catalog.choices[0], models)
        return cls(catalog, pool)

    def direction(self, src: Any = None, tgt: Any = None) -> tuple[str, str]:
        """The checked direction; None stands for the default direction's language."""
        default_src, default_tgt = self.catalog.default_direction
        return self.catalog.check_direction(default_src if src is None else src, default_tgt if tgt is None else tgt)

    def served(self, src: Any = None, tgt: Any = None) -> Served:
        """The default model of a direction, loaded (`ModelLoadError` if it cannot be)."""
        return self.pool.get(self.catalog.default_model(*self.direction(src, tgt)))
