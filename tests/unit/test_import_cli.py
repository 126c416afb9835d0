"""`run_import` against a small local HTTP server that speaks the import-batch contract.

The server here is a stand-in written for this unit test only (werkzeug in a thread); it
checks request bodies the way the contract says and applies rows idempotently, so the
test can see batching, headers, the summary and the exit codes.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from clients.retrying import RetryPolicy
from clients.roster_import import cli as import_cli
from clients.roster_import.cli import add_arguments, run_import

TODAY = date(2026, 11, 22)
HEADERS = ["Mã đảng viên", "Họ và tên", "Ngày sinh", "Giới tính", "Mã chi bộ", "Ngày kết nạp",
           "Ngày chính thức", "Trạng thái"]
ROW_KEYS = {"line", "member_code", "full_name", "birth_date", "gender", "cell_code",
            "admitted_on", "full_member_on", "status"}
KNOWN_CELLS = {"CB00001", "CB00002"}


class ImportServer:
    """POST /members/import-batches as the contract describes it."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.members: dict[str, dict[str, Any]] = {}
        self.replies: dict[str, dict[str, Any]] = {}
        self.fail_with: list[int] = []  # statuses to answer, in turn, before behaving
        self.reused = False  # whether those answers say the command id means another batch
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if (request.method, request.path) != ("POST", "/members/import-batches"):
            return self.json(404, {"error": "not_found"})(environ, start_response)
        with self.lock:
            body = request.get_json(silent=True)
            self.calls.append({"headers": dict(request.headers), "body": body})
            if self.fail_with:
                status = self.fail_with.pop(0)
                error = "command_id_reused" if self.reused else "unavailable"
                return self.json(status, {"error": error})(environ, start_response)
            problems = self.problems(body)
            if problems:
                return self.json(422, {"error": "validation_failed", "fields": problems})(
                    environ, start_response)
            command = request.headers.get("X-Command-Id")
            replayed = command in self.replies
            if not replayed:
                self.replies[command] = self.apply(body["rows"])
            response = self.json(200, self.replies[command])
            if replayed:  # as the members service marks the first answer given again
                response.headers["Idempotent-Replayed"] = "true"
            return response(environ, start_response)

    @staticmethod
    def json(status: int, payload: Any) -> Response:
        return Response(json.dumps(payload, ensure_ascii=False), status=status,
                        content_type="application/json; charset=utf-8")

    @staticmethod
    def problems(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
            return {"rows": ["required list"]}
        for index, row in enumerate(body["rows"]):
            if not isinstance(row, dict) or set(row) != ROW_KEYS or \
                    not isinstance(row["line"], int):
                return {"rows": {str(index): ["bad row shape"]}}
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["admitted_on"]):
                return {"rows": {str(index): {"admitted_on": ["not ISO"]}}}
        return {}

    def apply(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        reply: dict[str, Any] = {"admitted": 0, "changed": 0, "unchanged": 0, "events": 0,
                                 "rejected": []}
        for row in rows:
            data = {k: v for k, v in row.items() if k != "line"}
            if row["cell_code"] not in KNOWN_CELLS:
                reply["rejected"].append({"line": row["line"], "member_code": row["member_code"],
                                          "reason": f"no cell {row['cell_code']}"})
            elif row["member_code"] not in self.members:
                reply["admitted"] += 1
                reply["events"] += 1
            elif self.members[row["member_code"]] != data:
                reply["changed"] += 1
                reply["events"] += 1
            else:
                reply["unchanged"] += 1
            if row["cell_code"] in KNOWN_CELLS:
                self.members[row["member_code"]] = data
        reply["rejected"].reverse()  # the contract promises no order
        return reply

    def sent_lines(self) -> list[int]:
        return [row["line"] for call in self.calls if isinstance(call["body"], dict)
                for row in call["body"]["rows"]]

    def command_ids(self) -> list[str]:
        return [call["headers"]["X-Command-Id"] for call in self.calls]


@pytest.fixture
def server() -> Iterator[tuple[ImportServer, str]]:
    app = ImportServer()
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        thread.join(timeout=10)


@pytest.fixture(autouse=True)
def no_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_cli, "RETRY", RetryPolicy(attempts=4, sleep=lambda _: None))


