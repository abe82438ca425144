"""The benchmarks run, here, through the code paths they measure (timings are printed, never asserted)."""
import subprocess
import sys

from tests.conftest import ROOT


def bench(*args, out="-"):
    """`python -m bench` as a user runs it; `out`: where it writes its file ('-': nowhere)."""
    proc = subprocess.run([sys.executable, "-m", "bench", "--out", str(out), *args], cwd=ROOT, capture_output=True,
                          text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_gpu_check_reports_every_cuda_row_skipped_without_cuda():
    out = bench("gpu_check")
    assert out.count("skipped: no CUDA") == 4


def test_gpu_check_code_paths_run_on_a_cpu():
    """The GPU machine has no network: the model is built from the shipped tokenizer and config alone."""
    out = bench("gpu_check", "--device", "cpu", "--layers", "2", "--n", "8", "--steps", "2")
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert {"decoder fp32", "decoder bf16", "QLoRA training steps", "vLLM"} <= set(rows)
    assert "same labels as fp32" in rows["decoder bf16"] and "4-bit NF4" in rows["QLoRA training steps"]


def test_scale_bench_prints_every_step_with_its_growth_and_writes_what_it_printed(tmp_path):
    out = bench("scale", "--sizes", "200", "400", out=tmp_path)
    for step in ("ingest + split + task", "tfidf fit + predict", "knn selection", "evaluate"):
        assert f"| {step}" in out
    assert "growth 200→400" in out and "peak MB at 400" in out
    written = (tmp_path / "scale.md").read_text()  # the command, the machine, and the table as printed
    assert "Written by `python -m bench scale --sizes 200 400`" in written and "Machine: cpu: " in written
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert table and all(line in written for line in table)


def test_every_bench_is_one_subcommand_of_one_parser():
    from bench.__main__ import BENCHES, parser

    ap = parser()
    for name in BENCHES:
        assert ap.parse_args([name]).name == name
    assert not [p for p in (ROOT / "bench").glob("*.py") if "def main(" in p.read_text() and p.stem != "__main__"]


def test_profile_times_each_stage_of_one_plain_repro_and_counts_the_skipped(tmp_path):
    """`bench.profile` reads a real `dvc repro`'s output as it comes: every stage that ran gets a time, and a
    second repro reports them all as skipped; a stage of a pipeline file below the root (as the scoring stages'
    are) is named by its file, and `short` drops it for grouping."""
    from bench.profile import repro_times, short

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=tmp_path, check=True)
    write = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        f"  first:\n    cmd: python -c \"{write}\" a.txt 1\n    outs: [a.txt]\n"
        f"  second:\n    foreach: [x, y]\n    do:\n      cmd: python -c \"{write}\" ${{item}}.txt 2\n"
        "      deps: [a.txt]\n      outs: [\"${item}.txt\"]\n"
        f"  last:\n    cmd: python -c \"{write}\" d.txt 4\n    deps: [c.txt]\n    outs: [d.txt]\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/dvc.yaml").write_text(
        f"stages:\n  third:\n    wdir: ..\n    cmd: python -c \"{write}\" c.txt 3\n    deps: [x.txt]\n"
        "    outs: [c.txt]\n")
    names = {"first", "second@x", "second@y", "sub/dvc.yaml:third", "last"}  # `last` pulls `third` in
    wall, skipped = repro_times(tmp_path)
    assert set(wall) == names and not skipped and (tmp_path / "c.txt").read_text() == "3"
    assert all(s >= 0 for s in wall.values()) and short("sub/dvc.yaml:third") == "third"
    wall, skipped = repro_times(tmp_path)
    assert not wall and set(skipped) == names



def test_inference_bench_counts_the_tokens_the_constrained_decoder_runs(tiny_lm):
    """What `bench.inference` splits the decoder's time by: each batch's first forward runs the rows' own tokens
    (the text in its chat turn, then the JSON opening), the later ones the answer's, all right-padded."""
    from bench.inference import counting_feeds, token_cap
    from stages.lib.backends.local import split_chat

    texts = ["A worker fell from a ladder.", "A hand was caught in a press and crushed badly.", "Burn."]
    fields, labels = ["A", "B"], {"A": ["Falls", "Caught in"], "B": ["Fracture", "Crushing injuries", "Burns"]}
    with counting_feeds(tiny_lm) as counts:
        out = tiny_lm.classify("Classify.", texts, fields, labels)
    prefix = len(tiny_lm.encode(split_chat(tiny_lm.tokenizer, "Classify.")[0]))
    opening = len(tiny_lm.encode('{"A": "'))
    own = [o["input_tokens"] - prefix + opening for o in out]  # classify counts the prefix and not the opening
    assert tiny_lm.batch_size >= len(texts) and counts["first"] == sum(own)  # one batch: one first forward
    assert counts["padded"] >= len(own) * max(own) - sum(own) > 0
    assert 0 < counts["answer"] < sum(o["output_tokens"] for o in out)  # the last choice's tokens never run
    assert "_feed" not in vars(tiny_lm) and "_classify_batch" not in vars(tiny_lm)  # the wrappers are gone
    # the texts alone are fewer tokens than the decoder runs (chat turn, JSON opening, answer): the bound is below 1
    text = sum(len(tiny_lm.encode(t)) for t in texts)
    assert token_cap(text, counts) == text / (counts["first"] + counts["answer"]) < 1
    # one shape per forward on the shared prefix, each at the prefix's length; the first is the whole batch
    n_feeds = len(counts["shapes"])
    assert n_feeds >= 2 and all(p == prefix for _, _, p in counts["shapes"])
    assert counts["shapes"][0] == (len(texts), max(own), prefix)


