"""Keeps the answer quality from falling below the targets of the knowledge-core issue.

Runs the real bot on the shared dev sets (beside the repository, as in CI) and on our own calibration set
of paraphrases and unrelated citizen questions (tests/data/calibration.jsonl).
"""

from __future__ import annotations

import pytest

from bot.answer import PolicyBot
from bot.evaluate import run

from .conftest import DATA, SHARED

DEV = SHARED / "eval" / "dev.jsonl"
DIALOGUES = SHARED / "eval" / "dev_dialogues.jsonl"


@pytest.mark.skipif(not DEV.exists(), reason="shared/eval is not beside the repository")
def test_dev_set_meets_the_targets(bot: PolicyBot) -> None:
    report = run(bot, DEV)
    m = report.metrics()
    assert m["top1"] >= 0.95, m
    assert m["recall@3"] >= 0.99, m
    assert m["must_contain"] >= 0.95, m
    assert m["oos_refused"] >= 0.90, m
    assert m["false_refusal"] <= 0.03, m
    assert m["office_accuracy"] == 1.0, m
    assert report.units_complete == 1.0


@pytest.mark.skipif(not DIALOGUES.exists(), reason="shared/eval is not beside the repository")
def test_dev_dialogues_meet_the_target(bot: PolicyBot) -> None:
    m = run(bot, DIALOGUES).metrics()
    assert m["dialogue_turns"] >= 0.90, m


def test_own_calibration_set(bot: PolicyBot) -> None:
    m = run(bot, DATA / "calibration.jsonl").metrics()
    assert m["top1"] >= 0.90, m
    assert m["recall@3"] >= 0.95, m
    assert m["oos_refused"] >= 0.90, m
    assert m["false_refusal"] <= 0.03, m


def test_independent_set(bot: PolicyBot) -> None:
    """150 questions written by someone who saw only the notice and the dev-set format (not the code)."""
    m = run(bot, DATA / "independent.jsonl").metrics()
    assert m["top1"] >= 0.95, m
    assert m["recall@3"] >= 0.97, m
    assert m["must_contain"] >= 0.95, m
    assert m["oos_refused"] >= 0.90, m
    assert m["false_refusal"] <= 0.03, m
    assert m["office_accuracy"] >= 0.95, m


def test_independent_dialogues(bot: PolicyBot) -> None:
    m = run(bot, DATA / "independent_dialogues.jsonl").metrics()
    assert m["dialogue_turns"] >= 0.90, m


def test_unseen_set(bot: PolicyBot) -> None:
    """120 questions + 15 dialogues by a third author, kept out of the example bank (a few lexicon entries and
    the quantity-statement rule were later added after reading its misses, so it is only nearly unseen)."""
    m = run(bot, DATA / "unseen.jsonl").metrics()
    assert m["top1"] >= 0.95, m
    assert m["recall@3"] >= 0.96, m
    assert m["oos_refused"] >= 0.90, m
    assert m["false_refusal"] <= 0.03, m
    d = run(bot, DATA / "unseen_dialogues.jsonl").metrics()
    assert d["dialogue_turns"] >= 0.90, d


@pytest.mark.parametrize("author", ["author4", "author5"])
def test_fourth_and_fifth_author_sets(bot: PolicyBot, author: str) -> None:
    """110 questions + 15 dialogues each, written from the notice alone; their misses shaped the lexicon, the
    refusal of instructions to the assistant and of procedure details, so they are regression sets now."""
    m = run(bot, DATA / f"{author}.jsonl").metrics()
    assert m["top1"] >= 0.95, m
    assert m["recall@3"] >= 0.97, m
    assert m["must_contain"] >= 0.95, m
    assert m["oos_refused"] >= 0.95, m
    assert m["false_refusal"] <= 0.03, m
    assert m["office_accuracy"] == 1.0, m
    d = run(bot, DATA / f"{author}_dialogues.jsonl").metrics()
    assert d["dialogue_turns"] >= 0.90, d


def test_holdout_set(bot: PolicyBot) -> None:
    """120 questions + 15 dialogues by a sixth author, scored but never used to add lexicon entries or
    examples: the closest stand-in for the held-out judgement (figures in the README)."""
    m = run(bot, DATA / "holdout.jsonl").metrics()
    assert m["top1"] >= 0.88, m
    assert m["recall@3"] >= 0.92, m
    assert m["oos_refused"] >= 0.95, m
    assert m["false_refusal"] <= 0.04, m
    assert m["office_accuracy"] == 1.0, m
    d = run(bot, DATA / "holdout_dialogues.jsonl").metrics()
    assert d["dialogue_turns"] >= 0.88, d