def member(n: int, **overrides: str) -> list[str]:
    values = {"code": f"38{n:08d}", "name": f"Lò Văn Hùng {n}", "born": "12/05/1980",
              "gender": "Nam", "cell": "CB00001" if n % 2 else "CB00002",
              "admitted": "03/02/2005", "full": "03/02/2006", "status": "Chính thức"}
    values.update(overrides)
    return list(values.values())


def roster(path: Path, rows: list[list[str]]) -> Path:
    lines = [";".join(HEADERS)] + [";".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return path


def run(path: Path, url: str, **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_import(path, url, out=out, err=err, today=TODAY, **kwargs)
    return code, out.getvalue(), err.getvalue()


def figure(output: str, label: str) -> int:
    match = re.search(rf"\({re.escape(label)}\):\s+([\d,]+)", output)
    assert match, f"no {label!r} in:\n{output}"
    return int(match.group(1).replace(",", ""))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_good_rows_go_in_batches_and_are_summarised(tmp_path: Path, server) -> None:
    app, url = server
    path = roster(tmp_path / "r.csv", [member(n) for n in range(1, 26)])
    code, out, err = run(path, url, batch_size=10, token="test-token-1")
    assert code == 0, out + err
    assert [len(call["body"]["rows"]) for call in app.calls] == [10, 10, 5]
    assert app.sent_lines() == list(range(2, 27))
    first = app.calls[0]["body"]["rows"][0]
    assert first == {"line": 2, "member_code": "3800000001", "full_name": "Lò Văn Hùng 1",
                     "birth_date": "1980-05-12", "gender": "male", "cell_code": "CB00001",
                     "admitted_on": "2005-02-03", "full_member_on": "2006-02-03",
                     "status": "full"}
    assert {call["headers"].get("Authorization") for call in app.calls} == {
        "Bearer test-token-1"}
    assert all("X-Actor" not in call["headers"] for call in app.calls)
    ids = app.command_ids()
    assert len(set(ids)) == 3 and all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids)
    assert figure(out, "rows read") == 25
    assert figure(out, "good rows") == 25
    assert figure(out, "admitted") == 25
    assert figure(out, "events") == 25
    assert figure(out, "unchanged") == 0
    assert "Các dòng lỗi" not in out
    assert err == ""  # stderr is not a terminal here: no progress bar


def test_the_same_file_twice_uses_the_same_command_ids(tmp_path: Path, server) -> None:
    app, url = server
    path = roster(tmp_path / "r.csv", [member(n) for n in range(1, 8)])
    assert run(path, url, batch_size=3)[0] == 0
    first_ids = app.command_ids()
    code, out, _ = run(path, url, batch_size=3)
    assert code == 0
    assert app.command_ids()[3:] == first_ids
    # The server replays each batch's first answer; the second run did nothing new.
    assert figure(out, "admitted") == 0 and figure(out, "unchanged") == 7


def test_a_command_id_the_server_says_is_reused_is_not_retried(tmp_path: Path, server) -> None:
    app, url = server
    app.fail_with = [409]
    app.reused = True
    code, _, err = run(roster(tmp_path / "r.csv", [member(1)]), url)
    assert code == 2 and len(app.calls) == 1
    assert "command_id_reused" in err


def test_other_batching_gets_other_ids_and_changes_nothing(tmp_path: Path, server) -> None:
    app, url = server
    path = roster(tmp_path / "r.csv", [member(n) for n in range(1, 8)])
    run(path, url, batch_size=3)
    state = dict(app.members)
    code, out, _ = run(path, url, batch_size=2)
    assert code == 0
    assert not set(app.command_ids()[:3]) & set(app.command_ids()[3:])
    assert figure(out, "unchanged") == 7 and figure(out, "admitted") == 0
    assert app.members == state


def test_a_changed_row_is_reported_changed(tmp_path: Path, server) -> None:
    app, url = server
    rows = [member(n) for n in range(1, 5)]
    run(roster(tmp_path / "a.csv", rows), url)
    rows[2] = member(3, name="Lò Văn Hưng")
    code, out, _ = run(roster(tmp_path / "b.csv", rows), url)
    assert code == 0
    assert (figure(out, "changed"), figure(out, "unchanged"), figure(out, "events")) == (1, 3, 1)


def test_bad_rows_are_never_sent_and_are_listed_by_line(tmp_path: Path, server) -> None:
    app, url = server
    rows = [member(n) for n in range(1, 13)]
    rows[2] = member(3, admitted="31/02/2005")          # line 4: no such date
    rows[5] = member(6, cell="CB99999")                 # line 7: the server rejects it
    rows[8] = member(1)                                 # line 10: duplicate of line 2
    rows[10] = member(11, status="Dự bị")               # line 12: probationary with a date
    code, out, err = run(roster(tmp_path / "r.csv", rows), url, batch_size=4)
    assert code == 1, out + err
    assert 4 not in app.sent_lines() and 10 not in app.sent_lines() \
        and 12 not in app.sent_lines()
    assert app.sent_lines() == [2, 3, 5, 6, 7, 8, 9, 11, 13]
    assert figure(out, "rows read") == 12
    assert figure(out, "good rows") == 8
    assert re.search(r"\(bad rows\):\s+4 = 3 .* \+ 1 ", out), out
    listed = re.findall(r"^  dòng (\d+) \(line \1\): (.*)$", out, re.M)
    assert [int(line) for line, _ in listed] == [4, 7, 10, 12]
    reasons = dict((int(line), text) for line, text in listed)
    assert reasons[4].startswith("admitted_on: ")
    assert reasons[7].startswith("3800000006: no cell CB99999") and "server" in reasons[7]
    assert reasons[10].startswith("member_code: ") and "line 2" in reasons[10]
    assert reasons[12].startswith("full_member_on: ")


def test_a_file_with_only_bad_rows_never_contacts_the_server(tmp_path: Path) -> None:
    path = roster(tmp_path / "r.csv", [member(1, status="?"), member(2, born="x")])
    code, out, err = run(path, f"http://127.0.0.1:{free_port()}")
    assert code == 1, err
    assert "dòng 2 (line 2): status: " in out and "dòng 3 (line 3): birth_date: " in out


def test_missing_column_exits_2_and_sends_nothing(tmp_path: Path, server) -> None:
    app, url = server
    path = tmp_path / "r.csv"
    path.write_text(";".join(HEADERS[:4]) + "\n1;A;;Nam\n", encoding="utf-8")
    code, out, err = run(path, url)
    assert code == 2
    assert app.calls == []
    assert "Mã chi bộ" in err and "cell_code" in err and "Họ và tên" in err
    assert out == ""


def test_a_csv_not_in_utf8_exits_2_before_sending(tmp_path: Path, server) -> None:
    app, url = server
    path = roster(tmp_path / "r.csv", [member(n) for n in range(1, 2001)])
    path.write_bytes(path.read_bytes() + "9;Lò Van;;;CB00001;01/01/2000;;Du bi\n".encode("cp1252"))
    code, _, err = run(path, url, batch_size=100)
    assert code == 2
    assert app.calls == []
    assert "UTF-8" in err and "2002" in err


def test_unreachable_server_exits_2_and_says_what_to_do(tmp_path: Path) -> None:
    path = roster(tmp_path / "r.csv", [member(n) for n in range(1, 4)])
    code, out, err = run(path, f"http://127.0.0.1:{free_port()}")
    assert code == 2
    assert "make demo" in err and "cannot reach" in err
    assert "INCOMPLETE" in out


def test_a_url_without_scheme_is_taken_as_http(tmp_path: Path, server) -> None:
    app, url = server
    code, _, err = run(roster(tmp_path / "r.csv", [member(1)]), url.removeprefix("http://"))
    assert code == 0, err
    assert len(app.calls) == 1


def test_a_failed_batch_is_retried_with_the_same_command_id(tmp_path: Path, server) -> None:
    app, url = server
    app.fail_with = [503, 409]
    code, out, err = run(roster(tmp_path / "r.csv", [member(n) for n in range(1, 6)]), url,
                         batch_size=3)
    assert code == 0, err
    ids = app.command_ids()
    assert len(ids) == 4 and ids[0] == ids[1] == ids[2] != ids[3]
    assert figure(out, "admitted") == 5


def test_a_server_that_keeps_failing_stops_the_import(tmp_path: Path, server) -> None:
    app, url = server
    path = roster(tmp_path / "r.csv", [member(n) for n in range(1, 8)])
    original = app.apply

    def fail_after_first(rows: list[dict[str, Any]]) -> dict[str, Any]:
        app.fail_with = [503] * 10
        return original(rows)

    app.apply = fail_after_first  # type: ignore[method-assign]
    code, out, err = run(path, url, batch_size=3)
    assert code == 2
    assert "503" in err and "safe" in err and "3 rows" in err
    assert len(app.calls) == 1 + import_cli.RETRY.attempts
    assert "INCOMPLETE" in out and figure(out, "admitted") == 3


def test_a_422_reply_exits_2(tmp_path: Path, server) -> None:
    app, url = server
    app.problems = lambda body: {"rows": ["refused"]}  # type: ignore[method-assign]
    code, _, err = run(roster(tmp_path / "r.csv", [member(1)]), url)
    assert code == 2
    assert "422" in err and "refused" in err
    assert len(app.calls) == 1  # a malformed body is not retried


def test_a_404_reply_says_the_endpoint_is_missing(tmp_path: Path, server) -> None:
    _, url = server
    code, _, err = run(roster(tmp_path / "r.csv", [member(1)]), url + "/nothing-here")
    assert code == 2 and "404" in err


def test_xlsx_file(tmp_path: Path, server) -> None:
    app, url = server
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADERS)
    sheet.append([3800000001, "Quàng Thị Mai", date(1990, 1, 2), "Nữ", "CB00001",
                  date(2015, 6, 1), date(2016, 6, 1), "Chính thức"])
    sheet.append([3800000002, "Sầm Văn Ượng", None, "Nam", "CB00002", "01/06/2026", None,
                  "Dự bị"])
    workbook.save(tmp_path / "r.xlsx")
    code, out, err = run(tmp_path / "r.xlsx", url)
    assert code == 0, out + err
    rows = app.calls[0]["body"]["rows"]
    assert [(r["line"], r["member_code"], r["birth_date"]) for r in rows] == [
        (2, "3800000001", "1990-01-02"), (3, "3800000002", None)]


