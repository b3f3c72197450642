"""The comparison of two runs in the terminal: the aggregate metrics, the documents that moved most, one summary line.

The HTML page (compare_page.py) shows every document and its records; the terminal shows what fits a screen.
Every string from a run (document ids, paths, statuses) goes through `display.shown`, so an id like `[/x]` is
printed as text, not read as rich markup.
"""

from __future__ import annotations

from rich.table import Table

from llm_extract.core.display import shown
from llm_extract.evaluation.compare import RunComparison

DOCUMENT_ROWS = 20  # documents listed by default: the largest regressions and improvements come first


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def summary_line(comparison: RunComparison) -> str:
    """One line of what moved, as plain text (print it with display.shown)."""
    s = comparison.summary
    both = s.better + s.worse + s.same
    parts = [f"{s.worse} worse, {s.better} better, {s.same} the same of {both} documents both runs answered "
             f"(mean Δ {comparison.score_name} {_number(s.mean_delta, signed=True)})"]  # fmt: skip
    if s.status_changes:
        parts.append(f"{s.status_changes} changed status")
    if s.only_a or s.only_b:
        parts.append(f"{s.only_a} only in A, {s.only_b} only in B")
    return "; ".join(parts)


def overall_table(comparison: RunComparison) -> Table:
    """The suite's headline metrics of both runs: on the whole suite, and on the documents both answered when
    they are fewer (a run of part of the suite scores its missing documents as finding nothing)."""
    table = Table(title=shown(f"suite {comparison.suite}: run B against run A"))
    for column in ("metric", "A", "B", "Δ"):
        table.add_column(column, justify="left" if column == "metric" else "right", no_wrap=True)
    shared = comparison.overall_shared
    if shared is not None:
        table.add_column("A, B on shared", justify="right", no_wrap=True)
        table.add_column("Δ shared", justify="right", no_wrap=True)
    for position, headline in enumerate(comparison.overall):
        row = [headline.metric, _number(headline.a), _number(headline.b), _number(headline.delta, signed=True)]
        if shared is not None:
            other = shared[position]
            row += [f"{_number(other.a)}, {_number(other.b)}", _number(other.delta, signed=True)]
        table.add_row(*map(shown, row))
    return table


def documents_table(comparison: RunComparison, limit: int | None = DOCUMENT_ROWS) -> Table:
    """The shown documents in the comparison's order (regressions first), `limit` of them (None: all)."""
    shown_documents = comparison.shown
    rows = shown_documents if limit is None else shown_documents[:limit]
    more = len(shown_documents) - len(rows)
    caption = f"{more} more in the HTML page (-o)" if more else None
    table = Table(title=shown(f"per document: {comparison.score_name}"), caption=caption)
    for column in ("document", "A", "B", "Δ", "status A → B", "note"):
        table.add_column(column, justify="right" if column in ("A", "B", "Δ") else "left")
    for document in rows:
        a, b = document.a, document.b
        statuses = f"{a.status if a else '—'} → {b.status if b else '—'}"
        notes: list[str] = [document.change] if document.change.startswith("only") else []
        notes += ["status changed"] if document.status_changed else []
        notes += ["records differ"] if document.change == "same" and document.records_differ else []
        style = {"worse": "red", "better": "green"}.get(document.change)
        table.add_row(
            shown(document.doc_id), _number(a.score if a else None), _number(b.score if b else None),
            _number(document.delta, signed=True), shown(statuses), ", ".join(notes), style=style,
        )  # fmt: skip
    return table
