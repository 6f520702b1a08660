"""Standard vectors for the check-character algorithms (GB 11643, GB 32100, ISO 3779)."""
from __future__ import annotations

from datetime import date

import pytest

from console.checks import (id_check_char, id_number_problem, make_id_number, make_uscc,
                            make_vin, uscc_check_char, uscc_problem, vin_problem)

TODAY = date(2025, 6, 1)


@pytest.mark.parametrize("value, problem", [
    ("11010519491231002X", None),              # the standard's published example
    ("440524188001010014", "birth_date"),      # annex example: check digit right, born 1880
    ("11010519491231002x", "format"),          # lower-case x is not the standard's X
    ("11010519491231002", "format"),           # 17 characters
    ("11010519491231002X1", "format"),         # 19 characters
    ("1101051949123100XX", "format"),          # X only in the last place
    ("11010519491231002 ", "format"),
    ("110105194912310021", "check_digit"),
    ("110105194913310028", "birth_date"),      # month 13
    ("110105203001010011", "birth_date"),      # born in the future
    ("110105189912310011", "birth_date"),      # before 1900
])
def test_id_number_vectors(value, problem):
    assert id_number_problem(value, today=TODAY) == problem


def test_id_check_char_of_the_published_example():
    assert id_check_char("11010519491231002") == "X"


@pytest.mark.parametrize("value, problem", [
    ("91350100M000100Y43", None),              # a published valid code
    ("91110000600037341L", None),
    ("91350100M000100Y4", "format"),           # 17 characters
    ("91350100M000100Y433", "format"),         # 19 characters
    ("91350100m000100Y43", "format"),          # lower case
    ("91350100M000100Y44", "check_char"),
    ("91350100M00I100Y43", "format"),          # I, O, Z, S, V are not in the alphabet
    ("91350100M00O100Y43", "format"),
    ("91350100M00Z100Y43", "format"),
    ("91350100M00S100Y43", "format"),
    ("91350100M00V100Y43", "format"),
    ("913501A0M000100Y43", "format"),          # region code must be digits
])
def test_uscc_vectors(value, problem):
    assert uscc_problem(value) == problem


def test_uscc_check_char_of_the_published_example():
    assert uscc_check_char("91350100M000100Y4") == "3"


@pytest.mark.parametrize("value, problem", [
    ("1M8GDM9AXKP042788", None),               # the classic ISO 3779 example, check X
    ("LSVAU033512345678", "check_digit"),
    ("1M8GDM9A0KP042788", "check_digit"),
    ("1M8GDM9AXKP04278I", "format"),           # I, O, Q never appear in a VIN
    ("1M8GDM9AXKP0427O8", "format"),
    ("1M8GDM9AXKP0427Q8", "format"),
    ("1m8gdm9axkp042788", "format"),
    ("1M8GDM9AXKP04278", "format"),            # 16 characters
])
def test_vin_vectors(value, problem):
    assert vin_problem(value) == problem


def test_generators_make_valid_codes():
    assert id_number_problem(make_id_number("330106", date(1990, 2, 28), 17), today=TODAY) is None
    assert uscc_problem(make_uscc("330100", "MA2GXXXX0")) is None
    assert vin_problem(make_vin("LFV", "2A21K", "S", "3", "123456")) is None
