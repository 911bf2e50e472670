"""The pilot report as files: Markdown to read, CSV per section to reuse, SVG charts to look at."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from domain.money import format_fen
from reports.charts import bar_chart
from reports.pilot_figures import PilotFigures, Table

FEN_COLUMNS = {"premium_fen", "aggregate_limit_fen", "paid_fen"}


def yuan(fen: int | None, currency: str = "CNY") -> str:
    """Exact to the fen, never through a float; an amount not known yet counts as none."""
    return format_fen(fen or 0, currency)


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return out.getvalue()


def charts(figures: PilotFigures) -> dict[str, str]:
    tables = figures.tables
    premium: dict[str, int] = {}
    for industry, _cls, _count, currency, premium_fen, _limit in tables["policies"].rows:
        if currency == "CNY":
            premium[industry] = premium.get(industry, 0) + int(premium_fen or 0)
    by_category: dict[str, int] = {}
    for _grade, category, count, _covered in tables["incidents"].rows:
        by_category[category] = by_category.get(category, 0) + int(count)
    return {
        "premium_by_industry.svg": bar_chart(
            "Premium by industry (¥)", [(k.replace("_", " "), v / 100) for k, v in sorted(premium.items())]
        ),
        "incidents_by_category.svg": bar_chart(
            "Incidents by category", [(k.replace("_", " "), v) for k, v in sorted(by_category.items())]
        ),
        "remediation_by_severity.svg": bar_chart(
            "Findings fixed, by severity (%)", [(row[0], float(row[6] or 0)) for row in tables["findings"].rows],
            unit="%",
        ),
    }


def to_markdown(figures: PilotFigures, *, title: str, chart_files: list[str]) -> str:
    start, end = figures.period_start.date().isoformat(), figures.period_end.date().isoformat()
    lines = [f"# {title}", "", f"Period: {start} to {end} (end exclusive). Generated from the service's own records.", ""]
    lines += _headline(figures)
    for name in chart_files:
        lines += [f"![{name.removesuffix('.svg').replace('_', ' ')}]({name})", ""]
    for table in figures.tables.values():
        lines += [f"## {table.title}", ""]
        if not table.rows:
            lines += ["Nothing in this period.", ""]
            continue
        lines.append("| " + " | ".join(_heading(c) for c in table.columns) + " |")
        lines.append("|" + "|".join("---:" if _numeric(table, i) else "---" for i in range(len(table.columns))) + "|")
        for row in table.rows:
            lines.append("| " + " | ".join(_cell(table, row, i) for i in range(len(row))) + " |")
        lines.append("")
    return "\n".join(lines)


def write_report(figures: PilotFigures, folder: Path, *, title: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    svgs = charts(figures)
    for name, svg in svgs.items():
        written.append(_write(folder / name, svg))
    for table in figures.tables.values():
        written.append(_write(folder / f"{table.name}.csv", to_csv(table)))
    written.insert(0, _write(folder / "report.md", to_markdown(figures, title=title, chart_files=list(svgs))))
    return written


def _headline(figures: PilotFigures) -> list[str]:
    t = figures.tables
    policies = sum(int(row[2]) for row in t["policies"].rows)
    premium = sum(int(row[4] or 0) for row in t["policies"].rows if row[3] == "CNY")
    findings = sum(int(row[1]) for row in t["findings"].rows)
    fixed = sum(int(row[2]) for row in t["findings"].rows)
    incidents = sum(int(row[2]) for row in t["incidents"].rows)
    reports = t["regulatory_reports"].rows[0] if t["regulatory_reports"].rows else (0, 0, 0, 0, 0)
    paid = sum(int(row[3] or 0) for row in t["payouts"].rows if row[0] == "CNY")
    rate = f"{100 * fixed / findings:.1f}%" if findings else "n/a"
    return [
        f"- Policies bound: {policies}, premium {yuan(premium)}",
        f"- Monitoring findings: {findings}, fixed {fixed} ({rate})",
        (f"- Incidents: {incidents}; reports to the authorities due {reports[0]}: on time {reports[1]}, "
         f"late {reports[2]}, overdue and not filed {reports[3]}"),
        f"- Paid on claims: {yuan(paid)}",
        "",
    ]


def _heading(column: str) -> str:
    return column.removesuffix("_fen").replace("_", " ")


def _numeric(table: Table, index: int) -> bool:
    return any(isinstance(row[index], (int, float)) and not isinstance(row[index], bool) for row in table.rows)


def _cell(table: Table, row: tuple, index: int) -> str:
    value, column = row[index], table.columns[index]
    if column in FEN_COLUMNS:
        currency = row[table.columns.index("currency")] if "currency" in table.columns else "CNY"
        return yuan(value, currency)
    return "" if value is None else str(value).replace("|", "\\|")


def _write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path
