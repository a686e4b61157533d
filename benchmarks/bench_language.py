"""Language-ID backends on the real multilingual OASST2 sample (31 languages), messages of >= 5 words.

Agreement with the declared language and texts per second for each backend, measured in one run;
each backend's one-time model load is timed apart (a warm-up call) and excluded from the rate.
Target: the default at least as accurate as the best single backend and >= 3x langdetect's rate.
Then the one-shot case (#24: the default at least 3x langdetect): each backend on the same texts
in a fresh process, its model loads included, the sides alternating over rounds; the ratio is taken
per round, of the `detect_languages()` call and of the whole process (with its imports), in wall
time and in the process's CPU time (which other jobs on a shared machine disturb less). The
model cache is a fresh temporary folder: a first cascade run fills it (its time is printed apart,
the cost paid once per installed py3langid model), the rounds then read it as every later start does.
Then the cascade's second stage: how many texts are unsure, how many of them lingua is asked about
and over which languages, and the languages a `mismatches()` on the bundled sample has lingua compare.
Last, the cold start: a first `mismatches()` call on the bundled sample in a fresh process
(target <= 3 s).

    python benchmarks/bench_language.py [rounds]
    python benchmarks/bench_language.py --one-shot [rounds]   # the one-shot case and the cold start only
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import best

import oasst_quality as oq
from oasst_quality import language as lg

SAMPLE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "oasst2_openpaws_filtered"


def sample() -> tuple[list[str], list[str]]:
    """The OASST2 sample's messages of >= 5 words and their declared languages (as OASST writes them)."""
    m = oq.load(SAMPLE / "oasst2_filtered.jsonl.gz", lenient=True).messages
    keep = [len(t.split()) >= 5 for t in m["text"].fillna("")]
    texts = [t for t, k in zip(m["text"].fillna(""), keep) if k]
    return texts, [x for x, k in zip(m["lang"], keep) if k]


def first_stage(texts: list[str]) -> None:
    """The cascade's first stage on a batch against py3langid's own classify, text by text, same
    model and process (the results are the same: tests/test_language_model.py)."""
    model = lg._py3langid()
    batch, _ = best(lambda: model.classify(texts))
    own, _ = best(lambda: [model.identifier.classify(t) for t in texts])
    print(f"first stage, {len(texts)} texts: batch {batch:.3f} s, py3langid's classify {own:.3f} s: {own / batch:.1f}x")


def second_stage(texts: list[str]) -> None:
    """The texts the cascade finds unsure (py3langid below 0.5), those lingua is asked about, the
    language sets they compare (no declared languages given), and the languages lingua compares for
    a `mismatches()` on the bundled sample (each message's declared language given): every call of
    lingua recorded, as tests/test_language.py records it."""
    calls = []
    detect = lg._detect_lingua

    def recording(batch: list[str], codes: frozenset[str] | None = None):
        calls.append((len(batch), codes))
        return detect(batch, codes)

    lg._detect_lingua = recording
    try:
        unsure = int((lg.detect_languages(texts, backend="py3langid")["confidence"] < 0.5).sum())
        lg.detect_languages(texts)
        asked, compared = sum(n for n, _ in calls), sorted(set().union(*(c for _, c in calls)))
        print(
            f"cascade: {unsure} of {len(texts)} texts unsure; lingua asked about {asked} of them, in {len(calls)} "
            f"sets over {len(compared)} of its {len(lg._lingua_languages())} languages ({', '.join(compared)})"
        )
        calls.clear()
        lg.mismatches(oq.load_sample())
        compared = sorted(set().union(*(c for _, c in calls)))
        print(f"mismatches() on the bundled sample: lingua compares {len(compared)} languages ({', '.join(compared)})")
    finally:
        lg._detect_lingua = detect


