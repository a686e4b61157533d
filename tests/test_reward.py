import json

import numpy as np
import pandas as pd
import pytest
from helpers import sample_trees, tiny_bert

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
        synthetic_pairs(160),
        rates=(0.0, 0.5),
        seeds=(0,),
        mode="finetune",
        backbone=tiny_backbone,
        agreement=0.8,
        **KW,
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
                "--seeds",
                "1",
                "--mode",
                "finetune",
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
    output = capsys.readouterr().out
    result = json.loads(output)
    from test_schema import _check

    _check("noise-study", output)
    assert [r["rate"] for r in result["runs"]] == [0.0, 0.3] and result["n_train"] == 24
    assert (out / "runs.csv").exists() and (out / "accuracy_vs_noise.png").stat().st_size > 1000


def test_report_with_noise_study(tiny_backbone, tmp_path):
    import json

    from oasst_quality import report

    study = rw.noise_study(synthetic_pairs(80), rates=(0.0, 0.2), mode="finetune", backbone=tiny_backbone, **KW)
    html = report.build(oq.load_sample(), tmp_path, n_resamples=20, quiet=True, noise_study=study)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["noise_study"]["n_train"] == study.n_train and len(metrics["noise_study"]["runs"]) == 2
    page = html.read_text()
    assert '<section id="noise_study">' in page and 'alt="noise"' in page


def _plain_loop_losses(pairs, backbone, *, epochs, batch_size, lr, max_length, seed):
    """A reference loop written plainly: per batch, tokenize each side and run it separately."""
    from oasst_quality.reward import model as model_lib
    from oasst_quality.reward import train as train_lib

    torch.manual_seed(seed)
    model, tokenizer = model_lib.build(backbone)
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=lr)
    enc, codes = train_lib.encode(
        tokenizer, [*pairs["prompt"], *pairs["prompt"]], [*pairs["chosen"], *pairs["rejected"]], max_length
    )
    n = len(pairs)
    length = np.maximum(enc.lengths[codes[:n]], enc.lengths[codes[n:]])
    rng = np.random.default_rng(seed)
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(epochs):
            total = 0.0
            for batch in train_lib.length_batches(length, batch_size, rng):
                b = pairs.iloc[batch]

                def side(replies, b=b):
                    t = tokenizer(
                        list(b["prompt"]),
                        list(replies),
                        truncation="longest_first",
                        max_length=max_length,
                        padding=True,
                        return_tensors="pt",
                    )
                    return model(input_ids=t["input_ids"], attention_mask=t["attention_mask"])

                loss = -torch.nn.functional.logsigmoid(side(b["chosen"]) - side(b["rejected"])).mean()
                optim.zero_grad()
                loss.backward()
                optim.step()
                total += loss.item() * len(b)
            losses.append(total / n)
    return losses


def test_fast_loop_gives_the_plain_loops_losses(tiny_backbone, tmp_path):
    # without dropout: one forward pass of 2B sequences draws other dropout masks than two of B
    config = transformers.AutoConfig.from_pretrained(tiny_backbone)
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    model = transformers.AutoModel.from_pretrained(tiny_backbone, config=config)
    model.save_pretrained(tmp_path)
    transformers.AutoTokenizer.from_pretrained(tiny_backbone).save_pretrained(tmp_path)
    tiny_backbone = str(tmp_path)
    pairs = synthetic_pairs(96)
    pairs.loc[::3, "chosen"] = "here is a good answer to the question that is a fine reply"  # lengths differ
    kw = dict(epochs=2, batch_size=8, lr=3e-3, max_length=16, seed=4)
    fast = rw.train_reward_model(pairs, backbone=tiny_backbone, device="cpu", **kw)
    plain = _plain_loop_losses(pairs, tiny_backbone, **kw)
    assert fast.losses == pytest.approx(plain, rel=1e-4, abs=1e-6)
    assert fast.tokens_per_second > fast.pairs_per_second > 0


