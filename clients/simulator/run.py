"""`chibo simulate`: generate a province and drive it through the public commands."""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from chibo.clock import ClockSettingError, clock_from_setting
from clients.retrying import is_transient
from clients.simulator.behaviour import Phase, Simulation
from clients.simulator.driver import (
    RETRY,
    CommandRefused,
    HttpSender,
    RpcSender,
    send_phase,
)
from clients.simulator.presets import PRESETS, Preset
from clients.simulator.province import generate
from services.shared.events import SOURCES

DEFAULT_WINDOW = 16


@dataclass
class Outcome:
    cells: int
    members: int
    commands: int
    seconds: float
    first_month: date
    closed_days: int | None  # None: left to supervision's own timer (HTTP mode)


def first_month(months: int, today: date) -> date:
    """The first of `months` whole months that end before `today`'s month."""
    index = today.year * 12 + today.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def simulate(sender: Any, preset: str | Preset, months: int, seed: int, today: date,
             window: int = DEFAULT_WINDOW, show_progress: bool = True) -> Outcome:
    """Create the preset's province and live `months` months of it, ending last month.

    The progress bar counts stages (the tree and roster, then each month); within a
    stage it moves with each answered command, so it never stands still for minutes."""
    from tqdm import tqdm

    preset = PRESETS[preset] if isinstance(preset, str) else preset
    start = first_month(months, today)
    province = generate(preset, start, seed)
    simulation = Simulation(province, months, seed)
    sent, started = 0, time.perf_counter()
    stages = 1 + months
    with tqdm(total=stages, disable=not show_progress, file=sys.stderr,
              desc=f"Mô phỏng {preset.name}: cây tổ chức, đảng viên (tree, roster)",
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"
              ) as bar:
        def run_stage(done: int, phases: list[Phase]) -> None:
            nonlocal sent
            share = 1 / max(1, sum(len(phase) for phase in phases))

            def advance(count: int) -> None:
                nonlocal sent
                sent += count
                bar.set_postfix_str(f"{sent:,} lệnh (commands), "
                                    f"{sent / (time.perf_counter() - started):,.0f}/s",
                                    refresh=False)  # shown by update(), at its own pace
                bar.update(count * share)
            for phase in phases:
                send_phase(sender, phase, window, advance)
            bar.n = done  # whole stages exactly, whatever the fractions added up to
            bar.refresh()

        run_stage(1, simulation.setup())
        for done, month in enumerate(simulation.months, start=2):
            bar.set_description_str(f"Mô phỏng {preset.name}: tháng {month:%m/%Y} "
                                    f"({done - 1}/{months})")
            run_stage(done, simulation.month(month))
    closed = None
    if isinstance(sender, RpcSender):  # supervision judges every simulated month now
        closed = sender.call("supervision", "close_periods", since=start.isoformat())
    return Outcome(len(province.cells), len(province.members), sent,
                   time.perf_counter() - started, start, closed)


def reporting_caught_up(proxy: Any) -> int | None:
    """How many events the sources have logged, once reporting has applied every one
    (what the dashboard shows is then all that was sent); None before."""
    marks = proxy.reporting.watermarks()
    behind = any(getattr(proxy, source).read_events(after=marks[source], limit=1)
                 for source in SOURCES)
    return None if behind else sum(marks[source] for source in SOURCES)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small",
                        help="; ".join(f"{p.name}: {p.description}" for p in PRESETS.values()))
    parser.add_argument("--months", type=int, default=12,
                        help="months to simulate, ending with last month (default 12)")
    parser.add_argument("--seed", type=int, default=1,
                        help="the same seed gives the same province and the same commands")
    parser.add_argument("--url", action="append", default=None, metavar="[SERVICE=]URL",
                        help="send commands over HTTP: one base URL serving every service "
                        "(the demo's http://127.0.0.1:8000), or one per service, repeated "
                        "(distributed mode: --url members=http://127.0.0.1:8001 --url "
                        "meetings=http://127.0.0.1:8002 --url supervision=http://127.0.0.1:"
                        "8003); default: RPC over the configured broker")
    parser.add_argument("--token", default=None,
                        help="with --url: the bearer token the commands are sent with "
                        "(default: $CHIBO_TOKEN, else the operator's, signed with the "
                        "configured secret)")
    parser.add_argument("--config", default=None,
                        help="YAML config for RPC (default: distributed)")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW,
                        help=f"commands in flight at once (default {DEFAULT_WINDOW})")