def main() -> None:
    texts, raw_declared = sample()
    first_stage(texts)
    second_stage(texts)
    declared = np.array([lg.normalize_code(x) for x in raw_declared], dtype=object)
    print(f"{len(texts)} messages of >= 5 words, {len(set(declared))} declared languages")
    print("backend | agreement with declared | texts/s | one-time load s | vs langdetect")
    rates = {}
    rows = []
    for backend in ("langdetect", "py3langid", "lingua", "cascade"):
        t0 = time.perf_counter()
        lg.detect_languages(texts[:3], backend=backend)
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = lg.detect_languages(texts, backend=backend)
        rate = len(texts) / (time.perf_counter() - t0)
        rates[backend] = rate
        rows.append((backend, float((out["lang"].to_numpy(dtype=object) == declared).mean()), rate, load))
    for backend, acc, rate, load in rows:
        default = " (default)" if backend == lg.DEFAULT_BACKEND else ""
        print(f"{backend}{default} | {acc:.4f} | {rate:,.0f} | {load:.2f} | {rate / rates['langdetect']:.1f}x")
    out = lg.detect_languages(texts, declared=raw_declared)
    agreement = (out["lang"].to_numpy(dtype=object) == declared).mean()
    print(f"cascade, each unsure text choosing among its declared language and py3langid's guesses | {agreement:.4f}")
    print("cascade guesses | agreement with declared (no declared language given)")
    for guesses in (1, 2, 3):
        out = lg.detect_languages(texts, guesses=guesses)
        print(f"{guesses} | {(out['lang'].to_numpy(dtype=object) == declared).mean():.4f}")
    print("cascade threshold | agreement with declared")
    for threshold in (0.5, 0.8, 0.9, 0.99):
        out = lg.detect_languages(texts, cascade_threshold=threshold)
        print(f"{threshold} | {(out['lang'].to_numpy(dtype=object) == declared).mean():.4f}")


ONE_SHOT = """
import json, sys, time
t0 = time.perf_counter()
from oasst_quality import language as lg
data = json.load(open(sys.argv[1]))
t1 = time.perf_counter()
out = lg.detect_languages(data["texts"], backend=sys.argv[2])
t2 = time.perf_counter()
agree = sum(a == lg.normalize_code(b) for a, b in zip(out["lang"], data["declared"])) / len(data["texts"])
print(json.dumps({"call": t2 - t1, "process": t2 - t0, "cpu": time.process_time(), "agreement": agree}))
"""


def one_shot(rounds: int = 3, backends: tuple[str, ...] = ("langdetect", "cascade", "py3langid")) -> None:
    """Each backend once in a fresh process per round, alternating: model loads are part of the run."""
    texts, raw_declared = sample()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "texts.json"
        data.write_text(json.dumps({"texts": texts, "declared": raw_declared}))
        env = os.environ | {"OASST_QUALITY_CACHE": str(Path(folder) / "cache")}

        def run(backend: str) -> dict:
            done = subprocess.run(
                [sys.executable, "-c", ONE_SHOT, str(data), backend], capture_output=True, text=True, env=env
            )
            if done.returncode:
                raise RuntimeError(f"{backend} one-shot failed:\n{done.stderr}")
            return json.loads(done.stdout.strip().splitlines()[-1])

        first = run("cascade")
        runs: dict[str, list[dict]] = {b: [] for b in backends}
        for _ in range(rounds):
            for backend in backends:
                runs[backend].append(run(backend))
        print(f"one-shot, {len(texts)} texts, a fresh process per backend and round, {rounds} rounds")
        print(
            f"cascade's first start, the model cache empty: {first['call']:.2f} s "
            f"({first['process']:.2f} s with import)"
        )
        print(
            "backend | agreement | detect_languages() s (median) | vs langdetect, median (range) | "
            "with import s | vs langdetect with import, median (range) | "
            "process CPU s | vs langdetect, CPU, median (range)"
        )
        base = runs["langdetect"]
        for backend, rs in runs.items():
            ratios = [b["call"] / r["call"] for b, r in zip(base, rs)]
            whole = [b["process"] / r["process"] for b, r in zip(base, rs)]
            cpu = [b["cpu"] / r["cpu"] for b, r in zip(base, rs)]
            print(
                f"{backend} | {rs[0]['agreement']:.4f} | {np.median([r['call'] for r in rs]):.2f} | "
                f"{np.median(ratios):.1f}x ({min(ratios):.1f}-{max(ratios):.1f}x) | "
                f"{np.median([r['process'] for r in rs]):.2f} | "
                f"{np.median(whole):.1f}x ({min(whole):.1f}-{max(whole):.1f}x) | "
                f"{np.median([r['cpu'] for r in rs]):.2f} | {np.median(cpu):.1f}x ({min(cpu):.1f}-{max(cpu):.1f}x)"
            )
        cold_start(env)


def cold_start(env: dict[str, str]) -> None:
    """`mismatches` on the bundled sample in a fresh process: models load inside the timed call."""
    code = (
        "import time, oasst_quality as oq, oasst_quality.language as lg; ds = oq.load_sample(); "
        "t = time.perf_counter(); lg.mismatches(ds); print(time.perf_counter() - t)"
    )
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout)
        for _ in range(3)
    ]
    print(f"cold first mismatches() on the bundled sample, 3 fresh processes: {', '.join(f'{r:.2f}' for r in runs)} s")


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--one-shot" in args:
        args.remove("--one-shot")
    else:
        main()
    one_shot(int(args[0]) if args else 3)
