from services.common import name_sort_key, nfc


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