def test_prefix_attention_is_timed_at_the_shapes_the_decoder_ran(tiny_lm, monkeypatch):
    """The bound's attention part replays the prefix part of attention, every layer, on the model's heads: one
    query per head group, row and position, against the prefix's keys."""
    from bench import inference
    from stages.lib.backends import shared_prefix

    cfg, calls = tiny_lm.model.config, []
    real = shared_prefix._flash

    def spy(query, key, value, **kw):
        calls.append((tuple(query.shape), tuple(key.shape), query.dtype))
        return real(query, key, value, **kw)

    monkeypatch.setattr(shared_prefix, "_flash", spy)
    assert inference.prefix_attention_seconds(tiny_lm, []) == 0.0
    assert inference.prefix_attention_seconds(tiny_lm, [(3, 5, 7), (2, 1, 7)]) > 0
    kv, dim = cfg.num_key_value_heads, getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    groups = cfg.num_attention_heads // kv
    dtype = next(tiny_lm.model.parameters()).dtype
    assert calls == ([((1, kv, 3 * groups * 5, dim), (1, kv, 7, dim), dtype)] * cfg.num_hidden_layers
                     + [((1, kv, 2 * groups * 1, dim), (1, kv, 7, dim), dtype)] * cfg.num_hidden_layers)


def test_cpu_line_names_the_bf16_kernels_and_any_cap_on_them():
    """bf16 results are bit for bit only on the same kernels, so the profile and precision benches say which."""
    from bench.cpu import describe

    amx = "model name\t: Xeon X\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n"
    assert describe(amx, env={}) == "cpu: Xeon X, native bf16: AMX"
    assert describe(amx.replace(" amx_bf16 amx_tile", ""), env={}).endswith("native bf16: AVX512-BF16")
    assert describe("model name: Old\nflags: fpu avx2\n", env={}).endswith("native bf16: none (emulated)")
    capped = describe(amx, env={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16", "MKL_ENABLE_INSTRUCTIONS": "AVX512"})
    assert capped.endswith("(capped: ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16, MKL_ENABLE_INSTRUCTIONS=AVX512)")


def test_profile_lists_every_changed_metrics_file_with_its_accuracy():
    from bench.profile import changed_lines

    changed = {"metrics/eval/b.json": {"macro_f1": {"old": 0.0281, "new": 0.0315, "diff": 0.0034}},
               "metrics/eval/a.json": {"f1": {"old": 0.1, "new": 0.2, "diff": 0.1},
                                       "accuracy": {"old": 0.12389, "new": 0.11681, "diff": -0.00708}}}
    assert changed_lines(changed) == ["  metrics/eval/a.json: accuracy 0.1239 -> 0.1168 (and 1 more keys)",
                                      "  metrics/eval/b.json: macro_f1 0.0281 -> 0.0315"]


def test_fairness_scores_the_majority_answerer_as_the_pipeline_scores_and_pairs_each_arm_with_tfidf(
        tmp_path, monkeypatch):
    import json

    from bench.fairness import majority_macro_f1, paired, verdict
    from stages.lib.config import load_params

    params = load_params(ROOT / "params.yaml")
    monkeypatch.chdir(tmp_path)
    task = tmp_path / "data/tasks/t"
    task.mkdir(parents=True)
    train = [{"id": str(i), "text": "x", "labels": {"y": "a" if i < 6 else "b"}} for i in range(8)]
    test = [{"id": f"t{i}", "text": "x", "labels": {"y": "a" if i < 2 else "b"}} for i in range(4)]
    for name, rows in (("train", train), ("test", test)):
        (task / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # "a" answered for every row: F1 of a = 2/3, of b = 0; macro over the classes true or predicted
    assert majority_macro_f1("t", params) == 1 / 3
    arm = {"ids": ["1", "2", "3", "4"], "correct": "1110"}
    tfidf = {"ids": ["1", "2", "3", "4"], "correct": "0000"}
    line = verdict(paired(arm, tfidf, params), 0.5)
    assert line.startswith("+75.0 (") and "p=0.25, Holm p=0.5" in line
