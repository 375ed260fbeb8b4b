"""The ``policybot`` command: a thin client of :class:`bot.answer.PolicyBot`.

    policybot build-index                  # (re)build index/build from index/sources
    policybot ask "稳岗返还找谁" [--city 苏州] [--json]
    policybot eval ../shared/eval/dev.jsonl [--json] [--llm]
    policybot serve [--host 127.0.0.1] [--port 8000]

Errors from the domain are printed as one line ``error: <code>: <message>`` with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import get_settings
from bot.errors import PolicyBotError

if TYPE_CHECKING:
    from bot.answer import PolicyBot


def _bot(progress: bool = True) -> PolicyBot:
    from bot.answer import PolicyBot

    return PolicyBot.from_settings(get_settings(), progress=progress)


def cmd_build_index(args: argparse.Namespace) -> int:
    from bot.embeddings import make_embeddings
    from bot.index import build_index, read_manifest

    settings = get_settings()
    emb = make_embeddings(settings)
    started = time.perf_counter()
    gen = build_index(settings, emb, progress=True)
    m = read_manifest(gen)
    print(
        f"built {gen} in {time.perf_counter() - started:.1f}s: {m.n_documents} document(s), "
        f"{m.n_measures} measures, {m.n_chunks} chunks, model {m.model_id} (dim {m.dim})"
    )
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    bot = _bot()
    turn = bot.ask(args.question, city=args.city)
    if args.json:
        print(json.dumps(turn.answer.model_dump(), ensure_ascii=False))
    else:
        print(turn.answer.answer)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.errors import ConfigError
    from bot.evaluate import run
    from bot.llm import Explainer

    explainer = None
    if args.llm:
        explainer = Explainer.from_settings(get_settings())
        if explainer is None:
            raise ConfigError("--llm needs POLICYBOT_LLM_BASE_URL and POLICYBOT_LLM_MODEL")
    bot = _bot(progress=False)
    try:
        report = run(bot, Path(args.file), explainer)
    finally:
        if explainer is not None:
            explainer.close()
    if args.json:
        for o in report.outcomes:
            payload: dict[str, Any] = {"id": o.case.id}
            if o.answer is not None:
                payload.update(o.answer.model_dump())
            else:
                payload.update({"error": o.error})
            if o.explanation is not None:
                e = o.explanation
                payload["llm"] = {
                    "ai_generated": e.ai_generated,
                    "text": e.text if e.ai_generated else None,
                    "fallback_reason": e.fallback_reason,
                    "violations": [{"rule": v.rule, "claim": v.claim} for v in e.violations],
                }
            print(json.dumps(payload, ensure_ascii=False))
        return 0
    overall = report.metrics()
    print(f"{'kind':<14}" + "".join(f"{k:>16}" for k in overall))
    for kind, values in report.by_kind.items():
        print(f"{kind:<14}" + "".join(f"{values.get(k, float('nan')):>16.3f}" for k in overall))
    print(f"{'overall':<14}" + "".join(f"{overall[k]:>16.3f}" for k in overall))
    print(f"offices exactly the cited measure's units: {report.units_complete:.3f}")
    if explainer is not None:
        llm = report.llm_metrics()
        print(
            f"llm: {llm['served']}/{llm['explained']} answered turns served by the LLM "
            f"(share {llm['served_share']:.3f}); must-contain on the served text {llm['must_contain_served']:.3f}"
        )
        fallbacks = ", ".join(f"{k} {v}" for k, v in llm["fallbacks"].items()) or "none"
        rules = ", ".join(f"{k} {v}" for k, v in llm["guard_rejections"].items()) or "none"
        print(f"llm fallbacks by reason: {fallbacks}")
        print(f"guard rejections by rule: {rules}")
    if args.verbose:
        for o in report.outcomes:
            if not o.correct:
                cited = o.cited[:3]
                reason = o.answer.reason if o.answer else o.error
                print(f"  MISS {o.case.id} gold={o.case.gold} cited={cited} reason={reason} {o.case.question}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "bot.api:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        proxy_headers=True,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="policybot", description="江苏人社政策问答")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build-index", help="build the index from index/sources")
    b.set_defaults(func=cmd_build_index)
    a = sub.add_parser("ask", help="ask one question")
    a.add_argument("question")
    a.add_argument("--city", default=None, help="设区市, e.g. 苏州")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_ask)
    e = sub.add_parser("eval", help="evaluate on a JSONL file")
    e.add_argument("file")
    e.add_argument("--json", action="store_true", help="one JSON answer per line")
    e.add_argument("-v", "--verbose", action="store_true", help="list the misses")
    e.add_argument(
        "--llm", action="store_true", help="also explain every answer through the configured LLM and its guard"
    )
    e.set_defaults(func=cmd_eval)
    s = sub.add_parser("serve", help="run the HTTP API")
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--workers", type=int, default=None)
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PolicyBotError as exc:
        detail = f" ({exc.detail})" if exc.detail else ""
        print(f"error: {exc.code}: {exc.message}{detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
