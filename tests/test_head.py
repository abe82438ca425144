"""Fine-tuning with a classification head on the tiny model: several fields on one trunk, class weights, resume,
and probabilities that are each field's softmax of the logits."""
import shutil
from dataclasses import replace

import pytest
import torch

from stages.lib.config import FinetuneHead
from stages.lib.finetuning.head import build_trainer, class_weights, head_loss, train
from stages.lib.head_layout import field_slices, layout
from stages.lib.methods.head_classifier import HeadClassifier, load
from tests.conftest import record

CFG = FinetuneHead(
    device="cpu", quantize_4bit=False, compute_dtype={"cpu": "float32"}, cpu_autocast=False, r=4, alpha=8, dropout=0.0,
    target_modules=["q_proj", "v_proj"], top_layers=1, cache_lower_layers_mb=None, learning_rate=1e-2,
    scheduler="constant", warmup_steps=0,
    epochs=2, batch_size=4, gradient_accumulation_steps=1, gradient_checkpointing=False, max_length=32,
    eval_strategy="epoch", eval_steps=None, logging_steps=1, patience=2, max_train_samples=None,
    max_val_samples=None, max_steps=None, min_steps=0, search={}, seeds=[0], checkpoint_dir=None,
    class_weight=None,
)
# imbalanced on purpose: 6 of 8 rows are Fractures/Leg
TRAIN = [record(i, f"report {i}: a worker {'fell from a ladder' if i < 6 else 'cut a hand on a blade'}",
                y="Fractures" if i < 6 else "Cuts", z="Leg" if i < 6 else "Hand") for i in range(8)]
VAL = [TRAIN[0], TRAIN[7]]
LABELS = {"y": ["Cuts", "Fractures"], "z": ["Hand", "Leg", "Arm"]}


def test_a_multi_field_head_trains_one_trunk_and_predicts_each_fields_softmax(tiny_model_dir, tmp_path):
    metrics = train(CFG, TRAIN, VAL, LABELS, str(tiny_model_dir), tmp_path / "adapter", tmp_path / "ckpt", seed=0)
    assert metrics["train_loss"] is not None and metrics["steps"] == 4 and metrics["trainable_parameters"] > 0
    model, tok, head = load(str(tiny_model_dir), tmp_path / "adapter")
    assert head["num_labels"] == 5 and model.score.out_features == 5  # one trunk, one block of outputs per field
    clf = HeadClassifier(model, tok, head, max_length=CFG.max_length, batch_size=3, fit_seconds=1.0, train_rows=8)
    preds = clf.fit(TRAIN, VAL).predict(TRAIN)
    assert [p["id"] for p in preds] == [r["id"] for r in TRAIN]
    for r, p in zip(TRAIN, preds, strict=True):  # each field's softmax, from the logits computed here, one text
        ids = torch.tensor([tok.encode(r["text"], add_special_tokens=False)[: CFG.max_length]])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].float()
        for f, part in field_slices(head).items():
            probs = torch.softmax(logits[part], -1)
            assert float(probs.sum()) == pytest.approx(1.0, abs=1e-6)
            assert p["pred"][f] == LABELS[f][int(probs.argmax())]
            assert p["confidence"][f] == pytest.approx(float(probs.max()), abs=1e-5)  # batched as one text
        assert p["output_tokens"] == 0 and p["input_tokens"] == ids.shape[1]


def test_balanced_class_weights_change_the_loss_and_count_training_rows_only(tiny_model_dir, tmp_path):
    head = layout(LABELS)
    weights = class_weights(TRAIN, head, "balanced")
    assert weights["y"].tolist() == pytest.approx([8 / (2 * 2), 8 / (2 * 6)])  # n / (k x count), on train
    assert weights["z"].tolist() == pytest.approx([8 / (2 * 2), 8 / (2 * 6), 1.0])  # Arm: absent, weight 1
    assert class_weights(TRAIN, head, None) is None
    trainer = build_trainer(CFG, TRAIN, VAL, LABELS, str(tiny_model_dir), str(tmp_path), seed=0)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(8)])
    with torch.no_grad():
        logits = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    plain = head_loss(logits, batch["labels"], head, None)
    weighted = head_loss(logits, batch["labels"], head, weights)
    by_hand = sum(torch.nn.functional.cross_entropy(logits[:, part].float(), batch["labels"][:, i])
                  for i, part in enumerate(field_slices(head).values()))
    assert float(plain) == pytest.approx(float(by_hand), rel=1e-5)  # the sum of the fields' cross-entropies
    assert float(weighted) != pytest.approx(float(plain), rel=1e-3)


