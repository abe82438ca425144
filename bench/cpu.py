"""Which kernels this CPU's bf16 matmuls run on. bf16 results are bit for bit only on the same kernels: oneDNN
takes AMX where the CPU has it, AVX512-BF16 where it has that, and the two round differently (README, "Bit for
bit on which CPU"). `ONEDNN_MAX_CPU_ISA` and `MKL_ENABLE_INSTRUCTIONS` cap what oneDNN and MKL may use."""
from __future__ import annotations

import os
import platform

from stages.lib.cpu import CPUINFO, bf16_kernels, flags

CAPS = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def describe(cpuinfo: str | None = None, env: dict | None = None) -> str:
    """One line: the CPU's name, the bf16 kernels it has, and any cap on them set in the environment."""
    if cpuinfo is None:
        cpuinfo = CPUINFO.read_text() if CPUINFO.exists() else ""
    fields = dict(line.split(":", 1) for line in cpuinfo.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}  # the last processor's; they are alike
    name = fields.get("model name") or platform.processor() or "unknown CPU"
    env = os.environ if env is None else env
    caps = ", ".join(f"{k}={env[k]}" for k in CAPS if env.get(k))
    return f"cpu: {name}, native bf16: {bf16_kernels(flags(cpuinfo))}" + (
        f" (capped: {caps})" if caps else "")
