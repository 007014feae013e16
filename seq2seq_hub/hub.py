"""hub.py: the model repo format at the edge: resolve a local folder or Hub repo id to files, load
config and weights strictly and safely (safetensors only, checked before allocating), save weights
atomically, and render the model card.

The only module (with `translator.py`) that talks to `huggingface_hub`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import Seq2SeqConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
MAX_HEADER_BYTES = 50_000_000
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


@dataclass
class RepoFiles:
    """Local paths of a model repo's files (downloaded into the cache for Hub ids)."""

    origin: str  # what the user asked for (folder or repo id)
    config: Path
    weights: Path
    tokenizer: Path | None = None
    target_tokenizer: Path | None = None
    card: Path | None = None


def _refuse_pickles(origin: str, names: list[str]) -> None:
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
    detail = f" (found {', '.join(pickles)})" if pickles else ""
    raise ValueError(
        f"{origin} has no {WEIGHTS_FILE}{detail}: seq2seq-hub reads weights only from safetensors, "
        "because unpickling .bin/.pt files can run arbitrary code"
    )


def resolve_repo(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    need_tokenizer: bool = True,
) -> RepoFiles:
    """Find config, weights, tokenizer file(s) and card of a local folder or a Hub repo id."""
    from .tokenizer import TARGET_TOKENIZER_FILE, TOKENIZER_FILE

    origin = str(name_or_path)
    path = Path(origin).expanduser()
    if path.is_dir():
        names = os.listdir(path)
        if WEIGHTS_FILE not in names and any(n.endswith(PICKLE_SUFFIXES) for n in names):
            _refuse_pickles(origin, names)  # say why the pickle is not read before anything else
        if CONFIG_FILE not in names:
            raise FileNotFoundError(
                f"{origin} has no {CONFIG_FILE}; a model folder holds {CONFIG_FILE}, {WEIGHTS_FILE} "
                f"and {TOKENIZER_FILE}"
            )
        if WEIGHTS_FILE not in names:
            _refuse_pickles(origin, names)
        tokenizer = path / TOKENIZER_FILE if TOKENIZER_FILE in names else None
        if need_tokenizer and tokenizer is None:
            raise FileNotFoundError(f"{origin} has no {TOKENIZER_FILE}")
        return RepoFiles(
            origin=origin,
            config=path / CONFIG_FILE,
            weights=path / WEIGHTS_FILE,
            tokenizer=tokenizer,
            target_tokenizer=path / TARGET_TOKENIZER_FILE if TARGET_TOKENIZER_FILE in names else None,
            card=path / CARD_FILE if CARD_FILE in names else None,
        )
    if path.exists() or not REPO_ID.match(origin) or origin.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model folder not found: {origin} (nor is it a Hub repo id like 'org/name')")

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    def download(filename: str, optional: bool = False) -> Path | None:
        try:
            return Path(
                hf_hub_download(
                    repo_id=origin,
                    filename=filename,
                    revision=revision,
                    cache_dir=cache_dir,
                    token=token,
                    force_download=force_download,
                    local_files_only=local_files_only,
                )
            )
        except (LocalEntryNotFoundError, OfflineModeIsEnabled):
            if optional:
                return None
            raise ConnectionError(
                f"cannot get {filename} of Hub repo '{origin}': it is not a local folder, not in the "
                "local cache, and the Hub cannot be reached (offline?)"
            ) from None
        except GatedRepoError:
            raise PermissionError(f"Hub repo '{origin}' is gated: accept its terms and pass a token") from None
        except RepositoryNotFoundError:
            raise FileNotFoundError(
                f"'{origin}' is neither a local folder nor a Hub model repo you can access"
            ) from None
        except RevisionNotFoundError:
            raise FileNotFoundError(f"Hub repo '{origin}' has no revision {revision!r}") from None
        except EntryNotFoundError:
            if optional:
                return None
            raise
        except HfHubHTTPError as err:
            raise ConnectionError(f"downloading {filename} of '{origin}' failed: {_first_line(err)}") from None

    try:
        config = download(CONFIG_FILE)
    except EntryNotFoundError:
        raise FileNotFoundError(f"Hub repo '{origin}' has no {CONFIG_FILE}") from None
    try:
        weights = download(WEIGHTS_FILE)
    except EntryNotFoundError:
        _refuse_pickles(f"Hub repo '{origin}'", [])
    tokenizer = download(TOKENIZER_FILE, optional=not need_tokenizer)
    if need_tokenizer and tokenizer is None:
        raise FileNotFoundError(f"Hub repo '{origin}' has no {TOKENIZER_FILE}")
    return RepoFiles(
        origin=origin,
        config=config,
        weights=weights,
        tokenizer=tokenizer,
        target_tokenizer=download(TARGET_TOKENIZER_FILE, optional=True),
        card=download(CARD_FILE, optional=True),
    )


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


