"""A committee's report on its cells' meetings for a quarter, a half-year or a year, in
the layout a Party committee files on paper (báo cáo kết quả sinh hoạt chi bộ).

Pure: the figures in (what `queries.period_report_figures` reads), the document out
(`PeriodReport`: header block, title, sections of sentences and tables, the signature
block). `report_render` prints it as PDF or XLSX; nothing here reads a database or
knows a web framework.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from chibo.errors import ValidationFailed
from chibo.inputs import MAX_YEAR, MIN_YEAR
from services.reporting.web.html_tables import Column, Table
from services.reporting.web.i18n import Translator

REPORT_PERIOD = re.compile(r"^(\d{4})(?:-Q([1-4])|-H([12]))?$")
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
LEVELS = ("good", "fair", "average", "poor", "unscored")
RATINGS = ("excellent", "good", "complete", "failed")
#: Cells named in "cells needing attention", worst first; the rest are counted.
ATTENTION_LIMIT = 40
#: A blank to fill in by hand on the printed page (a number, a place, a signature).
BLANK = "…………"


# -- periods ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportPeriod:
    """A quarter ('2026-Q3'), a half-year ('2026-H1') or a year ('2026')."""

    value: str

    @property
    def year(self) -> int:
        return int(self.value[:4])

    @property
    def kind(self) -> str:
        return "quarter" if "-Q" in self.value else ("half" if "-H" in self.value else "year")

    @property
    def number(self) -> int:
        return int(self.value[-1]) if self.kind != "year" else 1

    @property
    def quarters(self) -> list[str]:
        """The quarters it covers, in order."""
        if self.kind == "quarter":
            return [self.value]
        first = 1 if self.kind == "year" or self.number == 1 else 3
        last = 4 if self.kind == "year" else first + 1
        return [f"{self.year}-Q{q}" for q in range(first, last + 1)]

    @property
    def months(self) -> list[str]:
        out = []
        for quarter in self.quarters:
            q = int(quarter[-1])
            out += [f"{self.year}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)]
        return out

    @property
    def first_day(self) -> date:
        return date.fromisoformat(self.months[0] + "-01")

    @property
    def last_day(self) -> date:
        last = self.months[-1]
        year, month = int(last[:4]), int(last[5:7])
        following = date(year + (month == 12), month % 12 + 1, 1)
        return date.fromordinal(following.toordinal() - 1)

    def previous(self) -> ReportPeriod:
        """The period of the same length just before it."""
        if self.kind == "year":
            return ReportPeriod(str(self.year - 1))
        count = 4 if self.kind == "quarter" else 2
        letter = "Q" if self.kind == "quarter" else "H"
        if self.number == 1:
            return ReportPeriod(f"{self.year - 1}-{letter}{count}")
        return ReportPeriod(f"{self.year}-{letter}{self.number - 1}")

    def phrase(self, lang: str) -> str:
        """'quý III năm 2026', '6 tháng đầu năm 2026', 'năm 2026' (en: 'Q3 2026', …)."""
        if lang == "vi":
            if self.kind == "quarter":
                return f"quý {ROMAN[self.number]} năm {self.year}"
            if self.kind == "half":
                return f"6 tháng {'đầu' if self.number == 1 else 'cuối'} năm {self.year}"
            return f"năm {self.year}"
        if self.kind == "quarter":
            return f"Q{self.number} {self.year}"
        if self.kind == "half":
            return f"{'first' if self.number == 1 else 'second'} half of {self.year}"
        return str(self.year)


def parse_period(value: str | None, field_name: str = "period") -> ReportPeriod:
    """A report period from a query parameter, or a 422 naming the parameter."""
    found = REPORT_PERIOD.match(value or "")
    if not found:
        raise ValidationFailed({field_name: [
            "Expected a quarter (2026-Q3), a half-year (2026-H1) or a year (2026)."]})
    if not MIN_YEAR < int(found.group(1)) <= MAX_YEAR:
        raise ValidationFailed({field_name: [f"Expected a year from {MIN_YEAR + 1} to "
                                             f"{MAX_YEAR}."]})
    return ReportPeriod(value or "")


# -- the document ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Section:
    heading: str
    #: Sentences (str) and tables (`Table`, labels as message keys), in reading order.
    blocks: tuple[str | Table, ...]


@dataclass(frozen=True)
class Signature:
    on_behalf: str  # "T/M BAN THƯỜNG VỤ"
    position: str  # "BÍ THƯ", or a blank line to fill in
    name: str  # the signer's name, or a blank line


@dataclass(frozen=True)
class PeriodReport:
    lang: str
    unit_id: str
    unit_name: str
    period: str
    previous_period: str
    higher_name: str  # the committee above the issuer, in capitals ("" at the top)
    issuer_name: str  # in capitals
    number_line: str  # "Số …-BC/ĐU"
    party_line: str  # "ĐẢNG CỘNG SẢN VIỆT NAM"
    place_date: str  # "Mẫu, ngày 05 tháng 10 năm 2026"
    title: str  # "BÁO CÁO"
    subtitle: str  # "Kết quả sinh hoạt chi bộ quý III năm 2026"
    sections: tuple[Section, ...]
    signature: Signature
    recipients: tuple[str, ...] = field(default=())
    filename: str = ""

    def tables(self) -> list[Table]:
        return [block for section in self.sections for block in section.blocks
                if isinstance(block, Table)]

    def lines(self) -> list[str]:
        """The report as plain lines, in reading order (the XLSX cover sheet)."""
        out = [line for line in (self.higher_name, self.issuer_name) if line]
        out += [self.number_line, self.party_line, self.place_date, "", self.title,
                self.subtitle, ""]
        for section in self.sections:
            out.append(section.heading)
            out += [block for block in section.blocks if isinstance(block, str)]
            out.append("")
        out += [self.signature.on_behalf, self.signature.position, "", self.signature.name]
        return out


@dataclass(frozen=True)
class PrintedFields:
    """What the caller may add to the printed report: their number, place, the
    signer's position and name (blank lines to fill in by hand when absent)."""

    number: str | None = None
    place: str | None = None
    signer_position: str | None = None
    signer_name: str | None = None


