"""Training precision 'auto': bf16 autocast where the device multiplies bf16 natively, fp32 elsewhere;
explicit choices are kept; fp16 on a CPU is refused in one sentence."""

import pytest
import torch
from runhelpers import in_process_args, train_main

from seq2seq_hub.training.distributed import pick_device, resolve_precision
from seq2seq_hub.training.errors import TrainingError

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "avx512_bf16, amx, expected", [(True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")]
)
def test_auto_is_bf16_only_on_cpus_with_native_bf16_units(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert resolve_precision("auto", CPU) == expected
    assert pick_device("cpu", "auto", 0) == (CPU, expected)


def test_auto_is_fp32_when_torch_cannot_tell(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert resolve_precision("auto", CPU) == "fp32"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_an_explicit_precision_is_kept(precision):
    assert pick_device("cpu", precision, 0) == (CPU, precision)


def test_fp16_on_a_cpu_is_refused():
    with pytest.raises(TrainingError, match="precision 'fp16' needs a GPU"):
        pick_device("cpu", "fp16", 0)


@pytest.mark.parametrize("native_bf16", [True, False])
def test_a_run_with_auto_precision_says_what_it_chose(native_bf16, monkeypatch, tmp_path, capfd):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert train_main(in_process_args(tmp_path / "run", "--precision", "auto")) == 0
    log = capfd.readouterr().err
    assert ("bf16 autocast" in log) == native_bf16
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
