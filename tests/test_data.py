import pytest

from stages.lib.config import Dataset
from stages.lib.data import ingest, normalise_label, read_table
from stages.lib.errors import PipelineError

SPEC = Dataset(path="x.csv", id="ID", text=["Final Narrative"], labels=["NatureTitle"])


def test_normalise_label():
    assert normalise_label(" Cuts,  lacerations ") == "Cuts, lacerations"
    assert normalise_label("Fractures\t") == "Fractures"


def write(tmp_path, content: bytes, name="x.csv"):
    p = tmp_path / name
    p.write_bytes(content)
    return p


def test_windows_line_endings_quoted_newlines_index_column(tmp_path):
    csv = (b',ID,Final Narrative,NatureTitle,Other\r\n0,1,"Fell off\r\na ladder", Fractures,x\r\n'
           b'1,2,Cut hand,"Cuts,  lacerations",y\r\n')
    records, report = ingest(read_table(write(tmp_path, csv)), "d", SPEC, "x.csv")
    assert [r["labels"]["NatureTitle"] for r in records] == ["Fractures", "Cuts, lacerations"]
    assert records[0]["fields"]["Final Narrative"] == "Fell off\na ladder"
    assert report.label_changes["NatureTitle"] == {
        " Fractures": "Fractures",
        "Cuts,  lacerations": "Cuts, lacerations",
    }


def test_drops_are_counted(tmp_path):
    csv = b"ID,Final Narrative,NatureTitle\n1,a,X\n1,b,X\n2,,X\n3,c,\n4,d,Y\n"
    records, report = ingest(read_table(write(tmp_path, csv)), "d", SPEC, "x.csv")
    assert [r["id"] for r in records] == ["1", "4"]
    assert report.as_dict() == {"rows_read": 5, "rows_kept": 2,
                                "dropped": {"duplicate id": 1, "empty label": 1, "empty text": 1}}


@pytest.mark.parametrize("content, message", [
    (b"", r"x.csv: file is empty"),
    (b"ID,Final Narrative,NatureTitle\n1,caf\xe9,X\n", r"x.csv: line 2: not UTF-8"),
])
def test_unreadable_files(tmp_path, content, message):
    with pytest.raises(PipelineError, match=message):
        read_table(write(tmp_path, content))


def test_missing_file(tmp_path):
    with pytest.raises(PipelineError, match="file not found"):
        read_table(tmp_path / "nope.csv")


def test_missing_label_column_is_named(tmp_path):
    df = read_table(write(tmp_path, b"ID,Final Narrative\n1,a\n"))
    with pytest.raises(PipelineError, match=r"x.csv: missing column\(s\) 'NatureTitle' required by datasets.d"):
        ingest(df, "d", SPEC, "x.csv")


def test_empty_label_column(tmp_path):
    df = read_table(write(tmp_path, b"ID,Final Narrative,NatureTitle\n1,a, \n2,b,\n"))
    with pytest.raises(PipelineError, match="label column 'NatureTitle' is empty in every row"):
        ingest(df, "d", SPEC, "x.csv")


def test_bundled_sample_ingests():
    spec = Dataset("data/raw/osha_sample.csv", "ID", ["Final Narrative"], ["NatureTitle"])
    from tests.conftest import ROOT

    records, report = ingest(read_table(ROOT / spec.path), "osha", spec, spec.path)
    assert report.rows_read == 1000 and len(records) == report.rows_kept > 950
    assert all(r["labels"]["NatureTitle"] == r["labels"]["NatureTitle"].strip() for r in records)