#: The abbreviation after "-BC/" by the issuing unit's kind (Tỉnh ủy: TU; a committee:
#: ĐU; a cell: CB).
ISSUER_SUFFIX = {"province": "TU", "cell": "CB", "grassroots_cell": "CB"}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _change(tr: Translator, now: Any, before: Any, percent: bool) -> str:
    if now is None or before is None:
        return "—"
    delta = now - before
    sign = "+" if delta > 0 else ""
    if percent:
        return sign + tr.number(round(delta * 100, 1), 1) + (" điểm %" if tr.lang == "vi"
                                                              else " pts")
    return sign + tr.number(delta)


def assemble(data: Mapping[str, Any], tr: Translator, asked: PrintedFields | None = None
             ) -> PeriodReport:
    """The report from `data` (`queries.period_report_figures`): ``unit`` (id, name,
    kind, is_cell), ``higher`` (the committee above, or None), ``period`` and
    ``previous`` (the period and the one before, as text), ``today`` (ISO), ``summary``
    and ``previous_summary`` (`queries.metrics`), ``months`` (period, metrics) for the
    months the clock has reached, ``ratings`` (`queries.ratings` plus ``year``),
    ``children`` (name, kind, is_cell, metrics), ``escalations`` (every escalation
    under the unit, `queries.escalation_list`'s rows) and ``cells`` (each cell's own
    figures for the period: id, name, parent name, months, months_met, thematic,
    visited, poor)."""
    asked = asked or PrintedFields()
    lang = tr.lang
    period = ReportPeriod(data["period"])
    previous = ReportPeriod(data["previous"])
    unit = data["unit"]
    now, before = data["summary"], data["previous_summary"]
    today = date.fromisoformat(str(data["today"])[:10])
    phrase = period.phrase(lang)

    def n(value: Any) -> str:
        return tr.number(value)

    def pct(value: Any) -> str:
        return tr.percent(value)

    sections: list[Section] = []
    # I. Regular meetings, month by month.
    months_table = Table("report_months", "report.table.months", [
        Column("period", "col.month", "month"),
        Column("cells", "col.cells", "int"),
        Column("months_met", "report.col.held", "int"),
        Column("met_share", "col.met_share", "percent"),
        Column("thematic_meetings", "col.thematic_meetings", "int"),
        Column("attendance_rate", "col.attendance_rate", "percent"),
    ], [{"period": m["period"], **m["figures"]} for m in data["months"]])
    sections.append(Section(tr("report.section.regular"), (
        tr("report.text.regular", cells=n(now["cells"]), cell_months=n(now["cell_months"]),
           held=n(now["months_met"]), share=pct(now["met_share"]), period=phrase),
        months_table)))
    sections.append(Section(tr("report.section.thematic"), (
        tr("report.text.thematic", meetings=n(now["thematic_meetings"]),
           cells=n(now["cells_thematic"]), total=n(now["cells"]),
           share=pct(now["thematic_share"])),)))
    duration = now["avg_duration_minutes"]
    sections.append(Section(tr("report.section.attendance"), (
        tr("report.text.attendance", counted=n(now["members_counted"]),
           present=n(now["members_present"]), share=pct(now["attendance_rate"]),
           unexcused=n(now["unexcused_absences"])),
        *([tr("report.text.duration", minutes=n(duration))] if duration else []))))
    scored = sum(now["quality"][level] for level in LEVELS)
    quality = Table("report_quality", "report.table.quality", [
        Column("level", "col.level", "level"), Column("count", "report.col.meetings", "int"),
        Column("share", "report.col.share", "percent")],
        [{"level": level, "count": now["quality"][level],
          "share": _share(now["quality"][level], scored)} for level in LEVELS])
    sections.append(Section(tr("report.section.quality"), (
        tr("report.text.quality", good=n(now["quality"]["good"]),
           fair=n(now["quality"]["fair"]), average=n(now["quality"]["average"]),
           poor=n(now["quality"]["poor"]), unscored=n(now["quality"]["unscored"])),
        quality)))
    rated = data["ratings"]
    ratings = Table("report_ratings", "report.table.ratings", [
        Column("rating", "col.rating", "code", codes="rating"),
        Column("count", "col.members_rated", "int"),
        Column("share", "report.col.share", "percent")],
        [{"rating": level, "count": rated["levels"][level],
          "share": rated["shares"][level]} for level in RATINGS])
    sections.append(Section(tr("report.section.ratings", year=str(rated["year"])), (
        tr("report.text.ratings", year=str(rated["year"]), rated=n(rated["rated"]),
           **{level: n(rated["levels"][level]) for level in RATINGS})
        if rated["rated"] else tr("report.text.no_ratings", year=str(rated["year"])),
        *([ratings] if rated["rated"] else []))))
    sections.append(Section(tr("report.section.tasks"), (
        tr("report.text.tasks", due=n(now["tasks_due"]), done=n(now["tasks_completed"]),
           share=pct(now["task_completion"]), overdue=n(now["tasks_overdue"])),)))
    sections.append(Section(tr("report.section.visits"), (
        tr("report.text.visits", visited=n(now["cells_visited"]), cells=n(now["cells"]),
           share=pct(now["visit_coverage"]), missing=n(max(now["cells"] - now[
               "cells_visited"], 0))),)))
    sections.append(escalation_section(data["escalations"], period, tr))
    sections.append(comparison_section(now, before, previous, tr))
    if data["children"]:
        sections.append(children_section(data["children"], tr))
    sections.append(attention_section(data["cells"], tr))

    suffix = ISSUER_SUFFIX.get(unit["kind"], "ĐU")
    number = asked.number.strip() if asked.number and asked.number.strip() else BLANK
    place = asked.place.strip() if asked.place and asked.place.strip() else BLANK
    if lang == "vi":
        place_date = f"{place}, ngày {today:%d} tháng {today:%m} năm {today:%Y}"
    else:
        place_date = f"{place}, {today:%d/%m/%Y}"
    on_behalf = tr("report.sign.cell" if unit.get("is_cell") else "report.sign.committee")
    return PeriodReport(
        lang=lang, unit_id=unit["unit_id"], unit_name=unit["name"], period=period.value,
        previous_period=previous.value,
        higher_name=(data["higher"]["name"].upper() if data.get("higher") else ""),
        issuer_name=unit["name"].upper(),
        number_line=f"{tr('report.number')} {number}-BC/{suffix}",
        party_line=tr("report.party"), place_date=place_date,
        title=tr("report.heading"),
        subtitle=tr("report.subtitle", period=phrase),
        sections=tuple(sections),
        signature=Signature(on_behalf, (asked.signer_position or "").strip().upper()
                            or BLANK, (asked.signer_name or "").strip() or BLANK),
        recipients=(tr("report.to_higher"), tr("report.to_file")),
        filename=f"bao-cao-sinh-hoat-chi-bo-{unit['unit_id']}-{period.value}",
    )


