"""Standard vectors for the check-character algorithms (GB 11643, GB 32100, ISO 3779), and
codes read as a person types them: spaces, full width and case forgiven, nothing else."""
from __future__ import annotations

from datetime import date

import pytest

from console.checks import (id_check_char, id_number_problem, make_id_number, make_uscc,
                            make_vin, normalise_code, uscc_check_char, uscc_problem, vin_problem,
                            vin_reason, was_normalised)

TODAY = date(2025, 6, 1)


@pytest.mark.parametrize("value, problem", [
    ("11010519491231002X", None),              # the standard's published example
    ("440524188001010014", "birth_date"),      # annex example: check digit right, born 1880
    ("11010519491231002x", None),              # lower-case x reads as the standard's X
    ("11010519491231002X ", None),             # a space typed after it
    ("11010519491231002 ", "format"),          # 17 characters and a space
    ("110105 19491231 002X", None),            # grouped with spaces
    ("\u3000１１０１０５１９４９１２３１００２Ｘ", None),  # full width, ideographic space
    ("11010519491231002X\n", "format"),        # a trailing newline is not a space
    ("\n11010519491231002X", "format"),
    ("11010519491231002\tX", "format"),
    ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "format"),         # Arabic-Indic digits are digits, not ASCII
    ("11010519491231002", "format"),           # 17 characters
    ("11010519491231002X1", "format"),         # 19 characters
    ("1101051949123100XX", "format"),          # X only in the last place
    ("１１０１０５１９４９１２３１００２１", "check_digit"),  # read, then checked
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
    ("91350100m000100y43", None),              # lower case reads as upper
    ("9135010０M000100Y43", None),              # a full-width digit: read, no ValueError
    ("９１３５０１００Ｍ０００１００Ｙ４３", None),
    ("9135 0100 M000 100Y 43", None),
    ("91350100M000100Y43\n", "format"),
    ("9135010٠M000100Y43", "format"),          # Arabic-Indic zero
    ("9135010０M000100Y44", "check_char"),
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
    ("1m8gdm9axkp042788", None),               # lower case reads as upper
    ("1M8GDM9AXKP042788\n", "format"),
    ("1M8GDM9AXKP04278", "format"),            # 16 characters
])
def test_vin_vectors(value, problem):
    assert vin_problem(value) == problem


@pytest.mark.parametrize("value, reason", [
    ("WP0ZZZ99ZTS392124", "not_checkable"),    # a Porsche built for Europe: no check digit
    ("WDC1671231A123456", "not_checkable"),    # Mercedes, Germany
    ("JTEBU3FJ00K123456", "not_checkable"),    # Toyota, Japan
    ("wp0zzz99zts392124", "not_checkable"),    # read first
    ("WP0ZZZ99ZTS39212", "format"),            # not checkable is not "anything goes"
    ("WP0ZZZ99ZTS39212O", "format"),
    ("LSVAU033512345678", "check_digit"),      # China: GB 16735 requires it
    ("LFV2A21K0S3123456", "check_digit"),
    ("1M8GDM9A0KP042788", "check_digit"),      # North America requires it too
    ("2T1BR32E05C123456", "check_digit"),      # Canada
    ("1M8GDM9AXKP042788", None),
])
def test_vin_reason_by_the_rules_of_its_market(value, reason):
    assert vin_reason(value) == reason
    assert vin_problem(value) == (reason if reason in ("format", "check_digit") else None)


