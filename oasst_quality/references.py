"""Published human-human agreement, to read a dataset's own numbers against.

Each band keeps its convention: what was compared, whether ties count, and the n behind it. A band
is listed only after its number was checked against the paper's text (here: transcriptions of the
papers' tables and sentences, as docs/report.md says); a number that could not be checked is left
out rather than quoted from a summary.
"""

from __future__ import annotations

#: Agreement between two people on which of two responses is better (a share of comparisons).
#: ``ties`` says whether a tie was a third answer (``"counted"``) or left out (``"left out"``);
#: ``pairs`` is the pair population: ``"single pairwise judgments"`` (each judgment compares two
#: responses, as a ranking of two replies does), or ``"not stated"``.
PAIRWISE_AGREEMENT: tuple[dict, ...] = (
    {
        "source": "MT-Bench experts, first turn (Zheng et al. 2023, arXiv:2306.05685, Table 5)",
        "agreement": 0.81,
        "ties": "left out",
        "pairs": "single pairwise judgments",
        "n": 479,
        "convention": "two different experts judging the same pair of answers to an MT-Bench question; "
        "votes with a tie dropped",
    },
    {
        "source": "MT-Bench experts, first turn (Zheng et al. 2023, arXiv:2306.05685, Table 5)",
        "agreement": 0.63,
        "ties": "counted",
        "pairs": "single pairwise judgments",
        "n": 721,
        "convention": "as above, with 'tie' as a third answer (chance 1/3)",
    },
    {
        "source": "InstructGPT training labelers (Ouyang et al. 2022, arXiv:2203.02155, §3.4)",
        "agreement": 0.726,
        "plus_minus": 0.015,
        "ties": "not stated",
        "pairs": "not stated",
        "n": None,
        "convention": "labelers who wrote the training comparisons, agreeing with each other on comparisons of "
        "model outputs; the paper does not say what the ± is",
    },
    {
        "source": "InstructGPT held-out labelers (Ouyang et al. 2022, arXiv:2203.02155, §3.4)",
        "agreement": 0.773,
        "plus_minus": 0.013,
        "ties": "not stated",
        "pairs": "not stated",
        "n": None,
        "convention": "labelers who produced no training data and took no screening test",
    },
    {
        "source": "DPO paper, TL;DR summaries, DPO vs PPO (Rafailov et al. 2023, arXiv:2305.18290, Table 2)",
        "agreement": 0.65,
        "ties": "not stated",
        "pairs": "single pairwise judgments",
        "n": None,
        "convention": "human judges choosing the better of two summaries of similar quality",
    },
    {
        "source": "DPO paper, TL;DR summaries, PPO at temperature 1 vs 0 (Rafailov et al. 2023, Table 2)",
        "agreement": 0.87,
        "ties": "not stated",
        "pairs": "single pairwise judgments",
        "n": None,
        "convention": "as above, for two summaries of clearly different quality",
    },
)
