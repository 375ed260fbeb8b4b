"""The ``policybot`` command: a thin client of :class:`bot.answer.PolicyBot`.

    policybot build-index                  # (re)build index/build from index/sources
    policybot ask "稳岗返还找谁" [--city 苏州] [--json]
    policybot eval ../shared/eval/dev.jsonl [--json] [--llm]
    policybot serve [--host 127.0.0.1] [--port 8000]
    policybot docs check FILE               # what the parser finds in a notice (.txt .docx .pdf .html)
    policybot docs add FILE [--doc ID] [--replace]
    policybot docs list
    policybot docs retire DOC | remove DOC

Errors from the domain are printed as one line ``error: <code>: <message>`` with exit status 2; a malformed
notice's message is ``FILE:LINE: reason``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import get_settings
from bot.errors import PolicyBotError

if TYPE_CHECKING:
    from bot.answer import PolicyBot
    from bot.catalog import KnowledgeBase
    from bot.ingest import Document


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
        report = run(bot, Path(args.file), explainer, default_doc=args.doc)
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
    form = report.form()
    print("form: " + ", ".join(f"{k} {v:.3f}" if v == v else f"{k} -" for k, v in form.items()))
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


def cmd_calibrate(args: argparse.Namespace) -> int:
    from bot.answer import PolicyBot
    from bot.calibrate import PASS_THROUGH, calibrate, default_sets
    from bot.embeddings import make_embeddings
    from bot.index import ensure_index

    settings = get_settings()
    out = Path(args.out) if args.out else settings.calibration_path
    sets = [Path(f) for f in args.sets] if args.sets else default_sets(out)
    if not sets:
        print("error: no fitting sets given (--sets FILE …) and none named in " + str(out), file=sys.stderr)
        return 2
    emb = make_embeddings(settings)
    bot = PolicyBot.with_index(settings, ensure_index(settings, emb), emb, calibration=PASS_THROUGH)
    rows = Path(args.rows) if args.rows else None
    data = calibrate(bot, sets, out, target_false_refusal=args.target_false_refusal, c=args.c, rows_file=rows)
    cv = data["cv"]
    print(
        f"fitted on {data['rows']} decisions ({data['answerable_rows']} answerable) from {len(sets)} sets; "
        f"{cv['residual_components']} residual directions; "
        f"threshold {data['threshold']:.4f}: CV false refusal {cv['cv_false_refusal']:.3f}, "
        f"out-of-scope refused {cv['cv_oos_refused']:.3f}"
    )
    bare = data["cv_without_examples"]
    print(
        f"without the example feature: threshold {data['threshold_without_examples']:.4f}: CV false refusal "
        f"{bare['cv_false_refusal']:.3f}, out-of-scope refused {bare['cv_oos_refused']:.3f}"
    )
    print("leave one set out (false refusal / out-of-scope refused):")
    for name, v in cv["leave_one_set_out"].items():
        print(f"  {name:<40} n={v['n']:<4} {v['false_refusal']:.3f} / {v['oos_refused']:.3f}")
    print(f"written to {out}")
    return 0


def _rebuild() -> Callable[[], object]:
    from bot.embeddings import make_embeddings
    from bot.index import build_index

    settings = get_settings()
    emb = make_embeddings(settings)

    def rebuild() -> object:
        started = time.perf_counter()
        gen = build_index(settings, emb)
        print(f"built {gen.name} in {time.perf_counter() - started:.1f}s")
        return gen

    return rebuild


def _knowledge_base() -> KnowledgeBase:
    from bot.catalog import KnowledgeBase

    return KnowledgeBase(get_settings())


def print_check(doc: Document, file: str) -> None:
    """The parser's findings, for an administrator to compare with the printed notice."""
    validity = " ".join(
        part
        for part in (
            f"from {doc.effective_from}" if doc.effective_from else "",
            f"until {doc.expires}" if doc.expires else "",
        )
        if part
    )
    rows = [
        ("file", f"{file} -> document id {doc.slug}"),
        ("title", doc.title),
        ("name", doc.name if doc.name != doc.title else ""),
        ("文号", doc.doc_number or "(none printed)"),
        ("issuers", "、".join(doc.issuers)),
        ("addressees", doc.addressees),
        ("date", f"{doc.date} ({doc.date_iso})"),
        ("region", f"{doc.region} ({doc.region_level})"),
        ("validity", f"{validity or 'no term printed'}; status today: {doc.status_on()}"),
        ("supersedes", "、".join(doc.supersedes)),
        ("attachments", "；".join(doc.attachments)),
        ("contact", doc.contact),
        ("clauses", f"{len(doc.measures)} in {len(doc.sections)} section(s)"),
    ]
    for key, value in rows:
        if value:
            print(f"{key:<12} {value}")
    for m in doc.measures:
        units = f"  [{m.unit_kind}: {'、'.join(m.units)}]" if m.units else ""
        section = f" <{m.section}>" if m.section else ""
        text = m.text if len(m.text) <= 40 else m.text[:40] + "…"
        about = "  (about the document itself)" if m.about_document else ""
        print(f"  {m.number:>3} {m.label:<6} line {m.line:<4}{section} {text}{units}{about}")
    if doc.warnings:
        print("warnings:")
        for w in doc.warnings:
            print(f"  - {w}")


