"""`CHIBO_CLOCK` through the real config file and loader, as an operator sets it.

nameko's YAML loader types an unquoted timestamp as a datetime and a bare date as a
date; both must fix the services' "now", and anything else must stop start-up with
an error that names the setting.
"""

from __future__ import annotations

import pytest
import requests

from chibo import settings
from chibo.clock import ClockSettingError
from services.app import CONFIG_DIR
from services.members.entrypoints import MembersService
from tests.support import AUTH_SECRET, bearer, free_port, running


def config_with_clock(monkeypatch: pytest.MonkeyPatch, tmp_path, value: str) -> dict:
    monkeypatch.setenv("CHIBO_CLOCK", value)
    monkeypatch.setenv("CHIBO_MEMBERS_DATABASE_URL", f"sqlite:///{tmp_path}/members.db")
    monkeypatch.setenv("CHIBO_WEB_ADDRESS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("CHIBO_AUTH_SECRET", AUTH_SECRET)
    config = settings.load(CONFIG_DIR / "embedded.yaml")
    config.pop("LOGGING", None)
    return config


@pytest.mark.parametrize(("setting", "today"), [
    ("2026-01-20T12:00:00", "2026-01-20"),
    ("2026-01-15", "2026-01-15"),
    ("2025-03-31T23:30:00+00:00", "2025-03-31"),
    ("'2024-02-29T08:00:00'", "2024-02-29"),
])
def test_a_fixed_clock_is_what_the_services_call_today(monkeypatch, tmp_path, setting, today):
    config = config_with_clock(monkeypatch, tmp_path, setting)
    with running(config, [MembersService]):
        tree = requests.get(f"http://{config['WEB_SERVER_ADDRESS']}/members/tree",
                            headers=bearer(), timeout=10).json()
    assert tree["on"] == today


def test_system_means_the_real_clock(monkeypatch, tmp_path):
    # Without reading the calendar: "system" gives each service the system clock.
    from chibo.clock import SystemClock
    from chibo.nameko.providers import ClockProvider

    config = config_with_clock(monkeypatch, tmp_path, "system")
    with running(config, [MembersService]) as runner:
        (container,) = runner.containers
        clocks = [d.clock for d in container.dependencies if isinstance(d, ClockProvider)]
    assert clocks and all(isinstance(clock, SystemClock) for clock in clocks)


@pytest.mark.parametrize("setting", ["yesterday", "2026-13-01", "15/01/2026", "12"])
def test_anything_else_stops_start_up_naming_the_setting(monkeypatch, tmp_path, setting):
    config = config_with_clock(monkeypatch, tmp_path, setting)
    with pytest.raises(ClockSettingError, match="CHIBO_CLOCK"):
        with running(config, [MembersService]):
            pass
