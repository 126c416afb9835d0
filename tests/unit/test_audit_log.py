"""The audit log over reporting's archive: filters, pages, causes, and the per-source check."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chibo.db import create_schema, make_engine, session_factory
from chibo.errors import NotFound, ValidationFailed
from services.reporting import read_model
from services.reporting.archive import archive_row
from services.reporting.audit_search import search, search_by_query
from services.reporting.audit_trace import event
from services.reporting.source_checks import audit_metadata, check_source, latest_status

archive = read_model.archive
T0 = datetime(2026, 10, 4, 23, 0, tzinfo=UTC)


@pytest.fixture
def session():
    engine = make_engine("sqlite://")
    create_schema(engine, read_model.metadata, audit_metadata)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


class Archive:
    """Writes archive rows as reporting's projection does (`archive.archive_row`)."""

    def __init__(self, session) -> None:
        self.session = session
        self.positions: dict[str, int] = {}
        self.rows: list[dict] = []

    def add(self, source: str, type_: str, stream_id: str, *, actor: str = "cán bộ tổ chức",
            at: datetime = T0, command_id: str | None = None, correlation_id: str | None = None,
            causation_id: str | None = None, extra: dict | None = None,
            data: dict | None = None) -> dict:
        position = self.positions.get(source, 0) + 1
        self.positions[source] = position
        command_id = command_id or f"cmd-{uuid.uuid4().hex[:8]}"
        meta = {**(extra or {}), "actor": actor, "command_id": command_id,
                "correlation_id": correlation_id or command_id,
                "causation_id": causation_id or command_id}
        row = archive_row({
            "source": source, "position": position, "event_id": str(uuid.uuid4()),
            "stream_id": stream_id, "type": type_, "version": 1,
            "data": data or {"stream": stream_id}, "metadata": meta,
            "recorded_at": at.isoformat(timespec="microseconds"),
            "hash": uuid.uuid4().hex * 2})
        self.session.execute(archive.insert().values(**row))
        self.rows.append(row)
        return row

    def newest_first(self, rows: list[dict] | None = None) -> list[tuple[str, int]]:
        rows = self.rows if rows is None else rows
        ordered = sorted(rows, key=lambda r: (r["recorded_at"], r["source"], r["position"]),
                         reverse=True)
        return [(r["source"], r["position"]) for r in ordered]


def keys(result: dict) -> list[tuple[str, int]]:
    return [(r["source"], r["position"]) for r in result["results"]]


@pytest.fixture
def province(session):
    """Three days of a small province's events; several share a timestamp across sources."""
    log = Archive(session)
    for n in range(12):
        at = T0 + timedelta(hours=3 * n)
        log.add("members", "member_admitted", f"member-dv-{n:03d}", at=at,
                actor="Nguyễn Văn An" if n % 3 == 0 else "Lò Thị Xuân")
        log.add("meetings", "meeting_held", f"meeting-c{n % 4}-2026{n:02d}", at=at,
                actor="Lò Thị Xuân")
        if n % 2 == 0:
            log.add("supervision", "visit_logged", f"visit-{n}", at=at + timedelta(minutes=5),
                    actor="Đồng chí Lê Văn Hùng")
    session.commit()
    return log


# -- filters -------------------------------------------------------------------------

def test_without_filters_every_event_newest_first_ties_broken_by_source_and_position(
        session, province):
    result = search(session, limit=1000)
    assert keys(result) == province.newest_first()
    assert result["next"] is None
    first = result["results"][0]
    assert set(first) == {"source", "position", "event_id", "stream_id", "type", "version",
                          "recorded_at", "actor", "correlation_id", "causation_id"}
    # The newest two share a timestamp: source breaks the tie, descending like the rest.
    assert keys(result)[:2] == [("members", 12), ("meetings", 12)]
    assert first["actor"] == "Lò Thị Xuân" and first["stream_id"] == "member-dv-011"


def test_source_type_and_stream_filters(session, province):
    assert {r["source"] for r in search(session, source="meetings", limit=1000)["results"]} \
        == {"meetings"}
    assert len(search(session, type="visit_logged", limit=1000)["results"]) == 6
    exact = search(session, stream="member-dv-004")["results"]
    assert [(r["stream_id"], r["position"]) for r in exact] == [("member-dv-004", 5)]
    prefix = search(session, stream="meeting-c1-*", limit=1000)["results"]
    assert {r["stream_id"] for r in prefix} == {"meeting-c1-202601", "meeting-c1-202605",
                                                "meeting-c1-202609"}


