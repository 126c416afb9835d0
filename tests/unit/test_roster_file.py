"""Reading and validating roster files (CSV and XLSX) exported from the national database."""

from __future__ import annotations

import tracemalloc
import unicodedata
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from bench.generate_roster import write_csv
from chibo.clock import ClockSettingError
from clients.roster_import.reading import RosterFileError, fingerprint, map_headers, read_rows
from clients.roster_import.rows import RawRow, default_today, validate_rows

TODAY = date(2026, 11, 22)
VN_HEADERS = ["Mã đảng viên", "Họ và tên", "Ngày sinh", "Giới tính", "Mã chi bộ",
              "Ngày kết nạp", "Ngày chính thức", "Trạng thái"]
EN_HEADERS = ["member_code", "full_name", "birth_date", "gender", "cell_code", "admitted_on",
              "full_member_on", "status"]
NAME_NFC = unicodedata.normalize("NFC", "Quàng Thị Nguyệt")
NAME_NFD = unicodedata.normalize("NFD", NAME_NFC)


def write(path: Path, lines: list[list[str]], delimiter: str = ",", bom: bool = False) -> Path:
    text = "\r\n".join(delimiter.join(cells) for cells in lines) + "\r\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def row(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "member_code": "3800000001", "full_name": "Lò Văn Hùng", "birth_date": "12/05/1980",
        "gender": "Nam", "cell_code": "CB00001", "admitted_on": "03/02/2005",
        "full_member_on": "03/02/2006", "status": "Chính thức"}
    base.update(overrides)
    return base


def check(line: int = 2, **overrides: object):
    """Validate one row; returns its RowResult."""
    values = {k: v for k, v in row(**overrides).items() if v is not ...}
    [result] = validate_rows([RawRow(line, values)], today=TODAY)
    return result


# --------------------------------------------------------------------------- reading files


def test_csv_with_english_headers_gives_json_ready_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", [
        EN_HEADERS,
        ["3800000001", "Lò Văn Hùng", "12/05/1980", "Nam", "CB00001", "03/02/2005",
         "03/02/2006", "Chính thức"],
        ["3800000002", "Quàng Thị Mai", "", "Nữ", "CB00001", "2025-01-15", "", "Dự bị"],
    ])
    results = list(validate_rows(read_rows(path), today=TODAY))
    assert [r.line for r in results] == [2, 3]
    assert all(r.ok for r in results), [r.reason for r in results]
    assert results[0].data == {
        "member_code": "3800000001", "full_name": "Lò Văn Hùng", "birth_date": "1980-05-12",
        "gender": "male", "cell_code": "CB00001", "admitted_on": "2005-02-03",
        "full_member_on": "2006-02-03", "status": "full"}
    assert results[1].data == {
        "member_code": "3800000002", "full_name": "Quàng Thị Mai", "birth_date": None,
        "gender": "female", "cell_code": "CB00001", "admitted_on": "2025-01-15",
        "full_member_on": None, "status": "probationary"}


def test_csv_with_semicolons_and_bom_and_vietnamese_headers(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", [
        VN_HEADERS,
        ["3800000001", "Lò Văn Hùng, bản Máy", "12/05/1980", "Nam", "CB00001", "03/02/2005",
         "03/02/2006", "Chính thức"],
    ], delimiter=";", bom=True)
    [raw] = list(read_rows(path))
    assert raw.line == 2
    # The BOM did not stick to the first header, and the comma in a value did not split it.
    assert raw.values["member_code"] == "3800000001"
    assert raw.values["full_name"] == "Lò Văn Hùng, bản Máy"
    assert raw.values["status"] == "Chính thức"