def test_progress_bar_when_forced(tmp_path: Path, server) -> None:
    _, url = server
    path = roster(tmp_path / "r.csv", [member(n) for n in range(1, 4)])
    _, _, err = run(path, url, progress=True)
    assert "rows" in err
    _, _, quiet = run(path, url)
    assert quiet == ""


def test_arguments() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["r.xlsx", "--batch-size", "500", "--token", "t0"])
    assert (args.file, args.url, args.batch_size, args.token, args.progress) == (
        Path("r.xlsx"), "http://127.0.0.1:8000", 500, "t0", None)
    assert parser.parse_args(["r.csv", "--no-progress"]).progress is False
    with pytest.raises(SystemExit):
        parser.parse_args(["r.csv", "--batch-size", "0"])


def test_the_token_comes_from_the_option_the_environment_or_the_operator(tmp_path: Path
                                                                         ) -> None:
    from chibo.access import TokenSigner
    from clients.roster_import.cli import resolve_token
    from tests.support import AUTH_SECRET, NOW

    assert resolve_token("given", None, {"CHIBO_TOKEN": "env"}) == "given"
    assert resolve_token(None, None, {"CHIBO_TOKEN": "env"}) == "env"
    config = tmp_path / "c.yaml"
    config.write_text(f"AUTH:\n  secret: {AUTH_SECRET}\n  token_minutes: 5\n"
                      f"CLOCK: '{NOW.isoformat()}'\n", encoding="utf-8")
    minted = resolve_token(None, str(config), {})
    assert TokenSigner(AUTH_SECRET).verify(minted, NOW).identity.account_id == "operator"
