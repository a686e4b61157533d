import json

import pytest

from oasst_quality.cli import main

CROWD_COLUMNS = ("--item", "task", "--annotator", "worker", "--value", "label")  # crowd-kit's names


def run(capsys, *argv):
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_info_json(capsys):
    out = json.loads(run(capsys, "info", "--json"))
    assert out["forest"]["n_messages"] == 2022 and out["problems"]["orphan"] == 3


def test_info_text(capsys):
    assert "2022 messages in 191 trees" in run(capsys, "info")


def test_agreement_dataset(capsys):
    out = json.loads(run(capsys, "agreement", "--label", "spam", "--resamples", "50", "--json"))
    (row,) = out["labels"]
    assert row["computable"] and row["alpha_low"] <= row["alpha"] <= row["alpha_high"]
    text = run(capsys, "agreement", "--resamples", "20")
    assert "not computable: " in text and "quality" in text.split("not computable")[1]


def test_agreement_table(capsys, tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("task,worker,label\n1,a,0\n1,b,0\n2,a,1\n2,b,1\n3,a,0\n3,b,1\n")
    out = json.loads(
        run(
            capsys,
            "agreement",
            str(path),
            *CROWD_COLUMNS,
            "--resamples",
            "30",
            "--json",
        )
    )
    assert out["alpha"]["n"] == 3 and out["alpha"]["statistic"] == "alpha_nominal"


def test_bad_file_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert main(["info", str(bad)]) == 2
    assert "line 1" in capsys.readouterr().err


def test_module_entry_point():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "oasst_quality", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "oasst-quality" in out.stdout


@pytest.mark.parametrize("cmd", ["info", "agreement"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit):
        main([cmd, "--help"])
    assert "--json" in capsys.readouterr().out


def test_consensus_dataset(capsys):
    out = json.loads(run(capsys, "consensus", "--json"))
    assert out["n_ranked_groups"] == 418 and out["n_preference_pairs"] > 418


def test_consensus_table(capsys, tmp_path):
    path = tmp_path / "rankings.csv"
    rows = ["group,annotator,ranking"]
    rows += [
        f"g1,r{i},{b}"
        for i, b in enumerate(["w>x>z>y"] * 3 + ["w>y>x>z"] * 2 + ["x>y>z>w"] * 4 + ["x>z>w>y"] * 5 + ["y>w>x>z"])
    ]
    rows += ["g2,r0,a>b>c", "g2,r1,b>c>a", "g2,r2,c>a>b", "g3,r0,a>b=c"]
    path.write_text("\n".join(rows) + "\n")
    out = json.loads(run(capsys, "consensus", str(path), "--json"))
    assert out["consensus"][0]["consensus"] == ["x", "z", "w", "y"]
    assert out["diagnostics"]["condorcet_cycle_rate"] == pytest.approx(1 / 3)
    borda = json.loads(run(capsys, "consensus", str(path), "--method", "borda", "--json"))
    assert borda["method"] == "borda"


def test_aggregate_dataset(capsys):
    out = json.loads(run(capsys, "aggregate", "--json"))
    labels = {row["label"] for row in out["posteriors"]}
    assert {"quality", "spam"} <= labels
    assert {row["label"] for row in out["default_zero_bias"]} >= {"quality", "humor"}


def test_aggregate_table(capsys, tmp_path):
    path = tmp_path / "votes.csv"
    lines = ["task,worker,label"] + [f"{i},w{w},{(i + (w == 3)) % 2}" for i in range(30) for w in range(4)]
    path.write_text("\n".join(lines) + "\n")
    out = json.loads(
        run(
            capsys,
            "aggregate",
            str(path),
            *CROWD_COLUMNS,
            "--method",
            "mace",
            "--json",
        )
    )
    assert len(out["estimates"]) == 30 and out["flagged_annotators"] is not None


def test_language_command(capsys, shared):
    path = shared / "oasst2_openpaws_filtered" / "oasst2_filtered.jsonl.gz"
    out = json.loads(run(capsys, "language", str(path), "--lenient", "--backend", "py3langid", "--json"))
    assert out["backend"] == "py3langid" and out["n_mismatches"] > 0


def test_skew_command(capsys):
    out = json.loads(run(capsys, "skew", "--json"))
    assert out["contributors"]["n_contributors"] == 1058 and out["language"]["n_languages"] == 1


def test_help_has_an_example_per_command_and_no_markup(capsys):
    from oasst_quality.cli import COMMANDS

    for name in [None, *COMMANDS]:
        with pytest.raises(SystemExit):
            main(["--help"] if name is None else [name, "--help"])
        text = capsys.readouterr().out
        assert "example:" in text and "oasst-quality" in text.split("example:")[1], name
        assert "``" not in text and ":func:" not in text, name
