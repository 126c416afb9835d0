"""Reporting's months of a cell, from a small province's events projected into an
in-memory database: held on time, held late (a make-up meeting), missed, not yet due,
not yet established, dissolved; and escalations read in the reader's language."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from services.reporting import queries, views
from services.reporting.web import html_tables, render
from services.reporting.web.i18n import Translator
from tests.unit.test_reporting_projection import Log, held, live_order, project_all, unit
from tests.unit.test_reporting_views import html
from tests.unit.test_reporting_web import visible_text

TODAY = date(2026, 4, 3)  # March ended three days ago: within its five grace days


def province() -> Log:
    log = Log()
    unit(log, "P", "province", None)
    unit(log, "A", "committee", "P")
    unit(log, "C1", "grassroots_cell", "A")
    unit(log, "C2", "grassroots_cell", "A", on="2026-02-15")  # set up in mid-February
    unit(log, "C3", "grassroots_cell", "A")
    held(log, "C1-01", "C1", "2026-01-08")
    # C1 misses February and makes it up on 3 March; March has its own meeting too.
    held(log, "C1-bu-02", "C1", "2026-03-03", level="fair")
    log.events[-1]["data"]["makes_up_month"] = "2026-02"
    log.events[-1]["version"] = 2
    held(log, "C1-03", "C1", "2026-03-10")
    held(log, "C3-01", "C3", "2026-01-09")
    log.add("members", "unit_dissolved", unit_id="C3", reason="sáp nhập", successor_id="C1",
            effective_date="2026-03-01")
    # Version 1 of escalation_raised (prose), and version 2 (facts).
    log.add("supervision", "escalation_raised", escalation_id="e-old", rule="task_overdue",
            level=1, target_unit_id="A", target_name="Đơn vị A", subject_id="t-1",
            subject_name="Làm đường", cell_id="C1", period="t-1", raised_on="2026-02-15",
            closed_period="2026-02-15",
            reason="Nhiệm vụ quá hạn 14 ngày: Làm đường — task overdue since 2026-02-01")
    log.add("supervision", "escalation_raised", escalation_id="e-new",
            rule="missed_regular_meeting", level=1, target_unit_id="A", target_name="Đơn vị A",
            subject_id="C3", subject_name="Đơn vị C3", cell_id="C3", period="2026-02",
            raised_on="2026-03-06", closed_period="2026-03-05",
            details={"months_in_a_row": 1}, evidence=[])
    log.events[-1]["version"] = 2
    log.add("supervision", "escalation_resolved", escalation_id="e-old", how="task_closed",
            by=None, on="2026-03-01", evidence=[])
    return log


@pytest.fixture(scope="module")
def factory():
    return project_all(live_order(province()))


@pytest.fixture
def session(factory):
    with factory() as made:
        yield made


def months(session, today: date = TODAY, grace_days: int = 5) -> dict[str, dict[str, str]]:
    grid = queries.heatmap_cells(session, "A", 2026, "then", today, grace_days)
    return {row["unit_id"]: {m: s["state"] for m, s in row["months"].items()}
            for row in grid["rows"]}


def test_each_month_has_its_own_state(session):
    grid = months(session)
    assert grid["C1"]["2026-01"] == "held"
    assert grid["C1"]["2026-02"] == "held_late"   # made up in March
    assert grid["C1"]["2026-03"] == "held"        # the make-up did not count for March
    assert grid["C1"]["2026-04"] == "not_due"     # running: no figures yet, not "no cell"
    assert grid["C1"]["2026-12"] == "not_due"
    assert grid["C2"]["2026-01"] == "not_established"
    assert grid["C2"]["2026-02"] == "not_established"  # set up mid-month: not judged
    assert grid["C2"]["2026-03"] == "not_due"     # ended, but within its grace days
    assert grid["C3"]["2026-01"] == "held"
    assert grid["C3"]["2026-02"] == "missed"
    assert grid["C3"]["2026-03"] == "dissolved"
    assert grid["C3"]["2026-04"] == "dissolved"


def test_a_month_is_missed_once_its_grace_days_have_passed(session):
    assert months(session, date(2026, 4, 5))["C2"]["2026-03"] == "not_due"
    assert months(session, date(2026, 4, 6))["C2"]["2026-03"] == "missed"
    assert months(session, date(2026, 4, 1), grace_days=0)["C2"]["2026-03"] == "missed"


def test_the_made_up_month_keeps_the_make_ups_level_and_figures(session):
    grid = queries.heatmap_cells(session, "A", 2026, "then", TODAY)
    c1 = next(row for row in grid["rows"] if row["unit_id"] == "C1")
    assert c1["months"]["2026-02"] == {"state": "held_late", "level": "fair"}
    february = queries.overview(session, "A", "2026-02", "then", today=TODAY)["summary"]
    march = queries.overview(session, "A", "2026-03", "then", today=TODAY)["summary"]
    assert february["months_met"] == 1   # C1 (late); C3 missed; C2 did not exist all month
    assert march["months_met"] == 1      # C1's own March meeting only
    assert march["thematic_meetings"] == 0


def test_the_flat_cell_month_report_tells_a_late_month_apart(session):
    rows = {r["cell_id"]: r for r in queries.cell_month_report(session, "2026-02")}
    assert rows["C1"]["regular_held"] and rows["C1"]["held_late"]
    assert not rows["C3"]["regular_held"] and not rows["C3"]["held_late"]


def test_the_cell_page_shows_the_late_month(session):
    context = views.cell(queries.cell(session, "C1", 2026, today=TODAY))
    codes = {row["month"]: row["state"] for row in context["months"].rows}
    assert codes["2026-02"] == "late_fair" and codes["2026-03"] == "good"
    text = visible_text(html("cell.html", context))
    assert "Sinh hoạt bù, Khá" in text


@pytest.mark.parametrize("lang, labels", [
    ("vi", ["Đã sinh hoạt đúng kỳ", "Sinh hoạt bù (muộn)", "Không sinh hoạt", "Chưa đến hạn",
            "Chi bộ chưa thành lập", "Chi bộ đã giải thể", "Chưa có số liệu"]),
    ("en", ["Held on time", "Held late (made up)", "Missed", "Not yet due",
            "Cell not yet established", "Cell dissolved", "No data"]),
])
def test_the_page_draws_each_state_with_its_own_class_and_legend(session, lang, labels):
    context = views.heatmap(queries.heatmap_cells(session, "A", 2026, "then", TODAY))
    page = html("heatmap.html", context, lang, path="/reporting/units/A/heatmap")
    legend = page[page.index('data-testid="heat-legend"'):page.index("</ul>")]
    for label in labels:
        assert label in legend, label
    assert "chưa thành lập hoặc đã giải thể" not in page
    for css in ('class="hm held level-good"', 'class="hm held-late level-fair"',
                'class="hm missed"', 'class="hm not-due"', 'class="hm not-established"',
                'class="hm dissolved"'):
        assert css in page, css
    assert 'title="Đơn vị C1 · 04/2026: ' in page and 'data-state="not_due"' in page


def test_the_export_names_each_state(session):
    context = views.heatmap(queries.heatmap_cells(session, "A", 2026, "then", TODAY))
    rows = list(csv.reader(io.StringIO(
        html_tables.to_csv(context["table"], Translator("vi")).decode("utf-8-sig"))))
    by_cell = {row[0]: row[4:8] for row in rows[1:]}
    assert by_cell["Đơn vị C1"] == ["Tốt", "Sinh hoạt bù, Khá", "Tốt", "Chưa đến hạn"]
    assert by_cell["Đơn vị C2"][:3] == ["Chưa thành lập", "Chưa thành lập", "Chưa đến hạn"]
    assert by_cell["Đơn vị C3"][:3] == ["Tốt", "Không sinh hoạt", "Đã giải thể"]


# -- escalations ---------------------------------------------------------------------------


def test_escalations_read_in_the_readers_language_with_a_human_period(session):
    data = queries.escalation_list(session, TODAY, None)
    by_id = {e["escalation_id"]: e for e in data["escalations"]}
    # The old one's facts were recovered from its prose; the new one carries them.
    assert by_id["e-old"]["details"] == {"due_on": "2026-02-01", "days_overdue": 14}
    assert by_id["e-old"]["reason"] == "Nhiệm vụ “Làm đường” quá hạn 14 ngày (hạn 01/02/2026)"
    assert by_id["e-new"]["reason"] == "Đơn vị C3 không sinh hoạt thường kỳ tháng 02/2026"
    context = views.escalations(data)
    for lang, expected in (
            ("vi", ["Hạn 01/02/2026", "02/2026", "Nhiệm vụ quá hạn",
                    "Nhiệm vụ “Làm đường” quá hạn 14 ngày (hạn 01/02/2026)",
                    "Nhiệm vụ đã hoàn thành hoặc đã hủy"]),
            ("en", ["Due 01/02/2026", "02/2026", "Task overdue",
                    "Task “Làm đường” is overdue by 14 days (due 01/02/2026)",
                    "Đơn vị C3: no regular meeting in 02/2026",
                    "The task was completed or cancelled"])):
        text = visible_text(html("escalations.html", context, lang, path="/reporting/escalations"))
        for phrase in expected:
            assert phrase in text, (lang, phrase)
        assert "2026-02-01" not in text  # no ISO date, and no task id for a period
    en = visible_text(html("escalations.html", context, "en", path="/reporting/escalations"))
    assert "không sinh hoạt" not in en and "task overdue since" not in en


def test_exports_of_escalations_carry_the_same_phrases(session):
    table = views.escalations(queries.escalation_list(session, TODAY, None))["table"]
    rows = list(csv.reader(io.StringIO(html_tables.to_csv(table, Translator("en"))
                                       .decode("utf-8-sig"))))
    header, *body = rows
    period, reason = header.index("Period"), header.index("Reason")
    assert sorted((row[period], row[reason]) for row in body) == [
        ("02/2026", "Đơn vị C3: no regular meeting in 02/2026"),
        ("Due 01/02/2026", "Task “Làm đường” is overdue by 14 days (due 01/02/2026)")]


def test_the_rule_filter_offers_every_rule_of_the_catalogue(session):
    from services.shared.escalation_rules import Rule

    context = views.escalations(queries.escalation_list(session, TODAY, None))
    page = render.render_html("escalations.html", "en", lambda **_: "#", **context)
    for rule in Rule:
        assert f'<option value="{rule.value}"' in page and rule.label_en in page
