"""translator.py: `Translator` = tokenizer + model + search + decoding defaults: text in, `Hypothesis`
results out (text, score, tokens, per-token probabilities, attention, word alignment). The one entry
point the demo, the CLI and training decode through. Its Hub mixin hooks read and write the whole model
repo (config, weights, tokenizer, generation_config.json, card) through `hub.py`.
"""

from __future__ import annotations

import math
import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch

from .batches import decode_ids
from .card import CARD_FILE, render_model_card
from .checks import describe, number_problem
from .config import Seq2SeqConfig
from .data import collate
from .decoding import DecodingOptions
from .ensemble import Ensemble, check_members
from .files import atomic_write_text
from .hub import RepoFiles, StrictHubMixin
from .hypothesis import Hypothesis
from .modeling.model import Seq2SeqModel
from .modeling.quantize import check_int8_device, int8_decoding
from .repo_files import config_from_json, load_config, save_weights, write_config, write_ensemble_config
from .search import RawHypothesis
from .shortlist import Shortlist
from .tokenizer import Seq2SeqTokenizer

CHARS_PER_TOKEN_LIMIT = 20  # inputs longer than max_source_length * this are cut before tokenizing

MAX_BATCH_SIZE = 4096  # sentences decoded at once


class Translator(
    StrictHubMixin,
    library_name="seq2seq-hub",
    pipeline_tag="translation",
    license="mit",
    tags=["translation", "seq2seq", "rnn", "seq2seq-hub"],
    repo_url="https://github.com/seq2seq-hub/seq2seq-hub",
):
    """Tokenizer + model + search. `Translator.from_pretrained(folder_or_repo_id).translate(texts)`."""

    def __init__(
        self,
        model: Seq2SeqModel | Ensemble,
        tokenizer: Seq2SeqTokenizer,
        device: str | torch.device | None = None,
        compute_dtype: str | torch.dtype | None = None,
        generation_options: DecodingOptions | None = None,
    ):
        """model: one `Seq2SeqModel`, or an `Ensemble` of them sharing `tokenizer`."""
        if not isinstance(model, Seq2SeqModel | Ensemble):
            raise TypeError(f"model must be a Seq2SeqModel or an Ensemble, got {type(model).__name__}")
        self.model = model.eval()
        for member in self.members:
            tokenizer.check_fits(member.config)
        self.tokenizer = tokenizer
        self.compute_dtype = compute_dtype
        self.generation_options = generation_options  # decoding defaults (generation_config.json)
        self.card: str | None = None  # model card text kept from the loaded repo
        self.shortlist: Shortlist | None = None  # lexical shortlist (shortlist.safetensors), for options.shortlist
        self.save_dtype: torch.dtype | None = None  # e.g. torch.float16 to halve the folder size
        if device is not None:
            self.to(device)

    @property
    def compute_dtype(self) -> torch.dtype | None:
        """None (float32), the dtype decoding autocasts matrix products to (e.g. torch.bfloat16), or torch.int8:
        CPU decoding with int8 copies of the encoder's and decoder's matrices, made once when it is set."""
        return self._compute_dtype

    @compute_dtype.setter
    def compute_dtype(self, value: str | torch.dtype | None) -> None:
        names = {
            "float32": None,
            "fp32": None,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
            "float16": torch.float16,
            "fp16": torch.float16,
            "int8": torch.int8,
        }
        if isinstance(value, str):
            if value not in names:
                raise ValueError(f"compute_dtype must be one of {sorted(names)}, got {value!r}")
            value = names[value]
        if value not in (None, torch.float32, torch.bfloat16, torch.float16, torch.int8):
            raise ValueError(f"compute_dtype must be float32, bfloat16, float16 or int8, got {value!r}")
        if value == torch.int8:
            check_int8_device(self.device)
            for member in self.members:  # quantized here, once (again when set again: the weights may have changed)
                member.quantize_int8()
        self._compute_dtype = None if value == torch.float32 else value

    def _decoding_context(self) -> AbstractContextManager:
        """What decoding runs inside: `int8_decoding()`, or autocast to `compute_dtype` (off for float32)."""
        if self.compute_dtype == torch.int8:
            check_int8_device(self.device)
            return int8_decoding()
        dtype = self.compute_dtype
        return torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    @property
    def generation_options(self) -> DecodingOptions:
        """The decoding defaults `translate` starts from; saved as generation_config.json."""
        return self._generation_options

    @generation_options.setter
    def generation_options(self, value: DecodingOptions | None) -> None:
        if value is not None and not isinstance(value, DecodingOptions):
            raise TypeError(f"generation_options must be a DecodingOptions, got {type(value).__name__}")
        self._generation_options = value or DecodingOptions()

    @classmethod
    def ensemble(cls, translators: list[Translator]) -> Translator:
        """One translator decoding with all the models of `translators` at once (see `Ensemble`).

        They must share one tokenizer; the first one's decoding defaults and dtype are kept.
        """
        if not translators or not all(isinstance(t, Translator) for t in translators):
            raise TypeError("Translator.ensemble takes a non-empty list of Translators")
        first = translators[0]
        for i, other in enumerate(translators[1:], start=2):
            if not first.tokenizer.same_vocabularies(other.tokenizer):
                raise ValueError(
                    f"translator {i} has other vocabularies than translator 1: ensemble members must share one "
                    "tokenizer (train them with the same tokenizer files)"
                )
        members = [m for t in translators for m in t.members]
        return cls(
            Ensemble(members).to(first.device),
            first.tokenizer,
            compute_dtype=first.compute_dtype,
            generation_options=first.generation_options,
        )

    @property
    def members(self) -> list[Seq2SeqModel]:
        """The models that decode: one, or an ensemble's members."""
        return list(self.model.members) if isinstance(self.model, Ensemble) else [self.model]

    @property
    def config(self) -> Seq2SeqConfig:
        return self.model.config

    @property
    def device(self) -> torch.device:
        return self.model.device

    def to(self, device: str | torch.device) -> Translator:
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was requested but no CUDA GPU is available; use device='cpu'")
        self.model.to(device)
        return self

    # ------------------------------------------------------------------ loading and saving
    _hub_load_options = ("compute_dtype",)
    _hub_needs_tokenizer = True

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        compute_dtype: str | torch.dtype | None = None,
        **kwargs,
    ) -> Translator:
        """Load from a local folder or a Hub repo id (revision=, cache_dir=, token=, force_download=,
        local_files_only=, device=): config, safetensors weights, tokenizer, decoding defaults
        (generation_config.json, when present) and card; an ensemble folder loads every member.

        compute_dtype='bfloat16' autocasts decoding's matrix products (faster on CPUs with bf16 units);
        'int8' quantizes the encoder's and decoder's matrices once, here, for faster CPU decoding.
        """
        return super().from_pretrained(pretrained_model_name_or_path, compute_dtype=compute_dtype, **kwargs)

    @classmethod
    def _from_repo(
        cls, files: RepoFiles, config: Any, *, device: str | torch.device, compute_dtype: Any = None
    ) -> Translator:
        """`from_pretrained`'s last step (see `hub.StrictHubMixin`): `config` is config.json's parsed content."""
        tokenizer = Seq2SeqTokenizer.from_files(files.tokenizer, files.target_tokenizer)
        configs = [load_config(member.config) for member in files.members] or [config_from_json(config)]
        for member_config in configs:
            tokenizer.check_fits(member_config)  # before the models are built
        if files.members:
            check_members(configs)
            model = Ensemble([Seq2SeqModel.from_files(member, c) for member, c in zip(files.members, configs)])
        else:
            model = Seq2SeqModel.from_files(files, configs[0])
        translator = cls(
            model,
            tokenizer,
            compute_dtype=compute_dtype,
            generation_options=DecodingOptions.load(files.generation_config),
        )
        translator.to(device)
        if files.card is not None:
            translator.card = Path(files.card).read_text(encoding="utf-8")
        if files.shortlist is not None:
            config = configs[0]
            translator.shortlist = Shortlist.load(files.shortlist, config.src_vocab_size, config.tgt_vocab_size)
        return translator

    def _save_pretrained(self, save_directory: Path) -> None:
        """Write config.json, model.safetensors, tokenizer file(s), generation_config.json and README.md."""
        save_directory = Path(save_directory)
        if isinstance(self.model, Ensemble):  # config.json lists the members; each has its own subfolder
            names = [f"member-{i}" for i in range(1, len(self.members) + 1)]
            write_ensemble_config(save_directory, names)
            for name, member in zip(names, self.members):
                write_config(member.config, save_directory / name)
                save_weights(member.state_dict(), save_directory / name, dtype=self.save_dtype)
        else:
            write_config(self.config, save_directory)
            save_weights(self.model.state_dict(), save_directory, dtype=self.save_dtype)
        self.tokenizer.save(save_directory)
        self.generation_options.save(save_directory)
        if self.shortlist is not None:
            self.shortlist.save(save_directory)
        card = self.card or render_model_card(
            self.config, num_parameters=self.model.num_parameters(), ensemble_size=len(self.members)
        )
        atomic_write_text(save_directory / CARD_FILE, card)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        commit_message: str | None = None,
        token: str | None = None,
        **kwargs,
    ) -> str:
        """Create (if needed) and upload the model repo: config, weights, tokenizer and card."""
        return super().push_to_hub(
            repo_id,
            private=private,
            commit_message=commit_message or "Upload seq2seq-hub model",
            token=token,
            **kwargs,
        )

    # ------------------------------------------------------------------ translation
    def translate(
        self,
        texts: str | list[str],
        options: DecodingOptions | None = None,
        *,
        prefix: str | list[str] | None = None,
        batch_size: int = 64,
        **overrides: Any,
    ) -> list[Hypothesis]:
        """Translate one string or a list of strings; returns one `Hypothesis` per input.

        options: a `DecodingOptions` (default: this model's `generation_options`); keyword overrides
        replace single fields of it: strategy ('greedy' | 'beam' | 'sample'), beam_size (num_beams),
        length_penalty, max_length, min_length, num_return_sequences, temperature, top_k, top_p, seed.
        prefix: the translation must start with this text. batch_size: sentences decoded at once; a sentence's
        result does not depend on it, nor on the other sentences (in float32 and int8; bf16 rounds by batch).
        Sampling with a seed draws each sentence from its own stream seeded with it.
        """
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"texts must be a string or a list of strings, got {describe(texts)}")
        if options is not None and not isinstance(options, DecodingOptions):
            raise TypeError(f"options must be a DecodingOptions, got {type(options).__name__}")
        options = (options or self.generation_options).merged(**overrides)
        options.check_for_model(self.config.max_target_length, self.config.tgt_vocab_size)
        problem = number_problem("batch_size", batch_size, 1, MAX_BATCH_SIZE, integer=True)
        if problem:
            raise ValueError(problem)
        prefixes = self._prefix_ids(prefix, len(texts))

        char_limit = self.config.max_source_length * CHARS_PER_TOKEN_LIMIT
        encoded = self.tokenizer.encode_source(
            [t[:char_limit] for t in texts], max_length=self.config.max_source_length
        )
        results: list[Hypothesis | None] = [None] * len(texts)
        todo = []
        for i, (text, enc) in enumerate(zip(texts, encoded)):
            enc.truncated = enc.truncated or len(text) > char_limit
            if not text.strip() and not prefixes[i]:
                results[i] = Hypothesis(text="", score=0.0, src_tokens=self.tokenizer.source_tokens(enc.ids))
                results[i].nbest = [results[i]]
            else:
                todo.append(i)
        todo.sort(key=lambda i: len(encoded[i].ids))  # similar lengths per batch: little padding
        shortlist = self._shortlist_for(options)
        seeded = options.search == "sample" and options.seed is not None
        generator = None
        for start in range(0, len(todo), 1 if seeded else batch_size):  # a seeded sample: one sentence per draw
            chunk = todo[start : start + (1 if seeded else batch_size)]
            if seeded:  # each sentence draws from its own stream: the same alone or with others
                generator = torch.Generator(device=self.device).manual_seed(options.seed)
            with self._decoding_context():
                sources, chunk_prefixes = [encoded[i].ids for i in chunk], [prefixes[i] for i in chunk]
                nbests = decode_ids(self.model, sources, chunk_prefixes, options, generator, shortlist)
            for i, raw_list in zip(chunk, nbests):
                hyps = [self._to_hypothesis(raw, encoded[i].ids, encoded[i].truncated) for raw in raw_list]
                hyps[0].nbest = hyps
                results[i] = hyps[0]
        return results  # type: ignore[return-value]

    def _shortlist_for(self, options: DecodingOptions) -> Shortlist | None:
        """The shortlist `options` asks for, or None; a model without one cannot honour `shortlist=True`."""
        if not options.shortlist:
            return None
        if self.shortlist is None:
            raise ValueError(
                "shortlist=True, but this model has no shortlist.safetensors: build one with "
                "`seq2seq-hub shortlist --model FOLDER --src TRAIN_SOURCES --tgt TRAIN_TARGETS`"
            )
        return self.shortlist

    @torch.inference_mode()
    def score(self, sources: list[str], targets: list[str], batch_size: int = 64) -> tuple[float, int]:
        """Teacher-forced summed negative log-likelihood of `targets` given `sources`, and its token count.

        Perplexity is exp(nll / tokens) (see `metrics.perplexity`).
        """
        if len(sources) != len(targets):
            raise ValueError(f"got {len(sources)} sources for {len(targets)} targets")
        cfg = self.config
        src = self.tokenizer.encode_source(sources, max_length=cfg.max_source_length)
        tgt = self.tokenizer.encode_target(targets, max_length=cfg.max_target_length)
        self.model.eval()
        total, tokens = 0.0, 0
        order = sorted(range(len(tgt)), key=lambda i: len(tgt[i].ids))  # similar lengths per batch
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = collate([src[i].ids for i in idx], [tgt[i].ids for i in idx], cfg.pad_token_id, cfg.bos_token_id)
            batch = batch.to(self.device)
            out = self.model(batch.src, batch.src_lengths, batch.tgt_in, labels=batch.labels)
            total += float(out.loss) * out.num_tokens
            tokens += out.num_tokens
        return total, tokens

    def _prefix_ids(self, prefix: str | list[str] | None, count: int) -> list[list[int]]:
        if prefix is None:
            return [[] for _ in range(count)]
        if isinstance(prefix, str):
            prefix = [prefix] * count
        if not isinstance(prefix, (list, tuple)) or len(prefix) != count or not all(isinstance(p, str) for p in prefix):
            raise ValueError(f"prefix must be a string or a list of {count} strings, got {describe(prefix)}")
        limit = self.config.max_target_length - 1
        out = []
        for p in prefix:
            ids = self.tokenizer.encode_prefix(p[: limit * CHARS_PER_TOKEN_LIMIT])
            if len(ids) > limit:
                raise ValueError(f"prefix is too long: {len(ids)} tokens, the model allows {limit}")
            out.append(ids)
        return out

    def _to_hypothesis(self, raw: RawHypothesis, src_ids: list[int], truncated: bool) -> Hypothesis:
        attention = [] if raw.attention is None else raw.attention[:, : len(src_ids)].tolist()
        tokens, src_tokens = self.tokenizer.target_tokens(raw.ids), self.tokenizer.source_tokens(src_ids)
        return Hypothesis(
            text=self.tokenizer.decode(raw.ids),
            score=float(raw.score),
            tokens=tokens,
            token_probs=[math.exp(lp) for lp in raw.log_probs],
            src_tokens=src_tokens,
            attention=attention,
            truncated=truncated,
            log_prob=float(sum(raw.log_probs)),
        )
