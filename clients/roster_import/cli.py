"""`chibo import members FILE`: send a roster file to the members service.

Streams read → validate → send: good rows go in batches to
`POST {url}/members/import-batches`; bad rows are never sent and are listed at the end
with their line numbers, together with the rows the server rejected. Memory stays flat
however long the file is (bad rows wait in temporary files, not in lists).

Each batch carries the caller's bearer token (`--token`, or CHIBO_TOKEN; without
either, the operator's token signed with the configured secret, for whoever can read
the config and its secret file) and an `X-Command-Id` derived from the file's bytes,
the batch's index and its rows, so retrying a batch (after a timeout, or by running the
same file again) is safe: the server acts on it once.

Exit codes: 0 every row imported; 1 some rows bad (the good ones were still imported);
2 the file cannot be read or the server cannot be reached.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from clients.retrying import TRANSIENT_STATUSES, RetryPolicy, retry_after_seconds
from clients.roster_import.reading import RosterFileError, fingerprint, read_rows
from clients.roster_import.rows import validate_rows

DEFAULT_URL = "http://127.0.0.1:8000"
ENDPOINT = "/members/import-batches"
DEFAULT_BATCH_SIZE = 1000
TOKEN_VARIABLE = "CHIBO_TOKEN"
#: How a batch is retried, with the same command id, when the connection is refused,
#: cut or times out, or the server answers 502/503/504 (honouring Retry-After), 429 or
#: a 409 conflict: for up to five minutes, waiting 0.5 s doubling up to 10 s between tries.
RETRY = RetryPolicy(seconds=300.0)
#: (connect, read) timeouts in seconds for one batch.
TIMEOUT = (5.0, 300.0)
_RETRY_STATUSES = frozenset({409, 429}) | TRANSIENT_STATUSES
_START_HINT = ("Hệ thống đã chạy chưa? Khởi động bằng `make demo`, hoặc chỉ đúng địa chỉ bằng "
               "--url (is the system running? start it with `make demo`, or point --url at it)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `chibo import members`; `run_from_args` takes the parsed result."""
    parser.add_argument("file", type=Path, metavar="FILE",
                        help="danh sách đảng viên .csv hoặc .xlsx (roster file, .csv or .xlsx)")
    parser.add_argument("--url", default=DEFAULT_URL,
                        help=f"địa chỉ hệ thống (where the system answers; default {DEFAULT_URL})")
    parser.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE,
                        metavar="N", help=f"số dòng mỗi lần gửi (rows per request; default "
                                          f"{DEFAULT_BATCH_SIZE})")
    parser.add_argument("--token", default=None,
                        help=f"mã truy cập (bearer token, from POST /members/auth/token; default "
                             f"${TOKEN_VARIABLE}, else the operator's, signed with the secret "
                             "of --config)")
    parser.add_argument("--config", default=None,
                        help="YAML config whose signing secret makes the operator's token when "
                             "no token is given (default: embedded)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="hiện/ẩn thanh tiến độ (show/hide the progress bar; default: "
                             "shown when stderr is a terminal)")


def run_from_args(args: argparse.Namespace) -> int:
    try:
        bearer = resolve_token(getattr(args, "token", None), getattr(args, "config", None))
    except Exception as exc:  # noqa: BLE001 - no secret to read: say how to give a token
        print(f"chibo: không có mã truy cập (no token): {exc}; pass --token or set "
              f"{TOKEN_VARIABLE} (POST /members/auth/token gives one)", file=sys.stderr)
        return 2
    return run_import(args.file, args.url, args.batch_size, bearer,
                      progress=getattr(args, "progress", None))


def resolve_token(given: str | None, config_path: str | None,
                  environ: Any = os.environ) -> str:
    """--token, else $CHIBO_TOKEN, else the operator's token from the config's secret."""
    if given:
        return given
    if environ.get(TOKEN_VARIABLE):
        return str(environ[TOKEN_VARIABLE])
    from chibo import settings
    from services.app import CONFIG_DIR
    from services.shared.operator import operator_token

    config = settings.load(Path(config_path) if config_path else CONFIG_DIR / "embedded.yaml")
    return operator_token(config)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"cần một số nguyên dương (a positive integer): {text!r}")
    return value


class ImportFailed(Exception):
    """The import cannot go on (exit code 2); the message says why and what to do."""


@dataclass
class Totals:
    read: int = 0
    sent: int = 0
    batches: int = 0
    bad_in_file: int = 0
    rejected: int = 0
    admitted: int = 0
    changed: int = 0
    unchanged: int = 0
    events: int = 0

    @property
    def bad(self) -> int:
        return self.bad_in_file + self.rejected

    @property
    def good(self) -> int:
        return self.sent - self.rejected


