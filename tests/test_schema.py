"""Every command's --json output is valid against oasst_quality/schemas/cli.json."""

import json
from importlib import resources

import pytest

from oasst_quality.cli import COMMANDS, main

jsonschema = pytest.importorskip("jsonschema")
SCHEMA = json.loads((resources.files("oasst_quality") / "schemas" / "cli.json").read_text())


def _check(command, output):
    jsonschema.validate(json.loads(output), {**SCHEMA, "$ref": f"#/$defs/{command}"})


def test_the_schema_is_valid_and_covers_every_command():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert set(COMMANDS) <= set(SCHEMA["$defs"])


@pytest.mark.parametrize(
    "argv",
    [
        ["info"],
        ["validate"],
        ["flags"],
        ["agreement", "--resamples", "20"],
        ["consensus"],
        ["aggregate"],
        ["skew", "--resamples", "20"],
        ["language"],
        ["toxicity", "--resamples", "20"],
    ],
    ids=lambda a: a[0],
)
def test_json_outputs_match_the_schema(argv, capsys):
    assert main([*argv, "--json"]) in (0, 1)
    _check(argv[0], capsys.readouterr().out)


def test_table_and_per_annotator_outputs_match_the_schema(tmp_path, capsys):
    votes = tmp_path / "votes.csv"
    votes.write_text("task,worker,label\n" + "".join(f"{i},w{w},{(i + w) % 2}\n" for i in range(20) for w in range(3)))
    assert main(["agreement", str(votes), "--resamples", "20", "--json"]) == 0
    _check("agreement", capsys.readouterr().out)
    assert main(["aggregate", str(votes), "--json"]) == 0
    _check("aggregate", capsys.readouterr().out)
    rankings = tmp_path / "rankings.csv"
    rankings.write_text("group,annotator,ranking\ng,a,x>y\ng,b,y>x\n")
    assert main(["consensus", str(rankings), "--json"]) == 0
    _check("consensus", capsys.readouterr().out)
    assert main(["annotators", str(votes), "--rankings", str(rankings), "--json"]) == 0
    _check("annotators", capsys.readouterr().out)
    out = tmp_path / "r"
    assert main(["report", "--out", str(out), "--quiet", "--resamples", "20", "--json"]) == 0
    _check("report", capsys.readouterr().out)
