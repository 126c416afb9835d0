"""Issue 15's brute force: try every birth date against everything published about a
member's personal-data event (the audit API's search results and event detail, the
audit page and its export, the envelope over RPC) and recover nothing; the same brute
force against a hash of form 1 (over the values) recovers the date, so the test can fail.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from chibo.access import Grant, Identity
from chibo.eventstore.hashing import canonical_json, row_hash
from chibo.eventstore.signing import committed_data
from chibo.nameko.runtime import rpc_caller
from tests.integration.test_audit_attacks import BIRTH_DATE, RECORDER, record_sample
from tests.integration.test_audit_status import TESTED_SERVICES, archived_everything
from tests.support import as_caller, authenticated, embedded_config, running, wait_until

INSPECTOR = Identity("ubkt.lan", "Thanh tra viên Ủy ban Kiểm tra", (Grant("inspector"),))
FIRST, LAST = date(1930, 1, 1), date(2010, 12, 31)
HEX_64 = re.compile(r"\b[0-9a-f]{64}\b")


def every_date() -> Iterator[str]:
    day = FIRST
    while day <= LAST:
        yield day.isoformat()
        day += timedelta(days=1)


def guesses(envelope: dict[str, Any], day: str) -> Iterator[str]:
    """Every digest a guesser could compare with what is published, for one date: the
    row's hash by form 1 (over the value) and by form 2 with an unsalted commitment, and
    the commitment itself (unsalted, the salt being unpublished)."""
    data = {**envelope["data"], "birth_date": day}
    fields = (envelope["prev_hash"], envelope["position"], envelope["event_id"],
              envelope["stream_id"], envelope["stream_version"], envelope["type"],
              envelope["version"])
    meta, at = canonical_json(envelope["metadata"]), envelope["recorded_at"]
    yield row_hash(*fields, canonical_json(data), meta, at)
    unsalted = hashlib.sha256(canonical_json(day).encode("utf-8")).hexdigest()
    yield unsalted
    yield hashlib.sha256(day.encode("utf-8")).hexdigest()
    committed = committed_data(envelope["data"], {"birth_date": unsalted})
    yield row_hash(*fields, canonical_json(committed), meta, at)


def recovered(envelope: dict[str, Any], published: Iterable[str]) -> list[str]:
    digests = set(published)
    return [day for day in every_date()
            if any(guess in digests for guess in guesses(envelope, day))]


@pytest.fixture
def system(tmp_path):
    config = embedded_config(tmp_path)
    with running(config, TESTED_SERVICES), \
            ClusterRpcProxy(config, timeout=60, context_data=as_caller(RECORDER)) as rpc:
        record_sample(rpc_caller(rpc))
        wait_until(lambda: archived_everything(rpc), timeout=60,
                   message="reporting to archive every source's log")
        yield config, rpc


def test_nothing_published_gives_the_birth_date_away(system):
    config, rpc = system
    web = f"http://{config['WEB_SERVER_ADDRESS']}"
    inspector = authenticated(INSPECTOR)
    envelopes = rpc.members.read_events(after=0, limit=1000)
    personal = next(e for e in envelopes if e["type"] == "member_personal_data_recorded")
    # What travels: the value blanked, its commitment in its place, the hash published.
    assert personal["data"]["birth_date"] is None and "salts" not in personal
    assert set(personal["commitments"]) == {"birth_date"} and personal["hash"]

    texts = [repr(envelopes)]
    for path, params in (("/reporting/api/audit/events", {"limit": 1000}),
                         (f"/reporting/api/audit/events/{personal['event_id']}", {}),
                         ("/reporting/audit", {"source": "members"}),
                         ("/reporting/audit", {"format": "csv", "table": "results"}),
                         ("/reporting/audit", {"format": "xlsx"}),
                         (f"/reporting/audit/events/{personal['event_id']}", {})):
        response = inspector.get(f"{web}{path}", params=params, timeout=10)
        assert response.status_code == 200, (path, response.text[:300])
        texts.append(response.text if "xlsx" not in params.get("format", "")
                     else response.content.decode("latin-1"))
    detail = inspector.get(f"{web}/reporting/api/audit/events/{personal['event_id']}",
                           timeout=10).json()
    assert detail["hash"] == personal["hash"]
    assert detail["commitments"] == personal["commitments"]
    assert detail["data"]["birth_date"] is None and "salts" not in detail
    published = {digest for text in texts for digest in HEX_64.findall(text)}
    assert personal["hash"] in published and personal["commitments"]["birth_date"] in published
    assert BIRTH_DATE not in "".join(texts)

    assert recovered(personal, published) == []

    # The same brute force against the hash form 1 would have published finds the date.
    form_1_hash = row_hash(personal["prev_hash"], personal["position"], personal["event_id"],
                           personal["stream_id"], personal["stream_version"],
                           personal["type"], personal["version"],
                           canonical_json({**personal["data"], "birth_date": BIRTH_DATE}),
                           canonical_json(personal["metadata"]), personal["recorded_at"])
    assert recovered(personal, published | {form_1_hash}) == [BIRTH_DATE]