def test_stream_prefix_is_literal_and_case_sensitive(session):
    log = Archive(session)
    wanted = log.add("members", "unit_established", "unit_x-1")
    log.add("members", "unit_established", "unitAx-2")  # `_` must not act as a wildcard
    log.add("members", "unit_established", "UNIT_X-3")  # SQLite's LIKE ignores ASCII case
    log.add("members", "unit_established", "unit%-4")
    session.commit()
    assert keys(search(session, stream="unit_x*")) == [("members", wanted["position"])]
    assert keys(search(session, stream="unit%*")) == [("members", 4)]
    assert len(search(session, stream="*")["results"]) == 4  # a bare * matches every stream


def test_actor_matches_the_metadata_actor_exactly(session, province):
    an = search(session, actor="Nguyễn Văn An", limit=1000)["results"]
    assert [r["position"] for r in an] == [10, 7, 4, 1]
    assert {r["actor"] for r in an} == {"Nguyễn Văn An"}
    assert search(session, actor="Nguyễn Văn")["results"] == []  # not a substring search
    assert search(session, actor="nguyễn văn an")["results"] == []  # nor case-blind


def test_actor_elsewhere_in_the_metadata_is_not_a_match(session):
    log = Archive(session)
    log.add("members", "member_admitted", "member-1", actor="hệ thống",
            extra={"on_behalf_of": {"actor": "Nguyễn Văn An"}})
    quoted = log.add("members", "member_admitted", "member-2", actor='Văn "Út" An\\')
    session.commit()
    assert search(session, actor="Nguyễn Văn An")["results"] == []
    assert keys(search(session, actor='Văn "Út" An\\')) == [("members", quoted["position"])]


def test_time_range_by_day_inclusive_and_by_timestamp(session, province):
    day = search(session, recorded_from="2026-10-05", recorded_to="2026-10-05",
                 limit=1000)["results"]
    assert day and all(r["recorded_at"].startswith("2026-10-05") for r in day)
    assert len(day) == len([r for r in province.rows
                            if r["recorded_at"].startswith("2026-10-05")])

    # 09:00 in Hà Nội is 02:00 UTC: the bound is inclusive to the microsecond.
    to = search(session, recorded_to="2026-10-05T09:00:00+07:00", limit=1000)["results"]
    assert max(r["recorded_at"] for r in to) == "2026-10-05T02:00:00.000000+00:00"
    since = search(session, recorded_from="2026-10-05T23:05Z", limit=1000)["results"]
    assert min(r["recorded_at"] for r in since) == "2026-10-05T23:05:00.000000+00:00"


def test_filters_combine(session, province):
    result = search(session, source="members", actor="Lò Thị Xuân", type="member_admitted",
                    stream="member-dv-00*", recorded_from="2026-10-05T12:00Z", limit=1000)
    assert keys(result) == [("members", 9), ("members", 8), ("members", 6)]


# -- pages ---------------------------------------------------------------------------

def pages(session, **filters) -> list[list[tuple[str, int]]]:
    out, before = [], None
    while True:
        result = search(session, before=before, **filters)
        out.append(keys(result))
        before = result["next"]
        if before is None:
            return out


@pytest.mark.parametrize("limit", [1, 4, 7, 30, 1000])
def test_pages_neither_repeat_nor_skip(session, province, limit):
    got = pages(session, limit=limit)
    assert all(len(page) == limit for page in got[:-1])
    assert [key for page in got for key in page] == province.newest_first()


def test_pages_of_a_filter_checked_in_python_are_full_and_complete(session):
    log = Archive(session)
    wanted = []
    for n in range(40):
        # Every other row passes the SQL prefilter but fails the exact check.
        if n % 2:
            wanted.append(log.add("members", "member_admitted", f"m-{n}", actor="An",
                                  at=T0 + timedelta(minutes=n)))
        else:
            log.add("members", "member_admitted", f"m-{n}", actor="an",
                    at=T0 + timedelta(minutes=n))
    session.commit()
    got = pages(session, actor="An", limit=6)
    assert [len(page) for page in got] == [6, 6, 6, 2]
    assert [key for page in got for key in page] == log.newest_first(wanted)


def test_a_cursor_stays_valid_while_new_events_arrive(session, province):
    first = search(session, limit=5)
    province.add("members", "member_admitted", "member-late", at=T0 + timedelta(days=30))
    session.commit()
    second = search(session, limit=5, before=first["next"])
    assert keys(second) == province.newest_first()[6:11]  # the newcomer is ahead of page one


# -- validation ----------------------------------------------------------------------

