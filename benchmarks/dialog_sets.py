"""FED, USR and PandaLM through the per-annotator path: long votes tables, agreement per quality.

    python benchmarks/dialog_sets.py     # the tables in docs/annotations.md

* FED (Mehri & Eskenazi 2020): 5 crowd ratings per item and quality, with no annotator ids, so
  each rating gets an anonymous annotator of its own (alpha and Fleiss need value counts only);
  the 167 "N/A (...)" ratings are set aside by the lenient read and counted.
* USR (Mehri & Eskenazi 2020, PersonaChat): 3 named raters per response, 6 qualities.
* PandaLM: 3 fixed annotators per pairwise comparison, 0 tie / 1 first better / 2 second better.
"""

from __future__ import annotations

import gzip
import json
from itertools import combinations
from pathlib import Path

import pandas as pd

from oasst_quality import agreement as ag
from oasst_quality import annotations as an
from oasst_quality.per_annotator import agreement_from_votes

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _json(path: Path):
    return json.loads(gzip.open(path).read())


def fed() -> an.Annotations:
    rows = []
    for i, item in enumerate(_json(DATA / "dialog_fed_mehri2020" / "fed_data.json.gz")):
        level = "turn" if "response" in item else "dialog"
        for quality, ratings in item["annotations"].items():
            for j, value in enumerate(ratings):
                rows.append((f"fed-{i}", f"fed-{i}-{quality}-{j}", f"{level}: {quality}", value))
    return an.read_votes(pd.DataFrame(rows, columns=["item", "annotator", "label", "value"]), lenient=True)


def usr() -> an.Annotations:
    rows = []
    for c, context in enumerate(_json(DATA / "dialog_usr_personachat" / "pc_usr_data.json.gz")):
        for r, response in enumerate(context["responses"]):
            for quality in ("Understandable", "Natural", "Maintains Context", "Engaging", "Uses Knowledge", "Overall"):
                for who, value in zip(context["annotators"], response[quality]):
                    rows.append((f"usr-{c}-{r}", who, quality, value))
    return an.read_votes(pd.DataFrame(rows, columns=["item", "annotator", "label", "value"]))


def pandalm() -> an.Annotations:
    rows = [
        (f"pandalm-{r['idx']}", f"annotator{k}", "preference", r[f"annotator{k}"])
        for r in _json(DATA / "pairwise_pandalm_human" / "testset-v1.json.gz")
        for k in (1, 2, 3)
    ]
    return an.read_votes(pd.DataFrame(rows, columns=["item", "annotator", "label", "value"]))


def pandalm_kappas(votes: pd.DataFrame) -> dict:
    """Pairwise Cohen's kappas of the three PandaLM annotators (the published .85/.88/.86)."""
    wide = votes.pivot(index="item", columns="annotator", values="value")
    return {f"{a}-{b}": ag.cohen_kappa(wide[a], wide[b]) for a, b in combinations(sorted(wide.columns), 2)}


def main() -> None:
    for name, read in (("FED", fed), ("USR", usr), ("PandaLM", pandalm)):
        data = read()
        table = agreement_from_votes(data.votes, n_resamples=1000, seed=0)
        nominal = name == "PandaLM"  # 0/1/2 are categories there, not a scale
        if nominal:
            r = ag.ratings(data.votes)
            ci = ag.bootstrap(r, "alpha", level="nominal", n_resamples=1000, seed=0)
            table = table.assign(level="nominal", alpha=ci.estimate, alpha_low=ci.low, alpha_high=ci.high)
        items, aside = data.votes["item"].nunique(), len(data.rejected)
        print(f"\n{name}: {len(data.votes):,} votes, {items:,} items, {aside} set aside")
        print("| quality | level | items | votes | alpha [95% CI] |")
        print("|---|---|---|---|---|")
        for r in table.itertuples():
            alpha = f"{r.alpha:.3f} [{r.alpha_low:.3f}, {r.alpha_high:.3f}]"
            print(f"| {r.label} | {r.level} | {r.n_items:,} | {r.n_votes:,} | {alpha} |")
        if nominal:
            print("Cohen's kappa:", {k: round(v, 3) for k, v in pandalm_kappas(data.votes).items()})


if __name__ == "__main__":
    main()