def in_period(day: str | None, period: ReportPeriod) -> bool:
    return bool(day) and period.first_day.isoformat() <= str(day)[:10] <= \
        period.last_day.isoformat()


def escalation_counts(found: Sequence[Mapping[str, Any]], period: ReportPeriod
                      ) -> dict[str, Any]:
    """Escalations raised in the period, resolved in it, and open at its end, by rule."""
    opened = [e for e in found if in_period(e.get("raised_on"), period)]
    resolved = [e for e in found if in_period(e.get("resolved_on"), period)]
    end = period.last_day.isoformat()
    still_open = [e for e in found if str(e.get("raised_on"))[:10] <= end
                  and not (e.get("resolved_on") and str(e["resolved_on"])[:10] <= end)]
    rules = sorted({str(e["rule"]) for e in [*opened, *resolved, *still_open]})
    by_rule = [{"rule": rule,
                "opened": sum(e["rule"] == rule for e in opened),
                "resolved": sum(e["rule"] == rule for e in resolved),
                "open": sum(e["rule"] == rule for e in still_open)} for rule in rules]
    return {"opened": len(opened), "resolved": len(resolved), "open": len(still_open),
            "by_rule": by_rule}


def escalation_section(found: Sequence[Mapping[str, Any]], period: ReportPeriod,
                       tr: Translator) -> Section:
    counts = escalation_counts(found, period)
    table = Table("report_escalations", "report.table.escalations", [
        Column("rule", "col.rule", "code", codes="rule"),
        Column("opened", "report.col.opened", "int"),
        Column("resolved", "report.col.resolved", "int"),
        Column("open", "report.col.open_at_end", "int")], counts["by_rule"])
    text = tr("report.text.escalations", opened=tr.number(counts["opened"]),
              resolved=tr.number(counts["resolved"]), open=tr.number(counts["open"]))
    return Section(tr("report.section.escalations"),
                   (text, table) if counts["by_rule"] else (text,))


