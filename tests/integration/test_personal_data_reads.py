"""Reading a member's personal details, end to end in one process: the members route and
RPC (who may, for which purpose), the `personal_data_read` event every read leaves in
members' log (the reader as its actor), the form on the dashboard's member page, and
the audit log listing the reads."""

from __future__ import annotations

import pytest
import requests
from nameko.exceptions import RemoteError

from chibo.access import Grant, Identity, TokenSigner
from chibo.nameko.runtime import rpc_client
from tests.support import (
    ADMIN,
    AUTH_SECRET,
    NOW,
    TEST_TOKEN_SECONDS,
    bearer,
    embedded_config,
    reporting_caught_up,
    running,
    token,
    wait_until,
)

TIMEOUT = 30
MEMBER = "dv-hanh"
BIRTH_DATE, IDENTITY_NUMBER = "1975-03-04", "038075001234"
#: Staff of the organisation board of commune xa (the member's), and others.
STAFF = Identity("tk-canbo-xa", "Cán bộ Ban Tổ chức xã Sơn Thủy", (Grant("staff", "xa"),))
STAFF_ELSEWHERE = Identity("tk-canbo-xb", "Cán bộ xã Sơn Điện", (Grant("staff", "xb"),))
VIEWER = Identity("tk-xem-xa", "Người xem xã Sơn Thủy", (Grant("viewer", "xa"),))
SUPERVISOR = Identity("tk-giamsat-xa", "Cấp ủy viên theo dõi", (Grant("supervisor", "xa"),))
INSPECTOR = Identity("tk-kiemtra", "Ủy ban Kiểm tra tỉnh", (Grant("inspector"),))
CSRF = "csrf-doc-thong-tin-0123"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    config = embedded_config(tmp_path_factory.mktemp("personal-reads"))
    with running(config), rpc_client(config, timeout=60, token=token(ADMIN)) as proxy:
        for unit_id, name, kind, parent in [
                ("t", "Tỉnh ủy Thanh Hóa", "province", None),
                ("xa", "Đảng ủy xã Sơn Thủy", "committee", "t"),
                ("cb", "Chi bộ Bản Máy", "cell", "xa"),
                ("xb", "Đảng ủy xã Sơn Điện", "committee", "t"),
                ("cb2", "Chi bộ Bản Ngàm", "cell", "xb")]:
            proxy.members.establish_unit({"unit_id": unit_id, "name": name, "kind": kind,
                                          "parent_id": parent, "effective_date": "2024-01-01"})
        proxy.members.admit_member({"member_id": MEMBER, "full_name": "Nguyễn Thị Hạnh",
                                    "cell_id": "cb", "admitted_on": "2024-03-02",
                                    "birth_date": BIRTH_DATE,
                                    "identity_number": IDENTITY_NUMBER})
        wait_until(lambda: reporting_caught_up(proxy), timeout=60,
                   message="reporting to read every source's log")
        yield config, f"http://{config['WEB_SERVER_ADDRESS']}", proxy


def reads(proxy) -> list[dict]:
    """Every `personal_data_read` in members' log, as it is published."""
    return [e for e in proxy.members.read_events(after=0, limit=5000)
            if e["type"] == "personal_data_read"]


def personal(base: str, identity: Identity | None, **params) -> requests.Response:
    return requests.get(f"{base}/members/members/{MEMBER}/personal", params=params,
                        headers=bearer(identity) if identity else {}, timeout=TIMEOUT)


def browser(base: str, identity: Identity) -> requests.Session:
    """A browser's session: the signed token in the session cookie, with its CSRF token."""
    session = requests.Session()
    session.cookies.set("chibo_session", TokenSigner(AUTH_SECRET).issue(
        identity, NOW, TEST_TOKEN_SECONDS, csrf=CSRF), domain="127.0.0.1", path="/")
    session.headers["Origin"] = base
    return session


def test_staff_of_the_members_commune_reads_for_a_purpose_and_the_read_is_recorded(system):
    _, base, proxy = system
    before = len(reads(proxy))
    answer = personal(base, STAFF, purpose="verification")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert (body["birth_date"], body["identity_number"], body["purpose"]) == (
        BIRTH_DATE, IDENTITY_NUMBER, "verification")

    recorded = reads(proxy)
    assert len(recorded) == before + 1
    read = recorded[-1]
    assert read["event_id"] == body["read"]["event_id"]
    assert read["metadata"]["actor"] == STAFF.account_id
    assert read["metadata"]["actor_name"] == STAFF.name
    assert read["data"] == {"member_id": MEMBER, "fields": ["birth_date", "identity_number"],
                            "purpose": "verification",
                            "route": f"/members/members/{MEMBER}/personal"}
    assert read["stream_id"] == f"personal-reads-{MEMBER}"
    # The record of the read carries none of the values it read.
    assert IDENTITY_NUMBER not in str(read) and BIRTH_DATE not in str(read)


