"""The one validated boundary of every gated service call.

`requires` calls `check_arguments` after it has re-resolved the actor and before the
service body runs, so no unchecked value reaches SQL. A keyword the function does not
declare is refused (``input.unknown``): a caller cannot hand a gated service a limit, a
policy or a clock it does not take. Each keyword argument is checked against the function's
type annotation:

- ``str``: no NUL or other control character (tab and line breaks only in multi-line
  fields), no bidirectional override (the "Trojan Source" trick), no lone surrogate (it
  cannot be sent to PostgreSQL); NFC-normalised; at most ``Text.max`` characters;
- ``int`` / ``float`` / ``Decimal``: the type itself (``True`` is not 1, ``"5"`` is not 5;
  an int is accepted where a float or Decimal is expected, numpy integers become int),
  finite (NaN and ±inf refused), within a range that fits the column it is compared with;
- ``date`` / ``datetime``: between 2000-01-01 and 2100-12-31;
- ``tuple[X, ...]``, ``list[X]``, ``Sequence[X]``: each item as X, at most 1,000 items;
- a dataclass (the pages' filter objects): each field by the dataclass's own annotations;
- ``Any``: whatever the value is at run time, by the rules of its own type.

The limits of a field come from ``Annotated[str, Text(max=60)]`` in the signature where
the service declares one, else from ``FIELD_RULES`` by parameter name (the same names mean
the same thing across services: ``reason``, ``note``, ``limit``...), else the defaults.
They follow the database: ops.staff.display_name is 1..60 characters, a username matches
``^[a-z0-9_.-]{3,40}$``, a contact note is at most 2,000 characters.

Each refusal is InvalidInput with the key ``input.<field>`` when the catalogue has one,
else ``input.<kind>``, never a driver error: a value refused here never reached the
database. Whether a value is one of the allowed choices stays the service's business.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import re
import sys
import types
import typing
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from console.errors import InvalidInput
from console.i18n import has_key

# ---------------------------------------------------------------- rules
TEXT_MAX = 2_000                       # characters, when nothing narrower is declared
INT_MAX = 2**31 - 1                    # PostgreSQL integer: the columns numbers meet
BIGINT_MAX = 2**63 - 1                 # ids are bigserial
FLOAT_MAX = 1e12                       # above numeric(14,2), the largest money column
ITEMS_MAX = 1_000                      # items in one multi-select or list
DATE_MIN, DATE_MAX = date(2000, 1, 1), date(2100, 12, 31)
SKIPPED = frozenset({"actor", "conn", "engine", "progress"})


@dataclass(frozen=True)
class Text:
    """A text field: its longest length, whether line breaks belong in it, its shape."""

    max: int = TEXT_MAX
    multiline: bool = False
    pattern: str | None = None        # re.fullmatch on the stripped, non-empty value
    normalise: bool = True            # NFC; never for a password (it would change it)
    key: str | None = None


@dataclass(frozen=True)
class Number:
    """A number field's inclusive range (ints and floats alike)."""

    min: float | None = None
    max: float | None = None
    key: str | None = None


