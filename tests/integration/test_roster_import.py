"""`chibo import members FILE` against a running system: good rows land, bad rows are
reported by line and write nothing, the same file twice changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import requests
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support import NOW, as_caller, bearer, embedded_config, running, token

CHIBO = str(Path(sys.executable).parent / "chibo")
NFD_NAME = unicodedata.normalize("NFD", "Nguyễn Thị Hạnh")

HEADER = ("Mã đảng viên;Họ và tên;Ngày sinh;Giới tính;Mã chi bộ;Ngày kết nạp;"
          "Ngày chính thức;Trạng thái")
ROSTER = f"""{HEADER}
DV001;{NFD_NAME};06/05/1980;Nữ;CB1;02/03/2010;02/03/2011;Chính thức
DV002;Trần Văn Bình;01/01/1975;Nam;CB1;01/01/2012;;Dự bị
DV003;Lò Văn Máy;31/02/1990;Nam;CB1;01/01/2012;;Dự bị
DV004;Vi Thị Sen;01/01/1985;Nữ;CB-KHONG-CO;01/01/2012;;Dự bị
DV005;Hà Văn Thành;01/01/1960;Nam;CB1;01/01/1990;01/01/1991;Miễn sinh hoạt
"""


def run_import(path: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHIBO, "import", "members", str(path), "--url", url,
                           "--no-progress", "--token", token()],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore",
                                   "CHIBO_CLOCK": NOW.isoformat()})


def test_import_reports_bad_rows_and_is_idempotent(tmp_path):
    config = embedded_config(tmp_path)
    url = f"http://{config['WEB_SERVER_ADDRESS']}"
    roster = tmp_path / "danh-sach.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    with running(config):
        for body in ({"unit_id": "T", "name": "Tỉnh ủy", "kind": "province"},
                     {"unit_id": "X", "name": "Đảng ủy xã", "kind": "committee",
                      "parent_id": "T"},
                     {"unit_id": "CB1", "name": "Chi bộ Bản Máy", "kind": "cell",
                      "parent_id": "X"}):
            response = requests.post(f"{url}/members/commands/establish_unit",
                                     json={**body, "effective_date": "2024-01-01"},
                                     headers=bearer(), timeout=10)
            assert response.status_code == 201, response.text

        first = run_import(roster, url)
        assert first.returncode == 1, first.stdout + first.stderr
        assert "dòng 4 (line 4): birth_date" in first.stdout, first.stdout
        assert "dòng 5 (line 5)" in first.stdout
        assert "dòng 2 " not in first.stdout and "dòng 3 " not in first.stdout

        with ClusterRpcProxy(config, context_data=as_caller()) as proxy:
            log = proxy.members.read_events(after=0, limit=1000)
            hanh = proxy.members.member("DV001")
            roll = proxy.members.attendance_roll("CB1")
        admitted = {e["data"]["member_id"] for e in log if e["type"] == "member_admitted"}
        assert admitted == {"DV001", "DV002", "DV005"}
        # The events say who imported: the token's account, not a header.
        assert {e["metadata"]["actor"] for e in log if e["type"] == "member_admitted"} == {
            "tk-quantri"}
        assert hanh["full_name"] == "Nguyễn Thị Hạnh"  # stored NFC
        assert hanh["full_name"] == unicodedata.normalize("NFC", NFD_NAME)
        assert hanh["full_since"] == "2011-03-02"
        assert [e["member_id"] for e in roll["excused"]] == ["DV005"]

        second = run_import(roster, url)
        assert second.returncode == 1  # the same two rows are still bad
        with ClusterRpcProxy(config, context_data=as_caller()) as proxy:
            assert proxy.members.read_events(after=0, limit=1000) == log
