"""Vietnamese alphabetical order, as ICU's Vietnamese collation (with numeric ordering)
gives it: for people by given name, for units and places by their whole name."""

from __future__ import annotations

import icu
import pytest

from services.shared import text as vietnamese_text
from services.shared.text import name_sort_key, nfc, text_sort_key


def test_people_are_ordered_by_given_name_in_vietnamese_alphabet_order():
    names = ["Lò Thị Xuân", "Vi Văn Sơn", "Lương Văn Quyết", "Nguyễn Văn An", "Trần Thị Ánh",
             "Đặng Văn Đông", "Lê Văn Dũng", "Hà Thị Ơn", "Bùi Văn Ông", "Phạm Văn Ong"]
    assert sorted(names, key=name_sort_key) == [
        "Nguyễn Văn An", "Trần Thị Ánh", "Lê Văn Dũng", "Đặng Văn Đông", "Phạm Văn Ong",
        "Bùi Văn Ông", "Hà Thị Ơn", "Lương Văn Quyết", "Vi Văn Sơn", "Lò Thị Xuân"]


def test_same_given_name_falls_back_to_the_whole_name():
    assert sorted(["Trần Văn An", "Bùi Thị An"], key=name_sort_key) == ["Bùi Thị An",
                                                                       "Trần Văn An"]


def test_decomposed_and_composed_names_sort_alike():
    decomposed = "Nguye\u0302\u0303n Va\u0306n An"
    assert name_sort_key(decomposed) == name_sort_key(nfc(decomposed))
    assert text_sort_key("Tha\u0300nh Ho\u0301a") == text_sort_key("Thành Hóa")


@pytest.mark.parametrize("first, second", [
    ("An Bình", "Anh Sơn"),  # a word ends before a longer one begins
    ("Thôn 2", "Thôn 10"),  # numbers by value, not digit by digit
    ("Fansipan", "Phúc"),  # f, j, w, z keep their Latin places
    ("Bản 9", "Bản 10A"),
])
def test_the_cases_a_letter_by_letter_order_gets_wrong(first: str, second: str) -> None:
    assert sorted([second, first], key=text_sort_key) == [first, second]


def test_a_given_name_with_a_latin_letter_takes_its_latin_place():
    assert sorted(["Lò Văn Phúc", "Giàng A Fừ"], key=name_sort_key) == ["Giàng A Fừ",
                                                                       "Lò Văn Phúc"]


# Units and places as ICU's Vietnamese collation orders them.
ORDERED_PLACES = [
    "An Bình", "Anh Sơn", "Ăn Khê", "Ân Thi", "Bản Fansipan", "Bản Phúc", "Chi bộ 3",
    "Chi bộ 12", "Dương Quỳ", "Đồng Văn", "Ea Súp", "Ê Đê", "Ka Lăng", "Khánh Hòa",
    "Mương Kim", "Mường Tè", "Nậm Nhùn", "Nghĩa Lộ", "Ngọc Chiến", "Ong", "Ô Quy Hồ",
    "Ơn Tơ", "Thanh Hóa", "Thôn 1", "Thôn 2", "Thôn 10", "Trạm Tấu", "Tủa Chùa", "Uông Bí",
    "Ưng Hòa", "Yên Bái", "Zín Sán",
]


def test_a_table_of_places_in_vietnamese_order():
    shuffled = ORDERED_PLACES[1::2] + ORDERED_PLACES[::2][::-1]
    assert sorted(shuffled, key=text_sort_key) == ORDERED_PLACES


def test_tone_marks_only_break_ties_in_the_dictionary_order_of_tones():
    # ngang, huyền, hỏi, ngã, sắc, nặng
    assert sorted(["mạ", "má", "mã", "mả", "mà", "ma"], key=text_sort_key) == [
        "ma", "mà", "mả", "mã", "má", "mạ"]
    assert sorted(["Mạc", "Mai"], key=text_sort_key) == ["Mạc", "Mai"]  # letters first


def test_people_in_vietnamese_order():
    people = ["Lò Văn Phúc", "Giàng A Fừ", "Nguyễn Thị Ánh", "Trần Văn An", "Lê Anh",
              "Vàng Thị Ân", "Hoàng Văn Ăn", "Lý Thị Đào", "Đỗ Văn Dũng", "Mùa A Chứ",
              "Cầm Thị Chi", "Nguyễn Thị Anh", "Phạm Anh"]
    assert sorted(people, key=name_sort_key) == [
        "Trần Văn An", "Lê Anh", "Nguyễn Thị Anh", "Phạm Anh", "Nguyễn Thị Ánh",
        "Hoàng Văn Ăn", "Vàng Thị Ân", "Cầm Thị Chi", "Mùa A Chứ", "Đỗ Văn Dũng",
        "Lý Thị Đào", "Giàng A Fừ", "Lò Văn Phúc"]


def test_the_collator_is_made_once_not_per_key(monkeypatch):
    class NoCollators:
        class Collator:
            @staticmethod
            def createInstance(*args: object) -> None:
                raise AssertionError("a collator was created for a sort key")

    monkeypatch.setattr(vietnamese_text, "icu", NoCollators)
    assert text_sort_key("Thôn 2") < text_sort_key("Thôn 10")
    assert name_sort_key("Lê Anh") < name_sort_key("Trần Văn Bình")
    assert vietnamese_text._COLLATOR.getAttribute(icu.UCollAttribute.NUMERIC_COLLATION) == (
        icu.UCollAttributeValue.ON)
