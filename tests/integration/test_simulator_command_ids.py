"""The simulator's senders give every command its command id, over RPC and over HTTP:
a command sent again is answered with its first answer and appends nothing, where
without the id the second establish_unit would be refused ("already exists") or, with
no unit id in the payload, make a second unit."""

from __future__ import annotations

from typing import Any

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from clients.simulator.behaviour import Command
from clients.simulator.driver import HttpSender, RpcSender
from services.members.entrypoints import MembersService
from tests.support import as_caller, embedded_config, running, token

TIMEOUT = 30


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    config = embedded_config(tmp_path_factory.mktemp("simulator-ids"))
    with running(config, [MembersService]), \
            ClusterRpcProxy(config, timeout=TIMEOUT, context_data=as_caller()) as rpc:
        yield f"http://{config['WEB_SERVER_ADDRESS']}", rpc


def unit_events(rpc: Any) -> int:
    return len(rpc.members.read_events(after=0, limit=1000))


def establish(name: str) -> Command:
    """A unit whose id the service chooses: only the command id tells a retry apart
    from a second unit of the same name."""
    return Command("members", "establish_unit", {"name": name, "kind": "province",
                                                  "parent_id": None,
                                                  "effective_date": "2020-01-01"})


@pytest.mark.parametrize("sender_kind", ["rpc", "http"])
def test_a_command_sent_twice_is_applied_once_and_answered_alike(system, sender_kind):
    base, rpc = system
    sender = RpcSender(rpc) if sender_kind == "rpc" else HttpSender(base, token=token())
    command = establish(f"Tỉnh ủy ({sender_kind})")
    before = unit_events(rpc)
    first = sender.finish(command, sender.start(command))
    again = sender.finish(command, sender.start(command))
    assert first == again and first["unit_id"]
    assert unit_events(rpc) == before + 1
    other = sender.finish(establish(f"Tỉnh ủy khác ({sender_kind})"),
                          sender.start(establish(f"Tỉnh ủy khác ({sender_kind})")))
    assert other["unit_id"] != first["unit_id"]
    assert unit_events(rpc) == before + 2
