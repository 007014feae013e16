"""trainer.py: `Trainer`, the training loop: each step, log line, evaluation and checkpoint is one named
call, so `run` and `_train_loop` read as a table of contents. Also early stopping, the plateau schedule,
non-finite losses, data-parallel training and the final test evaluation.

The data (`prepare.py`), checkpoints (`checkpoints.py`), the state (`state.py`), the metrics log
(`run_log.py`) and the model folder with its card (`model_folder.py`) each live in their own module.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import datasets
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ..data import collate
from ..files import atomic_write_text
from ..hub import push_folder
from ..modeling.model import Seq2SeqModel
from ..translator import Translator
from .checkpoints import (
    AVERAGING_DIR,
    average_weights,
    keep_for_averaging,
    latest_checkpoint,
    list_checkpoints,
    remove,
)
from .checkpoints import save_checkpoint as write_checkpoint
from .config import TrainConfig
from .distributed import all_ranks_agree, barrier, dist_info, pick_device, process_group, share_decisions
from .errors import TrainingError
from .evaluation import test_scores, test_summary, translation_scores, validation_scores
from .model_folder import MODEL_DIR, RunFacts, write_model_folder
from .model_setup import build_model, build_optimizer
from .output_lock import own_output_dir
from .prepare import TOKENIZER_DIR, PreparedData, prepare_data
from .resume import check_resume_config, load_newest_intact
from .run_log import METRICS_FILE, TENSORBOARD_DIR, MetricsLog, StepResult, TrainWindow
from .schedules import learning_rate_scale, teacher_forcing_ratio
from .state import TrainingState

FINAL_METRICS_FILE = "final_metrics.json"
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Trainer:
    """One training run: `Trainer(config).run()` returns the output model folder."""

    def __init__(self, config: TrainConfig, resume: bool = False, command: str | None = None) -> None:
        self.cfg = config
        self.resume = resume
        self.command = command or " ".join(sys.argv)
        self.rank, self.world, self.local_rank = dist_info()
        self.is_main = self.rank == 0
        self.output_dir = Path(config.output_dir)
        self.device, self.precision = pick_device(config.device, config.precision, self.local_rank)  # auto decided
        self.valid_options = config.validation_decoding()
        self.test_options = config.test_decoding()  # also the model folder's generation_config.json
        self.state = TrainingState()
        if not config.progress:
            datasets.disable_progress_bars()
        if config.num_threads:
            torch.set_num_threads(config.num_threads)

    def _log(self, message: str) -> None:
        if self.is_main:
            print(message, file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ the run
    def run(self) -> Path:
        """Train under the output folder's lock (one run at a time); returns the model folder."""
        with process_group(self.world, self.device):
            with own_output_dir(self.output_dir, is_main=self.is_main, world=self.world, device=self.device):
                return self._run()

    def _run(self) -> Path:
        checkpoints = self._claim_output_dir()
        self.prepare_data()
        self.build_model()
        self.state = self._start_state(checkpoints)
        self.metrics_log = MetricsLog(self.output_dir, enabled=self.is_main, tensorboard=self.cfg.tensorboard)
        if self.metrics_log.warning:
            self._log(self.metrics_log.warning)
        if self.resume:
            self.metrics_log.drop_after(self.state.step)
        try:
            self._train_loop()
            return self.finish() if self.is_main else self.output_dir / MODEL_DIR
        finally:
            self.metrics_log.close()

    def _claim_output_dir(self) -> list[Path]:
        """The checkpoints to resume from, newest first, once the configuration may continue them. A run is
        not overwritten; a fresh one (or --resume without a checkpoint) clears what an earlier one left."""
        checkpoints = list_checkpoints(self.output_dir)
        if checkpoints and not self.resume:
            raise TrainingError(
                f"{self.output_dir} already holds a run (checkpoint {checkpoints[0].name}); pass --resume to "
                "continue it, or choose another --output_dir"
            )
        if checkpoints:
            check_resume_config(checkpoints, self.cfg, self._log)
            return checkpoints
        if self.resume:
            self._log(f"--resume: no checkpoint in {self.output_dir}; starting from scratch")
        if self.is_main:
            remove(self.output_dir, (METRICS_FILE, TOKENIZER_DIR, AVERAGING_DIR, TENSORBOARD_DIR, FINAL_METRICS_FILE))
        return []

    def prepare_data(self) -> None:
        """Load, tokenize and bucket the data (rank 0 first: it trains the tokenizer the others reuse)."""

        def prepare() -> PreparedData:
            return prepare_data(self.cfg, self.output_dir, rank=self.rank, world=self.world, log=self._log)

        if self.is_main:
            self.data = prepare()
        barrier(self.world)
        if not self.is_main:
            self.data = prepare()
        self.model_config = self.data.model_config
        self.tokenizer = self.data.tokenizer

    def build_model(self) -> None:
        """The seeded model, its optimizer and, for several processes, its DDP wrapper; the fp16 scaler."""
        self.model = build_model(self.cfg, self.model_config, self.tokenizer, self._log).to(self.device)
        self.optimizer = build_optimizer(self.cfg, self.model)
        self.ddp = None
        if self.world > 1:
            device_ids = [self.local_rank] if self.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.model, device_ids=device_ids)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self._log(
            f"model: {self.model.num_parameters():,} parameters ({self.model_config.cell}, "
            f"{self.model_config.attention} attention) on {self.device}"
            + (f" x {self.world} processes" if self.world > 1 else "")
            + (f", {self.precision} autocast" if self.precision != "fp32" else "")
        )

    def _start_state(self, checkpoints: list[Path]) -> TrainingState:
        """A new state, or the newest intact checkpoint's (weights and optimizer loaded, RNG restored)."""
        if not checkpoints:
            return TrainingState()
        state = load_newest_intact(
            checkpoints,
            model=self.model,
            optimizer=self.optimizer,
            model_config=self.model_config,
            device=self.device,
            log=self._log,
        )
        for group in self.optimizer.param_groups:  # loaded with the checkpoint's; these may change on resume
            group.update(betas=self.cfg.betas, weight_decay=self.cfg.weight_decay)
        state.restore_rng(self.device)
        return state

    # ------------------------------------------------------------------ the loop
    def _train_loop(self) -> None:
        total = self.data.total_steps
        bar = tqdm(
            total=total,
            initial=self.state.step,
            disable=not (self.cfg.progress and self.is_main),
            dynamic_ncols=True,
            desc="training",
        )
        self.window = TrainWindow()
        run_start = time.perf_counter() - self.state.train_seconds
        while self.state.step < total and not self.state.stopped_early:
            epoch = self.state.epoch
            batches = self.data.sampler.batches(epoch)
            for b_index in range(self.state.batch_in_epoch, len(batches)):
                if self.state.step >= total:
                    break
                result = self._train_step(batches[b_index])
                self.state.batch_in_epoch = b_index + 1
                if result is None:  # a non-finite loss, skipped
                    continue
                self.state.step = result.step
                bar.update(1)
                self._log_progress(result, epoch, bar)
                self.state.train_seconds = time.perf_counter() - run_start
                self._evaluate_or_checkpoint(epoch, at_epoch_end=b_index + 1 == len(batches))
                if self.state.stopped_early:
                    break
            else:
                if self.state.epoch == epoch:  # not yet advanced by an end-of-epoch evaluation
                    self.state.next_epoch(epoch)
                continue
            if self.state.stopped_early or self.state.step >= total:
                break
        bar.close()

    def _train_step(self, indices: list[int]) -> StepResult | None:
        """One optimizer update on the batch of these training examples; None when it was skipped."""
        cfg, data = self.cfg, self.data
        self.model.train()
        batch = collate(
            [data.train_src[i] for i in indices],
            [data.train_tgt[i] for i in indices],
            self.model_config.pad_token_id,
            self.model_config.bos_token_id,
        ).to(self.device)
        step = self.state.step + 1
        lr = self._set_learning_rate(step)
        tf_steps = cfg.tf_steps or data.total_steps
        ratio = teacher_forcing_ratio(cfg.tf_schedule, step - 1, cfg.tf_start, cfg.tf_end, tf_steps)
        dtype = AUTOCAST_DTYPES.get(self.precision)
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            loss = (self.ddp or self.model)(
                batch.src,
                batch.src_lengths,
                batch.tgt_in,
                labels=batch.labels,
                teacher_forcing_ratio=ratio,
                label_smoothing=cfg.label_smoothing,
            ).loss
        self.optimizer.zero_grad(set_to_none=True)
        if not all_ranks_agree(self.world, bool(torch.isfinite(loss)), self.device):  # every rank skips, or none
            return self._nonfinite(step, "loss")
        (self.scaler.scale(loss) if self.scaler else loss).backward()
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_norm or float("inf"))
        if not torch.isfinite(grad_norm) and self.scaler is None:
            self.optimizer.zero_grad(set_to_none=True)
            return self._nonfinite(step, "gradient norm")
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return StepResult(step, lr, ratio, loss.item(), batch.num_tokens, float(grad_norm))

    def _set_learning_rate(self, step: int) -> float:
        cfg = self.cfg
        scale = learning_rate_scale(cfg.lr_schedule, step, cfg.warmup_steps, self.data.total_steps)
        lr = cfg.lr * self.state.lr_scale * scale
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _nonfinite(self, step: int, what: str) -> None:
        """nonfinite=stop: stop with the last good checkpoint named; skip: count the skipped update."""
        if self.cfg.nonfinite == "stop":
            latest = latest_checkpoint(self.output_dir)
            where = f"the last good checkpoint is {latest}" if latest else "no checkpoint was written yet"
            raise TrainingError(
                f"non-finite {what} at step {step}: training stopped and nothing bad was saved ({where}); "
                "try a lower lr, a smaller clip_norm, or nonfinite=skip"
            )
        self.state.skipped_steps += 1
        self._log(f"step {step}: non-finite {what}, update skipped ({self.state.skipped_steps} so far)")

    def _log_progress(self, result: StepResult, epoch: int, bar: tqdm) -> None:
        """Add the step to the window; every `log_every` steps (and at the last) write it out and start anew."""
        self.window.add(result.num_tokens, result.loss)
        if result.step % self.cfg.log_every and result.step != self.data.total_steps:
            return
        record = {
            "step": result.step,
            "epoch": epoch,
            "loss": self.window.loss,
            "lr": result.lr,
            "tf_ratio": result.tf_ratio,
            "tokens_per_s": self.window.tokens_per_s(self.world),
            "grad_norm": result.grad_norm,
        }
        self.metrics_log.record(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{result.lr:.2e}", tok_s=f"{record['tokens_per_s']:.0f}")
        self.window = TrainWindow()

    def _evaluate_or_checkpoint(self, epoch: int, at_epoch_end: bool) -> None:
        """Evaluate (and checkpoint) every `eval_every` steps, or only checkpoint every `checkpoint_every`."""
        step, cfg = self.state.step, self.cfg
        evaluate = step % (cfg.eval_every or self.data.steps_per_epoch) == 0 or step == self.data.total_steps
        if not evaluate and not (cfg.checkpoint_every and step % cfg.checkpoint_every == 0):
            return
        if at_epoch_end:  # the checkpoint resumes at the next epoch's start
            self.state.next_epoch(epoch)
        if evaluate:
            self._evaluate_and_checkpoint(step)
        elif self.is_main:
            self.save_checkpoint()

    # ------------------------------------------------------------------ evaluation and checkpoints
    def translator(self) -> Translator:
        return Translator(self.model, self.tokenizer)

    def validation_bleu(self, translator: Translator):
        """sacreBLEU / chrF of the validation set decoded with the validation options (`eval_beam_size`)."""
        return translation_scores(translator, self.data.valid, self.valid_options, batch_size=128)

    def _evaluate_and_checkpoint(self, step: int) -> None:
        if self.is_main:
            self._evaluate(step)
        self.state.stopped_early, self.state.lr_scale = share_decisions(
            self.world, self.state.stopped_early, self.state.lr_scale
        )
        if self.is_main:
            self.save_checkpoint()
        barrier(self.world)

    def _evaluate(self, step: int) -> None:
        """Validation loss, perplexity, BLEU and chrF; the best model so far is saved; early stopping."""
        cfg = self.cfg
        translator = self.translator()
        scores = validation_scores(translator, self.data.valid, self.valid_options)
        record = {"step": step, "epoch": self.state.epoch, **scores, "train_seconds": self.state.train_seconds}
        plateau = cfg.plateau_patience if cfg.lr_schedule == "plateau" else None
        bleu = scores["valid_bleu"]
        improved = self.state.record_evaluation(step, bleu, plateau, cfg.plateau_factor)
        if improved:
            self._write_model_folder(translator)
        if cfg.average_last:
            keep_for_averaging(self.output_dir, self.model, step, bleu, cfg.average_last)
        record["best_bleu"] = self.state.best_bleu
        self.metrics_log.record(record)
        self._log(
            f"step {step}: valid loss {record['valid_loss']:.3f} ppl {record['valid_ppl']:.2f} "
            f"BLEU {bleu:.2f} chrF {record['valid_chrf']:.2f}" + (" (best)" if improved else "")
        )
        if cfg.patience and self.state.bad_evals >= cfg.patience:
            self.state.stopped_early = True
            self._log(f"early stopping: no better validation BLEU for {cfg.patience} evaluations")

    def save_checkpoint(self) -> Path:
        """Write model, optimizer, RNG and loop state to checkpoint-<step>/, then point `latest` at it."""
        self.state.capture_rng(self.device)
        configs = {"train_config": self.cfg.to_dict(), "model_config": self.model_config.to_dict()}
        return write_checkpoint(
            self.output_dir,
            model=self.model,
            optimizer=self.optimizer,
            state=self.state,
            configs=configs,
            keep=self.cfg.keep_checkpoints,
        )

    def _write_model_folder(
        self, translator: Translator, metrics: dict[str, Any] | None = None, length_scores: list | None = None
    ) -> None:
        translator.generation_options = self.test_options
        mixed = self.cfg.synthetic_files or self.cfg.distilled_files or self.cfg.real_upsample != 1
        mix = self.data.mix.summary() if mixed else ""
        facts = RunFacts(self.command, len(self.data.train), self.device, self.world, mix)
        write_model_folder(self.output_dir / MODEL_DIR, translator, self.cfg, self.state, facts, metrics, length_scores)

    # ------------------------------------------------------------------ the end
    def finish(self) -> Path:
        """Load the best model (or an average), score it on the test set, write the final folder + card."""
        folder = self.output_dir / MODEL_DIR
        if not (folder / "model.safetensors").exists():
            raise TrainingError("no model was saved (training ended before the first evaluation)")
        best = Translator.from_pretrained(folder, device=self.device)
        self.model.load_state_dict(best.model.state_dict())
        metrics: dict[str, Any] = {"valid_bleu": self.state.best_bleu}
        if self.cfg.average_last:
            self._try_averaging(best.model, metrics)
        self.model.eval()
        translator = self.translator()
        test, length_scores = self.data.test, None
        if test is not None and len(test):
            scores, length_scores = test_scores(translator, test, self.test_options)
            metrics.update(scores)
            self._log(test_summary(metrics))
        self._write_model_folder(translator, metrics, length_scores)
        atomic_write_text(self.output_dir / FINAL_METRICS_FILE, json.dumps(metrics, indent=2))
        self.metrics_log.record(
            {"step": self.state.step, **{k: v for k, v in metrics.items() if isinstance(v, (int, float))}}
        )
        self._log(f"model folder: {folder}")
        if self.cfg.push_to_hub:
            url = push_folder(folder, self.cfg.push_to_hub, private=self.cfg.private)
            self._log(f"pushed to {url}")
        return folder

    def _try_averaging(self, best: Seq2SeqModel, metrics: dict[str, Any]) -> None:
        """Keep the average of the best evaluations' weights if it validates better than the best single one."""
        averaged = average_weights(self.output_dir)
        if averaged is None:
            return
        reference = self.model.state_dict()
        self.model.load_state_dict({k: v.to(reference[k].dtype) for k, v in averaged.items()})
        avg_bleu = self.validation_bleu(self.translator()).bleu
        self._log(f"checkpoint averaging: validation BLEU {avg_bleu:.2f} vs best single {self.state.best_bleu:.2f}")
        if avg_bleu > self.state.best_bleu:
            metrics["valid_bleu"] = avg_bleu
            metrics["averaged_checkpoints"] = self.cfg.average_last
        else:
            self.model.load_state_dict(best.state_dict())
