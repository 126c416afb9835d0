"""Distributed mode has no default broker or database: an unset variable is named."""

import pytest

from chibo import settings
from chibo.nameko.providers import database_url
from services.app import CONFIG_DIR


def distributed(monkeypatch, **env):
    for variable in ("CHIBO_AMQP_URI", "CHIBO_MEMBERS_DATABASE_URL",
                     "CHIBO_MEETINGS_DATABASE_URL", "CHIBO_SUPERVISION_DATABASE_URL",
                     "CHIBO_REPORTING_DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    return settings.load(CONFIG_DIR / "distributed.yaml")


def test_no_guest_and_no_superuser_by_default(monkeypatch):
    config = distributed(monkeypatch)
    text = (CONFIG_DIR / "distributed.yaml").read_text()
    assert "guest" not in text and "postgres@" not in text
    with pytest.raises(settings.MissingSetting, match="CHIBO_AMQP_URI") as broker:
        settings.require_broker(config, "members")
    assert "chibo provision" in str(broker.value)
    with pytest.raises(settings.MissingSetting, match="CHIBO_MEETINGS_DATABASE_URL"):
        database_url(config, "meetings")


def test_a_process_needs_only_its_own_service_settings(monkeypatch):
    url = "postgresql://chibo_members:secret-password@127.0.0.1:5432/chibo_members"
    config = distributed(monkeypatch, CHIBO_AMQP_URI="amqp://chibo_members:pw@127.0.0.1:5672/",
                         CHIBO_MEMBERS_DATABASE_URL=url)
    settings.require_broker(config, "members")
    assert database_url(config, "members") == url
    with pytest.raises(settings.MissingSetting):
        database_url(config, "reporting")


def test_embedded_mode_keeps_its_defaults(monkeypatch):
    monkeypatch.delenv("CHIBO_AMQP_URI", raising=False)
    monkeypatch.delenv("CHIBO_MEMBERS_DATABASE_URL", raising=False)
    config = settings.load(CONFIG_DIR / "embedded.yaml")
    settings.require_broker(config, "members")
    assert database_url(config, "members").startswith("sqlite:///")
