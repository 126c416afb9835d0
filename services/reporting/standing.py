"""A member's dated standing as reporting keeps it: the members service's own fold
(`services.shared.membership.Member`), stored as JSON on the member's row.

Reporting folds each member's events with the same code the members service uses,
and reads the status for the day a page is about (`Member.status_on`), so both say
the same thing about the same member on the same day: a period away that has ended
is over, whether or not a return was recorded.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from services.shared.membership import Member, Period

__all__ = ["encode", "decode", "status_on"]


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _periods(periods: list[Period]) -> list[list[Any]]:
    return [[_iso(p.start), _iso(p.until), p.reason, p.where] for p in periods]


def _unpack(rows: list[list[Any]]) -> list[Period]:
    return [Period(_day(start), _day(until), reason, where)
            for start, until, reason, where in rows]


def encode(member: Member) -> str:
    """What a status needs of the member (ratings and names live in their own columns)."""
    return json.dumps({
        "admitted_on": _iso(member.admitted_on), "full_since": _iso(member.full_since),
        "cells": [[_iso(start), cell] for start, cell in member.cells],
        "removed": [_iso(member.removed[0]), member.removed[1], member.removed[2]]
        if member.removed else None,
        "exemptions": _periods(member.exemptions), "away": _periods(member.away),
        "temporary": _periods(member.temporary),
    }, ensure_ascii=False, sort_keys=True)


def decode(member_id: str, text: str | None) -> Member:
    member = Member(member_id)
    state = json.loads(text) if text else {}
    member.admitted_on = _day(state.get("admitted_on"))
    member.full_since = _day(state.get("full_since"))
    member.cells = [(_day(start), cell) for start, cell in state.get("cells") or []]
    removed = state.get("removed")
    member.removed = (_day(removed[0]), removed[1], removed[2]) if removed else None
    member.exemptions = _unpack(state.get("exemptions") or [])
    member.away = _unpack(state.get("away") or [])
    member.temporary = _unpack(state.get("temporary") or [])
    return member


def status_on(member_id: str, text: str | None, day: date) -> str:
    """The member's status on `day` from their stored standing."""
    return decode(member_id, text).status_on(day)