# A parallel import's market version decides over its WMI (issue 21). Check digits by hand
# (ISO 3779 letter values x position weights 8 7 6 5 4 3 2 10 _ 9 8 7 6 5 4 3 2, mod 11):
# - JTJHY7AX_K4012345, a US-spec Lexus LX from Japan: J(1)x8 + T(3)x7 + J(1)x6 + H(8)x5
#   + Y(8)x4 + 7x3 + A(1)x2 + X(7)x10 + K(2)x9 + 4x8 + 0x7 + 1x6 + 2x5 + 3x4 + 4x3 + 5x2
#   = 300 = 27 x 11 + 3: check '3';
# - 2T2BZMCA_KC123456, a Canadian RX from Ontario: 2x8 + T(3)x7 + 2x6 + B(2)x5 + Z(9)x4
#   + M(4)x3 + C(3)x2 + A(1)x10 + K(2)x9 + C(3)x8 + 1x7 + 2x6 + 3x5 + 4x4 + 5x3 + 6x2
#   = 242 = 22 x 11 + 0: check '0';
# - 5TDBY5G1_SS123456, a Sequoia from Indiana: 5x8 + T(3)x7 + D(4)x6 + B(2)x5 + Y(8)x4
#   + 5x3 + G(7)x2 + 1x10 + S(2)x9 + S(2)x8 + 1x7 + 2x6 + 3x5 + 4x4 + 5x3 + 6x2
#   = 277 = 25 x 11 + 2: check '2' (its Gulf version carries 'K' there).
@pytest.mark.parametrize("value, market, reason", [
    ("JTJHY7AX3K4012345", "us", None),
    ("JTJHY7AX0K4012345", "us", "check_digit"),      # by its WMI alone: not checkable
    ("JTJHY7AX0K4012345", None, "not_checkable"),
    ("JTJHY7AX0K4012345", "middle_east", "not_checkable"),
    ("2T2BZMCA0KC123456", "canada", None),
    ("2T2BZMCA5KC123456", "canada", "check_digit"),
    ("5TDBY5G12SS123456", "mexico", None),
    ("5TDBY5G1KSS123456", "middle_east", "not_checkable"),   # was 'malformed' by its WMI
    ("5TDBY5G1KSS123456", None, "check_digit"),
    ("5TDBY5G1KSS123456", "us", "check_digit"),
    ("5TDBY5G12SS123456", "europe", "not_checkable"),        # right by chance: still free
    ("WP0ZZZ99ZTS392124", "europe", "not_checkable"),
    ("WP0ZZZ99ZTS392124", "us", "check_digit"),              # 'Z' is never a check digit
    ("5TDBY5G1KSS12345", "middle_east", "format"),           # 16 characters
    ("5TDBY5G1KSS1234O6", "europe", "format"),               # O is never in a VIN
    ("5tdby5g1kss123456", "middle_east", "not_checkable"),   # read first
])
def test_an_imports_vin_follows_the_rules_of_its_market_version(value, market, reason):
    assert vin_reason(value, market_version=market) == reason
    assert vin_problem(value, market_version=market) == (
        reason if reason in ("format", "check_digit") else None)


def test_a_chinese_vin_made_with_its_check_digit_is_valid():
    vin = make_vin("LFV", "2A21K", "S", "3", "123456")
    assert vin_reason(vin) is None
    assert vin_reason(vin[:8] + ("0" if vin[8] != "0" else "1") + vin[9:]) == "check_digit"


@pytest.mark.parametrize("typed, read, changed", [
    ("11010519491231002X", "11010519491231002X", False),
    (" 110105\u300019491231002x\u00a0", "11010519491231002X", True),
    ("ＡＢＣ１２３ａｂｃ", "ABC123ABC", True),
    ("abc\n", "ABC\n", True),                   # the newline stays, for the format to refuse
    ("ı", "ı", False),                           # only ASCII letters are upper-cased
])
def test_codes_are_read_as_a_person_types_them(typed, read, changed):
    assert normalise_code(typed) == read
    assert was_normalised(typed) is changed


def test_the_database_reads_codes_the_same_way(engine):
    """app.normalise_code (the duplicate checks' index) and console.checks agree."""
    import sqlalchemy as sa
    from console.checks import NORMALISE_DROP, NORMALISE_FROM
    samples = [NORMALISE_FROM + NORMALISE_DROP + "-ı\n\tX", " ９１ｍ\u3000x ", "WP0ZZZ99ZTS392124",
               "١٢٣", ""]
    with engine.connect() as conn:
        got = [conn.execute(sa.text("SELECT app.normalise_code(:c)"), {"c": c}).scalar()
               for c in samples]
    assert got == [normalise_code(c) for c in samples]


def test_generators_make_valid_codes():
    assert id_number_problem(make_id_number("330106", date(1990, 2, 28), 17), today=TODAY) is None
    assert uscc_problem(make_uscc("330100", "MA2GXXXX0")) is None
    assert vin_problem(make_vin("LFV", "2A21K", "S", "3", "123456")) is None
