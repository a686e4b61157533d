"""Reference values from irrCAC (Gwet's own package) for the agreement tests.

irrCAC pins an old scipy, so it cannot be installed beside this project's environment. This
script runs in a separate one and writes tests/data/irrcac_reference.json, which the tests read.
Each set is stored twice: as it is, and with every fifth item cut to one rating, since Gwet's
chance shares count single-rated items and the crowd sets have none.

    python3 -m venv /tmp/irr && /tmp/irr/bin/pip install irrCAC==0.4.4 pandas
    cd benchmarks && /tmp/irr/bin/python irrcac_reference.py
"""

from __future__ import annotations

import json
from pathlib import Path

import crowd_data
import irrCAC
from irrCAC.raw import CAC

SETS = [
    "Duck (Zheng)",
    "Dog (Zheng)",
    "Face (Zheng)",
    "RTE (Snow)",
    "TEMP (Snow)",
    "WSD (Snow)",
    "CF_amt (ActiveCrowd)",
]


def coefficients(df, name: str) -> dict:
    wide = df.drop_duplicates(["item", "annotator"]).pivot(index="item", columns="annotator", values="value")
    # Without explicit categories irrCAC under pandas >= 2 counts NaN (a missing rating) as a category.
    categories = sorted(df["value"].unique().tolist())

    def value(**kw) -> float:
        return CAC(wide, categories=categories, **kw)

    entry = {
        "gwet_ac1": value().gwet()["est"]["coefficient_value"],
        "fleiss_kappa": value().fleiss()["est"]["coefficient_value"],
    }
    if name.startswith("Face (Zheng)"):  # four ordered classes: weighted AC2 too
        entry["gwet_ac2_quadratic"] = value(weights="quadratic").gwet()["est"]["coefficient_value"]
        entry["gwet_ac2_linear"] = value(weights="linear").gwet()["est"]["coefficient_value"]
    return entry


def main() -> None:
    out = {"irrCAC": irrCAC.__version__ if hasattr(irrCAC, "__version__") else "0.4.4", "sets": {}}
    for name in SETS:
        df, _, _ = crowd_data.load(name)
        for label, data in ((name, df), (f"{name}, every fifth item single-rated", crowd_data.single_rated(df))):
            out["sets"][label] = coefficients(data, label)
            print(label, out["sets"][label])
    path = Path(__file__).resolve().parents[1] / "tests" / "data" / "irrcac_reference.json"
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
