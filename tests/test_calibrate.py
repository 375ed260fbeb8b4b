"""Calibrate: fitting the content model from decision rows is reproducible and reads the residual only when
it separates what the features alone do not (rows are made here: no embedder, no index)."""

from __future__ import annotations

import random

import numpy as np

from bot.calibrate import Row, fit, load_rows, save_rows
from bot.scope import FEATURES


def rows(n: int = 240, seed: int = 1) -> list[Row]:
    """Answerable and out-of-scope rows whose features overlap (coverage is noise around one value) but whose
    residual's first coordinate tells them apart: the shape of a near miss, about the topic but asking more."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        answerable = i % 3 != 0
        f = {name: rnd.gauss(0.5, 0.1) for name in FEATURES}
        residual = [rnd.gauss(0.0, 0.05) for _ in range(12)]
        residual[0] += 0.0 if answerable else -0.3
        out.append(Row(f"set{i % 4}", f"q{i}", answerable, f, tuple(residual)))
    return out


def test_the_same_rows_give_the_same_weights() -> None:
    data = rows()
    first = fit(data, target_false_refusal=0.05, c=1.0, model_id="m", components=(0, 2))
    second = fit(data, target_false_refusal=0.05, c=1.0, model_id="m", components=(0, 2))
    assert first[0].to_json() == second[0].to_json() and first[1] == second[1]


def test_the_residual_is_read_when_it_separates_what_features_do_not() -> None:
    model, threshold, report = fit(rows(), target_false_refusal=0.05, c=1.0, model_id="m", components=(0, 2))
    assert report["residual_components"] == 2 and model.projection is not None
    assert report["by_components"]["2"]["cv_oos_refused"] > report["by_components"]["0"]["cv_oos_refused"] + 0.3
    asks_more = np.zeros(12, dtype=np.float32)
    asks_more[0] = -0.3
    x = {name: 0.5 for name in FEATURES}
    assert model.probability(x, asks_more) < threshold <= model.probability(x, np.zeros(12, dtype=np.float32))


def test_rows_without_residuals_fit_the_features_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bare = [Row(r.set, r.id, r.answerable, r.features) for r in rows()]
    model, _, report = fit(bare, target_false_refusal=0.05, c=1.0, model_id="m", components=(0, 2))
    assert model.projection is None and report["residual_components"] == 0
    path = tmp_path / "rows.jsonl"
    save_rows(rows()[:5], path)
    assert load_rows(path) == [
        Row(r.set, r.id, r.answerable, r.features, tuple(round(v, 6) for v in r.residual)) for r in rows()[:5]
    ]
