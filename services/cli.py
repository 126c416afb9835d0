"""The sub-commands this application adds to `chibo`: import, rebuild, simulate.

Each imports its module only when `chibo` builds its parser or runs it, so one
sub-command's dependencies do not load for another."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Simulate:
    name: str = "simulate"
    help: str = ("mô phỏng một tỉnh qua các lệnh công khai (simulate a province through the "
                 "public commands)")
    config_mode: str | None = "distributed"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from clients.simulator.run import add_arguments

        add_arguments(parser)

    def run(self, args: argparse.Namespace, config: dict[str, Any]) -> int:
        from chibo.nameko.runtime import patch_for_green_threads
        from clients.simulator.run import run_from_args

        # The driver keeps --window commands in flight on green threads (over HTTP or
        # nameko's RPC proxy), so blocking I/O must yield to eventlet's hub.
        patch_for_green_threads()
        return run_from_args(args, config)


@dataclass(frozen=True)
class Import:
    name: str = "import"
    help: str = "nhập dữ liệu (import data)"
    config_mode: str | None = None  # sends to --url, reads no config

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from clients.roster_import.cli import add_arguments

        kinds = parser.add_subparsers(dest="import_command", required=True)
        add_arguments(kinds.add_parser(
            "members", help="nhập danh sách đảng viên từ CSV/XLSX (import a member roster)"))

    def run(self, args: argparse.Namespace, config: dict[str, Any]) -> int:
        from clients.roster_import.cli import run_from_args

        return run_from_args(args)  # `members`, the only kind


@dataclass(frozen=True)
class Rebuild:
    name: str = "rebuild"
    help: str = ("dựng lại các bảng báo cáo từ kho sự kiện (rebuild reporting's read models "
                 "from its archive)")
    config_mode: str | None = "distributed"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from services.reporting.rebuild import add_arguments

        add_arguments(parser)

    def run(self, args: argparse.Namespace, config: dict[str, Any]) -> int:
        from services.reporting.rebuild import run_from_args

        return run_from_args(args, config)


@dataclass(frozen=True)
class AccessHistory:
    name: str = "access"
    help: str = ("ai có quyền gì, khi nào (who could do what, when: roles on a day, and "
                 "every change to them), from the members log")
    config_mode: str | None = "distributed"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from services.members.access_history import add_arguments

        add_arguments(parser)

    def run(self, args: argparse.Namespace, config: dict[str, Any]) -> int:
        from services.members.access_history import run_from_args

        return run_from_args(args, config)


SIMULATE = Simulate()
ACCESS = AccessHistory()
IMPORT = Import()
REBUILD = Rebuild()