def cmd_docs_check(args: argparse.Namespace) -> int:
    path = Path(args.file)
    data = path.read_bytes()
    if args.text:  # the converted text with the line numbers that error messages name
        from bot.formats import to_text

        for i, line in enumerate(to_text(data, path.name).splitlines(), 1):
            print(f"{i:>5}  {line}")
        return 0
    doc = _knowledge_base().check(data, path.name, args.doc, source=str(path))
    print_check(doc, str(path))
    return 0


def cmd_docs_add(args: argparse.Namespace) -> int:
    path = Path(args.file)
    kb = _knowledge_base()
    kb.check(path.read_bytes(), path.name, args.doc, source=str(path))  # fails before the model loads
    record = kb.add(path.read_bytes(), path.name, slug=args.doc, replace_existing=args.replace, rebuild=_rebuild())
    d = record.document
    print(f"added {d.slug}: {d.title} ({len(d.measures)} clauses, status {d.status_on()})")
    return 0


def cmd_docs_list(args: argparse.Namespace) -> int:
    records = _knowledge_base().records()
    print(f"{'document':<44} {'status':<11} {'date':<11} {'region':<7} {'clauses':>7}  文号 / title")
    for r in records:
        d = r.document
        print(
            f"{d.slug:<44} {d.status_on():<11} {d.date_iso:<11} {d.region:<7} {len(d.measures):>7}  "
            f"{d.doc_number or '-'}  {d.title}"
        )
    return 0


def cmd_docs_retire(args: argparse.Namespace) -> int:
    record = _knowledge_base().retire(args.doc, rebuild=_rebuild())
    print(f"retired {record.slug} ({record.entry.retired})")
    return 0


def cmd_docs_remove(args: argparse.Namespace) -> int:
    _knowledge_base().remove(args.doc, rebuild=_rebuild())
    print(f"removed {args.doc}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.server import serve

    settings = get_settings()
    serve(
        settings,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
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
    e.add_argument("--doc", default=None, help="document that numeric gold labels refer to (default: the first)")
    e.add_argument(
        "--llm", action="store_true", help="also explain every answer through the configured LLM and its guard"
    )
    e.set_defaults(func=cmd_eval)
    c = sub.add_parser("calibrate", help="fit the scope decision on labelled question sets")
    c.add_argument("--sets", nargs="*", default=None, help="JSONL sets (default: those of the current file)")
    c.add_argument("--out", default=None, help="calibration file (default: index/calibration.json)")
    c.add_argument("--target-false-refusal", type=float, default=0.01, help="cross-validated false-refusal bound")
    c.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength")
    c.add_argument("--rows", default=None, help="also write the collected decisions to this JSONL file")
    c.set_defaults(func=cmd_calibrate)
    s = sub.add_parser("serve", help="run the HTTP API")
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--workers", type=int, default=None)
    s.set_defaults(func=cmd_serve)
    d = sub.add_parser("docs", help="the knowledge base's documents")
    dsub = d.add_subparsers(dest="docs_command", required=True)
    c = dsub.add_parser("check", help="print what the parser finds in a notice; changes nothing")
    c.add_argument("file")
    c.add_argument("--doc", default=None, help="document id (default: from the file name)")
    c.add_argument("--text", action="store_true", help="print the extracted text with line numbers instead")
    c.set_defaults(func=cmd_docs_check)
    ad = dsub.add_parser("add", help="add (or --replace) a notice and rebuild the index")
    ad.add_argument("file")
    ad.add_argument("--doc", default=None, help="document id (default: from the file name)")
    ad.add_argument("--replace", action="store_true", help="replace the document with this id")
    ad.set_defaults(func=cmd_docs_add)
    ls = dsub.add_parser("list", help="list the documents and their status")
    ls.set_defaults(func=cmd_docs_list)
    rt = dsub.add_parser("retire", help="keep a document in the index but no longer as current policy")
    rt.add_argument("doc")
    rt.set_defaults(func=cmd_docs_retire)
    rm = dsub.add_parser("remove", help="remove a document from the sources and the index")
    rm.add_argument("doc")
    rm.set_defaults(func=cmd_docs_remove)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PolicyBotError as exc:
        detail = f" ({exc.detail})" if exc.detail else ""
        print(f"error: {exc.code}: {exc.message}{detail}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file named on the command line that cannot be read
        print(f"error: file_error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
