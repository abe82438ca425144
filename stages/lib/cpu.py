"""Whether this CPU computes in bf16 natively, which is what the `auto` CPU precisions (`models.<name>.cpu_dtype`,
`finetune.cpu_autocast`) decide by.

oneDNN runs bf16 matmuls on AMX where the CPU has it and on AVX512-BF16 where it has that; elsewhere bf16 is
emulated, at 0.14-0.59x fp32's prompting speed on the CPUs measured (README "Precision"). The flags are Linux's
(`/proc/cpuinfo`); where they cannot be read, bf16 counts as emulated and `auto` runs in fp32."""
from __future__ import annotations

from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags (the last processor's; they are alike)."""
    if cpuinfo is None:
        cpuinfo = CPUINFO.read_text() if CPUINFO.exists() else ""
    lines = [line.split(":", 1)[1] for line in cpuinfo.splitlines() if line.split(":", 1)[0].strip() == "flags"]
    return set(lines[-1].split()) if lines else set()


def bf16_kernels(cpu_flags: set[str]) -> str:
    if "amx_bf16" in cpu_flags:
        return "AMX"
    if "avx512_bf16" in cpu_flags:
        return "AVX512-BF16"
    return "none (emulated)"


def native_bf16(cpu_flags: set[str] | None = None) -> bool:
    return bf16_kernels(flags() if cpu_flags is None else cpu_flags) != "none (emulated)"


def cpu_dtype(setting: str, cpu_flags: set[str] | None = None) -> str:
    """`float32` or `bfloat16`: the setting itself, or for `auto` bf16 where it is native and fp32 elsewhere."""
    if setting != "auto":
        return setting
    return "bfloat16" if native_bf16(cpu_flags) else "float32"


def cpu_autocast(setting: bool | str, cpu_flags: set[str] | None = None) -> bool:
    """`true`, `false`, or for `auto` whether bf16 is native."""
    return native_bf16(cpu_flags) if setting == "auto" else bool(setting)
