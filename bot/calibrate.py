"""Calibrate: fit the scope decision's content model from labelled questions (``policybot calibrate``).

Every labelled question of the fitting sets is asked the way a citizen would (dialogues turn by turn) with a
pass-through decision, and the features of each decision the content model would take (no veto, no
unstated detail) are recorded with the label "the notices answer this" (gold not empty), together with the
residual vector of the best clause (question minus best evidence sentence). A standardised logistic
regression (scikit-learn) is fitted on the features and the residual's first principal directions (PCA; how
many, of ``COMPONENT_CHOICES``, is chosen by cross-validation); its decision threshold is the highest
probability at which the cross-validated (out-of-fold, averaged over three seeded shuffles) false-refusal
rate stays within ``target_false_refusal``. The file
written (``index/calibration.json``) holds the weights, the threshold, the hashes of the data fitted on, the
cross-validated refusal / false-refusal curve and leave-one-set-out figures. Same data, same weights: the
folds are seeded and nothing else is random.

Example::

    $ policybot calibrate            # the sets named in the current calibration file
    fitted on 685 decisions (556 answerable) from 11 sets; 16 residual directions; threshold 0.1202: …
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.answer import PolicyBot
from bot.config import REPO_ROOT
from bot.errors import ConfigError, PolicyBotError
from bot.evaluate import read_cases
from bot.models import Session
from bot.scope import FEATURES, Calibration, LogisticModel, Projection, Reason

PASS_THROUGH = Calibration(
    model=LogisticModel(FEATURES, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), (0.0,) * len(FEATURES), 50.0),
    threshold=0.5,
)


@dataclass(frozen=True)
class Row:
    set: str
    id: str
    answerable: bool
    features: dict[str, float]
    residual: tuple[float, ...] = ()  # question vector minus best evidence sentence vector (empty: none)


# how many residual directions the content model may read; the one with the best cross-validated refusal
# rate at the false-refusal target is kept (0: none)
COMPONENT_CHOICES = (0, 8, 16, 32)


def collect(bot: PolicyBot, paths: Sequence[Path]) -> list[Row]:
    """Ask every question of ``paths`` with a pass-through decision and keep the content-model inputs."""
    saved = bot.calibration
    bot.calibration = PASS_THROUGH
    rows: list[Row] = []
    try:
        for path in paths:
            name = path.stem if path.parent.name != "notices" else f"notices/{path.stem}"
            for group in read_cases(path):
                session = Session()
                for case in group:
                    try:
                        text = bot.validate(case.question)
                    except PolicyBotError:
                        continue
                    session.turns += 1
                    reply = bot.reply(text, session)
                    d = reply.decision
                    if d is None or not d.features or d.reason is Reason.UNSTATED or d.features.get("raw_pinned"):
                        continue
                    top = d.top
                    residual = (
                        tuple(float(v) for v in top.residual) if top is not None and top.residual is not None else ()
                    )
                    rows.append(Row(name, case.id, bool(case.gold), dict(d.features), residual))
    finally:
        bot.calibration = saved
    return rows


@dataclass
class _Fitted:
    """A fitted pipeline and, when residual directions are read, the PCA that gives them."""

    model: Any
    names: tuple[str, ...]
    pca: Any = None

    def matrix(self, rows: Sequence[Row]) -> Any:
        return _matrix(rows, self.names, self.pca)

    def predict(self, rows: Sequence[Row]) -> list[float]:
        return [float(p) for p in self.model.predict_proba(self.matrix(rows))[:, 1]]


def _residuals(rows: Sequence[Row]) -> Any:
    import numpy as np

    dim = next((len(r.residual) for r in rows if r.residual), 0)
    return np.array([r.residual if len(r.residual) == dim else (0.0,) * dim for r in rows], dtype=float)


def _matrix(rows: Sequence[Row], names: Sequence[str], pca: Any) -> Any:
    import numpy as np

    x = np.array([[r.features.get(n, 0.0) for n in names] for r in rows], dtype=float)
    if pca is None:
        return x
    return np.hstack([x, pca.transform(_residuals(rows))])


def _fit(rows: Sequence[Row], names: Sequence[str], c: float, components: int = 0) -> _Fitted:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pca = None
    has_residuals = any(r.residual for r in rows)
    if components and has_residuals:
        pca = PCA(components, random_state=0).fit(_residuals(rows))
    y = [int(r.answerable) for r in rows]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=3000))
    fitted = _Fitted(model, tuple(names), pca)
    model.fit(fitted.matrix(rows), y)
    return fitted


def _oof(
    rows: Sequence[Row], names: Sequence[str], c: float, components: int = 0, folds: int = 5, repeats: int = 3
) -> list[float]:
    """Out-of-fold probabilities, averaged over ``repeats`` seeded shuffles of the folds: the threshold sits
    near the few lowest answerable rows, so one shuffle alone moves it from run to run of the data."""
    from sklearn.model_selection import StratifiedKFold

    y = [int(r.answerable) for r in rows]
    out = [0.0] * len(rows)
    for seed in range(repeats):
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(y, y):
            fitted = _fit([rows[i] for i in train], names, c, components)
            for i, p in zip(test, fitted.predict([rows[i] for i in test]), strict=True):
                out[i] += p / repeats
    return out


def _rates(rows: Sequence[Row], probs: Sequence[float], threshold: float) -> tuple[float, float]:
    """(false refusal among answerable, refused among out-of-scope) at ``threshold``."""
    pos = [p for r, p in zip(rows, probs, strict=True) if r.answerable]
    neg = [p for r, p in zip(rows, probs, strict=True) if not r.answerable]
    fr = sum(p < threshold for p in pos) / len(pos) if pos else 0.0
    refused = sum(p < threshold for p in neg) / len(neg) if neg else 0.0
    return fr, refused


def choose_threshold(rows: Sequence[Row], probs: Sequence[float], target_false_refusal: float) -> float:
    """The highest threshold whose false-refusal rate stays within the target (most out-of-scope refused)."""
    candidates = sorted({round(p, 4) for p in probs} | {0.5})
    best = min(candidates)
    for t in candidates:
        fr, _ = _rates(rows, probs, t)
        if fr <= target_false_refusal:
            best = t
    return float(best)


def _model_json(fitted: _Fitted, model_id: str) -> LogisticModel:
    scaler, lr = fitted.model.steps[0][1], fitted.model.steps[1][1]
    names = fitted.names
    projection = None
    if fitted.pca is not None:
        projection = Projection(model_id, fitted.pca.mean_.astype("float32"), fitted.pca.components_.astype("float32"))
        names = (*names, *projection.names)
    return LogisticModel(
        tuple(names),
        tuple(round(float(v), 6) for v in scaler.mean_),
        tuple(round(float(v), 6) for v in scaler.scale_),
        tuple(round(float(v), 6) for v in lr.coef_[0]),
        round(float(lr.intercept_[0]), 6),
        projection,
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def fit(
    rows: Sequence[Row],
    *,
    target_false_refusal: float,
    c: float,
    names: Sequence[str] = FEATURES,
    model_id: str = "",
    components: Sequence[int] = COMPONENT_CHOICES,
) -> tuple[LogisticModel, float, dict[str, Any]]:
    """Fit on all rows; the number of residual directions, the threshold and the figures from out-of-fold
    predictions; leave-one-set-out figures."""
    if len({r.answerable for r in rows}) < 2:
        raise ConfigError("校准数据必须同时包含可回答和不可回答的问题")
    if not any(r.residual for r in rows):
        components = (0,)
    trials = {}
    for k in components:
        probs_k = _oof(rows, names, c, k)
        t = choose_threshold(rows, probs_k, target_false_refusal)
        trials[k] = (probs_k, t, _rates(rows, probs_k, t))
    # most out-of-scope refused within the target; fewer directions on a tie
    chosen = max(trials, key=lambda k: (trials[k][2][1], -k))
    probs, threshold, (fr, refused) = trials[chosen]
    curve = []
    for t in sorted({round(x / 40, 3) for x in range(1, 40)} | {round(threshold, 4)}):
        f, refused_at = _rates(rows, probs, t)
        curve.append({"threshold": t, "false_refusal": round(f, 4), "oos_refused": round(refused_at, 4)})
    by_set: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_set[r.set].append(i)
    loso = {}
    for name, idx in sorted(by_set.items()):
        train = [r for r in rows if r.set != name]
        test = [rows[i] for i in idx]
        if len({r.answerable for r in train}) < 2:
            continue
        inner = choose_threshold(train, _oof(train, names, c, chosen), target_false_refusal)
        p = _fit(train, names, c, chosen).predict(test)
        f, r_ = _rates(test, p, inner)
        loso[name] = {
            "n": len(test),
            "answerable": sum(r.answerable for r in test),
            "false_refusal": round(f, 4),
            "oos_refused": round(r_, 4),
        }
    final = _fit(rows, names, c, chosen)
    report = {
        "residual_components": chosen,
        "by_components": {
            str(k): {"threshold": v[1], "cv_false_refusal": round(v[2][0], 4), "cv_oos_refused": round(v[2][1], 4)}
            for k, v in trials.items()
        },
        "cv_false_refusal": round(fr, 4),
        "cv_oos_refused": round(refused, 4),
        "curve": curve,
        "leave_one_set_out": loso,
    }
    return _model_json(final, model_id), threshold, report


def save_rows(rows: Sequence[Row], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            raw = {"set": r.set, "id": r.id, "answerable": r.answerable, "features": r.features}
            fh.write(json.dumps({**raw, "residual": [round(v, 6) for v in r.residual]}) + "\n")


def load_rows(path: Path) -> list[Row]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        residual = tuple(float(v) for v in raw.get("residual", ()))
        out.append(Row(raw["set"], raw["id"], bool(raw["answerable"]), dict(raw["features"]), residual))
    return out


def calibrate(
    bot: PolicyBot,
    sets: Sequence[Path],
    out: Path,
    *,
    target_false_refusal: float = 0.01,
    c: float = 1.0,
    rows_file: Path | None = None,
) -> dict[str, Any]:
    """Collect, fit (with and without the example feature) and write the calibration file atomically.
    ``rows_file`` keeps the collected decisions (JSON lines) for inspection."""
    missing = [str(p) for p in sets if not p.exists()]
    if missing:
        raise ConfigError("校准数据文件不存在", detail=", ".join(missing))
    rows = collect(bot, sets)
    if rows_file is not None:
        save_rows(rows, rows_file)
    model_id = bot.embeddings.model_id
    model, threshold, report = fit(rows, target_false_refusal=target_false_refusal, c=c, model_id=model_id)
    bare_names = tuple(n for n in FEATURES if n != "example_gap")
    bare, bare_threshold, bare_report = fit(
        rows, target_false_refusal=target_false_refusal, c=c, names=bare_names, model_id=model_id
    )
    data = {
        "about": (
            "Scope decision (bot/scope.py): standardised logistic regression over corpus-relative features and the "
            "principal directions of the residual (question vector minus best evidence sentence vector), fitted "
            "by `policybot calibrate` on the sets below; the number of directions and the thresholds from 5-fold "
            "out-of-fold predictions. "
            "'model_without_examples' serves corpora or clauses without an example bank."
        ),
        "model_id": bot.embeddings.model_id,
        "fitted_at": time.strftime("%Y-%m-%d"),
        "target_false_refusal": target_false_refusal,
        "regularisation_c": c,
        "sets": {_display(p): _sha256(p) for p in sets},
        "rows": len(rows),
        "answerable_rows": sum(r.answerable for r in rows),
        "threshold": threshold,
        "model": model.to_json(),
        "cv": report,
        "threshold_without_examples": bare_threshold,
        "model_without_examples": bare.to_json(),
        "cv_without_examples": bare_report,
        "related_margin": bot.calibration.related_margin if bot.calibration is not PASS_THROUGH else 1.5,
    }
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return data


def default_sets(path: Path) -> list[Path]:
    """The fitting sets named in an existing calibration file (paths relative to the repository)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [REPO_ROOT / p for p in raw.get("sets", {})]
