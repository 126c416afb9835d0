"""Heavy requests are limited per account: one inspector's searches cannot take the
time of everyone else's, and another account is not held back."""

from __future__ import annotations

import requests

from chibo.access import Grant, Identity
from tests.support import bearer, embedded_config, running

INSPECTOR = Identity("ktra-1", "Ủy ban Kiểm tra 1", (Grant("inspector"),))
OTHER = Identity("ktra-2", "Ủy ban Kiểm tra 2", (Grant("inspector"),))


def test_more_heavy_requests_a_minute_than_the_limit_are_429_with_retry_after(tmp_path):
    config = embedded_config(tmp_path)
    config["AUTH"]["heavy_requests_per_minute"] = 3
    base = f"http://{config['WEB_SERVER_ADDRESS']}/reporting/api/audit/events"
    with running(config):
        answers = [requests.get(base, headers=bearer(INSPECTOR), timeout=30)
                   for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        refused = answers[-1]
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert requests.get(base, headers=bearer(OTHER), timeout=30).status_code == 200