def test_comma_csv_with_bom_from_excel(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", [VN_HEADERS, list(row().values())], bom=True)
    [result] = validate_rows(read_rows(path), today=TODAY)
    assert result.ok and result.data["member_code"] == "3800000001"


@pytest.mark.parametrize("header, field", [
    ("Mã đảng viên", "member_code"), ("  MÃ ĐẢNG VIÊN ", "member_code"),
    ("ma dang vien", "member_code"), ("Số thẻ đảng viên", "member_code"),
    ("so the dang vien", "member_code"), ("Member_Code", "member_code"),
    ("Họ và tên", "full_name"), ("HỌ TÊN", "full_name"), ("ho va ten", "full_name"),
    ("full_name", "full_name"), ("Ngày sinh", "birth_date"), ("ngay sinh", "birth_date"),
    ("birth_date", "birth_date"), ("Giới tính", "gender"), ("GIOI TINH", "gender"),
    ("gender", "gender"), ("Mã chi bộ", "cell_code"), ("ma chi bo", "cell_code"),
    ("cell_code", "cell_code"), ("Ngày kết nạp", "admitted_on"), ("ngay ket nap", "admitted_on"),
    ("admitted_on", "admitted_on"), ("Ngày chính thức", "full_member_on"),
    ("NGAY CHINH THUC", "full_member_on"), ("full_member_on", "full_member_on"),
    ("Trạng thái", "status"), ("trang thai", "status"), ("STATUS", "status"),
])
def test_header_variants(header: str, field: str) -> None:
    assert map_headers(["STT", header]) == {field: 1}


def test_nfd_headers_are_recognised(tmp_path: Path) -> None:
    headers = [unicodedata.normalize("NFD", h) for h in VN_HEADERS]
    assert map_headers(headers) == {field: i for i, field in enumerate(EN_HEADERS)}


def test_member_code_prefers_ma_dang_vien_over_card_number() -> None:
    assert map_headers(["Số thẻ đảng viên", "Họ và tên", "Mã đảng viên"])["member_code"] == 2


def test_same_header_twice_is_a_file_error(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", [[*VN_HEADERS, "Mã chi bộ"], list(row().values())])
    with pytest.raises(RosterFileError, match="Mã chi bộ"):
        next(read_rows(path))


def test_missing_required_column_is_a_file_error_naming_it_and_the_headers(tmp_path: Path
                                                                          ) -> None:
    headers = [h for h in VN_HEADERS if h != "Mã chi bộ"]
    path = write(tmp_path / "r.csv", [headers, ["1"] * len(headers)])
    rows = read_rows(path)
    with pytest.raises(RosterFileError) as caught:
        next(rows)
    message = caught.value.message
    assert "'Mã chi bộ'" in message and "cell_code" in message
    assert message.index("Mã chi bộ") < message.index("(missing")  # Vietnamese first
    for header in headers:
        assert header in message
    assert caught.value.details["missing"] == ["cell_code"]
    assert caught.value.details["headers_found"] == headers


def test_several_missing_columns_are_all_named(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", [["Họ và tên", "Ngày sinh"], ["A", "01/01/1970"]])
    with pytest.raises(RosterFileError) as caught:
        next(read_rows(path))
    assert caught.value.details["missing"] == ["member_code", "cell_code", "admitted_on",
                                               "status"]


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", [
        ["member_code", "full_name", "cell_code", "admitted_on", "status"],
        ["1", "Hà Văn Sơn", "CB1", "01/03/2026", "Dự bị"],
        ["2", "Hà Văn Hải", "CB1", "01/03/2010", "Chính thức"],
    ])
    first, second = validate_rows(read_rows(path), today=TODAY)
    assert first.ok and first.data["birth_date"] is None and first.data["gender"] is None
    assert not second.ok and list(second.errors) == ["full_member_on"]


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", [
        EN_HEADERS, list(row(member_code="1").values()), [""], [""] * 8,
        list(row(member_code="2").values())])
    assert [r.line for r in read_rows(path)] == [2, 5]


def test_a_value_spanning_lines_is_one_excel_row(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", [
        EN_HEADERS, list(row(member_code="1", full_name='"Lò Văn\nHùng"').values()),
        list(row(member_code="2").values())])
    assert [r.line for r in read_rows(path)] == [2, 3]


def test_title_rows_above_the_header_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", [
        ["DANH SÁCH ĐẢNG VIÊN ĐẢNG BỘ XÃ QUAN SƠN", "", ""], [""],
        VN_HEADERS, list(row().values())])
    [raw] = list(read_rows(path))
    assert raw.line == 4 and raw.values["cell_code"] == "CB00001"


def test_unknown_columns_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", [["STT", *VN_HEADERS, "Ghi chú"],
                                      ["1", *row().values(), "đi làm ăn xa"]])
    [raw] = list(read_rows(path))
    assert set(raw.values) == set(EN_HEADERS)


