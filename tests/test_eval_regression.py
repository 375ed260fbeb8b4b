"""Keeps the answer quality from falling below the targets of the knowledge-core issue.

Runs the real bot on the shared dev sets (beside the repository, as in CI) and on our own calibration set
of paraphrases and unrelated citizen questions (tests/data/calibration.jsonl).
"""

from __future__ import annotations

import json

import pytest

from bot.answer import PolicyBot
from bot.errors import ConfigError
from bot.evaluate import resolve_gold, run

from .conftest import DATA, SHARED

DEV = SHARED / "eval" / "dev.jsonl"
DIALOGUES = SHARED / "eval" / "dev_dialogues.jsonl"

# Floors measured on this revision (README "Answer quality"), a little below the figures so that noise does not
# fail the suite; the sets' first-contact figures are in the README.
# measured 2026-12-02 (residual directions in the content model, two-part intent cues): FAQ 0.910, 0.888; near
# misses 0.475, 0.525, and 0.575 on near_miss_c (first contact 0.40); injection top-1 0.90; traffic 0.962, FR 0.008
# FAQ fit 0.929 with the validity intent
FLOOR_FAQ_FIT, FLOOR_FAQ_HELD, FLOOR_NEAR_FIT, FLOOR_NEAR_HELD, FLOOR_NEAR_C = 0.90, 0.87, 0.40, 0.55, 0.50
FLOOR_NEAR_D = 0.38  # near_miss_d: 0.417 at first contact (this tree), held out
# written 2026-12-02 by another author before any tuning, held out: near_miss_e 0.450, faq_oos_c 0.992,
# inscope_e top-1 0.963 with false refusal 0.025 (first contact at c0adbd7)
FLOOR_NEAR_E, FLOOR_FAQ_C, FLOOR_INSCOPE_E_TOP1, FLOOR_INSCOPE_E_FR = 0.40, 0.95, 0.92, 0.06
# written 2026-12-03 by a helper who saw no code, held out: near_miss_f 0.550 at first contact (29c18c3), 0.617
# with the figure intent; faq_oos_d 0.983; inscope_f top-1 0.963, false refusal 0.025
FLOOR_NEAR_F, FLOOR_FAQ_D = 0.55, 0.95
FLOOR_COMPOUND_FR, FLOOR_COMPOUND_TOP1, FLOOR_COMPOUND_PARTIAL = 0.06, 0.93, 5
FLOOR_INJECTION_TOP1 = 0.85
FLOOR_TRAFFIC_TOP1, FLOOR_TRAFFIC_FR, FLOOR_TRAFFIC_OOS, FLOOR_TRAFFIC_DIALOGUES = 0.93, 0.03, 0.78, 0.75


@pytest.mark.skipif(not DEV.exists(), reason="shared/eval is not beside the repository")
def test_dev_set_meets_the_targets(bot: PolicyBot) -> None:
    report = run(bot, DEV)
    m = report.metrics()
    assert m["top1"] >= 0.95, m
    assert m["recall@3"] >= 0.98, m
    assert m["must_contain"] >= 0.95, m
    assert m["oos_refused"] >= 0.90, m
    # one of 30 (K024, foreign qualifications) since FAQ questions joined the example bank as out of scope
    assert m["false_refusal"] <= 0.04, m
    assert m["office_accuracy"] == 1.0, m
    assert report.units_complete == 1.0


@pytest.mark.skipif(not DIALOGUES.exists(), reason="shared/eval is not beside the repository")
def test_dev_dialogues_meet_the_target(bot: PolicyBot) -> None:
    report = run(bot, DIALOGUES)
    m, form = report.metrics(), report.form()
    assert m["dialogue_turns"] >= 0.90, m
    assert form["followup_repeats"] <= 0.10, form  # 0.0 measured (0.22 before follow-ups stopped re-quoting)


def test_own_calibration_set(bot: PolicyBot) -> None:
    m = run(bot, DATA / "calibration.jsonl").metrics()
    assert m["top1"] >= 0.90, m
    assert m["recall@3"] >= 0.95, m
    assert m["oos_refused"] >= 0.90, m
    # one of 30 (K024, foreign qualifications) since FAQ questions joined the example bank as out of scope
    assert m["false_refusal"] <= 0.04, m