@pytest.mark.parametrize(("filters", "field", "words"), [
    ({"limit": 0}, "limit", "1 to 1000"),
    ({"limit": 1001}, "limit", "1 to 1000"),
    ({"limit": "mười"}, "limit", "whole number"),
    ({"limit": True}, "limit", "whole number"),
    ({"recorded_from": "2026-13-01"}, "recorded_from", "YYYY-MM-DD"),
    ({"recorded_to": "hôm qua"}, "recorded_to", "ISO"),
    ({"recorded_from": "2026-10-06", "recorded_to": "2026-10-05"}, "recorded_to", "before"),
    ({"before": "not-a-cursor"}, "before", "`next` value"),
    ({"source": "finance"}, "source", "members, meetings, supervision"),
    ({"actor": "  "}, "actor", "non-empty"),
])
def test_bad_input_names_the_field_and_what_to_do(session, filters, field, words):
    with pytest.raises(ValidationFailed) as caught:
        search(session, **filters)
    assert list(caught.value.fields) == [field]
    assert words in caught.value.fields[field][0]


def test_every_problem_is_reported_at_once(session):
    with pytest.raises(ValidationFailed) as caught:
        search(session, limit=0, recorded_from="x", source="y")
    assert set(caught.value.fields) == {"limit", "recorded_from", "source"}


def test_query_parameters_drive_search_and_errors_use_their_names(session, province):
    result = search_by_query(session, {"from": "2026-10-05", "to": "2026-10-05",
                                       "source": "members", "actor": "", "limit": "3",
                                       "unrelated": "ignored"})
    assert keys(result) == [("members", 9), ("members", 8), ("members", 7)]
    with pytest.raises(ValidationFailed) as caught:
        search_by_query(session, {"from": "05/10/2026", "limit": "0"})
    assert set(caught.value.fields) == {"from", "limit"}


# -- one event and its causes --------------------------------------------------------

def test_event_shows_envelope_cause_chain_across_sources_and_related(session):
    log = Archive(session)
    log.add("members", "unit_established", "unit-x")  # unrelated
    command = "cmd-admit-42"
    a = log.add("members", "member_admitted", "member-dv-1", command_id=command,
                actor="Nguyễn Văn An", data={"member_id": "dv-1", "full_name": "Hà Văn Thành"})
    b = log.add("supervision", "member_followed", "follow-dv-1", actor="hệ thống",
                command_id="cmd-reaction", correlation_id=command, causation_id=a["event_id"],
                at=T0 + timedelta(seconds=1))
    c = log.add("meetings", "roster_updated", "roster-c", actor="hệ thống",
                correlation_id=command, causation_id=a["event_id"],
                at=T0 + timedelta(seconds=2))
    session.commit()

    shown = event(session, b["event_id"])
    assert shown["data"] == {"stream": "follow-dv-1"}
    assert shown["metadata"]["causation_id"] == a["event_id"]
    assert shown["hash"] == b["hash"] and shown["source"] == "supervision"
    assert [(step["kind"], step.get("event_id") or step.get("command_id"))
            for step in shown["chain"]] == [("command", command), ("event", a["event_id"]),
                                            ("event", b["event_id"])]
    assert shown["chain"][1]["source"] == "members"
    assert [r["event_id"] for r in shown["related"]] == [a["event_id"], c["event_id"]]
    assert shown["related_truncated"] is False

    root = event(session, a["event_id"])
    assert root["data"] == {"member_id": "dv-1", "full_name": "Hà Văn Thành"}
    assert [step["kind"] for step in root["chain"]] == ["command", "event"]


def test_a_cause_reporting_never_archived_ends_the_chain_as_missing(session):
    log = Archive(session)
    orphan = log.add("meetings", "meeting_held", "meeting-1", causation_id="from-elsewhere")
    session.commit()
    chain = event(session, orphan["event_id"])["chain"]
    assert chain[0] == {"kind": "missing", "causation_id": "from-elsewhere"}


def test_related_is_capped(session):
    log = Archive(session)
    first = log.add("members", "member_admitted", "m-0", correlation_id="import-1")
    for n in range(1, 205):
        log.add("members", "member_admitted", f"m-{n}", correlation_id="import-1",
                at=T0 + timedelta(seconds=n))
    session.commit()
    shown = event(session, first["event_id"])
    assert len(shown["related"]) == 200 and shown["related_truncated"] is True
    assert shown["related"][0]["stream_id"] == "m-1"


