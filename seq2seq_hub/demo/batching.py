"""batching.py: a micro-batcher in front of one `Translator`, so that visitors who ask at the same time
share one model call. Requests wait in a list; one decoding thread (for every model of the process) takes
those of one model that are waiting (up to a batch size) and makes one `translate(list_of_texts,
options=...)` per group of equal `DecodingOptions`.

Knows nothing of gradio or of the page; `handlers` calls it from the server's worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from ..checks import number_problem, raise_problems

if TYPE_CHECKING:
    from .. import Hypothesis
    from ..decoding import DecodingOptions


@dataclass(eq=False)
class Job:
    """One caller's request and, once decoded, its outcome (a hypothesis or the error to raise)."""

    text: str
    options: DecodingOptions
    prefix: str | None = None
    owner: Any = None  # the `BatchingTranslator` that decodes it
    result: Hypothesis | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def finish(self, result: Hypothesis | None = None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()

    def wait(self) -> Hypothesis:
        """The hypothesis, once decoded; raises what `Translator.translate` raised for this job."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def batch_key(job: Job) -> Hashable:
    """Jobs with equal keys are decoded in one call. Seeded sampling is decoded on its own: its random
    numbers come from one generator per call, so a neighbour in the batch would change its samples."""
    if job.options.search == "sample" and job.options.seed is not None:
        return ("alone", id(job))
    return ("options", job.options)


def group_jobs(jobs: list[Job]) -> list[list[Job]]:
    """`jobs` grouped by `batch_key`, groups in order of their first job, jobs in arrival order."""
    groups: dict[Hashable, list[Job]] = {}
    for job in jobs:
        groups.setdefault(batch_key(job), []).append(job)
    return list(groups.values())


class DecodingThread:
    """The one thread that decodes for every `BatchingTranslator` of the process, a batch at a time: it
    takes the oldest waiting job and, with it, up to its batcher's `max_batch_size` jobs of the same batcher.

    One thread for all models, not one per model: torch's CPU ops already spread over every core, and GNU
    OpenMP gives each thread that runs them its own team of helper threads. Once a process has more such
    threads than cores, OpenMP stops spinning between parallel regions, and each of the many small ops of a
    decoder step then pays to wake its helpers (BENCHMARKS.md, "One decoding thread"). The thread holds no
    reference to a batcher between batches, so a batcher dropped from the demo's pool is freed.
    """

    def __init__(self) -> None:
        self._pending: list[Job] = []
        self._arrived = threading.Condition()
        self._worker: threading.Thread | None = None

    def waiting(self, owner: Any) -> int:
        """Jobs of batcher `owner` waiting to be taken into a batch."""
        with self._arrived:
            return sum(job.owner is owner for job in self._pending)

    def submit(self, job: Job) -> None:
        with self._arrived:
            self._pending.append(job)
            if self._worker is None:
                self._worker = threading.Thread(target=self._serve, name="translate-batches", daemon=True)
                self._worker.start()
            self._arrived.notify()

    def _take(self) -> list[Job]:
        """The next batch (the lock held): the oldest job and the next ones of its batcher, oldest first."""
        owner = self._pending[0].owner
        batch = [job for job in self._pending if job.owner is owner][: owner.max_batch_size]
        taken = {id(job) for job in batch}
        self._pending = [job for job in self._pending if id(job) not in taken]
        return batch

    def _serve(self) -> None:
        while True:
            with self._arrived:
                while not self._pending:
                    self._arrived.wait()
                batch = self._take()
            try:
                batch[0].owner.decode(batch)
            except BaseException as err:  # decode never raises, short of the interpreter going down
                for job in batch:
                    if not job.done.is_set():
                        job.finish(error=RuntimeError(f"the translation was interrupted: {err!r}"))
                with self._arrived:
                    self._worker = None  # the next request starts another
                raise
            del batch  # no reference to the batcher while idle


DECODING_THREAD = DecodingThread()


class BatchingTranslator:
    """Thread-safe `translate(text, options, prefix) -> Hypothesis` that batches concurrent callers.

    Jobs wait for the process's `DecodingThread`, which takes up to `max_batch_size` of them, oldest first,
    decodes them group by group (see `batch_key`) and hands every job its outcome. Requests that arrive
    meanwhile wait for the next batch; a lone request is decoded at once, with no waiting window. When a
    group's call fails, its jobs are decoded one by one, so only the request at fault gets the error.
    (One thread, not whichever caller is free: the model's memory is then allocated by one thread, which
    keeps the server's memory from creeping up, and torch's threads stay few; see `DecodingThread`.)
    """

    def __init__(self, translator: Any, max_batch_size: int = 16, thread: DecodingThread = DECODING_THREAD):
        raise_problems([number_problem("max_batch_size", max_batch_size, 1, integer=True)])
        self.translator = translator
        # bf16 / fp16 products round differently by batch size (BENCHMARKS.md, "batch invariance"): a visitor's
        # translation must not depend on other visitors' traffic, so in those dtypes every request goes alone
        rounds_by_batch = getattr(translator, "compute_dtype", None) in (torch.bfloat16, torch.float16)
        self.max_batch_size = 1 if rounds_by_batch else max_batch_size
        self._thread = thread

    @property
    def waiting(self) -> int:
        """Jobs waiting to be taken into a batch."""
        return self._thread.waiting(self)

    def translate(self, text: str, options: DecodingOptions, prefix: str | None = None) -> Hypothesis:
        """The best hypothesis (with its n-best list) for one text; raises what `Translator.translate`
        raised for it."""
        return self.submit(text, options, prefix).wait()

    def submit(self, text: str, options: DecodingOptions, prefix: str | None = None) -> Job:
        """Queue one text without waiting: `job.wait()` gives its hypothesis. (One caller with several
        texts, like the demo's comparison, submits them all and then waits, so they can share calls.)"""
        job = Job(text, options, prefix, owner=self)
        self._thread.submit(job)
        return job

    def decode(self, batch: list[Job]) -> None:
        """Give every job of `batch` its outcome (never raises)."""
        for group in group_jobs(batch):
            try:
                self._decode_group(group)
            except Exception as err:  # handed to the caller, who turns it into a message
                if len(group) == 1:
                    group[0].finish(error=err)
                else:  # find the request at fault
                    for job in group:
                        self._decode_alone(job)

    def _decode_group(self, group: list[Job]) -> None:
        prefixes = [job.prefix or "" for job in group]
        hyps = self.translator.translate(
            [job.text for job in group], options=group[0].options, prefix=prefixes if any(prefixes) else None
        )
        assert len(hyps) == len(group)
        for job, hyp in zip(group, hyps):
            job.finish(result=hyp)

    def _decode_alone(self, job: Job) -> None:
        try:
            self._decode_group([job])
        except Exception as err:
            job.finish(error=err)