def test_an_interrupted_head_run_resumes_from_its_checkpoint(tiny_model_dir, tmp_path):
    cfg = replace(CFG, max_steps=2, eval_strategy="steps", eval_steps=1)
    first = train(cfg, TRAIN, VAL, LABELS, str(tiny_model_dir), tmp_path / "a1", tmp_path / "ckpt", seed=0)
    assert not first["resumed"] and first["steps"] == 2
    [run] = list((tmp_path / "ckpt").iterdir())
    shutil.rmtree(run / "checkpoint-2")  # interrupted after the first checkpoint
    again = train(cfg, TRAIN, VAL, LABELS, str(tiny_model_dir), tmp_path / "a3", tmp_path / "ckpt", seed=0)
    assert again["resumed"] and again["steps"] == 2 and again["train_loss_steps"] == 1  # only the step left
    assert again["train_loss"] is not None and (tmp_path / "a3" / "head.json").exists()
    longer = replace(cfg, max_steps=3)  # another recipe: a fingerprint of its own, trained afresh
    assert not train(longer, TRAIN, VAL, LABELS, str(tiny_model_dir), tmp_path / "a2", tmp_path / "ckpt", 0)["resumed"]
    other_labels = {**LABELS, "z": ["Hand", "Leg"]}  # another label layout: never the old checkpoint
    assert not train(cfg, TRAIN, VAL, other_labels, str(tiny_model_dir), tmp_path / "a4", tmp_path / "ckpt",
                     0)["resumed"]


def test_without_validation_passes_a_head_run_still_checkpoints_each_epoch_and_resumes(tiny_model_dir, tmp_path):
    """eval_strategy no (the CPU default): no validation pass, but a checkpoint per epoch, so an interruption
    costs at most the epoch under way."""
    cfg = replace(CFG, eval_strategy="no")
    first = train(cfg, TRAIN, VAL, LABELS, str(tiny_model_dir), tmp_path / "a1", tmp_path / "ckpt", seed=0)
    [run] = list((tmp_path / "ckpt").iterdir())
    assert first["eval_losses"] == [] and sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-2",
                                                                                             "checkpoint-4"]
    shutil.rmtree(run / "checkpoint-4")  # interrupted during the second epoch
    again = train(cfg, TRAIN, VAL, LABELS, str(tiny_model_dir), tmp_path / "a2", tmp_path / "ckpt", seed=0)
    assert again["resumed"] and again["steps"] == 4 and again["train_loss_steps"] == 2


def test_the_same_seed_trains_the_same_head(tiny_model_dir, tmp_path):
    """The head and the LoRA weights are initialised before Trainer seeds: the recipe seeds them itself."""
    cfg = replace(CFG, max_steps=1, eval_strategy="no")
    a = train(cfg, TRAIN, VAL, LABELS, str(tiny_model_dir), tmp_path / "a", tmp_path / "ca", seed=3)
    b = train(cfg, TRAIN, VAL, LABELS, str(tiny_model_dir), tmp_path / "b", tmp_path / "cb", seed=3)
    assert a["train_loss"] == b["train_loss"]
    wa = (tmp_path / "a" / "adapter_model.safetensors").read_bytes()
    assert wa == (tmp_path / "b" / "adapter_model.safetensors").read_bytes()


def test_a_label_outside_the_label_space_is_ignored_by_the_loss_not_an_error():
    """A validation row may hold a class no training row has (multifield's val does): that field of that row adds
    no loss; its other fields still count."""
    from stages.lib.finetuning.head import label_indices

    head = layout(LABELS)
    rows = [record(0, "x", y="Cuts", z="Foot"), record(1, "y", y="Fractures", z="Leg")]
    assert label_indices(rows, head, "z") == [-100, 1]
    logits = torch.randn(2, head["num_labels"])
    labels = torch.tensor([[0, -100], [1, 1]])
    z = field_slices(head)["z"]
    expected = (torch.nn.functional.cross_entropy(logits[:, :2], labels[:, 0])
                + torch.nn.functional.cross_entropy(logits[1:, z], labels[1:, 1]))
    assert float(head_loss(logits, labels, head, None)) == pytest.approx(float(expected), rel=1e-6)