def test_xlsx_with_excel_date_cells_numbers_and_gaps(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "r.xlsx", [
        ["Danh sách đảng viên"],
        VN_HEADERS,
        [3800000001, NAME_NFD, datetime(1980, 5, 12), "Nữ", "CB00001", date(2005, 2, 3),
         datetime(2006, 2, 3, 0, 0), "Chính thức"],
        [],
        [None] * 8,
        ["3800000002", "Lò Văn Hùng", "12/05/1980", "Nam", "CB00002", "03/02/2005",
         "2006-02-03", "chinh thuc"],
        [3800000003.0, "Lò Văn Lả", None, None, "CB00002", "31/02/2005", None, "Dự bị"],
    ])
    results = list(validate_rows(read_rows(path), today=TODAY))
    assert [r.line for r in results] == [3, 6, 7]
    assert results[0].ok and results[0].data == {
        "member_code": "3800000001", "full_name": NAME_NFC, "birth_date": "1980-05-12",
        "gender": "female", "cell_code": "CB00001", "admitted_on": "2005-02-03",
        "full_member_on": "2006-02-03", "status": "full"}
    assert results[1].ok and results[1].data["admitted_on"] == "2005-02-03"
    assert not results[2].ok and results[2].member_code == "3800000003"
    assert list(results[2].errors) == ["admitted_on"]


def test_xlsx_missing_column_is_a_file_error(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "r.xlsx", [[h for h in VN_HEADERS if h != "Trạng thái"]])
    with pytest.raises(RosterFileError, match="Trạng thái"):
        next(read_rows(path))


def test_xlsx_reads_the_first_sheet(tmp_path: Path) -> None:
    workbook = Workbook()
    workbook.active.append(VN_HEADERS)
    workbook.active.append(list(row(member_code="first").values()))
    other = workbook.create_sheet("Khác")
    other.append(VN_HEADERS)
    other.append(list(row(member_code="second").values()))
    workbook.save(tmp_path / "r.xlsx")
    assert [r.values["member_code"] for r in read_rows(tmp_path / "r.xlsx")] == ["first"]


def test_not_a_workbook_is_a_file_error(tmp_path: Path) -> None:
    (tmp_path / "r.xlsx").write_text("not a zip")
    with pytest.raises(RosterFileError, match="xlsx"):
        next(read_rows(tmp_path / "r.xlsx"))


@pytest.mark.parametrize("name", ["r.xls", "r.txt", "r"])
def test_other_file_types_are_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("x")
    with pytest.raises(RosterFileError, match=r"\.csv"):
        next(read_rows(tmp_path / name))


def test_missing_file_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(RosterFileError, match="không tìm thấy|file not found"):
        next(read_rows(tmp_path / "nowhere.csv"))


def test_csv_not_in_utf8_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(",".join(EN_HEADERS).encode() + b"\n1,L\xf2 V\xe3n,,,CB1,01/01/2000,,x\n")
    with pytest.raises(RosterFileError, match="UTF-8"):
        list(read_rows(path))