def test_length_batches_cover_every_row_once_and_are_seeded():
    from oasst_quality.reward.train import length_batches

    lengths = np.random.default_rng(0).integers(1, 300, 1000)
    batches = length_batches(lengths, 16, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    again = length_batches(lengths, 16, np.random.default_rng(1))
    assert all((a == b).all() for a, b in zip(batches, again))
    # within a pool the batches are sorted: their spread of lengths is far below the data's
    assert np.median([np.ptp(lengths[b]) for b in batches]) < np.ptp(lengths) / 10


def test_frozen_head_learns_the_task_and_its_reverse(tiny_backbone):
    train, test = rw.split_by_group(synthetic_pairs(240), seed=1)
    n, m = len(train), len(test)
    e = rw.embed_texts(
        [*train["prompt"], *train["prompt"], *test["prompt"], *test["prompt"]],
        [*train["chosen"], *train["rejected"], *test["chosen"], *test["rejected"]],
        backbone=tiny_backbone,
        max_length=16,
        device="cpu",
    )
    c, r, tc, tr = e[:n], e[n : 2 * n], e[2 * n : 2 * n + m], e[2 * n + m :]
    for head in ("linear", "mlp"):
        fitted = rw.train_head(c, r, head=head, groups=train["group"].to_numpy())
        assert np.mean(fitted.reward(tc) > fitted.reward(tr)) > 0.9, head
        reversed_ = rw.train_head(r, c, head=head, groups=train["group"].to_numpy())  # every label flipped
        assert np.mean(reversed_.reward(tc) > reversed_.reward(tr)) < 0.1, head
    a = rw.train_head(c, r, l2=0.1, seed=2).reward(tc)
    assert (a == rw.train_head(c, r, l2=0.1, seed=2).reward(tc)).all()


def test_frozen_study_intervals_and_chance_warning(tiny_backbone):
    study = rw.noise_study(
        synthetic_pairs(240), rates=(0.0, 0.2, 0.4), seeds=(0, 1), backbone=tiny_backbone, max_length=16, device="cpu"
    )
    assert study.mode == "frozen" and len(study.runs) == 6 and study.warning is None
    r = study.runs
    # every test pair right in every run: every resample of the test trees scores 1, so no interval
    # (never [1, 1]); the study still learned, and says why the interval is missing
    assert (r["accuracy"] == 1.0).all() and r["accuracy_low"].isna().all() and r["accuracy_high"].isna().all()
    assert study.clean_interval == (None, None) and study.warning is None
    assert study.clean.details["no_interval"].startswith("every resample of the") and study.clean.low is None
    assert json.loads(study.to_json())["clean"]["low"] is None
    # the same words on both sides: nothing to learn, and the study says so
    noise = synthetic_pairs(240).assign(rejected=lambda d: d["chosen"].sample(frac=1, random_state=0).to_numpy())
    blind = rw.noise_study(noise, rates=(0.0,), seeds=(0, 1), backbone=tiny_backbone, max_length=16, device="cpu")
    assert blind.clean_interval[0] <= 0.5 <= blind.clean_interval[1] and "includes 0.5" in blind.warning


def test_rankings_agreement_by_hand_and_as_the_ceiling(tiny_backbone):
    # pairs (x, y) and (x, z): all three rankers agree (3 ranker pairs each); (y, z): 2 against 1,
    # so 1 agreeing pair and 2 disagreeing: q = 7 / 9
    table = pd.DataFrame(
        {
            "group": [1, 1, 1, 2],
            "annotator": list("abca"),
            "ranking": [tuple("xyz"), tuple("xzy"), tuple("xyz"), ("u",)],
        }
    )
    assert rw.rankings_agreement(table) == pytest.approx(7 / 9)
    tied = pd.DataFrame(
        {"group": [1, 1], "annotator": ["a", "b"], "ranking": [("x", frozenset("yz")), ("x", "z", "y")]}
    )
    assert rw.rankings_agreement(tied) == pytest.approx(1.0)  # the tie on (y, z) is left out
    study = rw.noise_study(
        synthetic_pairs(80), rates=(0.0,), rankings=table, backbone=tiny_backbone, max_length=16, device="cpu"
    )
    assert study.agreement == pytest.approx(7 / 9) and study.ceiling == pytest.approx(rw.accuracy_from_agreement(7 / 9))


def test_planted_pairs_differ_only_in_word_order():
    texts = ["the cat sat on the mat today", "a reply with several words in it", "short one two three"]
    pairs = rw.planted_pairs(texts, 50, seed=3)
    assert len(pairs) == 50 and (pairs["chosen"] != pairs["prompt"]).all()
    assert all(sorted(c.split()) == sorted(r.split()) for c, r in zip(pairs["chosen"], pairs["rejected"]))
    assert pairs.equals(rw.planted_pairs(texts, 50, seed=3))
    train, test = rw.split_by_group(pairs)
    assert not set(train["group"]) & set(test["group"])


def test_study_headline_is_measured_per_rate_with_seeds_in_the_interval(tiny_backbone):
    study = rw.noise_study(
        synthetic_pairs(240),
        rates=(0.0, 0.2, 0.4),
        seeds=(0, 1, 2),
        backbone=tiny_backbone,
        max_length=16,
        device="cpu",
        agreement=0.8,
    )
    b = study.by_rate
    assert list(b["rate"]) == [0.0, 0.2, 0.4] and (b["n_seeds"] == 3).all()
    # the headline is the measured mean over seeds, inside its interval over seeds and test trees
    for rate, g in study.runs.groupby("rate"):
        row = b[b["rate"] == rate].iloc[0]
        assert row["accuracy"] == pytest.approx(g["accuracy"].mean())
        assert row["accuracy_low"] <= row["accuracy"] <= row["accuracy_high"]
        assert row["accuracy_high"] > row["accuracy_low"]  # no zero-width interval
    assert np.all(np.diff(b["monotone_fit"]) <= 1e-12)
    assert study.clean_accuracy == pytest.approx(study.runs.loc[study.runs["rate"] == 0, "accuracy"].mean())
    est = study.clean
    assert est.details["n_seeds"] == 3 and "no_interval" not in est.details  # an interval: no reason given
    assert study.to_dict()["ceiling_assumptions"] is not None  # an agreement given: its ceiling's assumptions said


def test_study_warns_per_seed():
    runs = pd.DataFrame(
        {
            "rate": [0.0, 0.0],
            "seed": [0, 1],
            "accuracy": [0.7, 0.52],
            "accuracy_low": [0.6, 0.45],
            "accuracy_high": [0.8, 0.6],
        }
    )
    from oasst_quality.reward.study import _seed_warnings

    assert _seed_warnings(runs) == ["seed 1: clean accuracy 0.520, interval 0.450-0.600 includes 0.5"]


def test_study_needs_the_clean_rate():
    from oasst_quality.errors import UsageError

    with pytest.raises(UsageError, match="include 0"):
        rw.noise_study(synthetic_pairs(20), rates=(0.1, 0.2))


def test_tree_bootstrap_gives_no_interval_where_the_test_trees_cannot():
    from oasst_quality.reward.study import _TreeBootstrap

    one = _TreeBootstrap(pd.Series(["t"] * 5), 200, 0.95, seed=0)
    assert one.interval(np.array([1.0, 0, 1, 1, 0])) == (None, None) and one.reason() == "one test tree"
    two = _TreeBootstrap(pd.Series(list("aabbb")), 200, 0.95, seed=0)
    assert two.interval(np.ones(5)) == (None, None)  # every test pair right: every resample scores 1
    assert two.reason() == "every resample of the 2 test trees gives the same value"
    low, high = two.interval(np.array([1.0, 1, 0, 0, 1]))
    assert low < high
    assert two.over_seeds(np.ones((3, 5))) == (None, None)


def test_tree_bootstrap_reason_is_the_last_intervals_own():
    from oasst_quality.reward.study import _TreeBootstrap

    two = _TreeBootstrap(pd.Series(list("aabbb")), 200, 0.95, seed=0)
    assert two.interval(np.array([1.0, 1, 0, 0, 1])) != (None, None) and two.reason() is None  # an interval
    assert two.interval(np.array([np.nan, 1, 0, 1, 1])) == (None, None)
    assert two.reason() == "the statistic is undefined on every resample"
    assert two.over_seeds(np.ones((3, 5))) == (None, None)
    assert two.reason() == "every resample of the 2 test trees gives the same value"


def test_margins_on_an_engine_embed_each_partitions_pairs_as_the_dataset_does(tiny_backbone, tmp_path):
    from oasst_quality.engine import InMemory
    from oasst_quality.verdicts import pairs as vp

    ds = oq.load(sample_trees(tmp_path / "trees.jsonl", 15))  # (long threads make the tiny tokenizer slow)
    kw = dict(margins=True, backbone=tiny_backbone, max_length=16, folds=2, ensemble=1, n_resamples=5)
    direct, engine = vp.suspect_pairs(ds, **kw), vp.suspect_pairs(InMemory(ds), **kw)
    for a, b in zip(direct.embeddings, engine.embeddings):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(engine.table, direct.table)
    assert engine.sources["margin"]["n_pairs"] > 0


def test_noise_study_on_an_engine_splits_the_pairs_ids_and_fetches_only_the_kept_rows_texts(tiny_backbone, tmp_path):
    from oasst_quality.engine import InMemory

    ds = oq.load(sample_trees(tmp_path / "trees.jsonl", 15))
    kw = dict(rates=(0.0, 0.3), mode="frozen", max_pairs=30, backbone=tiny_backbone, max_length=16, n_resamples=50)
    direct, engine = rw.noise_study(rw.preference_data(ds), **kw), rw.noise_study(InMemory(ds), **kw)
    pd.testing.assert_frame_equal(engine.runs, direct.runs)
    assert (engine.n_train, engine.n_test) == (direct.n_train, direct.n_test) and direct.n_train == 30
    ids = rw.preference_data(InMemory(ds), texts=False)
    pd.testing.assert_frame_equal(rw.data.with_texts(InMemory(ds), ids), rw.preference_data(ds))


def test_noise_study_without_pairs_is_not_computable():
    from oasst_quality.errors import NotComputableError

    empty = synthetic_pairs(4).iloc[:0]
    with pytest.raises(NotComputableError, match="no preference pairs"):
        rw.noise_study(empty)