#: The figures compared with the previous period: (metrics key, message key, a share?).
COMPARED = (("cells", "col.cells", False), ("months_met", "report.col.held", False),
            ("met_share", "col.met_share", True),
            ("thematic_meetings", "col.thematic_meetings", False),
            ("thematic_share", "col.thematic_share", True),
            ("attendance_rate", "col.attendance_rate", True),
            ("unexcused_absences", "col.unexcused_absences", False),
            ("good_share", "report.col.good_share", True),
            ("task_completion", "col.task_completion", True),
            ("tasks_overdue", "col.tasks_overdue", False),
            ("visit_coverage", "col.visit_coverage", True))


def _with_good_share(figures: Mapping[str, Any]) -> dict[str, Any]:
    scored = sum(figures["quality"][level] for level in LEVELS if level != "unscored")
    return {**figures, "good_share": _share(figures["quality"]["good"], scored)}


def comparison_section(now: Mapping[str, Any], before: Mapping[str, Any],
                       previous: ReportPeriod, tr: Translator) -> Section:
    a, b = _with_good_share(now), _with_good_share(before)
    rows = []
    for key, label, share in COMPARED:
        fmt = tr.percent if share else tr.number
        rows.append({"figure": tr(label), "now": fmt(a[key]), "before": fmt(b[key]),
                     "change": _change(tr, a[key], b[key], share)})
    table = Table("report_comparison", "report.table.comparison", [
        Column("figure", "report.col.figure"), Column("now", "report.col.this_period"),
        Column("before", "report.col.previous_period"),
        Column("change", "report.col.change")], rows)
    if not before["cell_months"]:
        text = tr("report.text.no_previous", previous=previous.phrase(tr.lang))
    else:
        text = tr("report.text.comparison", previous=previous.phrase(tr.lang),
                  met=tr.percent(a["met_share"]), met_before=tr.percent(b["met_share"]),
                  attendance=tr.percent(a["attendance_rate"]),
                  attendance_before=tr.percent(b["attendance_rate"]))
    return Section(tr("report.section.comparison"), (text, table))