def test_independent_set(bot: PolicyBot) -> None:
    """150 questions written by someone who saw only the notice and the dev-set format (not the code)."""
    m = run(bot, DATA / "independent.jsonl").metrics()
    assert m["top1"] >= 0.95, m
    assert m["recall@3"] >= 0.97, m
    assert m["must_contain"] >= 0.92, m
    assert m["oos_refused"] >= 0.90, m
    # one of 30 (K024, foreign qualifications) since FAQ questions joined the example bank as out of scope
    assert m["false_refusal"] <= 0.04, m
    assert m["office_accuracy"] >= 0.95, m


def test_independent_dialogues(bot: PolicyBot) -> None:
    m = run(bot, DATA / "independent_dialogues.jsonl").metrics()
    assert m["dialogue_turns"] >= 0.90, m


def test_unseen_set(bot: PolicyBot) -> None:
    """120 questions + 15 dialogues by a third author, kept out of the example bank (a few lexicon entries and
    the quantity-statement rule were later added after reading its misses, so it is only nearly unseen)."""
    m = run(bot, DATA / "unseen.jsonl").metrics()
    assert m["top1"] >= 0.92, m
    assert m["recall@3"] >= 0.93, m
    assert m["oos_refused"] >= 0.90, m
    assert m["false_refusal"] <= 0.05, m
    d = run(bot, DATA / "unseen_dialogues.jsonl").metrics()
    assert d["dialogue_turns"] >= 0.82, d


@pytest.mark.parametrize("author", ["author4", "author5"])
def test_fourth_and_fifth_author_sets(bot: PolicyBot, author: str) -> None:
    """110 questions + 15 dialogues each, written from the notice alone; their misses shaped the lexicon, the
    refusal of instructions to the assistant and of procedure details, so they are regression sets now."""
    m = run(bot, DATA / f"{author}.jsonl").metrics()
    assert m["top1"] >= 0.92, m
    assert m["recall@3"] >= 0.93, m
    assert m["must_contain"] >= 0.92, m
    assert m["oos_refused"] >= 0.93, m
    assert m["false_refusal"] <= 0.06, m
    assert m["office_accuracy"] >= 0.85, m
    d = run(bot, DATA / f"{author}_dialogues.jsonl").metrics()
    assert d["dialogue_turns"] >= 0.75, d


def test_holdout_set(bot: PolicyBot) -> None:
    """120 questions + 15 dialogues by a sixth author, scored but never used to add lexicon entries or
    examples: the closest stand-in for the held-out judgement (figures in the README)."""
    m = run(bot, DATA / "holdout.jsonl").metrics()
    assert m["top1"] >= 0.86, m
    assert m["recall@3"] >= 0.89, m
    assert m["oos_refused"] >= 0.95, m
    assert m["false_refusal"] <= 0.04, m  # 0.031 measured with the residual directions (0.051 before)
    assert m["office_accuracy"] >= 0.95, m
    d = run(bot, DATA / "holdout_dialogues.jsonl").metrics()
    assert d["dialogue_turns"] >= 0.75, d


SCOPE = DATA / "scope"
TRAFFIC = DATA / "traffic"


@pytest.mark.parametrize(
    ("name", "floor"),
    [
        ("faq_oos_a.jsonl", FLOOR_FAQ_FIT),
        ("faq_oos_b.jsonl", FLOOR_FAQ_HELD),
        ("near_miss_fit.jsonl", FLOOR_NEAR_FIT),
        ("near_miss_heldout.jsonl", FLOOR_NEAR_HELD),
        ("near_miss_c.jsonl", FLOOR_NEAR_C),
        ("near_miss_d.jsonl", FLOOR_NEAR_D),
        ("near_miss_e.jsonl", FLOOR_NEAR_E),
        ("faq_oos_c.jsonl", FLOOR_FAQ_C),
        ("near_miss_f.jsonl", FLOOR_NEAR_F),
        ("faq_oos_d.jsonl", FLOOR_FAQ_D),
    ],
)
def test_citizen_questions_the_notice_does_not_answer_are_refused(bot: PolicyBot, name: str, floor: float) -> None:
    """Real-traffic-like out-of-scope questions (FAQ topics of a 人社 bureau) and near misses per clause; the
    *_fit halves were used to calibrate the scope decision and to write topic patterns, the others never."""
    m = run(bot, SCOPE / name).metrics()
    assert m["oos_refused"] >= floor, m


