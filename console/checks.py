r"""Check-character algorithms of Chinese identity and vehicle codes, and how a typed code is read.

- 居民身份证号码, GB 11643-1999: 17 digits + ISO 7064 MOD 11-2 check character (0-9 or X).
- 统一社会信用代码 (USCC), GB 32100-2015: 18 characters over a 31-symbol alphabet
  (digits and capitals without I, O, Z, S, V) with a MOD 31 check character.
- VIN, ISO 3779. The check digit in position 9 is required in China (GB 16735, WMI L…)
  and North America (WMI 1…5); other markets' VINs carry none, so theirs is not checkable.
  A parallel import's market version decides instead of its WMI (``market_version``): a car
  built for the US, Canada or Mexico carries the check digit wherever it was made; one built
  for the Middle East or Europe need not, even from a US plant (a Gulf-spec Sequoia, 5TD…).

A code is read as a person types it before it is checked (``normalise_code``): spaces
dropped, full-width letters and digits made ASCII, letters upper-cased. Then the whole
text must match an ASCII-only pattern (``re.fullmatch`` over explicit classes: ``\d``
would admit any Unicode digit, ``$`` a trailing newline).

Each validator returns a reason code (None when valid) so pre-check badges can say why.
The generators exist for demo data and tests.
"""
from __future__ import annotations

import re
from datetime import date

from console import clock

# ------------------------------------------------------------------ reading a typed code
# The same rule is the SQL function app.normalise_code (migration 068), so the duplicate
# checks compare stored codes read this way; tests/test_checks.py holds the two together.
# Spaces: ASCII, no-break (copied from documents) and the ideographic U+3000 a Chinese IME
# types. Nothing else is forgiven: a newline, a tab or any other character stays and fails.
NORMALISE_FROM = ("０１２３４５６７８９"
                  "ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ"
                  "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ"
                  "abcdefghijklmnopqrstuvwxyz")
NORMALISE_TO = ("0123456789" "ABCDEFGHIJKLMNOPQRSTUVWXYZ" "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
NORMALISE_DROP = " \u3000\u00a0"
_READ = str.maketrans(NORMALISE_FROM, NORMALISE_TO, NORMALISE_DROP)


def normalise_code(code: object) -> str | None:
    """The code as a reviewer reads it (None for a non-text value)."""
    if not isinstance(code, str):
        return None
    return code.translate(_READ)


def was_normalised(code: object) -> bool:
    """Whether reading the code changed what was typed (the case records it)."""
    return isinstance(code, str) and normalise_code(code) != code


# ------------------------------------------------------------------ ID number (GB 11643-1999)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_FORMAT = re.compile(r"[0-9]{17}[0-9X]")


def id_check_char(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def id_birth_date(id_number: str) -> date | None:
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None


def id_number_problem(id_number: str, *, today: date | None = None) -> str | None:
    """None if valid, else 'format', 'birth_date' or 'check_digit', of the number as read.

    A lower-case 'x' reads as the standard's X; the duplicate check compares numbers as
    read too, so one person cannot hold two spellings of one number.
    """
    id_number = normalise_code(id_number)
    if id_number is None or not _ID_FORMAT.fullmatch(id_number):
        return "format"
    born = id_birth_date(id_number)
    today = today or clock.today()
    if born is None or born > today or born.year < 1900:
        return "birth_date"
    if id_check_char(id_number[:17]) != id_number[17]:
        return "check_digit"
    return None


def make_id_number(region: str, born: date, sequence: int) -> str:
    """A valid ID number: 6-digit region, birth date, 3-digit sequence, check character."""
    first17 = f"{region}{born:%Y%m%d}{sequence % 1000:03d}"
    return first17 + id_check_char(first17)


# ------------------------------------------------------------------ USCC (GB 32100-2015)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_FORMAT = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(uscc: str) -> str | None:
    """None if valid, else 'format' (length, I/O/Z/S/V, other characters …) or 'check_char',
    of the code as read."""
    uscc = normalise_code(uscc)
    if uscc is None or not _USCC_FORMAT.fullmatch(uscc):
        return "format"
    if uscc_check_char(uscc[:17]) != uscc[17]:
        return "check_char"
    return None


def make_uscc(region: str, body9: str, *, dept: str = "9", kind: str = "1") -> str:
    """A valid USCC: registration dept + kind, 6-digit region, 9-char org code, check."""
    first17 = f"{dept}{kind}{region}{body9}"
    return first17 + uscc_check_char(first17)


# ------------------------------------------------------------------ VIN (ISO 3779 / GB 16735)
_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9))), **dict(zip("JKLMN", range(1, 6))),
               "P": 7, "R": 9, **dict(zip("STUVWXYZ", range(2, 10)))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_FORMAT = re.compile(r"[A-HJ-NPR-Z0-9]{17}")
# First character of the WMI where the check digit is law: China (GB 16735) and North
# America (1, 4, 5 USA, 2 Canada, 3 Mexico). A parallel import built for Europe, Japan or
# the Gulf carries whatever its market puts in position 9.
CHECK_DIGIT_REGIONS = frozenset("L12345")
MALFORMED = ("format", "check_digit")


def vin_check_char(vin: str) -> str:
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


# A parallel import's market version (app.listing_imports.market_version, migration 109):
# North-American versions carry the check digit (FMVSS / CMVSS / NOM rules); Middle-East and
# European ones need not (BRIEF.md section 6).
CHECK_DIGIT_MARKETS = frozenset(("us", "canada", "mexico"))
FREE_POSITION_9_MARKETS = frozenset(("middle_east", "europe"))


def vin_reason(vin: str, *, market_version: str | None = None) -> str | None:
    """None if valid; 'format' (length, I/O/Q, other characters) or 'check_digit' when
    malformed; 'not_checkable' when well formed but from a market without a check digit.

    Without ``market_version`` (a domestic car, or an import whose version is not known) the
    VIN's own WMI decides; with one, the market the car was built for decides (module doc):
    a North-American version must carry its check digit, a Middle-East or European one is
    never malformed for position 9, though it must still be 17 allowed characters."""
    vin = normalise_code(vin)
    if vin is None or not _VIN_FORMAT.fullmatch(vin):
        return "format"
    if market_version in FREE_POSITION_9_MARKETS:
        return "not_checkable"
    if market_version not in CHECK_DIGIT_MARKETS and vin[0] not in CHECK_DIGIT_REGIONS:
        return "not_checkable"
    if vin_check_char(vin) != vin[8]:
        return "check_digit"
    return None


def vin_problem(vin: str, *, market_version: str | None = None) -> str | None:
    """Why the VIN is malformed ('format' or 'check_digit'); None when it is valid or not
    checkable (``market_version`` as for vin_reason)."""
    reason = vin_reason(vin, market_version=market_version)
    return reason if reason in MALFORMED else None


def make_vin(wmi: str, vds5: str, year_code: str, plant: str, serial6: str) -> str:
    """A valid VIN from its parts, with the check digit computed into position 9."""
    draft = f"{wmi}{vds5}0{year_code}{plant}{serial6}"
    return draft[:8] + vin_check_char(draft) + draft[9:]
