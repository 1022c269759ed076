#!/usr/bin/env python3
"""Writes crates/scoring/tests/data/original_scores.json from the original project's
numpy/scikit-learn score functions (copied verbatim below), for the Rust parity tests.

    pip install numpy scikit-learn
    python3 scripts/parity/make_score_fixtures.py

Floats are written with repr() precision, so the JSON round-trips exactly; NaN becomes null.
"""
import json
import math
import pathlib

import numpy as np
from sklearn.preprocessing import MinMaxScaler, QuantileTransformer


# ---- verbatim from the original README (score_weighted_log_average*) ----
def score_weighted_log_average_scaled(
        bookmarks, views, alpha=0.7, scaler_bookmarks=None, scaler_views=None):
    weighted = score_weighted_log_average(bookmarks, views, alpha, scaler_bookmarks, scaler_views)
    score = (weighted - weighted.min()) / (weighted.max() - weighted.min()) * 99 + 1
    return score


def get_log_minmax_scaler(bookmarks, views):
    return (
        MinMaxScaler().fit(np.log1p(bookmarks).reshape(-1, 1)),
        MinMaxScaler().fit(np.log1p(views).reshape(-1, 1))
    )


def score_weighted_log_average(bookmarks, views, alpha=0.7, scaler_bookmarks=None, scaler_views=None):
    log_bookmarks = np.log1p(bookmarks)
    log_views = np.log1p(views)
    if scaler_bookmarks is None:
        scaler_bookmarks = MinMaxScaler().fit(log_bookmarks.reshape(-1, 1))
    if scaler_views is None:
        scaler_views = MinMaxScaler().fit(log_views.reshape(-1, 1))
    norm_bookmarks = scaler_bookmarks.transform(log_bookmarks.reshape(-1, 1)).flatten()
    norm_views = scaler_views.transform(log_views.reshape(-1, 1)).flatten()
    weighted = (alpha * norm_bookmarks) + ((1 - alpha) * norm_views)
    return weighted
# ---- end of verbatim code ----


def time_decay(weighted, age_days):
    """The original's time-decayed target, with the age clipped to >= 1 day (SPEC §2)."""
    return weighted * (1.0 / np.log1p(np.maximum(age_days, 1.0)))


def quantile_uniform(fit_values, values):
    qt = QuantileTransformer(output_distribution="uniform", n_quantiles=1000,
                             subsample=10**9).fit(fit_values.reshape(-1, 1))
    return qt.transform(values.reshape(-1, 1)).flatten()


def floats(a):
    return [None if (isinstance(x, float) and math.isnan(x)) else float(x) for x in np.asarray(a, dtype=float)]


def weighted_case(name, b, v, alpha=0.7, fit_b=None, fit_v=None):
    case = {"name": name, "alpha": alpha, "bookmarks": floats(b), "views": floats(v)}
    sb = sv = None
    if fit_b is not None:
        sb, sv = get_log_minmax_scaler(fit_b, fit_v)
        case["fit_bookmarks"], case["fit_views"] = floats(fit_b), floats(fit_v)
    with np.errstate(invalid="ignore", divide="ignore"):
        case["weighted"] = floats(score_weighted_log_average(b, v, alpha, sb, sv))
        case["scaled"] = floats(score_weighted_log_average_scaled(b, v, alpha, sb, sv))
    return case


def main():
    rng = np.random.default_rng(42)
    n = 300
    views = np.floor(np.exp(rng.normal(8.0, 1.6, n)))
    bookmarks = np.floor(views * rng.beta(2.0, 12.0, n))
    views[:3] = 0
    bookmarks[:5] = 0
    train, test = slice(0, 210), slice(210, n)

    cases = [
        weighted_case("long_tail_fit_on_all", bookmarks, views),
        weighted_case("alpha_0_3", bookmarks, views, alpha=0.3),
        weighted_case("split_transform_only", bookmarks[test], views[test],
                      fit_b=bookmarks[train], fit_v=views[train]),
        weighted_case("constant_bookmarks", np.full(20, 7.0), views[:20]),
        weighted_case("single_row", np.array([12.0]), np.array([345.0])),
        weighted_case("all_zero", np.zeros(4), np.zeros(4)),
    ]

    age_days = rng.uniform(0.0, 900.0, n)
    age_days[:4] = [0.0, 0.25, 1.0, 2.5]
    # Whole milliseconds, computed as the Rust side does, so both see the same ages.
    age_days = np.round(age_days * 86_400_000) / 1000.0 / 86_400.0
    w = score_weighted_log_average(bookmarks, views)
    decay = {"ages": floats(age_days), "weighted": floats(w), "decayed": floats(time_decay(w, age_days))}

    lb, lv = np.log1p(bookmarks), np.log1p(views)
    lr = np.log1p(bookmarks / (views + 1e-5))
    many = np.round(rng.normal(0, 1, 2500), 2)  # > 1000 rows and many ties
    quant = [
        {"name": "log_bookmarks", "fit": floats(lb), "x": floats(lb), "y": floats(quantile_uniform(lb, lb))},
        {"name": "log_ratio_split", "fit": floats(lr[train]), "x": floats(lr[test]),
         "y": floats(quantile_uniform(lr[train], lr[test]))},
        {"name": "ties_2500", "fit": floats(many), "x": floats(many[:400]),
         "y": floats(quantile_uniform(many, many[:400]))},
        {"name": "outside_range", "fit": floats(lv[:50]), "x": floats([-1.0, 0.0, 100.0, lv[7]]),
         "y": floats(quantile_uniform(lv[:50], np.array([-1.0, 0.0, 100.0, lv[7]])))},
    ]

    out = pathlib.Path(__file__).resolve().parents[2] / "crates/scoring/tests/data/original_scores.json"
    out.write_text(json.dumps({"weighted_log": cases, "time_decay": decay, "quantile": quant}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