# ---------------------------------------------------------------------- config
def load_config(path: Path) -> Seq2SeqConfig:
    """Read and validate config.json; unknown keys and bad values are refused with the file named."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{CONFIG_FILE} is not readable JSON: {_first_line(err)}") from None
    return Seq2SeqConfig.from_dict(data, source=CONFIG_FILE)


# ---------------------------------------------------------------------- weights
def read_safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Names -> (dtype, shape) from a safetensors header, checking the file is complete."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise ValueError("the file is shorter than a safetensors header")
            header_len = int.from_bytes(prefix, "little")
            if header_len > min(MAX_HEADER_BYTES, size - 8):
                raise ValueError("its header length points past the end of the file (truncated or not safetensors)")
            header = json.loads(f.read(header_len))
            if not isinstance(header, dict):
                raise ValueError("its header is not a JSON object")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path.name} is not a valid safetensors file: {_first_line(err)}") from None
    except ValueError as err:
        raise ValueError(f"{path.name} is not a valid safetensors file: {err}") from None
    data_size = size - 8 - header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            start, end = info["data_offsets"]
            dtype, shape = info["dtype"], tuple(int(d) for d in info["shape"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path.name} is not a valid safetensors file: bad entry for {name!r}") from None
        if end > data_size:
            raise ValueError(f"{path.name} is truncated: tensor {name!r} ends past the end of the file")
        out[name] = (dtype, shape)
    return out


def expected_shapes(config: Seq2SeqConfig) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of a model with this config, without allocating its memory."""
    from .model import Seq2SeqModel

    with torch.device("meta"):
        model = Seq2SeqModel(config)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def check_weights(path: Path, config: Seq2SeqConfig) -> None:
    """Refuse a weights file whose tensors do not match the config, naming file and tensors."""
    found = read_safetensors_header(path)
    expected = expected_shapes(config)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    mismatched = [
        f"{n} {list(found[n][1])} (config needs {list(expected[n])})"
        for n in sorted(set(found) & set(expected))
        if found[n][1] != expected[n]
    ]
    bad_dtype = sorted(n for n, (dtype, _) in found.items() if dtype not in ("F32", "F16", "BF16"))
    problems = []
    if missing:
        problems.append(f"missing tensors {missing[:5]}{'...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
    if mismatched:
        problems.append("shape mismatch: " + "; ".join(mismatched[:5]))
    if bad_dtype:
        problems.append(f"non-float tensors {bad_dtype[:5]}")
    if problems:
        raise ValueError(f"{path.name} does not match {CONFIG_FILE}: " + ", ".join(problems))


def load_model(files: RepoFiles, config: Seq2SeqConfig | None = None, device: str | torch.device = "cpu"):
    """Build and load a `Seq2SeqModel` strictly from config + safetensors; returns it in eval mode.

    `config`: the already loaded config.json of `files`, if the caller has it.
    """
    from safetensors.torch import load_file

    from .model import Seq2SeqModel

    config = config or load_config(files.config)
    check_weights(files.weights, config)
    model = Seq2SeqModel(config)
    try:
        state = load_file(str(files.weights), device="cpu")
    except Exception as err:  # safetensors' own parse errors
        raise ValueError(f"{files.weights.name} could not be read: {_first_line(err)}") from None
    reference = model.state_dict()
    state = {name: tensor.to(reference[name].dtype) for name, tensor in state.items()}
    model.load_state_dict(state, strict=True)
    model._hub_mixin_config = config
    return model.to(device).eval()


def save_weights(model, directory: Path, dtype: torch.dtype | None = None) -> Path:
    """Write model.safetensors atomically (write to a temp file, then rename)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    state = {
        name: (t.detach().to(dtype) if dtype is not None and t.is_floating_point() else t.detach()).cpu().contiguous()
        for name, t in model.state_dict().items()
    }
    target = directory / WEIGHTS_FILE
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".model-", suffix=".safetensors.tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata={"format": "pt"})
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def write_config(config: Seq2SeqConfig, directory: Path) -> Path:
    path = directory / CONFIG_FILE
    path.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------- model card
LANGUAGE_NAMES = {"de": "German", "en": "English", "fr": "French", "cs": "Czech"}


def render_model_card(
    config: Seq2SeqConfig,
    *,
    num_parameters: int,
    repo_id: str | None = None,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    datasets: list[str] | None = None,
    extra_sections: str = "",
) -> str:
    """A model card: YAML metadata (language, license, datasets, metrics, tags, pipeline_tag,
    library_name, model-index with the scores) and a usage snippet, scores and config."""
    from huggingface_hub import ModelCardData
    from huggingface_hub.repocard_data import EvalResult

    src, tgt = config.src_lang, config.tgt_lang
    metrics = metrics or {}
    name = repo_id or f"seq2seq-hub-{src}-{tgt}"
    eval_results = []
    for key, metric_type, metric_name in (("test_bleu", "bleu", "sacreBLEU"), ("test_chrf", "chrf", "chrF")):
        if key in metrics:
            eval_results.append(
                EvalResult(
                    task_type="translation",
                    dataset_type=metrics.get("test_dataset_type", "multi30k"),
                    dataset_name=metrics.get("test_dataset_name", "Multi30k test_2016_flickr"),
                    metric_type=metric_type,
                    metric_value=round(float(metrics[key]), 2),
                    metric_name=metric_name,
                )
            )
    data = ModelCardData(
        language=[src, tgt],
        license="mit",
        library_name="seq2seq-hub",
        pipeline_tag="translation",
        tags=["translation", "seq2seq", "rnn", config.cell, f"attention-{config.attention}", "seq2seq-hub"],
        datasets=datasets or [],
        metrics=["bleu", "chrf"],
        model_name=name if eval_results else None,
        eval_results=eval_results or None,
    )
    src_name, tgt_name = LANGUAGE_NAMES.get(src, src), LANGUAGE_NAMES.get(tgt, tgt)
    attention = {"bahdanau": "Bahdanau (additive)", "luong": f"Luong ({config.luong_score})", "none": "no"}[
        config.attention
    ]
    lines = [
        "---",
        data.to_yaml().strip(),
        "---",
        "",
        f"# {name}: {src_name} to {tgt_name}",
        "",
        f"A recurrent encoder-decoder ({'bidirectional ' if config.bidirectional else ''}{config.cell.upper()}, "
        f"{attention} attention, {num_parameters / 1e6:.1f}M parameters) trained with "
        "[seq2seq-hub](https://github.com/seq2seq-hub/seq2seq-hub).",
        "",
        "## Usage",
        "",
        "```python",
        "from seq2seq_hub import Translator",
        "",
        f'translator = Translator.from_pretrained("{repo_id or "path/to/this/folder"}")',
        'result = translator.translate(["Ein Mann fährt Fahrrad."], beam_size=5)[0]',
        "print(result.text, result.score)",
        "```",
        "",
        "or from the command line: `echo 'Ein Mann fährt Fahrrad.' | seq2seq-hub translate --model "
        f"{repo_id or 'path/to/this/folder'}`.",
        "",
    ]
    if metrics:
        lines += ["## Scores", "", "| metric | value | sacreBLEU signature |", "|---|---|---|"]
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not key.endswith("_signature"):
                signature = str(metrics.get(key + "_signature", "")).replace("|", "\\|")  # a '|' would end the cell
                lines.append(f"| {key} | {value:.2f} | {signature} |")
        lines.append("")
    if training:
        lines += ["## Training", ""]
        for key, value in training.items():
            if key == "config":
                continue
            lines.append(f"- **{key}**: {value}")
        lines.append("")
        if "config" in training:
            lines += ["Training configuration:", "", "```yaml", str(training["config"]).strip(), "```", ""]
    lines += [
        "## Model configuration",
        "",
        "```json",
        json.dumps(config.to_dict(), indent=2, sort_keys=True),
        "```",
        "",
    ]
    if extra_sections:
        lines += [extra_sections.strip(), ""]
    return "\n".join(lines)
