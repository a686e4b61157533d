"""The curation table: every kind on a dataset with planted problems, and round trips."""

import json
import sys
from pathlib import Path

import pandas as pd

import oasst_quality as oq
from oasst_quality import annotations as an
from oasst_quality import report
from oasst_quality.cli import main
from oasst_quality.flags import FLAG_COLUMNS, curation_flags, flag_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import planted_export


def _planted():
    ds = oq.load_sample()
    labels, reactions = planted_export.generate(ds, swap=0.0)
    # one reply set ranked in a cycle (a>b>c, b>c>a, c>a>b) and one that only a tie-break decides
    m = ds.messages
    kids = m[m["parent_id"].notna()].groupby("parent_id")["message_id"].agg(list)
    three = [p for p, k in kids.items() if len(k) >= 3][:1]
    two = [p for p, k in kids.items() if len(k) == 2][:1]
    extra = []
    for parent in three:
        a, b, c = kids[parent][:3]
        extra += [(parent, "cyc-1", (a, b, c)), (parent, "cyc-2", (b, c, a)), (parent, "cyc-3", (c, a, b))]
    for parent in two:
        a, b = kids[parent]
        extra += [(parent, "tie-1", (a, b)), (parent, "tie-2", (b, a))]
    cyc = an.read_rankings(pd.DataFrame(extra, columns=["group", "annotator", "ranking"]))
    reactions = [r for r in reactions if r["message_id"] not in set(three) | set(two)]  # those sets: only these
    ds = ds.with_annotations(an.from_backend(labels, reactions) | cyc)
    return ds


def test_every_kind_appears_on_a_dataset_with_planted_problems():
    ds = _planted()
    mid = ds.messages["message_id"].iloc[0]
    languages = pd.DataFrame(
        {"message_id": [mid], "declared": ["en"], "detected": ["de"], "confidence": [0.99], "mismatch": [True]}
    )
    table = curation_flags(ds, languages=languages, all_rows=True)
    assert list(table.columns) == FLAG_COLUMNS
    kinds = set(table["kind"])
    assert kinds == {
        "structural_problem",
        "toxic_by_model_not_humans",
        "toxic_by_humans_not_model",
        "default_zero_suspect",
        "single_vote_label",
        "low_confidence_label",
        "language_mismatch",
        "cyclic_ranking",
        "tie_broken_ranking",
        "suspect_annotator",
    }
    assert table["message_id"].isin(set(ds.messages["message_id"])).all()
    assert list(table["severity"].cat.codes) == sorted(table["severity"].cat.codes)  # most severe first
    suspects = table[table["kind"] == "suspect_annotator"]["evidence"]
    assert suspects.str.startswith(tuple(planted_export.PLANTED)).all()


def test_flags_round_trip_and_the_report_writes_them(tmp_path, capsys):
    ds = oq.load_sample()
    table = curation_flags(ds)
    files = flag_files(table)
    (tmp_path / "f.parquet").write_bytes(files["flags.parquet"])
    (tmp_path / "f.csv").write_bytes(files["flags.csv"])
    expected = table.astype({"severity": str})
    back = pd.read_parquet(tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(back.fillna(""), expected.fillna(""), check_dtype=False)
    csv = pd.read_csv(tmp_path / "f.csv", keep_default_na=False, na_values=[""])
    assert csv["message_id"].tolist() == expected["message_id"].tolist()
    assert csv["evidence"].tolist() == expected["evidence"].tolist()
    # filter a dataset with one join
    keep = ds.messages[~ds.messages["message_id"].isin(back.loc[back["severity"] != "low", "message_id"])]
    assert len(keep) < len(ds.messages)
    out = tmp_path / "report"
    report.build(ds, out, n_resamples=20, quiet=True)
    assert pd.read_parquet(out / "flags.parquet").shape == back.shape
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["flags"]["n_flags"] == len(table) and "toxic_by_model_not_humans" in metrics["flags"]["examples"]
    assert main(["flags", "--out", str(tmp_path / "cli.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_flags"] == len(table)
    assert pd.read_csv(tmp_path / "cli.csv").shape[0] == len(table)


def test_label_rows_are_summarised_and_default_zeros_stay_within_the_excess():
    from oasst_quality import published
    from oasst_quality.flags import label_summary

    ds = oq.load_sample()
    table = curation_flags(ds)
    # the bundled sample: 8,989 flags on 1,992 of 2,022 messages before; a table a curator can read now
    assert table["message_id"].nunique() < 0.05 * len(ds.messages)
    assert not table["kind"].isin(["single_vote_label", "low_confidence_label"]).any()
    every = curation_flags(ds, all_rows=True)
    summary = label_summary(ds).set_index("label")
    single = every[every["kind"] == "single_vote_label"].groupby("label").size()
    assert (summary.loc[single.index, "single_vote"] == single).all()
    zero = published.default_zero_bias(ds).set_index("label")
    excess = (zero["all_zero_share"] - zero["all_zero_expected_without_default"]).clip(lower=0) * zero["n_messages"]
    flagged = table[table["kind"] == "default_zero_suspect"].groupby("label").size()
    assert len(flagged) and (flagged <= excess.reindex(flagged.index)).all()