class _Spool:
    """Bad rows in line order, kept in a temporary file instead of memory."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8")

    def add(self, line: int, text: str) -> None:
        self._file.write(f"{line}\t{' '.join(text.split())}\n")

    def __iter__(self) -> Iterator[tuple[int, str]]:
        self._file.flush()
        self._file.seek(0)
        for entry in self._file:
            line, text = entry.rstrip("\n").split("\t", 1)
            yield int(line), text

    def close(self) -> None:
        self._file.close()


def run_import(path: Path, base_url: str, batch_size: int = DEFAULT_BATCH_SIZE,
               token: str = "", out: TextIO | None = None, *,
               err: TextIO | None = None, progress: bool | None = None,
               today: date | None = None, timeout: tuple[float, float] = TIMEOUT) -> int:
    """Import the roster at `path` into the members service at `base_url`; the exit code.

    `out` gets the summary and the bad rows (default stdout), `err` the progress bar and
    fatal errors (default stderr). `progress` forces the bar on or off; by default it
    shows only when `err` is a terminal. `today` bounds dates (default: today).
    """
    import requests
    from tqdm import tqdm

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    path = Path(path)
    base_url = base_url.rstrip("/")
    if "://" not in base_url:
        base_url = "http://" + base_url
    try:
        file_digest = fingerprint(path)
    except RosterFileError as exc:
        print(f"chibo: {exc.message}", file=err)
        return 2

    totals = Totals()
    in_file, by_server = _Spool(), _Spool()
    show = progress if progress is not None else _isatty(err)
    bar = tqdm(desc="đọc dòng (reading rows)", unit=" dòng", file=err, disable=not show,
               mininterval=0.5, leave=False, dynamic_ncols=True)
    sender = _Sender(requests, requests.Session(), f"{base_url}{ENDPOINT}", base_url, token,
                     file_digest, timeout)
    failure: str | None = None
    try:
        batch: list[dict[str, Any]] = []
        for result in validate_rows(read_rows(path), today=today):
            totals.read += 1
            bar.update()
            if not result.ok:
                totals.bad_in_file += 1
                in_file.add(result.line, result.reason)
                continue
            batch.append({"line": result.line, **result.data})
            if len(batch) >= batch_size:
                sender.send(batch, totals, by_server)
                batch = []
                bar.set_postfix_str(f"lỗi (bad) {totals.bad:,}", refresh=False)
        if batch:
            sender.send(batch, totals, by_server)
    except RosterFileError as exc:
        failure = exc.message
    except ImportFailed as exc:
        failure = str(exc)
    finally:
        bar.close()
        sender.session.close()
    try:
        if failure is None or totals.read:
            _print_summary(out, path, totals, in_file, by_server, complete=failure is None)
    finally:
        in_file.close()
        by_server.close()
    if failure is not None:
        print(f"chibo: {failure}", file=err)
        if totals.batches:
            print(f"chibo: {totals.batches:,} lô ({totals.sent:,} dòng) đã được nhận trước khi "
                  f"dừng; chạy lại cùng tệp là an toàn (the server took {totals.batches:,} "
                  f"batch(es), {totals.sent:,} rows, before this stopped; running the same "
                  f"file again is safe)", file=err)
        return 2
    return 1 if totals.bad else 0


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Sender:
    def __init__(self, requests: Any, session: Any, url: str, base_url: str, token: str,
                 file_digest: str, timeout: tuple[float, float]) -> None:
        self.requests = requests
        self.session = session
        self.url = url
        self.base_url = base_url
        self.token = token
        self.file_digest = file_digest
        self.timeout = timeout
        self.index = 0

    def command_id(self, rows: list[dict[str, Any]]) -> str:
        """64 hex digits (the event store's command_id column holds 64), the same whenever
        the same file yields the same rows for this batch: file bytes + batch index + rows.
        The rows are part of it so a different --batch-size, or a row that validates
        differently on another day, never reuses the id of a batch it does not match."""
        rows_digest = hashlib.sha256(json.dumps(
            rows, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
        return hashlib.sha256(
            f"{self.file_digest}:{self.index}:{rows_digest}".encode()).hexdigest()

    def send(self, rows: list[dict[str, Any]], totals: Totals, rejected: _Spool) -> None:
        headers = {"X-Command-Id": self.command_id(rows)}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        reply, replayed = self._post(rows, headers)
        try:
            counts = {key: int(reply[key])
                      for key in ("admitted", "changed", "unchanged", "events")}
            refused = sorted(((int(r["line"]), str(r.get("member_code") or ""),
                               str(r.get("reason") or "")) for r in reply.get("rejected") or ()),
                             key=lambda r: r[0])
            if replayed:
                # The server answered this batch's first import (same file, same rows):
                # nothing was done now, so its rows count as unchanged, not admitted again.
                counts = {"admitted": 0, "changed": 0, "events": 0,
                          "unchanged": len(rows) - len(refused)}
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ImportFailed(
                f"máy chủ trả lời lô {self.index + 1} không đúng dạng (unexpected reply to batch "
                f"{self.index + 1}): {json.dumps(reply, ensure_ascii=False)[:300]}") from None
        self.index += 1
        totals.batches += 1
        totals.sent += len(rows)
        for key, value in counts.items():
            setattr(totals, key, getattr(totals, key) + value)
        totals.rejected += len(refused)
        for line, code, reason in refused:
            who = f"{code}: " if code else ""
            rejected.add(line, f"{who}{reason} [máy chủ từ chối (rejected by the server)]")

    def _post(self, rows: list[dict[str, Any]], headers: dict[str, str]
              ) -> tuple[dict[str, Any], bool]:
        """The server's reply, and whether it replays the first answer to this batch.

        A failure that may pass (see `_retryable`) is tried again with the same command
        id, as `RETRY` says (clients.retrying); the last one stops the import."""
        try:
            return RETRY.call(lambda: self._attempt(rows, headers), retryable=_retryable)
        except _BatchFailed as exc:
            raise ImportFailed(exc.problem) from None

    def _attempt(self, rows: list[dict[str, Any]], headers: dict[str, str]
                 ) -> tuple[dict[str, Any], bool]:
        requests = self.requests
        batch = self.index + 1
        try:
            response = self.session.post(self.url, json={"rows": rows}, headers=headers,
                                         timeout=self.timeout)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as exc:
            raise ImportFailed(f"địa chỉ không hợp lệ (invalid --url {self.base_url!r}): "
                               f"{exc}") from None
        except requests.exceptions.ReadTimeout:
            raise _BatchFailed(
                f"{self.base_url} không trả lời lô {batch} trong {self.timeout[1]:g} giây "
                f"(no reply to batch {batch} within {self.timeout[1]:g} s). " + _START_HINT,
                retry=True) from None
        except requests.exceptions.RequestException as exc:
            raise _BatchFailed(
                f"không kết nối được tới {self.base_url} (cannot reach the members service "
                f"at {self.base_url}: {type(exc).__name__}). " + _START_HINT,
                retry=True) from None
        if response.status_code == 200:
            try:
                reply = response.json()
            except ValueError:
                reply = None
            if not isinstance(reply, dict):
                raise ImportFailed(
                    f"máy chủ trả lời lô {batch} không phải JSON (the reply to batch {batch} "
                    f"is not a JSON object): {response.text[:300]!r}")
            return reply, response.headers.get("Idempotent-Replayed") == "true"
        # A reused command id means another batch: retrying cannot help.
        retry = (response.status_code in _RETRY_STATUSES
                 and _error_code(response) != "command_id_reused")
        raise _BatchFailed(_describe(response, self.url, batch), retry=retry,
                           retry_after=retry_after_seconds(response))


class _BatchFailed(Exception):
    """One try of a batch failed; `retry` says whether another may succeed."""

    def __init__(self, problem: str, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retry = retry
        self.retry_after = retry_after


def _retryable(error: BaseException) -> bool:
    return isinstance(error, _BatchFailed) and error.retry


def _error_code(response: Any) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def _describe(response: Any, url: str, batch: int) -> str:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = response.text[:300]
    if status == 404:
        return (f"máy chủ không có {ENDPOINT} (the server at {url} answered 404: it is not the "
                f"members service, or a version without roster import). " + _START_HINT)
    if status == 422 and isinstance(body, dict):
        fields = json.dumps(body.get("fields", body), ensure_ascii=False)[:500]
        return (f"máy chủ từ chối lô {batch} vì sai dạng (the server refused batch {batch} as "
                f"malformed, 422): {fields}. Đây là lỗi của chương trình, xin báo lại (this is "
                f"a bug in the importer or the server; please report it)")
    text = json.dumps(body, ensure_ascii=False)[:300] if not isinstance(body, str) else body
    return f"máy chủ trả lời {status} cho lô {batch} (the server answered {status} to batch " \
           f"{batch}): {text}"


def _print_summary(out: TextIO, path: Path, totals: Totals, in_file: _Spool,
                   by_server: _Spool, complete: bool) -> None:
    state = "" if complete else " — CHƯA XONG (INCOMPLETE)"
    print(f"Nhập danh sách đảng viên (roster import): {path.name}{state}", file=out)
    rows = [
        ("Số dòng đã đọc (rows read)", f"{totals.read:,}"),
        ("Dòng hợp lệ đã nhập (good rows)", f"{totals.good:,}"),
        ("Dòng lỗi (bad rows)",
         f"{totals.bad:,} = {totals.bad_in_file:,} lỗi trong tệp (in the file) + "
         f"{totals.rejected:,} máy chủ từ chối (rejected by the server)"),
        ("Đã gửi (sent)", f"{totals.sent:,} dòng (rows) trong (in) {totals.batches:,} lô "
                          f"(batches)"),
        ("Kết nạp mới (admitted)", f"{totals.admitted:,}"),
        ("Thay đổi (changed)", f"{totals.changed:,}"),
        ("Không đổi (unchanged)", f"{totals.unchanged:,}"),
        ("Sự kiện ghi nhận (events)", f"{totals.events:,}"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label + ':':<{width + 1}} {value}", file=out)
    if totals.bad:
        print("Các dòng lỗi (bad rows):", file=out)
        for line, text in heapq.merge(in_file, by_server, key=lambda entry: entry[0]):
            print(f"  dòng {line} (line {line}): {text}", file=out)
