#!/usr/bin/python3
"""Reference numbers for package anomaly from scikit-learn's IsolationForest.

Not product code. Run with Debian's Python (apt-get install python3-sklearn):

    /usr/bin/python3 anomaly/testdata/sklearn_ref.py gen    # writes iforest_data.csv (only if missing)
    /usr/bin/python3 anomaly/testdata/sklearn_ref.py ref    # writes sklearn_ref.json, then bench
    /usr/bin/python3 anomaly/testdata/sklearn_ref.py bench  # times fit and scoring on 100,000 x 8

The dataset: 8 features, 1900 inliers from a two-cluster correlated Gaussian
mixture and 100 anomalies (50 uniform over the inliers' bounding box, 50 inliers with one
feature shifted by 2-3.5 sd), shuffled, rounded to 4 decimals. Column 9 is
the label (1 = anomaly). The Go test reads the same CSV.
"""
import json
import os
import sys
import time

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))
CSV = os.path.join(HERE, "iforest_data.csv")
REF = os.path.join(HERE, "sklearn_ref.json")
D = 8


def make_data(rng, n_in, n_out):
    a = rng.normal(size=(D, D)) * 0.5 + np.eye(D)
    cov = a @ a.T / D + 0.5 * np.eye(D)
    mean_b = np.zeros(D)
    mean_b[:3] = 3.0
    n_a = n_in * 2 // 3
    xa = rng.multivariate_normal(np.zeros(D), cov, size=n_a)
    xb = rng.multivariate_normal(mean_b, cov, size=n_in - n_a)
    inl = np.vstack([xa, xb])
    sd = inl.std(axis=0)
    lo, hi = inl.min(axis=0), inl.max(axis=0)
    n_u = n_out // 2
    unif = rng.uniform(lo, hi, size=(n_u, D))
    shifted = rng.multivariate_normal(np.zeros(D), cov, size=n_out - n_u)
    for r in shifted:
        q = rng.integers(D)
        r[q] += rng.choice([-1, 1]) * rng.uniform(2.0, 3.5) * sd[q]
    x = np.vstack([inl, unif, shifted])
    y = np.concatenate([np.zeros(n_in), np.ones(n_out)])
    p = rng.permutation(len(y))
    return np.round(x[p], 4), y[p].astype(int)


def gen():
    if os.path.exists(CSV):
        print("exists:", CSV)
        return
    x, y = make_data(np.random.default_rng(20240601), 1900, 100)
    with open(CSV, "w") as f:
        f.write(",".join([f"f{i}" for i in range(D)] + ["label"]) + "\n")
        for r, l in zip(x, y):
            f.write(",".join(f"{v:.4f}" for v in r) + f",{l}\n")
    print("wrote", CSV)


def ref():
    data = np.loadtxt(CSV, delimiter=",", skiprows=1)
    x, y = data[:, :D], data[:, D].astype(int)
    aucs = []
    for seed in range(30):
        m = IsolationForest(n_estimators=100, max_samples=256, random_state=seed).fit(x)
        s = -m.score_samples(x)
        aucs.append(roc_auc_score(y, s))
        if seed == 0:
            subset = list(range(0, len(y), 10))
            sub_scores = [round(float(s[i]), 6) for i in subset]
    aucs = np.array(aucs)

    out = {
        "sklearn_version": sklearn.__version__,
        "params": "IsolationForest(n_estimators=100, max_samples=256, random_state=seed)",
        "auc_seed0": round(float(aucs[0]), 6),
        "auc_seeds": [round(float(a), 6) for a in aucs],
        "auc_mean": round(float(aucs.mean()), 6),
        "auc_sd": round(float(aucs.std(ddof=1)), 6),
        "subset_rows": subset,
        "subset_scores_seed0": sub_scores,
    }
    with open(REF, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"sklearn {sklearn.__version__}: AUC seed0 {aucs[0]:.4f}, over 30 seeds mean {aucs.mean():.4f} sd {aucs.std(ddof=1):.4f} min {aucs.min():.4f}")
    bench()


def bench():
    # Timing on 100,000 x 8 rows of the same distribution (not committed).
    big, _ = make_data(np.random.default_rng(7), 95000, 5000)
    # Wall and process CPU time: on a shared machine both matter.
    fits, scores, fits_cpu, scores_cpu = [], [], [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        m = IsolationForest(n_estimators=100, max_samples=256, random_state=0).fit(big)
        fits.append(time.perf_counter() - t0)
        fits_cpu.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        m.score_samples(big)
        scores.append(time.perf_counter() - t0)
        scores_cpu.append(time.process_time() - c0)
    fit_ms = 1000 * float(np.median(fits))
    fit_cpu_ms = 1000 * float(np.median(fits_cpu))
    score_rps = len(big) / float(np.median(scores))
    score_cpu_rps = len(big) / float(np.median(scores_cpu))
    print(f"fit 100 trees x 256 on 100000x8: {fit_ms:.1f} ms wall, {fit_cpu_ms:.1f} ms CPU (median of 5)")
    print(f"score_samples 100000x8: {score_rps:,.0f} rows/s wall, {score_cpu_rps:,.0f} rows/CPU-s (median of 5)")


if __name__ == "__main__":
    {"gen": gen, "ref": ref, "bench": bench}[sys.argv[1]]()