def children_section(children: Sequence[Mapping[str, Any]], tr: Translator) -> Section:
    table = Table("report_children", "report.table.children", [
        Column("name", "col.name"), Column("cells", "col.cells", "int"),
        Column("met_share", "col.met_share", "percent"),
        Column("thematic_share", "col.thematic_share", "percent"),
        Column("attendance_rate", "col.attendance_rate", "percent"),
        Column("task_completion", "col.task_completion", "percent"),
        Column("visit_coverage", "col.visit_coverage", "percent")],
        [dict(child) for child in children])
    return Section(tr("report.section.children"), (table,))


def needs_attention(cell: Mapping[str, Any]) -> bool:
    return bool(cell["months"] - cell["months_met"] > 0 or cell["poor"]
                or not cell["visited"] or not cell["thematic"])


def attention_section(cells: Sequence[Mapping[str, Any]], tr: Translator) -> Section:
    """Cells that missed a regular meeting, held a poor one, held no thematic meeting or
    were not visited, the most months missed first, by name."""
    flagged = [c for c in cells if needs_attention(c)]
    flagged.sort(key=lambda c: (-(c["months"] - c["months_met"]), -c["poor"],
                                c["visited"], c["thematic"], c["sort_key"]))
    rows = [{"name": c["name"], "parent_name": c["parent_name"],
             "missed": c["months"] - c["months_met"], "poor": c["poor"],
             "thematic": tr("report.yes") if c["thematic"] else tr("report.no"),
             "visited": tr("report.yes") if c["visited"] else tr("report.no")}
            for c in flagged[:ATTENTION_LIMIT]]
    table = Table("report_attention", "report.table.attention", [
        Column("name", "col.cell"), Column("parent_name", "col.parent"),
        Column("missed", "report.col.months_missed", "int"),
        Column("poor", "report.col.poor_meetings", "int"),
        Column("thematic", "report.col.thematic_held"),
        Column("visited", "report.col.visited")], rows)
    blocks: list[str | Table] = [tr("report.text.attention", count=tr.number(len(flagged)),
                                    cells=tr.number(len(cells)))]
    if rows:
        blocks.append(table)
    if len(flagged) > ATTENTION_LIMIT:
        blocks.append(tr("report.text.attention_more",
                         count=tr.number(len(flagged) - ATTENTION_LIMIT)))
    return Section(tr("report.section.attention"), tuple(blocks))