def test_over_rpc_the_callers_identity_is_the_reader(system):
    config, _, proxy = system
    with rpc_client(config, timeout=60, token=token(STAFF)) as as_staff:
        answer = as_staff.members.personal_data(MEMBER, "transfer")
    assert answer["identity_number"] == IDENTITY_NUMBER
    read = reads(proxy)[-1]
    assert (read["metadata"]["actor"], read["data"]["purpose"], read["data"]["route"]) == (
        STAFF.account_id, "transfer", None)


@pytest.mark.parametrize(("identity", "status"), [
    (None, 401), (VIEWER, 403), (SUPERVISOR, 403), (STAFF_ELSEWHERE, 403)])
def test_those_who_may_not_read_get_nothing_and_leave_no_read(system, identity, status):
    _, base, proxy = system
    before = len(reads(proxy))
    answer = personal(base, identity, purpose="verification")
    assert answer.status_code == status, answer.text
    assert IDENTITY_NUMBER not in answer.text
    assert len(reads(proxy)) == before


@pytest.mark.parametrize("params", [{"purpose": "curiosity"}, {}])
def test_a_read_without_a_listed_purpose_is_refused_and_not_recorded(system, params):
    config, base, proxy = system
    before = len(reads(proxy))
    answer = personal(base, STAFF, **params)
    assert answer.status_code == 422, answer.text
    assert list(answer.json()["fields"]) == ["purpose"]
    assert IDENTITY_NUMBER not in answer.text
    with rpc_client(config, timeout=60, token=token(STAFF)) as as_staff, \
            pytest.raises(RemoteError) as refused:
        as_staff.members.personal_data(MEMBER, "curiosity")
    assert refused.value.exc_type == "ValidationFailed"
    assert len(reads(proxy)) == before


def test_the_member_page_form_shows_the_values_once_and_the_audit_lists_the_read(system):
    _, base, proxy = system
    reader = browser(base, STAFF)
    page = reader.get(f"{base}/reporting/members/{MEMBER}", timeout=TIMEOUT)
    assert page.status_code == 200, page.text[:500]
    assert "Xem thông tin cá nhân" in page.text and f'value="{CSRF}"' in page.text
    assert f'action="/reporting/members/{MEMBER}/personal"' in page.text
    assert IDENTITY_NUMBER not in page.text

    before = len(reads(proxy))
    without_token = reader.post(f"{base}/reporting/members/{MEMBER}/personal",
                                data={"purpose": "inspection"}, timeout=TIMEOUT)
    assert without_token.status_code == 403
    assert len(reads(proxy)) == before

    shown = reader.post(f"{base}/reporting/members/{MEMBER}/personal",
                        data={"purpose": "inspection", "csrf_token": CSRF}, timeout=TIMEOUT)
    assert shown.status_code == 200, shown.text[:500]
    assert shown.headers["Cache-Control"] == "no-store"
    assert IDENTITY_NUMBER in shown.text and "04/03/1975" in shown.text
    assert "Kiểm tra" in shown.text  # the purpose, as its label
    read = reads(proxy)[-1]
    assert len(reads(proxy)) == before + 1
    assert (read["metadata"]["actor"], read["data"]["purpose"], read["data"]["route"]) == (
        STAFF.account_id, "inspection", f"/reporting/members/{MEMBER}")

    # The member's page, asked for again by the same reader, does not show them.
    again = reader.get(f"{base}/reporting/members/{MEMBER}", timeout=TIMEOUT)
    assert again.status_code == 200 and IDENTITY_NUMBER not in again.text

    wait_until(lambda: reporting_caught_up(proxy), timeout=60,
               message="reporting to archive the read")
    found = requests.get(f"{base}/reporting/api/audit/events",
                         params={"type": "personal_data_read", "limit": 100},
                         headers=bearer(INSPECTOR), timeout=TIMEOUT)
    assert found.status_code == 200, found.text
    listed = {r["event_id"]: r for r in found.json()["results"]}
    assert read["event_id"] in listed
    assert {r["type"] for r in listed.values()} == {"personal_data_read"}
    assert listed[read["event_id"]]["actor"] == STAFF.account_id
    audit_page = browser(base, INSPECTOR).get(f"{base}/reporting/audit",
                                              params={"type": "personal_data_read"},
                                              timeout=TIMEOUT)
    assert audit_page.status_code == 200
    assert "Xem thông tin cá nhân đảng viên" in audit_page.text
    assert read["event_id"] in audit_page.text


def test_who_sees_the_member_page_but_may_not_read_personal_details(system):
    _, base, proxy = system
    reader = browser(base, SUPERVISOR)
    page = reader.get(f"{base}/reporting/members/{MEMBER}", timeout=TIMEOUT)
    assert page.status_code == 200, page.text[:500]
    assert "member-personal-form" not in page.text
    before = len(reads(proxy))
    refused = reader.post(f"{base}/reporting/members/{MEMBER}/personal",
                          data={"purpose": "inspection", "csrf_token": CSRF}, timeout=TIMEOUT)
    assert refused.status_code == 403
    assert IDENTITY_NUMBER not in refused.text
    assert len(reads(proxy)) == before