def test_cpu_autocast_trains_in_bf16_and_the_head_scores_as_it_trained(tiny_model_dir, tmp_path):
    """`cpu_autocast`: Trainer's bf16 autocast on the CPU (fp32 weights), recorded with the run, and the classifier
    computes its logits the same way: its probabilities are the softmax of bf16-autocast logits, not fp32 ones."""
    cfg = replace(CFG, cpu_autocast=True, max_steps=2, eval_strategy="no")
    assert build_trainer(cfg, TRAIN, VAL, LABELS, str(tiny_model_dir), str(tmp_path / "o"), seed=0).args.bf16
    assert not build_trainer(CFG, TRAIN, VAL, LABELS, str(tiny_model_dir), str(tmp_path / "o"), seed=0).args.bf16
    metrics = train(cfg, TRAIN, VAL, LABELS, str(tiny_model_dir), tmp_path / "adapter", tmp_path / "ckpt", seed=0)
    assert metrics["autocast"] == "bfloat16" and metrics["train_loss"] is not None
    model, tok, head = load(str(tiny_model_dir), tmp_path / "adapter")
    clf = HeadClassifier(model, tok, head, max_length=CFG.max_length, batch_size=1, fit_seconds=1.0, train_rows=8,
                         autocast=metrics["autocast"])
    for r, p in zip(TRAIN[:3], clf.predict(TRAIN[:3]), strict=True):
        ids = torch.tensor([tok.encode(r["text"], add_special_tokens=False)])
        with torch.no_grad():
            fp32 = model(input_ids=ids).logits[0].float()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                bf16 = model(input_ids=ids).logits[0].float()
        assert not torch.allclose(fp32, bf16, atol=1e-6)  # the two precisions are told apart
        for f, part in field_slices(head).items():
            assert p["probs"][f][p["pred"][f]] == pytest.approx(float(torch.softmax(bf16[part], -1).max()), abs=1e-6)


def test_a_search_trains_every_candidate_keeps_the_lowest_validation_loss_and_counts_them_all(tiny_model_dir,
                                                                                            tmp_path):
    import dataclasses

    from stages.lib.finetuning.search import candidates

    cfg = dataclasses.replace(CFG, eval_strategy="no", epochs=1, search={"class_weight": [None, "balanced"],
                                                                        "learning_rate": [1e-2, 1e-4]})
    assert len(candidates(cfg)) == 4
    out = train(cfg, TRAIN, VAL, LABELS, str(tiny_model_dir), tmp_path / "adapter", tmp_path / "ckpt", seed=0,
                live_dir=str(tmp_path / "live"))
    tried = out["search"]
    assert [(t["class_weight"], t["learning_rate"]) for t in tried] == [
        (None, 1e-2), (None, 1e-4), ("balanced", 1e-2), ("balanced", 1e-4)]
    best = min(tried, key=lambda t: t["val_loss"])
    assert out["chosen"] == {"class_weight": best["class_weight"], "learning_rate": best["learning_rate"]}
    assert out["best_eval_loss"] == best["val_loss"] and len(out["eval_losses"]) == 1  # scored once, at the end
    assert out["train_seconds"] == pytest.approx(sum(t["train_seconds"] for t in tried))  # the search is paid for
    # the kept adapter is the chosen candidate's: retrained alone, it gives the same weights
    alone = dataclasses.replace(CFG, eval_strategy="no", epochs=1, **out["chosen"])
    train(alone, TRAIN, VAL, LABELS, str(tiny_model_dir), tmp_path / "alone", tmp_path / "ckpt2", seed=0)
    assert ((tmp_path / "adapter" / "adapter_model.safetensors").read_bytes()
            == (tmp_path / "alone" / "adapter_model.safetensors").read_bytes())
    assert (tmp_path / "live").exists() and not list(tmp_path.glob(".search-*"))  # scratch space removed
    # the validation loss is unweighted, so a candidate with class weights compares with one without
    weighted = build_trainer(dataclasses.replace(CFG, class_weight="balanced"), TRAIN, VAL, LABELS,
                             str(tiny_model_dir), str(tmp_path / "w"), seed=0)
    plain = build_trainer(CFG, TRAIN, VAL, LABELS, str(tiny_model_dir), str(tmp_path / "p"), seed=0)
    assert weighted.evaluate()["eval_loss"] == pytest.approx(plain.evaluate()["eval_loss"])


def test_the_steps_budget_grows_with_the_data_from_a_floor():
    import dataclasses

    from stages.lib.finetuning.search import sized

    cfg = dataclasses.replace(CFG, epochs=1, batch_size=8, min_steps=32)
    assert sized(cfg, 80).epochs == 4  # 10 steps a pass: four passes reach 32
    assert sized(cfg, 528).epochs == 1  # 66 steps in one pass already
    assert sized(dataclasses.replace(cfg, min_steps=0), 80).epochs == 1


def test_a_search_key_that_is_not_a_recipe_key_or_a_bad_value_is_named():
    import dataclasses

    with pytest.raises(ValueError, match="search.colour"):
        dataclasses.replace(CFG, search={"colour": ["red"]})
    with pytest.raises(ValueError, match=r"search.class_weight\[0\]"):
        dataclasses.replace(CFG, search={"class_weight": ["sometimes"]})
