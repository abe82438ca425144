"""`auto` CPU precision: bf16 where the CPU computes it natively (AVX512-BF16, AMX), fp32 where it is emulated, in
prompting (`models.<name>.cpu_dtype`) and fine-tuning (`finetune.cpu_autocast`) alike, and recorded as it ran."""
from dataclasses import replace

import pytest
import torch

from stages.lib import cpu
from stages.lib.backends import local as local_lm
from stages.lib.finetuning.fingerprint import fingerprint
from stages.lib.finetuning.model import autocast
from tests.test_finetuning import CFG, TRAIN, VAL

NATIVE = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n" * 2
EMULATED = "processor\t: 0\nmodel name\t: Old\nflags\t\t: fpu sse avx2\n"


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    """Point `auto` at a CPU of the test's choosing."""
    def use(text):
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        monkeypatch.setattr(cpu, "CPUINFO", path)
    return use


def test_auto_resolves_by_the_cpu_flags_and_an_explicit_setting_is_kept():
    native, emulated, amx = cpu.flags(NATIVE), cpu.flags(EMULATED), {"amx_bf16", "avx512_bf16"}
    assert native == {"fpu", "avx2", "avx512f", "avx512_bf16"} and cpu.bf16_kernels(amx) == "AMX"
    assert [cpu.cpu_dtype("auto", f) for f in (native, amx, emulated, set())] == \
        ["bfloat16", "bfloat16", "float32", "float32"]  # no flags to read (not Linux): fp32
    assert cpu.cpu_dtype("bfloat16", emulated) == "bfloat16" and cpu.cpu_dtype("float32", native) == "float32"
    assert [cpu.cpu_autocast(s, emulated) for s in ("auto", True, False)] == [False, True, False]
    assert [cpu.cpu_autocast(s, native) for s in ("auto", True, False)] == [True, True, False]


def test_a_missing_cpuinfo_counts_as_emulated(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu, "CPUINFO", tmp_path / "absent")
    assert cpu.flags() == set() and cpu.cpu_dtype("auto") == "float32"


@pytest.mark.parametrize("text, dtype", [(NATIVE, torch.bfloat16), (EMULATED, torch.float32)],
                         ids=["native", "emulated"])
def test_auto_loads_the_prompted_model_in_the_cpus_dtype_and_the_meta_says_which(tiny_model_dir, cpuinfo, text,
                                                                                  dtype):
    cpuinfo(text)
    model, _ = local_lm.load(str(tiny_model_dir), cpu_dtype="auto")
    assert next(model.parameters()).dtype == dtype
    assert local_lm.precision_info(model, None) == {"base_precision": str(dtype).removeprefix("torch.")}


def test_auto_autocast_trains_in_bf16_only_where_it_is_native_and_keys_the_checkpoint_cache_so(cpuinfo, tmp_path):
    """The run's meta records `autocast(...)`; the resume cache's key holds what `auto` resolved to, so a cache
    shared by two kinds of CPU never resumes a bf16 run in fp32 (or the other way), and `auto` on a native CPU
    resumes what an explicit `true` left."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    auto = replace(CFG, cpu_autocast="auto")
    cpuinfo(NATIVE)
    assert autocast(auto, "cpu") == "bfloat16" and autocast(replace(auto, quantize_4bit=True), "cpu") is None
    on_native = fingerprint(auto, TRAIN, VAL, str(base), seed=0)
    assert on_native == fingerprint(replace(CFG, cpu_autocast=True), TRAIN, VAL, str(base), seed=0)
    cpuinfo(EMULATED)
    assert autocast(auto, "cpu") is None
    assert fingerprint(auto, TRAIN, VAL, str(base), seed=0) == fingerprint(CFG, TRAIN, VAL, str(base), seed=0) \
        != on_native