# Same name, same meaning, in every service. A signature's Annotated[...] wins.
FIELD_RULES: dict[str, Text | Number] = {
    # free text staff type; multi-line
    # a note has no limit in ops.notes; a contact note (2,000) is checked by add_contact
    "body": Text(max=10_000, multiline=True),
    "note": Text(max=2_000, multiline=True),
    "reason": Text(max=2_000, multiline=True),
    "override_reason": Text(max=2_000, multiline=True),
    # ops.staff columns
    "username": Text(max=40, pattern=r"[A-Za-z0-9_.-]{3,40}"),
    "display_name": Text(max=60),
    "password": Text(max=1_024, normalise=False),
    # searches
    "query": Text(max=100),
    "DirectoryFilters.name": Text(max=100, key="input.query"),
    "phone": Text(max=30),
    "uscc": Text(max=30),
    # the import preview's fingerprint (sha256 hex)
    "digest": Text(max=64, pattern=r"[0-9a-f]{64}"),
    # paging
    "limit": Number(min=1, max=1_000),
    "offset": Number(min=0, max=INT_MAX),
    # day counts
    "days": Number(min=0, max=3_660, key="input.days"),
    "within_days": Number(min=0, max=3_660, key="input.days"),
    "window_days": Number(min=0, max=3_660, key="input.days"),
    "fresh_days": Number(min=0, max=3_660, key="input.days"),
    "active_within_days": Number(min=0, max=3_660, key="input.days"),
    # hours since a case entered a queue (the service refuses negatives itself)
    "min_age_hours": Number(max=1_000_000),
    "max_age_hours": Number(max=1_000_000),
    # order loans (console/finance/loans.py): yuan, a certificate no., a payment reference
    "principal": Number(min=0, max=999_999_999_999.99),
    "amount": Number(min=0, max=999_999_999_999.99),
    "term_days": Number(min=1, max=366),
    "certificate_no": Text(max=40),
    "reference": Text(max=64),
    "channel": Text(max=20),
    # carriers, quotes, loads (console/logistics/carriers.py, quotes.py, loads.py)
    "carrier_name": Text(max=80), "contact_name": Text(max=40), "contact_phone": Text(max=20),
    "truck_type": Text(max=10), "truck_types": Text(max=10),
    "from_province": Text(max=40), "to_province": Text(max=40),
    "from_provinces": Text(max=40), "to_provinces": Text(max=40),
    "cover_per_car": Text(max=40), "price_per_car": Text(max=40),
    "yuan_per_car_km": Text(max=40), "min_per_car": Text(max=40),
    "band_from_km": Number(min=0, max=100_000), "transit_days": Number(min=1, max=60),
    # transport requests (console/logistics/requests.py): a value typed as text ('12万')
    "declared_value": Text(max=40),
}
# Ids (``*_id``, and the scoring runs compared): positive bigints, one message for all.
_ID_RULE = Number(min=1, max=BIGINT_MAX, key="input.id")


