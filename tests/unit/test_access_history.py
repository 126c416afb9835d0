"""Who could do what, when, from the members log's account and cell-role events."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from services.members.access_history import changes, holdings_on

ADMIN_META = {"actor": "quantri", "actor_name": "Quản trị viên"}


def event(stream: str, type_: str, recorded: str, **data):
    return SimpleNamespace(stream_id=stream, type=type_, data=data, recorded_at=recorded,
                           metadata=ADMIN_META)


HISTORY = [
    event("account-lan", "account_opened", "2026-01-05T08:00:00", account_id="lan",
          login="lan", display_name="Hà Thị Lan"),
    event("account-lan", "role_granted", "2026-01-05T08:01:00", account_id="lan",
          role="staff", unit_id="xa-1", valid_from="2026-01-05", valid_until=None),
    event("account-lan", "role_revoked", "2026-03-31T17:00:00", account_id="lan",
          role="staff", unit_id="xa-1", on="2026-04-01"),
    event("account-lan", "role_granted", "2026-04-01T08:00:00", account_id="lan",
          role="staff", unit_id="xa-2", valid_from="2026-04-01", valid_until=None),
    event("account-hung", "account_opened", "2026-01-05T08:02:00", account_id="hung",
          login="hung", display_name="Lò Văn Hùng", member_id="dv-1"),
    event("roles-xa-1-cb-1", "cell_role_assigned", "2026-01-06T08:00:00", member_id="dv-1",
          role="secretary", term_from="2026-01-01", term_until="2027-12-31"),
    event("account-hung", "account_closed", "2026-05-01T08:00:00", account_id="hung"),
]


def test_the_roles_held_on_a_day_follow_grants_revocations_and_cell_roles():
    march = holdings_on(HISTORY, date(2026, 3, 15))
    assert [(h.account_id, h.role, h.unit_id, h.derived) for h in march] == [
        ("hung", "secretary", "xa-1-cb-1", True), ("lan", "staff", "xa-1", False)]
    april = holdings_on(HISTORY, date(2026, 4, 15))
    assert [(h.account_id, h.unit_id) for h in april] == [("hung", "xa-1-cb-1"),
                                                          ("lan", "xa-2")]
    # Closed on 1 May: nothing held from then on, whatever the cell roles say.
    assert [(h.account_id, h.unit_id) for h in holdings_on(HISTORY, date(2026, 5, 2))] == [
        ("lan", "xa-2")]


def test_who_could_act_on_a_unit_is_the_roles_covering_its_path():
    on_cell = holdings_on(HISTORY, date(2026, 3, 15),
                          unit_path=["tinh", "xa-1", "xa-1-cb-1"])
    assert {h.account_id for h in on_cell} == {"lan", "hung"}
    on_other = holdings_on(HISTORY, date(2026, 3, 15), unit_path=["tinh", "xa-2"])
    assert on_other == []


def test_every_change_names_who_made_it():
    listed = list(changes(HISTORY, "lan"))
    assert [(c["type"], c["unit_id"], c["by"]) for c in listed] == [
        ("account_opened", None, "Quản trị viên"), ("role_granted", "xa-1", "Quản trị viên"),
        ("role_revoked", "xa-1", "Quản trị viên"), ("role_granted", "xa-2", "Quản trị viên")]
