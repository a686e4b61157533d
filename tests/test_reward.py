import numpy as np
import pandas as pd
import pytest
from helpers import tiny_bert

import oasst_quality as oq
from oasst_quality import reward as rw

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = "good bad great awful fine poor reply answer to the question is a here".split()


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backbone")
    _, config = tiny_bert(folder, WORDS)
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    return str(folder)


def synthetic_pairs(n=240, seed=0):
    """Chosen replies say good things, rejected ones bad things: learnable from the words alone."""
    rng = np.random.default_rng(seed)
    pos, neg = ["good", "great", "fine"], ["bad", "awful", "poor"]
    rows = []
    for i in range(n):
        rows.append(
            {
                "prompt": "the question",
                "chosen": f"here is a {rng.choice(pos)} answer",
                "rejected": f"here is a {rng.choice(neg)} answer",
                "group": f"t{i // 2}",
                "rank_chosen": 0,
                "rank_rejected": 1,
            }
        )
    return pd.DataFrame(rows)


KW = dict(epochs=3, batch_size=16, lr=3e-3, max_length=16, device="cpu")


def test_training_lowers_loss_and_beats_chance(tiny_backbone):
    train, test = rw.split_by_group(synthetic_pairs(), seed=1)
    result = rw.train_reward_model(train, backbone=tiny_backbone, **KW)
    assert result.losses[-1] < result.losses[0] < 0.75
    assert rw.pairwise_accuracy(result, test, max_length=16) > 0.9


def test_half_flipped_is_about_chance_and_seeded(tiny_backbone):
    train, test = rw.split_by_group(synthetic_pairs(400), seed=1)
    accs = []
    for seed in (0, 1, 2):
        noisy = rw.flip_uniform(train, 0.5, seed=seed)
        accs.append(
            rw.pairwise_accuracy(
                rw.train_reward_model(noisy, backbone=tiny_backbone, seed=seed, **KW), test, max_length=16
            )
        )
    assert abs(np.mean(accs) - 0.5) < 0.2
    a = rw.train_reward_model(train, backbone=tiny_backbone, seed=3, **KW)
    b = rw.train_reward_model(train, backbone=tiny_backbone, seed=3, **KW)
    assert a.losses == b.losses
    assert rw.pairwise_accuracy(a, test, max_length=16) == rw.pairwise_accuracy(b, test, max_length=16)


def test_noise_study_result(tiny_backbone, tmp_path):
    study = rw.noise_study(
        synthetic_pairs(160), rates=(0.0, 0.5), seeds=(0,), backbone=tiny_backbone, agreement=0.8, **KW
    )
    assert list(study.runs.columns[:3]) == ["rate", "seed", "accuracy"] and len(study.runs) == 2
    assert study.runs.loc[0, "accuracy"] > 0.9
    assert study.runs.loc[1, "flipped_share"] == pytest.approx(0.5, abs=0.15)
    # the fitted curve passes through the clean run (the p = 0.5 run carries no weight: 1 − 2p = 0)
    assert study.clean_accuracy == pytest.approx(study.runs.loc[0, "accuracy"])
    assert study.ceiling == pytest.approx((1 + np.sqrt(0.6)) / 2)
    assert '"runs"' in study.to_json() and study.plot(tmp_path / "curve.png").stat().st_size > 1000


def test_noise_models():
    pairs = synthetic_pairs(2000).assign(rank_rejected=np.tile([1, 2, 3, 4], 500))
    assert rw.flip_uniform(pairs, 0.3, seed=0)["flipped"].mean() == pytest.approx(0.3, abs=0.03)
    close = rw.flip_close(pairs, 0.2, seed=0)
    assert close["flipped"].mean() == pytest.approx(0.2, abs=0.03)
    by_gap = close.groupby("rank_rejected")["flipped"].mean()
    assert by_gap.is_monotonic_decreasing  # adjacent ranks flip most
    assert rw.spam_annotators(pairs, 0.4, seed=0)["flipped"].mean() == pytest.approx(0.2, abs=0.03)
    flipped = rw.flip_uniform(pairs, 1.0, seed=0)
    assert (flipped["chosen"] == pairs["rejected"]).all()
    # two annotators agreeing with q = a² + (1 − a)²
    for a in (0.6, 0.8, 0.95):
        assert rw.accuracy_from_agreement(a**2 + (1 - a) ** 2) == pytest.approx(a)


def test_likert_noise_pairs():
    pairs = pd.DataFrame(
        {"chosen": ["A", "C"], "rejected": ["B", "D"], "chosen_id": ["a", "c"], "rejected_id": ["b", "d"]}
    )
    quality = pd.Series({"a": 0.9, "b": 0.1, "c": 0.2, "d": 0.8})
    out = rw.likert_noise_pairs(pairs, quality, sd=0.0)
    assert out["flipped"].tolist() == [False, True]  # the Likert means disagree with the second pair


def test_preference_data_from_sample():
    ds = oq.load_sample()
    pairs = rw.preference_data(ds)
    assert len(pairs) == 1026
    assert (pairs["rank_chosen"] < pairs["rank_rejected"]).all()
    first = pairs.iloc[0]
    assert first["prompt"].startswith("prompter: ")
    train, test = rw.split_by_group(pairs, seed=0)
    assert not set(train["group"]) & set(test["group"]) and len(train) + len(test) == len(pairs)


def test_cli_noise_study_on_sample(tiny_backbone, tmp_path, capsys):
    import json

    from oasst_quality.cli import main

    out = tmp_path / "study"
    assert (
        main(
            [
                "noise-study",
                "--rates",
                "0,0.3",
                "--max-pairs",
                "24",
                "--max-length",
                "16",
                "--backbone",
                tiny_backbone,
                "--device",
                "cpu",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert [r["rate"] for r in result["runs"]] == [0.0, 0.3] and result["n_train"] == 24
    assert (out / "runs.csv").exists() and (out / "accuracy_vs_noise.png").stat().st_size > 1000


def test_report_with_noise_study(tiny_backbone, tmp_path):
    import json

    from oasst_quality import report

    study = rw.noise_study(synthetic_pairs(80), rates=(0.0, 0.2), backbone=tiny_backbone, **KW)
    html = report.build(oq.load_sample(), tmp_path, n_resamples=20, quiet=True, noise_study=study)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["noise_study"]["n_train"] == study.n_train and len(metrics["noise_study"]["runs"]) == 2
    page = html.read_text()
    assert '<section id="noise_study">' in page and 'alt="noise"' in page
