"""The mini-program's JavaScript tests (SSE parser, request flow, answer layout) under Node's test runner.

They replay real /v1/ask/stream responses recorded in web/miniprogram/tests/fixtures/; `make test` runs them
through this file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_miniprogram_node_tests_pass() -> None:
    assert NODE is not None
    # explicit files, not the directory: Node 21+ no longer searches a directory argument (nodejs/node#50219)
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "web" / "miniprogram" / "tests").glob("*.test.js"))
    assert len(files) >= 4, files
    proc = subprocess.run(
        [NODE, "--test", *files],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "# fail 0" in proc.stdout