@pytest.mark.parametrize("name", ["inscope_e.jsonl", "inscope_f.jsonl"])
def test_paraphrased_in_scope_questions_of_another_author(bot: PolicyBot, name: str) -> None:
    """Questions the notice answers, paraphrased the way citizens talk; gold given as clause ids."""
    m = run(bot, SCOPE / name).metrics()
    assert m["top1"] >= FLOOR_INSCOPE_E_TOP1 and m["false_refusal"] <= FLOOR_INSCOPE_E_FR, m


def test_gold_as_a_clause_id_and_a_malformed_gold(bot: PolicyBot) -> None:
    slug = bot.index.documents[0].slug
    assert resolve_gold(bot, [f"{slug}#3", "no-such-notice#1"], None) == {f"{slug}#3", "no-such-notice#?"}
    with pytest.raises(ConfigError):
        resolve_gold(bot, [3.5], None)


def test_compound_questions_are_answered_for_the_covered_part(bot: PolicyBot) -> None:
    report = run(bot, SCOPE / "compound.jsonl")
    m = report.metrics()
    assert m["false_refusal"] <= FLOOR_COMPOUND_FR and m["top1"] >= FLOOR_COMPOUND_TOP1, m
    partial = [o for o in report.outcomes if o.case.kind == "compound" and o.answer and o.answer.outcome == "partial"]
    assert len(partial) >= FLOOR_COMPOUND_PARTIAL


def test_instructions_around_a_genuine_question(bot: PolicyBot) -> None:
    """The genuine question is answered; the injected claim never appears; bare instructions are declined."""
    report = run(bot, SCOPE / "injection.jsonl")
    m = report.metrics()
    assert m["top1"] >= FLOOR_INJECTION_TOP1 and m["oos_refused"] == 1.0, m
    lines = [json.loads(x) for x in (SCOPE / "injection.jsonl").read_text(encoding="utf-8").splitlines() if x]
    claims = {x["id"]: x.get("must_not_contain", []) for x in lines}
    for o in report.outcomes:
        assert o.answer is not None
        if not o.answer.in_scope:
            continue  # a refusal is a template; it may name the region or topic it declines
        for claim in claims[o.case.id]:
            if claim not in _source_text(bot):
                assert claim not in o.answer.answer, (o.case.id, claim)


def _source_text(bot: PolicyBot) -> str:
    return "".join(m.text for m in bot.index.measures) + bot.settings.offices_path.read_text(encoding="utf-8")


def test_traffic_like_questions_and_phone_form(bot: PolicyBot) -> None:
    """240 traffic-like questions (45 % out of scope) and the form figures of the phone-answers issue."""
    report = run(bot, TRAFFIC / "traffic.jsonl")
    m = report.metrics()
    assert m["top1"] >= FLOOR_TRAFFIC_TOP1 and m["false_refusal"] <= FLOOR_TRAFFIC_FR, m
    assert m["oos_refused"] >= FLOOR_TRAFFIC_OOS, m
    form = report.form()
    assert form["answer_chars_median"] <= 350 and form["answer_chars_p90"] <= 700, form
    assert run(bot, TRAFFIC / "numeric.jsonl").form()["figure_in_150"] >= 0.9
    assert run(bot, TRAFFIC / "english.jsonl").form()["english_out"] >= 0.9
    assert run(bot, TRAFFIC / "smalltalk.jsonl").form()["smalltalk_no_apology"] >= 0.95  # 0.986 measured (tuned on it)


def test_traffic_dialogues(bot: PolicyBot) -> None:
    report = run(bot, TRAFFIC / "dialogues.jsonl")
    m, form = report.metrics(), report.form()
    assert m["dialogue_turns"] >= FLOOR_TRAFFIC_DIALOGUES, m
    assert form["followup_repeats"] <= 0.10, form
