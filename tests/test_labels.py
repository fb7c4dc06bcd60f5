"""The 47 ByMerge classes: order, merges, mapping-file checks and look-alike tolerance."""

import string

import pytest

from conftest import shared_path
from emnist_core.labels import (BYCLASS_CHARS, BYMERGE_CHARS, NUM_CLASSES, NUM_DIGITS, byclass_to_bymerge,
                                char_to_index, check_mapping_file, is_digit, letter_matches,
                                mapping_file_text)

# The official emnist-bymerge-mapping.txt, written out as 'index ascii_code' pairs.
OFFICIAL_CODES = ([48, 49, 50, 51, 52, 53, 54, 55, 56, 57] + list(range(65, 91))
                  + [97, 98, 100, 101, 102, 103, 104, 110, 113, 114, 116])
MERGED = "cijklmopsuvwxyz"
KEPT_LOWERCASE = "abdefghnqrt"


def test_47_classes_in_official_order():
    assert NUM_CLASSES == 47 == len(BYMERGE_CHARS) == len(set(BYMERGE_CHARS))
    assert [ord(c) for c in BYMERGE_CHARS] == OFFICIAL_CODES


def test_digits_are_the_first_ten_classes():
    assert NUM_DIGITS == 10
    assert BYMERGE_CHARS[:10] == string.digits
    assert [is_digit(i) for i in (-1, 0, 9, 10, 46)] == [False, True, True, False, False]
    assert all(char_to_index(d) == int(d) for d in string.digits)


def test_byclass_merges_the_15_lowercase_lookalikes_into_capitals():
    assert len(MERGED) == 15
    for char in MERGED:
        merged = byclass_to_bymerge(BYCLASS_CHARS.index(char))
        assert BYMERGE_CHARS[merged] == char.upper()
    for char in KEPT_LOWERCASE:
        assert BYMERGE_CHARS[byclass_to_bymerge(BYCLASS_CHARS.index(char))] == char
    for char in string.digits + string.ascii_uppercase:
        assert BYMERGE_CHARS[byclass_to_bymerge(BYCLASS_CHARS.index(char))] == char
    assert sorted({byclass_to_bymerge(i) for i in range(62)}) == list(range(47))


@pytest.mark.parametrize("bad", [-1, 62, 100])
def test_byclass_label_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="outside 0..61"):
        byclass_to_bymerge(bad)


def test_char_to_index_maps_merged_lowercase_to_capital():
    assert char_to_index("o") == char_to_index("O") == BYMERGE_CHARS.index("O")
    assert char_to_index("a") == BYMERGE_CHARS.index("a") != char_to_index("A")


@pytest.mark.parametrize("bad", ["", "AB", "ij", "?", " ", "é", "10"])
def test_char_to_index_refuses_non_characters(bad):
    with pytest.raises(ValueError, match="not an EMNIST ByMerge character"):
        char_to_index(bad)


def test_mapping_file_text_is_the_official_one():
    lines = mapping_file_text().splitlines()
    assert lines == [f"{i} {code}" for i, code in enumerate(OFFICIAL_CODES)]
    check_mapping_file(mapping_file_text())  # accepted
    check_mapping_file(mapping_file_text().replace("\n", "\r\n") + "\n\n")  # line endings don't matter


def test_check_mapping_file_refuses_byclass_and_balanced_look_alikes():
    byclass = "".join(f"{i} {ord(c)}\n" for i, c in enumerate(BYCLASS_CHARS))
    with pytest.raises(ValueError, match="my-mapping.txt: not the ByMerge mapping"):
        check_mapping_file(byclass, "my-mapping.txt")
    shuffled = mapping_file_text().replace("46 116", "46 115")  # last class 't' -> 's'
    with pytest.raises(ValueError, match="not the ByMerge mapping"):
        check_mapping_file(shuffled)
    truncated = "".join(mapping_file_text().splitlines(keepends=True)[:46])
    with pytest.raises(ValueError, match="46 classes.*no line for class 46"):
        check_mapping_file(truncated)


def test_a_wrong_mapping_file_names_the_lines_that_differ():
    """Issue 26: 47 wrong lines were refused as "not the ByMerge mapping (47 classes, expected 47)"."""
    wrong = "".join(f"{i} {ord(c)}\n" for i, c in enumerate(reversed(BYMERGE_CHARS)))  # 47 lines, every one wrong
    with pytest.raises(ValueError) as refused:
        check_mapping_file(wrong, "m.txt")
    message = str(refused.value)
    assert "line 1 maps 0 to 't' (116), ByMerge's 0 is '0' (48)" in message and "line 3 maps 2" in message
    assert "and 43 more" in message and "Balanced" in message and "(47 classes" in message
    one_off = mapping_file_text().replace("46 116", "46 115")
    with pytest.raises(ValueError, match=r"line 47 maps 46 to 's' \(115\), ByMerge's 46 is 't' \(116\)\. The"):
        check_mapping_file(one_off)


@pytest.mark.parametrize("line", ["0 48 x", "zero 48", "7"])
def test_check_mapping_file_names_a_garbled_line(line):
    with pytest.raises(ValueError, match=r"m\.txt: line 1 is not 'index ascii_code'"):
        check_mapping_file(line + "\n" + mapping_file_text(), "m.txt")


def test_shared_mapping_file_matches():
    path = shared_path("emnist-bymerge-offline", "emnist-bymerge-mapping.txt")
    assert path.read_text() == mapping_file_text()


@pytest.mark.parametrize("drawn, predicted", [("o", "0"), ("l", "1"), ("i", "1"), ("s", "5"),
                                              ("g", "9"), ("q", "9"), ("z", "2"), ("O", "0"), ("Z", "2")])
def test_tolerant_letter_matches_accept_lookalike_digits(drawn, predicted):
    assert letter_matches(drawn, predicted, tolerant=True)
    assert not letter_matches(drawn, predicted)  # strict by default


def test_letter_matches_is_case_insensitive_and_not_too_tolerant():
    assert letter_matches("a", "A") and letter_matches("B", "b")
    assert not letter_matches("a", "d", tolerant=True)
    assert not letter_matches("o", "1", tolerant=True)
    assert not letter_matches("b", "6", tolerant=True)  # only the documented pairs count