def test_fingerprint_finds_a_bad_byte_deep_in_a_csv(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", 3000)
    good = fingerprint(path)
    assert len(good) == 64 and fingerprint(path) == good
    data = bytearray(path.read_bytes())
    lines = data.split(b"\n")
    lines[2500] = lines[2500].replace(b",", b",\xff", 1)
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(RosterFileError) as caught:
        fingerprint(path)
    assert caught.value.details["line"] == 2501


def test_reading_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "big.csv", 20_000)
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_rows(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 20_000
    # All 20,000 rows held at once would take well over 10 MiB.
    assert peak < 2 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


# --------------------------------------------------------------------------- validation


def test_a_complete_row_is_valid() -> None:
    result = check()
    assert result.ok and result.errors is None and result.reason == ""


@pytest.mark.parametrize("overrides, field, fragment", [
    ({"member_code": ...}, "member_code", "required"),
    ({"member_code": "   "}, "member_code", "required"),
    ({"member_code": "x" * 41}, "member_code", "1–40"),
    ({"full_name": ...}, "full_name", "required"),
    ({"full_name": "a" * 201}, "full_name", "1–200"),
    ({"cell_code": ...}, "cell_code", "required"),
    ({"admitted_on": ...}, "admitted_on", "required"),
    ({"status": ...}, "status", "required"),
    ({"status": "Đang sinh hoạt"}, "status", "invalid value"),
    ({"gender": "Khác"}, "gender", "invalid value"),
    ({"birth_date": "1980/05/12"}, "birth_date", "not a date"),
    ({"birth_date": "12-05-80"}, "birth_date", "not a date"),
    ({"birth_date": "31/02/1980"}, "birth_date", "no such date"),
    ({"birth_date": "12/13/1980"}, "birth_date", "no such date"),
    ({"birth_date": 29000}, "birth_date", "not a date"),
    ({"birth_date": "01/01/1899"}, "birth_date", "1900"),
    ({"admitted_on": "hôm qua"}, "admitted_on", "not a date"),
    ({"admitted_on": "23/11/2026", "full_member_on": ..., "status": "Dự bị"}, "admitted_on",
     "in the future"),
    ({"birth_date": "01/01/2027"}, "birth_date", "in the future"),
    ({"full_member_on": "23/11/2026"}, "full_member_on", "in the future"),
    ({"full_member_on": "02/02/2005"}, "full_member_on", "before admitted_on"),
    ({"full_member_on": ...}, "full_member_on", "a full member needs full_member_on"),
    ({"status": "Dự bị"}, "full_member_on", "probationary member has no full_member_on"),
    ({"birth_date": "04/02/1987"}, "birth_date", "under 18"),
    ({"birth_date": "01/01/2010"}, "birth_date", "under 18"),
])
def test_each_rule(overrides: dict[str, object], field: str, fragment: str) -> None:
    result = check(**overrides)
    assert not result.ok and result.data is None
    assert list(result.errors) == [field], result.errors
    assert fragment in " ".join(result.errors[field])
    assert result.reason.startswith(f"{field}: ")
    assert "\n" not in result.reason


def test_messages_are_vietnamese_then_english() -> None:
    message = check(admitted_on=...).errors["admitted_on"][0]
    assert message.startswith("Bắt buộc") and "(required" in message


def test_every_problem_of_a_row_is_reported() -> None:
    result = check(member_code=..., gender="?", admitted_on="31/02/2005")
    assert set(result.errors) == {"member_code", "gender", "admitted_on"}
    assert result.reason.index("member_code") < result.reason.index("gender") \
        < result.reason.index("admitted_on")


def test_eighteen_on_the_day_of_admission_is_enough() -> None:
    assert check(birth_date="03/02/1987").ok
    assert check(birth_date="29/02/1988", admitted_on="01/03/2006", full_member_on="01/03/2007").ok
    assert not check(birth_date="29/02/1988", admitted_on="28/02/2006",
                     full_member_on="01/03/2007").ok


def test_today_itself_is_not_the_future() -> None:
    assert check(admitted_on="22/11/2026", full_member_on=..., status="Dự bị").ok


def test_full_member_on_equal_to_admitted_on_is_allowed() -> None:
    assert check(full_member_on="03/02/2005").ok


@pytest.mark.parametrize("text, expected", [
    ("Dự bị", "probationary"), ("du bi", "probationary"), ("DỰ BỊ", "probationary"),
    ("probationary", "probationary"),
    ("Chính thức", "full"), ("chinh thuc", "full"), (" CHÍNH THỨC ", "full"), ("full", "full"),
    ("Miễn sinh hoạt", "exempt"), ("Miễn công tác và sinh hoạt đảng", "exempt"),
    ("mien cong tac va sinh hoat Dang", "exempt"), ("exempt", "exempt"),
    ("Chuyển đi", "moved_out"), ("Đã chuyển sinh hoạt", "moved_out"), ("moved_out", "moved_out"),
    ("Từ trần", "deceased"), ("Đã mất", "deceased"), ("da mat", "deceased"),
    ("deceased", "deceased"),
    ("Xóa tên", "struck_off"), ("Xoá tên", "struck_off"), ("xoa ten", "struck_off"),
    ("struck_off", "struck_off"), ("Khai trừ", "expelled"), ("expelled", "expelled"),
    (unicodedata.normalize("NFD", "Từ trần"), "deceased"),
])
def test_status_values(text: str, expected: str) -> None:
    full_on = ... if expected == "probationary" else "03/02/2006"
    result = check(status=text, full_member_on=full_on)
    assert result.ok, result.reason
    assert result.data["status"] == expected


@pytest.mark.parametrize("text, expected", [
    ("Nam", "male"), ("NAM", "male"), ("Nữ", "female"), ("nữ", "female"), ("Nu", "female"),
    ("male", "male"), ("Female", "female"), (..., None), ("", None),
])
def test_gender_values(text: object, expected: str | None) -> None:
    result = check(gender=text if text != "" else None)
    assert result.ok, result.reason
    assert result.data["gender"] == expected


@pytest.mark.parametrize("value", [
    "05/03/1960", "5/3/1960", "05.03.1960", "05-03-1960", "1960-03-05", "1960-03-05 00:00:00",
    " 05/03/1960 ", date(1960, 3, 5), datetime(1960, 3, 5), datetime(1960, 3, 5, 14, 30),
])
def test_date_forms(value: object) -> None:
    result = check(birth_date=value)
    assert result.ok, result.reason
    assert result.data["birth_date"] == "1960-03-05"


def test_day_month_order_is_vietnamese() -> None:
    assert check(birth_date="02/03/1960").data["birth_date"] == "1960-03-02"


def test_member_and_cell_codes_are_trimmed_and_numbers_become_text() -> None:
    result = check(member_code=3800000001.0, cell_code="  CB00001 ")
    assert result.data["member_code"] == "3800000001"
    assert result.data["cell_code"] == "CB00001"


def test_nfd_name_comes_out_nfc() -> None:
    assert NAME_NFD != NAME_NFC  # the test means something
    result = check(full_name=NAME_NFD)
    assert result.data["full_name"] == NAME_NFC
    assert unicodedata.is_normalized("NFC", result.data["full_name"])


def test_nfc_name_is_unchanged_byte_for_byte() -> None:
    for name in (NAME_NFC, "Nguyễn Thị Ánh Tuyết", "Đặng Hữu Quỳnh", "Sầm Văn Ượng"):
        result = check(full_name=name)
        assert result.data["full_name"].encode("utf-8") == name.encode("utf-8")


def test_nfc_round_trip_through_csv_and_xlsx(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "r.csv", [
        EN_HEADERS, list(row(member_code="1", full_name=NAME_NFD).values()),
        list(row(member_code="2", full_name=NAME_NFC).values())], delimiter=";", bom=True)
    xlsx_path = xlsx(tmp_path / "r.xlsx", [
        EN_HEADERS, list(row(member_code="1", full_name=NAME_NFD).values()),
        list(row(member_code="2", full_name=NAME_NFC).values())])
    for path in (csv_path, xlsx_path):
        names = [r.data["full_name"].encode() for r in validate_rows(read_rows(path),
                                                                     today=TODAY)]
        assert names == [NAME_NFC.encode(), NAME_NFC.encode()], path.suffix


def test_duplicate_codes_name_the_first_line() -> None:
    raws = [RawRow(2, row(member_code="100")), RawRow(3, row(member_code="200")),
            RawRow(5, row(member_code=" 100 ")), RawRow(9, row(member_code="100"))]
    results = list(validate_rows(raws, today=TODAY))
    assert [r.ok for r in results] == [True, True, False, False]
    for bad in results[2:]:
        assert list(bad.errors) == ["member_code"]
        assert "line 2" in bad.reason and "dòng 2" in bad.reason
        assert bad.member_code == "100"


def test_duplicate_of_a_row_that_was_bad_for_another_reason_is_still_a_duplicate() -> None:
    raws = [RawRow(2, row(member_code="100", admitted_on="x")), RawRow(3, row(member_code="100"))]
    first, second = validate_rows(raws, today=TODAY)
    assert list(first.errors) == ["admitted_on"]
    assert "duplicate of line 2" in second.reason


def test_line_numbers_of_bad_rows_in_a_file(tmp_path: Path) -> None:
    lines = [VN_HEADERS]
    for n in range(1, 21):
        values = row(member_code=str(n))
        if n in (3, 11):
            values["admitted_on"] = "30/02/2001"
        if n == 7:
            values["status"] = "không rõ"
        if n == 16:
            values["member_code"] = "5"
        lines.append(list(values.values()))
        if n == 10:
            lines.append([""])  # a blank line: rows after it are one line further down
    path = write(tmp_path / "r.csv", lines, delimiter=";")
    bad = [(r.line, next(iter(r.errors))) for r in validate_rows(read_rows(path), today=TODAY)
           if not r.ok]
    assert bad == [(4, "admitted_on"), (8, "status"), (13, "admitted_on"),
                   (18, "member_code")]


def test_today_defaults_to_chibo_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIBO_CLOCK", "2005-06-01T00:00:00+00:00")
    [result] = validate_rows([RawRow(2, row())])
    assert "full_member_on" in result.errors and "in the future" in result.reason


@pytest.mark.parametrize("setting", ["2005-06-01", "'2005-06-01T00:00:00+00:00'"])
def test_chibo_clock_is_read_as_the_services_read_it(monkeypatch: pytest.MonkeyPatch,
                                                     setting: str) -> None:
    # A bare date, and a value with the quotes a shell or YAML left around it.
    monkeypatch.setenv("CHIBO_CLOCK", setting)
    assert default_today() == date(2005, 6, 1)


def test_a_chibo_clock_that_is_not_a_time_is_refused_naming_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIBO_CLOCK", "tomorrow")
    with pytest.raises(ClockSettingError, match="CHIBO_CLOCK"):
        default_today()
