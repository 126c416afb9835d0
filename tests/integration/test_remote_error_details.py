"""A command refused field by field over RPC reaches its caller with the same `fields`,
nested ones included, on RabbitMQ and PostgreSQL: through the standalone
`ClusterRpcProxy` (`chibo.nameko.runtime.rpc_client`) and through a service's own
`RpcProxy`, as the dashboard's forms call the meetings service. The caller still
catches nameko's RemoteError, or, through `call_remote`, the kernel's ValidationFailed."""

from __future__ import annotations

from typing import Any

import pytest
from nameko.exceptions import RemoteError

from chibo.errors import ValidationFailed
from chibo.nameko.resilience import RpcProxy, rpc
from chibo.nameko.runtime import call_remote, rpc_client
from services.meetings.entrypoints import MeetingsService
from tests.support import ADMIN, running, services_config, token

#: A record of a meeting held that its schema refuses: a bad date, and the fourth
#: attendance line with neither a member nor a known status.
REFUSED = {"cell_id": "c-1", "held_on": "31/12/2025",
           "attendance": [{"member_id": f"m-{n}", "status": "present"} for n in range(3)]
           + [{"status": "asleep", "reason": "x" * 501}]}
#: What the meetings service refuses it with, as JSON carries it (list indexes as text).
EXPECTED_FIELDS = {
    "held_on": ["Expected a date as YYYY-MM-DD."],
    "attendance": {"3": {
        "member_id": ["Missing data for required field."],
        "status": ["Must be one of: present, absent_excused, absent_unexcused."],
        "reason": ["Longer than maximum length 500."]}},
}


class FormsLikeCaller:
    """A service that calls meetings through its own RpcProxy, as reporting's forms do,
    and answers what its caller received."""

    name = "remote_error_relay"
    meetings = RpcProxy("meetings")

    @rpc
    def record(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            call_remote(self.meetings.record_meeting_held, payload)
        except ValidationFailed as exc:
            return {"kind": type(exc).__name__, "status": exc.http_status,
                    "message": str(exc), "fields": exc.fields}
        return {"kind": None}


def test_a_refusal_s_fields_cross_rpc_nested_and_all(pg_database_factory, amqp_uri):
    config = services_config(pg_database_factory, amqp_uri)
    with running(config, [MeetingsService, FormsLikeCaller]), \
            rpc_client(config, timeout=30, token=token(ADMIN)) as proxy:
        # The standalone proxy: still nameko's RemoteError, now with the details.
        with pytest.raises(RemoteError) as raised:
            proxy.meetings.record_meeting_held(REFUSED)
        remote = raised.value
        assert remote.exc_type == "ValidationFailed"
        assert remote.details["fields"] == EXPECTED_FIELDS, remote.details
        assert remote.value.startswith("Dữ liệu không hợp lệ (invalid input): ")

        # call_remote over the same proxy: the kernel's error, fields and text the same.
        with pytest.raises(ValidationFailed) as kernel:
            call_remote(proxy.meetings.record_meeting_held, REFUSED)
        assert kernel.value.fields == EXPECTED_FIELDS
        assert str(kernel.value) == remote.value and kernel.value.http_status == 422

        # A service's own RpcProxy, the caller's identity carried on.
        answer = proxy.remote_error_relay.record(REFUSED)
        assert answer == {"kind": "ValidationFailed", "status": 422,
                          "message": remote.value, "fields": EXPECTED_FIELDS}

        # Nothing was written.
        assert proxy.meetings.read_events(after=0, limit=10) == []
