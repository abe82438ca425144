"""The benchmarks run, here, through the code paths they measure (timings are printed, never asserted)."""
import subprocess
import sys

from tests.conftest import ROOT


def bench(*args):
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_gpu_check_reports_every_cuda_row_skipped_without_cuda():
    out = bench("bench.gpu_check")
    assert out.count("skipped: no CUDA") == 4


def test_gpu_check_code_paths_run_on_a_cpu():
    """The GPU machine has no network: the model is built from the shipped tokenizer and config alone."""
    out = bench("bench.gpu_check", "--device", "cpu", "--layers", "2", "--n", "8", "--steps", "2")
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert {"decoder fp32", "decoder bf16", "QLoRA training steps", "vLLM"} <= set(rows)
    assert "same labels as fp32" in rows["decoder bf16"] and "4-bit NF4" in rows["QLoRA training steps"]


def test_scale_bench_prints_every_step_with_its_growth():
    out = bench("bench.scale", "--sizes", "200", "400")
    for step in ("ingest + split + task", "tfidf fit + predict", "knn selection", "evaluate"):
        assert f"| {step}" in out
    assert "growth 200→400" in out and "peak MB at 400" in out