def test_unknown_event_is_not_found(session):
    with pytest.raises(NotFound) as caught:
        event(session, str(uuid.uuid4()))
    assert caught.value.http_status == 404


# -- checking a source ---------------------------------------------------------------

def source_log(log: Archive, source: str) -> list[dict]:
    """The source's own envelopes, as its `read_events` RPC would answer."""
    return [{"source": source, "position": r["position"], "event_id": r["event_id"],
             "hash": r["hash"], "data": json.loads(r["data"])}
            for r in log.rows if r["source"] == source]


def reader(envelopes: list[dict]):
    calls = []

    def read_events(after: int, limit: int) -> list[dict]:
        calls.append((after, limit))
        return [e for e in envelopes if e["position"] > after][:limit]
    read_events.calls = calls
    return read_events


def verified(events: int, findings: list[str] | None = None):
    return lambda: {"events": events, "head_position": events, "findings": findings or []}


NOW = datetime(2026, 10, 10, 8, 0, tzinfo=UTC)


def test_a_source_whose_log_matches_the_archive_is_ok_and_the_verdict_is_kept(
        session, province):
    read = reader(source_log(province, "members"))
    result = check_source(session, "members", verified(12), read, batch=5, now=NOW)
    assert result == {"source": "members", "state": "ok", "events": 12,
                      "checked_at": "2026-10-10T08:00:00+00:00", "findings": []}
    assert read.calls[:3] == [(0, 5), (5, 5), (10, 5)]  # read in batches
    assert latest_status(session, ["members", "meetings"]) == [
        result, {"source": "meetings", "state": "unknown", "events": None, "checked_at": None,
                 "findings": ["meetings chưa được kiểm tra: hãy bấm kiểm tra (meetings has not "
                              "been checked yet: run a check)."]}]


def test_the_sources_own_findings_make_it_tampered(session, province):
    finding = "position 3 (event e-3): its content does not match its hash: the row was edited"
    result = check_source(session, "members", verified(12, [finding]),
                          reader(source_log(province, "members")), now=NOW)
    assert result["state"] == "tampered" and result["findings"] == [finding]


def test_a_log_rewritten_with_recomputed_hashes_differs_from_the_archive(session, province):
    envelopes = source_log(province, "meetings")
    for envelope in envelopes[3:]:  # from position 4 on, every hash was recomputed
        envelope["hash"] = "f" * 64
    result = check_source(session, "meetings", verified(12), reader(envelopes), batch=5,
                          now=NOW)
    assert result["state"] == "tampered"
    assert len(result["findings"]) == 1  # the first rewritten row is the news
    assert result["findings"][0].startswith(
        f"vị trí (position) 4 (sự kiện/event {envelopes[3]['event_id']})")
    assert "rewritten" in result["findings"][0]
    assert latest_status(session, ["meetings"])[0]["state"] == "tampered"


def test_rows_gone_from_the_log_are_named_as_runs(session, province):
    envelopes = [e for e in source_log(province, "members") if e["position"] not in (2, 3)]
    envelopes = [e for e in envelopes if e["position"] <= 9]  # and the tail cut off
    result = check_source(session, "members", verified(7), reader(envelopes), batch=4,
                          now=NOW)
    assert result["state"] == "tampered"
    assert [f.split(":")[0] for f in result["findings"]] == ["vị trí (position) 2",
                                                             "vị trí (position) 10"]
    assert "rows 2–3" in result["findings"][0] and "rows 10–12" in result["findings"][1]


def test_an_unreachable_source_is_unknown_and_says_why(session, province):
    def down() -> dict:
        raise TimeoutError("no answer within 300 s")

    def read_events(after: int, limit: int) -> list[dict]:
        raise ConnectionError("broker gone")

    result = check_source(session, "supervision", down, read_events, now=NOW)
    assert result["state"] == "unknown" and result["events"] is None
    assert "supervision could not be reached" in result["findings"][0]
    assert "TimeoutError: no answer within 300 s" in result["findings"][0]
    assert "ConnectionError: broker gone" in result["findings"][1]

    # A later good check replaces the verdict.
    again = check_source(session, "supervision", verified(6),
                         reader(source_log(province, "supervision")), now=NOW)
    assert again["state"] == "ok"
    assert latest_status(session, ["supervision"]) == [again]


def test_events_newer_than_the_archive_are_not_news(session, province):
    envelopes = source_log(province, "members") + [
        {"source": "members", "position": 13, "event_id": "new", "hash": "0" * 64}]
    result = check_source(session, "members", verified(13), reader(envelopes), now=NOW)
    assert result["state"] == "ok"
