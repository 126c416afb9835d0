"""The access kernel: signed identities and the one check, without a broker."""

from __future__ import annotations

import stat
from datetime import date, timedelta

import pytest

from chibo.access import (
    AUTHENTICATED,
    PUBLIC,
    Access,
    Grant,
    Identity,
    RoleBook,
    Scope,
    TokenSigner,
    Unauthenticated,
    authorize,
)
from chibo.access.secret import SecretMissing, load_secret
from chibo.access.tokens import InvalidToken
from chibo.errors import Forbidden
from tests.support import NOW, TODAY

SECRET = "unit-tests-signing-secret-0123456789abcdef"
ROLES = RoleBook({"staff": ["view", "edit"], "viewer": ["view"], "admin": ["view", "edit"]})
#: province > district-a > cell-a1, district-b > cell-b1
PATHS = {"province": ["province"], "district-a": ["province", "district-a"],
         "cell-a1": ["province", "district-a", "cell-a1"],
         "district-b": ["province", "district-b"],
         "cell-b1": ["province", "district-b", "cell-b1"]}
MEETING_CELLS = {"meeting-1": "cell-a1"}


def locate(kind: str, value: str | None) -> list[str] | None:
    if value is None:
        return PATHS["province"]
    if kind == "meeting":
        value = MEETING_CELLS.get(value)
    return PATHS.get(value) if value else None


EDIT_CELL = Access("edit", Scope("cell_id", "cell"))
VIEW_MEETING = Access("view", Scope("meeting_id", "meeting"))
STAFF_A = Identity("staff-a", "Cán bộ huyện A", (Grant("staff", "district-a"),))
ADMIN = Identity("admin", "Quản trị", (Grant("admin"),))


def check(identity: Identity | None, access: Access, values: dict, today: date = TODAY) -> None:
    authorize(identity, access, values, locate, ROLES, today)


def test_an_anonymous_caller_is_401_and_public_routes_need_nobody():
    with pytest.raises(Unauthenticated) as refused:
        check(None, EDIT_CELL, {"cell_id": "cell-a1"})
    assert refused.value.http_status == 401
    check(None, PUBLIC, {})
    with pytest.raises(Unauthenticated):
        check(None, AUTHENTICATED, {})
    check(STAFF_A, AUTHENTICATED, {})


def test_a_grant_covers_its_subtree_and_nothing_beside_it():
    check(STAFF_A, EDIT_CELL, {"cell_id": "cell-a1"})
    check(STAFF_A, Access("edit", Scope("unit_id")), {"unit_id": "district-a"})
    with pytest.raises(Forbidden) as refused:
        check(STAFF_A, EDIT_CELL, {"cell_id": "cell-b1"})
    assert refused.value.http_status == 403
    # The whole province is above the district: a missing target means all of it.
    with pytest.raises(Forbidden):
        check(STAFF_A, EDIT_CELL, {})
    check(ADMIN, EDIT_CELL, {})


def test_things_are_placed_by_the_unit_holding_them():
    check(STAFF_A, VIEW_MEETING, {"meeting_id": "meeting-1"})
    district_b = Identity("staff-b", "Cán bộ huyện B", (Grant("staff", "district-b"),))
    with pytest.raises(Forbidden):
        check(district_b, VIEW_MEETING, {"meeting_id": "meeting-1"})


def test_an_unknown_id_is_403_to_a_subtree_and_left_to_the_handler_for_the_whole_tree():
    with pytest.raises(Forbidden):  # no probing which ids exist
        check(STAFF_A, VIEW_MEETING, {"meeting_id": "meeting-404"})
    check(ADMIN, VIEW_MEETING, {"meeting_id": "meeting-404"})


def test_a_role_without_the_permission_is_403_wherever_the_target_is():
    viewer = Identity("v", "Người xem", (Grant("viewer", "district-a"),))
    check(viewer, Access("view", Scope("cell_id", "cell")), {"cell_id": "cell-a1"})
    with pytest.raises(Forbidden) as refused:
        check(viewer, EDIT_CELL, {"cell_id": "cell-a1"})
    assert refused.value.details["permission"] == "edit"


def test_grants_hold_between_their_dates_by_the_day_given():
    dated = Identity("s", "Bí thư", (Grant("staff", "district-a", TODAY, TODAY + timedelta(30)),))
    check(dated, EDIT_CELL, {"cell_id": "cell-a1"})
    check(dated, EDIT_CELL, {"cell_id": "cell-a1"}, TODAY + timedelta(30))
    for day in (TODAY - timedelta(1), TODAY + timedelta(31)):
        with pytest.raises(Forbidden):
            check(dated, EDIT_CELL, {"cell_id": "cell-a1"}, day)


def test_a_token_round_trips_and_expires_by_the_clock_given():
    signer = TokenSigner(SECRET)
    dated = Identity("s", "Bí thư Lò Văn Hùng", (Grant("staff", "district-a", TODAY, None),),
                     method="password")
    token = signer.issue(dated, NOW, 3600, csrf="c-1")
    claims = signer.verify(token, NOW + timedelta(minutes=59))
    assert claims.identity == dated and claims.csrf == "c-1"
    assert signer.csrf_of(token) == "c-1"
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify(token, NOW + timedelta(hours=1))


def test_a_token_signed_with_another_key_or_altered_is_refused():
    token = TokenSigner(SECRET).issue(STAFF_A, NOW, 3600)
    with pytest.raises(InvalidToken):
        TokenSigner(SECRET + "-another").verify(token, NOW)
    header, payload, signature = token.split(".")
    with pytest.raises(InvalidToken):
        TokenSigner(SECRET).verify(f"{header}.{payload[:-2]}xx.{signature}", NOW)
    assert TokenSigner(SECRET + "-another").csrf_of(token) is None


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="at least 32 bytes"):
        TokenSigner("short")


def test_the_secret_file_is_made_once_private_and_then_read(tmp_path):
    path = tmp_path / "secrets" / "auth.key"
    config = {"AUTH": {"secret_file": str(path), "create_secret_file": True}}
    first = load_secret(config)
    assert load_secret(config) == first and len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_secret({"AUTH": {"secret": "given", "secret_file": str(path)}}) == "given"
    with pytest.raises(SecretMissing, match="CHIBO_AUTH_SECRET"):
        load_secret({"AUTH": {}})
    with pytest.raises(SecretMissing, match="chibo provision"):
        load_secret({"AUTH": {"secret_file": str(tmp_path / "missing.key")}})


def test_a_sliding_window_counts_each_account_alone_and_says_how_long_to_wait():
    from chibo.access.rate import SlidingWindow

    elapsed = [0.0]
    window = SlidingWindow(2, 60.0, now=lambda: elapsed[0])
    assert window.take("lan") is None and window.take("lan") is None
    assert window.take("hung") is None  # another account is not held back
    elapsed[0] = 15.0
    assert window.take("lan") == 45
    elapsed[0] = 60.0  # both first requests have left the window
    assert window.take("lan") is None and window.take("lan") is None
    assert window.take("lan") == 60
