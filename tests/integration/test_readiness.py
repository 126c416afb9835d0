"""`/healthz` and `/readyz` in embedded mode (SQLite, the in-process bus): every service's
checks are there, public, and name no file, host or count."""

from __future__ import annotations

import requests

from tests.support import SERVICE_NAMES, embedded_config, running, wait_until


def test_every_service_is_ready_and_says_nothing_sensitive(tmp_path) -> None:
    config = embedded_config(tmp_path)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    with running(config):
        live = requests.get(f"{base}/healthz", timeout=10)
        assert live.status_code == 200
        assert live.json() == {"status": "ok", "services": sorted(SERVICE_NAMES)}

        ready = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(
            requests.get(f"{base}/readyz", timeout=10)), message="/readyz to say ready")
        body = ready.json()
        assert body["status"] == "ready"
        assert sorted(body["checks"]) == sorted(SERVICE_NAMES)
        for service, checks in body["checks"].items():
            assert checks["database"] == "ok" and checks["broker"] == "ok", service
        assert body["checks"]["reporting"]["feed"] == "ok"
        assert str(tmp_path) not in ready.text and "sqlite" not in ready.text