# ---------------------------------------------------------------- the entry point
def check_arguments(fn: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return the (normalised) keyword arguments, or raise InvalidInput."""
    declared = _declared(fn)
    unknown = [name for name in kwargs if declared is not None and name not in declared]
    if unknown:      # before any value is read: an unknown name is refused whatever comes first
        raise InvalidInput("input.unknown", field=unknown[0], problem="unknown")
    hints = _hints(fn)
    out = dict(kwargs)
    for name, value in kwargs.items():
        if name in SKIPPED:
            continue
        out[name] = check_value(value, hints.get(name, Any), field=name)
    return out


def check_value(value: Any, annotation: Any, *, field: str, rule: Text | Number | None = None) -> Any:
    """``value`` checked against ``annotation`` (see the module doc); returns it normalised."""
    rule = rule or _rule_for(field)
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *extras = typing.get_args(annotation)
        declared = next((e for e in extras if isinstance(e, (Text, Number))), None)
        return check_value(value, base, field=field, rule=declared or rule)
    if annotation is Any or annotation is object:
        return _by_runtime_type(value, field, rule)
    if origin in (Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        return _first_fitting(value, [o for o in options if o is not type(None)], field, rule)
    if value is None:
        raise _refuse(field, "type", rule)
    if origin is Literal:
        if value not in typing.get_args(annotation):
            raise _refuse(field, "choice", rule)
        return value
    if origin in (tuple, list, Sequence, set, frozenset) or annotation in (tuple, list):
        return _check_items(value, annotation, field, rule)
    if annotation is str:
        return check_text(value, field=field, rule=rule)
    if annotation is bool:
        return _check_bool(value, field, rule)
    if annotation is int:
        return check_int(value, field=field, rule=rule)
    if annotation is float:
        return check_float(value, field=field, rule=rule)
    if annotation is Decimal:
        return _check_decimal(value, field, rule)
    if annotation is datetime:
        return _check_datetime(value, field, rule)
    if annotation is date:
        return _check_date(value, field, rule)
    if annotation is bytes:
        if not isinstance(value, bytes):
            raise _refuse(field, "type", rule)
        return value
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if not isinstance(value, annotation):
            raise _refuse(field, "type", rule)
        return _check_dataclass(value)
    return value      # a type this boundary has no rule for (a policy mapping, a callback)


# ---------------------------------------------------------------- text
_CONTROL_ALLOWED_MULTILINE = frozenset("\t\n\r")
# Embeddings, overrides and isolates reorder how text is shown (CVE-2021-42574).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_text(value: Any, *, field: str, rule: Text | Number | None = None) -> str:
    """A str without control characters, NFC-normalised, within its length."""
    rule = rule if isinstance(rule, Text) else Text()
    if not isinstance(value, str):
        raise _refuse(field, "type", rule)
    if len(value) > rule.max * 4:                  # decided before any per-character work
        raise _refuse(field, "too_long", rule)
    if rule.normalise:
        value = unicodedata.normalize("NFC", value)
    if len(value) > rule.max:
        raise _refuse(field, "too_long", rule)
    bad = bad_character(value, multiline=rule.multiline)
    if bad is not None:
        raise _refuse(field, "control", rule)
    if rule.pattern and value.strip() and not re.fullmatch(rule.pattern, value.strip()):
        raise _refuse(field, "pattern", rule)
    return value


def bad_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character a text field must not hold, or None."""
    for ch in text:
        if ch in _BIDI_CONTROLS:
            return ch
        category = unicodedata.category(ch)
        if category == "Cs" or (category == "Cc" and not (
                multiline and ch in _CONTROL_ALLOWED_MULTILINE)):
            return ch
    return None


def like_escape(text: str) -> str:
    r"""``text`` matched literally by LIKE / ILIKE ... ESCAPE '\': %, _ and \ escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_contains(text: str) -> str:
    """The LIKE pattern for "contains ``text``", literally."""
    return f"%{like_escape(text)}%"


# ---------------------------------------------------------------- numbers
def check_int(value: Any, *, field: str, rule: Text | Number | None = None) -> int:
    rule = _bounded(rule, INT_MAX)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _refuse(field, "type", rule)
    value = int(value)                 # numpy integers too: the driver cannot send them
    _check_range(value, field, rule, default=INT_MAX)
    return value


def check_float(value: Any, *, field: str, rule: Text | Number | None = None) -> float:
    rule = _bounded(rule, FLOAT_MAX)
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, float, Decimal)):
        raise _refuse(field, "type", rule)
    if isinstance(value, Decimal) and not value.is_finite():   # float(sNaN) would raise
        raise _refuse(field, "range", rule)
    try:
        number = float(value)
    except OverflowError:                       # an int beyond a float's range
        raise _refuse(field, "range", rule) from None
    if not math.isfinite(number):
        raise _refuse(field, "range", rule)
    _check_range(number, field, rule, default=FLOAT_MAX)
    return number


def _check_decimal(value: Any, field: str, rule: Text | Number | None) -> Decimal:
    rule = _bounded(rule, FLOAT_MAX)
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, float, Decimal)):
        raise _refuse(field, "type", rule)
    if isinstance(value, numbers.Integral):
        number = Decimal(int(value))
    else:
        number = Decimal(str(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise _refuse(field, "range", rule)
    _check_range(number, field, rule, default=FLOAT_MAX)
    return number


def _bounded(rule: Text | Number | None, default: float) -> Number:
    """The rule with its open ends closed by the type's default range."""
    rule = rule if isinstance(rule, Number) else Number()
    return Number(min=rule.min if rule.min is not None else -default,
                  max=rule.max if rule.max is not None else default, key=rule.key)


def _check_range(value: Any, field: str, rule: Number, *, default: float) -> None:
    low = rule.min if rule.min is not None else -default
    high = rule.max if rule.max is not None else default
    if not low <= value <= high:
        raise _refuse(field, "range", Number(min=low, max=high, key=rule.key))


def _check_bool(value: Any, field: str, rule: Text | Number | None) -> bool:
    if isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_":        # numpy's bool, from a DataFrame cell
        return bool(value)
    raise _refuse(field, "type", rule)


# ---------------------------------------------------------------- dates
def _check_date(value: Any, field: str, rule: Text | Number | None) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise _refuse(field, "type", rule, kind="date")
    if not DATE_MIN <= value <= DATE_MAX:
        raise _refuse(field, "range", rule, kind="date")
    return value


def _check_datetime(value: Any, field: str, rule: Text | Number | None) -> datetime:
    if not isinstance(value, datetime):
        raise _refuse(field, "type", rule, kind="date")
    if not DATE_MIN <= value.date() <= DATE_MAX:
        raise _refuse(field, "range", rule, kind="date")
    return value


# ---------------------------------------------------------------- containers
def _check_items(value: Any, annotation: Any, field: str, rule: Text | Number | None) -> Any:
    origin = typing.get_origin(annotation) or annotation
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise _refuse(field, "type", rule, kind="list")
    if len(value) > ITEMS_MAX:
        raise _refuse(field, "too_many", rule, kind="list")
    args = typing.get_args(annotation)
    if origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
        if len(value) != len(args):
            raise _refuse(field, "type", rule, kind="list")
        items = [check_value(v, a, field=field, rule=rule) for v, a in zip(value, args)]
    else:
        item_type = args[0] if args else Any
        items = [check_value(v, item_type, field=field, rule=rule) for v in value]
    if origin is Sequence:
        origin = type(value) if isinstance(value, (list, tuple)) else tuple
    return origin(items)


def _check_dataclass(value: Any) -> Any:
    hints = _hints(type(value))
    changes = {}
    for f in dataclasses.fields(value):
        if not f.init:
            continue
        current = getattr(value, f.name)
        field = f"{type(value).__name__}.{f.name}"
        checked = check_value(current, hints.get(f.name, Any), field=field,
                              rule=_rule_for(field))
        if checked is not current:
            changes[f.name] = checked
    return dataclasses.replace(value, **changes) if changes else value


def _first_fitting(value: Any, options: list[Any], field: str, rule: Text | Number | None) -> Any:
    """A value for ``A | B``: the first option that accepts it; else the first refusal."""
    first: InvalidInput | None = None
    for option in options:
        try:
            return check_value(value, option, field=field, rule=rule)
        except InvalidInput as err:
            # A refusal on range or content beats "wrong type" from another option.
            if first is None or (first.params.get("problem") == "type"
                                 and err.params.get("problem") != "type"):
                first = err
    raise first if first is not None else _refuse(field, "type", rule)


def _by_runtime_type(value: Any, field: str, rule: Text | Number | None) -> Any:
    """``Any``: the service checks what the value means; here only what it is."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return check_text(value, field=field, rule=rule if isinstance(rule, Text) else None)
    if isinstance(value, numbers.Integral):
        return check_int(value, field=field, rule=Number(min=-BIGINT_MAX, max=BIGINT_MAX))
    if isinstance(value, float):
        return check_float(value, field=field)
    if isinstance(value, Decimal):
        return _check_decimal(value, field, None)
    if isinstance(value, datetime):
        return _check_datetime(value, field, rule)
    if isinstance(value, date):
        return _check_date(value, field, rule)
    if isinstance(value, (list, tuple)):
        return _check_items(value, type(value), field, rule)
    return value


# ---------------------------------------------------------------- plumbing
def _rule_for(field: str) -> Text | Number | None:
    """The rule of ``field`` ("limit", or "DirectoryFilters.name" for a filter's field)."""
    plain = field.rsplit(".", 1)[-1]
    if field in FIELD_RULES:
        return FIELD_RULES[field]
    if plain in FIELD_RULES:
        return FIELD_RULES[plain]
    if plain in ("id", "run_a", "run_b") or plain.endswith("_id"):
        return _ID_RULE
    return None


_KIND_OF_PROBLEM = {"too_long": "text", "control": "text", "pattern": "text",
                    "range": "number", "too_many": "list", "choice": "choice", "type": "type"}


def _refuse(field: str, problem: str, rule: Text | Number | None, *,
            kind: str | None = None) -> InvalidInput:
    """The refusal: the field's own key if the catalogue has one, else the kind's."""
    params: dict[str, Any] = {"field": field, "problem": problem}
    if kind == "date":
        params["min"], params["max"] = DATE_MIN.isoformat(), DATE_MAX.isoformat()
    elif kind == "list":
        params["max"] = ITEMS_MAX
    elif isinstance(rule, Text):
        params["max"] = rule.max
    elif isinstance(rule, Number):
        params["min"], params["max"] = _shown(rule.min), _shown(rule.max)
    key = rule.key if rule is not None and rule.key else f"input.{field.rsplit('.', 1)[-1]}"
    if not has_key(key):
        key = f"input.{kind or _KIND_OF_PROBLEM[problem]}"
    return InvalidInput(key, **params)


def _shown(bound: float | None) -> str:
    if bound is None:
        return "—"
    return f"{int(bound):,}" if float(bound).is_integer() else f"{bound:,}"


@lru_cache(maxsize=1024)
def _declared(fn: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword names ``fn`` takes; None when it takes any (``**kwargs``)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL)


@lru_cache(maxsize=1024)
def _hints(obj: Any) -> Mapping[str, Any]:
    """Resolved annotations (PEP 563 strings included); unresolvable ones count as Any."""
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception:  # noqa: BLE001 - a name only imported for type checking
        namespace = getattr(obj, "__globals__", None) or vars(sys.modules[obj.__module__])
        resolved = {}
        for name, text in getattr(obj, "__annotations__", {}).items():
            try:
                resolved[name] = eval(text, namespace) if isinstance(text, str) else text  # noqa: S307
            except Exception:  # noqa: BLE001
                resolved[name] = Any
        return resolved
