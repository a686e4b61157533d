"""Language-ID backends on the real multilingual OASST2 sample (32 languages), messages of >= 5 words.

Agreement with the declared language and texts per second for each backend, measured in one run;
each backend's one-time model load is timed apart (a warm-up call) and excluded from the rate.
Target: the default at least as accurate as the best single backend and >= 3x langdetect's rate.
Last, the cold start: a first `mismatches()` call on the bundled sample in a fresh process (target <= 3 s).

    python benchmarks/bench_language.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import oasst_quality as oq
from oasst_quality import language as lg

SAMPLE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "oasst2_openpaws_filtered"


def main() -> None:
    ds = oq.load(SAMPLE / "oasst2_filtered.jsonl.gz", lenient=True)
    m = ds.messages
    texts = m["text"].fillna("").tolist()
    keep = np.array([len(t.split()) >= 5 for t in texts])
    texts = [t for t, k in zip(texts, keep) if k]
    declared = np.array([lg.normalize_code(x) for x, k in zip(m["lang"], keep) if k], dtype=object)
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
    candidates = sorted(set(m["lang"].dropna()))
    out = lg.detect_languages(texts, candidates=candidates)
    agreement = (out["lang"].to_numpy(dtype=object) == declared).mean()
    print(f"cascade, lingua restricted to the declared languages and py3langid's guesses | {agreement:.4f}")
    print("cascade threshold | agreement with declared")
    for threshold in (0.5, 0.8, 0.9, 0.99):
        out = lg.detect_languages(texts, cascade_threshold=threshold)
        print(f"{threshold} | {(out['lang'].to_numpy(dtype=object) == declared).mean():.4f}")


def cold_start() -> None:
    """`mismatches` on the bundled sample in a fresh process: models load inside the timed call."""
    import subprocess
    import sys

    code = (
        "import time, oasst_quality as oq, oasst_quality.language as lg; ds = oq.load_sample(); "
        "t = time.perf_counter(); lg.mismatches(ds); print(time.perf_counter() - t)"
    )
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout) for _ in range(3)
    ]
    print(f"cold first mismatches() on the bundled sample, 3 fresh processes: {', '.join(f'{r:.2f}' for r in runs)} s")


if __name__ == "__main__":
    main()
    cold_start()
