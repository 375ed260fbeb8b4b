"""The ``policybot`` console script, run as a real subprocess against the session's index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings


def _run(settings: Settings, *args: str, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POLICYBOT_INDEX_DIR": str(settings.index_dir)}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def test_ask_json_follows_the_contract(full_settings: Settings, full_index) -> None:
    out = _run(full_settings, "ask", "稳岗返还找谁", "--city", "苏州", "--json")
    assert out.returncode == 0, out.stderr
    a = json.loads(out.stdout)
    assert a["in_scope"] is True
    assert a["citations"][0]["label"] == "（七）"
    assert set(a["citations"][0]) >= {"doc", "measure", "label", "title", "quote", "score"}
    assert {"name", "full_name", "kind", "measure"} <= set(a["offices"][0])
    assert "苏州市人力资源和社会保障局" in a["answer"]


def test_ask_text_and_errors(full_settings: Settings, full_index) -> None:
    out = _run(full_settings, "ask", "外卖骑手受伤有保障吗")
    assert out.returncode == 0 and "（十四）" in out.stdout
    bad = _run(full_settings, "ask", "   ")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: empty_question:") and "Traceback" not in bad.stderr


def test_eval_json_prints_one_line_per_question_and_turn(full_settings: Settings, full_index, tmp_path: Path) -> None:
    f = tmp_path / "mini.jsonl"
    f.write_text(
        json.dumps({"id": "Q1", "question": "苏畅卡", "gold": [11], "kind": "short", "must_contain": []})
        + "\n"
        + json.dumps(
            {
                "id": "C1",
                "turns": [
                    {"question": "苏畅卡是什么？", "gold": [11]},
                    {"question": "热线打几号？", "gold": [11], "must_contain": ["12345"]},
                ],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    out = _run(full_settings, "eval", str(f), "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["id"] for x in lines] == ["Q1", "C1/1", "C1/2"]
    assert lines[2]["session_id"] == lines[1]["session_id"] != lines[0]["session_id"]
    summary = _run(full_settings, "eval", str(f))
    assert "top1" in summary.stdout and "dialogue_turns" in summary.stdout


def test_build_index_command(tmp_path: Path) -> None:
    from .conftest import MINI, make_settings

    settings = make_settings(tmp_path, [MINI])
    out = _run(settings, "build-index")
    assert out.returncode == 0, out.stderr
    assert "3 measures" in out.stdout
    assert (settings.build_path / "current" / "manifest.json").exists()


@pytest.mark.parametrize("args", [["ask"], ["nonsense"]])
def test_usage_errors(full_settings: Settings, args: list[str]) -> None:
    assert _run(full_settings, *args).returncode == 2