#: The services the simulator sends commands to.
COMMAND_SERVICES = ("members", "meetings", "supervision")


class BadUrls(ValueError):
    pass


def parse_urls(values: list[str]) -> str | dict[str, str]:
    """`--url` values: one plain URL (every service), or `service=URL` for each service
    that takes commands; a plain URL beside them serves the services not named."""
    named: dict[str, str] = {}
    plain: list[str] = []
    for value in values:
        name, sep, url = value.partition("=")
        if sep and "://" not in name and "/" not in name:
            if name not in COMMAND_SERVICES:
                raise BadUrls(f"--url {value}: no service {name!r} takes commands "
                              f"(one of {', '.join(COMMAND_SERVICES)})")
            if not url.strip():
                raise BadUrls(f"--url {value}: no URL after {name}=")
            named[name] = url.strip()
        else:
            plain.append(value.strip())
    if len(plain) > 1:
        raise BadUrls("--url: one plain URL at most; name the others (members=http://…)")
    if not named:
        return plain[0]
    missing = [name for name in COMMAND_SERVICES if name not in named]
    if missing and not plain:
        raise BadUrls("--url: no URL for " + ", ".join(missing)
                      + " (add --url <service>=http://…, or one plain URL for the rest)")
    return {**({"": plain[0]} if plain else {}), **named}


def run_from_args(args: argparse.Namespace, config: dict[str, Any]) -> int:
    if args.months < 1:
        print("chibo simulate: --months must be at least 1", file=sys.stderr)
        return 2
    try:
        urls = parse_urls(args.url) if args.url else None
    except BadUrls as exc:
        print(f"chibo simulate: {exc}", file=sys.stderr)
        return 2
    try:
        today = clock_from_setting(config.get("CLOCK")).now().date()
    except ClockSettingError as exc:
        print(f"chibo simulate: {exc}", file=sys.stderr)
        return 2
    try:
        if urls is not None:
            from services.shared.operator import operator_token

            token = args.token or os.environ.get("CHIBO_TOKEN") or operator_token(config)
            outcome = simulate(HttpSender(urls, args.window, token), args.preset,
                               args.months,
                               args.seed, today, args.window)
        else:
            from chibo.nameko.runtime import ReconnectingRpc
            from services.shared.operator import operator_token

            # A proxy made again after the broker connection is lost (RpcSender knows when).
            with ReconnectingRpc(config, timeout=300, token=operator_token(config)) as rpc:
                proxy = RETRY.call(rpc.connect)  # the broker may be starting: wait for it
                outcome = simulate(RpcSender(proxy, reconnect=rpc.connect), args.preset,
                                   args.months, args.seed, today, args.window)
    except CommandRefused as exc:
        print(f"chibo simulate: dừng lại (stopped): {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if not is_transient(exc):
            raise
        print(f"chibo simulate: dừng lại, dịch vụ không sẵn sàng (stopped: a service or the "
              f"broker stayed unavailable: {type(exc).__name__}: {exc}); chạy lại là an toàn "
              f"(running it again is safe: every command keeps its id)", file=sys.stderr)
        return 1
    print(describe(outcome))
    return 0


def describe(outcome: Outcome) -> str:
    closing = ("supervision closes the months on its own timer"
               if outcome.closed_days is None
               else f"supervision closed {outcome.closed_days} days")
    return (f"{outcome.cells:,} chi bộ (cells), {outcome.members:,} đảng viên (members); "
            f"{outcome.commands:,} lệnh (commands) from {outcome.first_month:%m/%Y} in "
            f"{outcome.seconds:,.1f} s ({outcome.commands / outcome.seconds:,.0f}/s); "
            f"{closing}")
