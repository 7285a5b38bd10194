# ruff: noqa: PLR0124 - ``x != x`` is the fastest NaN test on the one-row path
"""Risk features (特征): declared, versioned definitions computed the same way for a frame and for one row.

A feature is one expression over named inputs (the application, identity and KYC results, the credit
bureau, the customer's own history with the bank). The expression is a small tree of nodes, and every
node has two forms written side by side: one over numpy columns (a whole training or scoring frame)
and one over plain Python floats (one live application). Both forms use the same IEEE float64
arithmetic and the same missing-value rules, so a feature computed in a batch equals the one computed
at decision time, bit for bit (``tests/unit/risk/test_feature_set.py`` proves it on generated inputs).

Why plain Python for one row: numpy's per-call overhead (~1 µs per ufunc on a 1-element array) is
larger than the arithmetic itself, and the decision path has a few milliseconds in all.

Missing values are NaN everywhere. An input that is absent, ``None`` or NaN is missing; arithmetic
with a missing value is missing; a division by zero is missing (a ratio with no denominator has no
value, it is not infinite); a comparison with a missing value is missing. Each feature then applies
its policy: keep the NaN (models treat it as its own bin), fill a constant, or reject the application.

Every node has a canonical text form; a feature's ``content_hash`` covers its name, version, source,
dtype, missing policy and that text, so any change to what a feature computes changes its hash
(a stored model records the hashes it was trained on). Descriptions are not hashed: they only explain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

from dipper.kernel.errors import ValidationFailed

__all__ = [
    "DEFAULT_FEATURE_SET",
    "NAN",
    "AgeFromResidentId",
    "Category",
    "Const",
    "DType",
    "Expr",
    "Feature",
    "FeatureSet",
    "Flag",
    "InputKind",
    "MissingPolicy",
    "Num",
    "Source",
    "default_feature_set",
    "maximum",
    "minimum",
    "where",
]

NAN: Final = math.nan

Column: TypeAlias = npt.NDArray[np.float64]
RowFn: TypeAlias = Callable[[Mapping[str, Any]], tuple[float, ...]]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class Source(StrEnum):
    """Where a feature's data comes from (the console groups features by it)."""

    APPLICATION = "application"  # 进件信息
    IDENTITY = "identity"  # 身份与核验 (KYC, device, blacklist)
    BUREAU = "bureau"  # 征信 / 外部数据
    BEHAVIOUR = "behaviour"  # 本行表现 (the customer's loans here)


class DType(StrEnum):
    """What a feature's float64 value means. Values are always float64 (NaN when missing)."""

    FLOAT = "float"
    INT = "int"
    FLAG = "flag"  # 1.0 / 0.0
    CATEGORY = "category"  # the index of the category in the feature's list


class MissingPolicy(StrEnum):
    KEEP = "keep"  # NaN stays (models bin it on its own)
    FILL = "fill"  # replaced by the feature's fill value
    REJECT = "reject"  # the application (or frame) is refused: the value is required


class InputKind(StrEnum):
    NUMBER = "number"  # int, float or Decimal
    FLAG = "flag"  # bool (or 0/1)
    DATE = "date"  # datetime.date or "YYYY-MM-DD"
    TEXT = "text"  # str


def _bad_input(name: str, kind: InputKind, value: object) -> ValidationFailed:
    return ValidationFailed(
        f"feature input {name!r} must be a {kind.value} (or missing), got {type(value).__name__}",
        code="invalid_feature_input",
        details={"input": name, "expected": kind.value},
    )


# ------------------------------------------------------------------------------------ input coercion
# One scalar coercer per kind; the column form either applies the same coercer per element (object
# columns) or an equivalent whole-array conversion (typed columns), so both paths accept and refuse
# the same values and produce the same floats.


def _coerce_number(name: str, v: object) -> float:
    t = type(v)
    if t is float:
        f = v
    elif v is None:
        return NAN
    elif t is int or (isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)):
        try:
            f = float(v)  # type: ignore[arg-type]
        except OverflowError:
            raise _bad_input(name, InputKind.NUMBER, v) from None
    elif isinstance(v, float | Decimal | np.floating):
        f = float(v)
    else:
        raise _bad_input(name, InputKind.NUMBER, v)
    assert isinstance(f, float)
    if f in (math.inf, -math.inf):
        raise ValidationFailed(
            f"feature input {name!r} is not a finite number",
            code="invalid_feature_input",
            details={"input": name, "expected": "number"},
        )
    return f


def _coerce_flag(name: str, v: object) -> float:
    if v is True:
        return 1.0
    if v is False:
        return 0.0
    if v is None:
        return NAN
    if isinstance(v, np.bool_):
        return 1.0 if v else 0.0
    if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
        f = float(v)
        if f != f:
            return NAN
        if f in (0.0, 1.0):
            return f
    raise _bad_input(name, InputKind.FLAG, v)


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _coerce_date(name: str, v: object) -> dt.date | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str) and _ISO_DATE.match(v):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            pass
    elif isinstance(v, float) and v != v:
        return None
    raise _bad_input(name, InputKind.DATE, v)


def _coerce_text(name: str, v: object) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, float) and v != v:  # pandas writes NaN into empty object cells
        return None
    raise _bad_input(name, InputKind.TEXT, v)


_ROW_COERCE: Final[dict[InputKind, Callable[[str, object], Any]]] = {
    InputKind.NUMBER: _coerce_number,
    InputKind.FLAG: _coerce_flag,
    InputKind.DATE: _coerce_date,
    InputKind.TEXT: _coerce_text,
}


def _column_number(name: str, values: npt.NDArray[Any]) -> Column:
    if values.dtype.kind in "iuf":
        out = values.astype(np.float64)
        if np.isinf(out).any():
            raise ValidationFailed(
                f"feature input {name!r} is not a finite number",
                code="invalid_feature_input",
                details={"input": name, "expected": "number"},
            )
        return out
    if values.dtype.kind == "O":
        if set(map(type, values)) <= {int, float, type(None)}:
            # numpy turns None into NaN and ints into the same doubles as float(); it would also
            # parse strings, which the type check has ruled out.
            try:
                return _column_number(name, values.astype(np.float64))
            except OverflowError:
                pass
        return np.fromiter((_coerce_number(name, v) for v in values), np.float64, len(values))
    raise _bad_input(name, InputKind.NUMBER, values.dtype.type(0) if values.size else "")


def _column_flag(name: str, values: npt.NDArray[Any]) -> Column:
    if values.dtype.kind == "b":
        return values.astype(np.float64)
    if values.dtype.kind in "iuf":
        out = values.astype(np.float64)
        bad = ~((out == 0.0) | (out == 1.0) | np.isnan(out))
        if bad.any():
            raise _bad_input(name, InputKind.FLAG, values[bad.argmax()].item())
        return out
    if values.dtype.kind == "O":
        return np.fromiter((_coerce_flag(name, v) for v in values), np.float64, len(values))
    raise _bad_input(name, InputKind.FLAG, values.dtype.type(0) if values.size else "")


_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()
_NAT_DAY: Final = np.iinfo(np.int64).min


def _column_date(name: str, values: npt.NDArray[Any]) -> npt.NDArray[np.datetime64]:
    if values.dtype.kind == "M":
        return values.astype("datetime64[D]")
    dates = (
        values if set(map(type, values)) <= {dt.date, type(None)} else [_coerce_date(name, v) for v in values]
    )
    # Day numbers since 1970-01-01 (numpy's epoch); far faster than numpy parsing date objects.
    days = np.fromiter(
        (_NAT_DAY if d is None else d.toordinal() - _EPOCH_ORDINAL for d in dates), np.int64, len(values)
    )
    out = days.astype("datetime64[D]")
    out[days == _NAT_DAY] = np.datetime64("NaT")
    return out


def _column_text(name: str, values: npt.NDArray[Any]) -> npt.NDArray[np.str_]:
    if values.dtype.kind == "U":
        return values
    if values.dtype.kind == "O" and set(map(type, values)) <= {str, type(None)}:
        return np.array(["" if v is None else v for v in values], dtype=np.str_)
    texts = [_coerce_text(name, v) for v in values]
    # A missing text becomes "": no node gives "" a value (no category, no valid ID), as for None.
    return np.array(["" if t is None else t for t in texts], dtype=np.str_)


def _absent(kind: InputKind, n: int) -> npt.NDArray[Any]:
    if kind is InputKind.DATE:
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    if kind is InputKind.TEXT:
        return np.full(n, "", dtype=np.str_)
    return np.full(n, NAN, dtype=np.float64)


_COLUMN_COERCE: Final[dict[InputKind, Callable[[str, npt.NDArray[Any]], npt.NDArray[Any]]]] = {
    InputKind.NUMBER: _column_number,
    InputKind.FLAG: _column_flag,
    InputKind.DATE: _column_date,
    InputKind.TEXT: _column_text,
}


# ------------------------------------------------------------------------------------ expressions


@dataclass(frozen=True, slots=True)
class InputRef:
    name: str
    kind: InputKind


class Expr:
    """A node of a feature definition: a column form, a row form and a canonical text."""

    __slots__ = ()

    def key(self) -> str:
        raise NotImplementedError

    def refs(self) -> Iterator[InputRef]:
        raise NotImplementedError

    def column(self, env: Mapping[str, npt.NDArray[Any]], n: int) -> Column:
        raise NotImplementedError

    def source(self, ns: dict[str, Any]) -> str:
        """A Python expression over ``r`` (the coerced inputs) computing one row; helpers it needs
        (lookup tables) go into ``ns``."""
        raise NotImplementedError

    # Arithmetic builds nodes; comparisons are methods so that ``==`` keeps meaning node equality.
    def __add__(self, other: Expr | float) -> Expr:
        return Arith("+", self, _lift(other))

    def __radd__(self, other: float) -> Expr:
        return Arith("+", _lift(other), self)

    def __sub__(self, other: Expr | float) -> Expr:
        return Arith("-", self, _lift(other))

    def __rsub__(self, other: float) -> Expr:
        return Arith("-", _lift(other), self)

    def __mul__(self, other: Expr | float) -> Expr:
        return Arith("*", self, _lift(other))

    def __rmul__(self, other: float) -> Expr:
        return Arith("*", _lift(other), self)

    def __truediv__(self, other: Expr | float) -> Expr:
        return Arith("/", self, _lift(other))

    def __rtruediv__(self, other: float) -> Expr:
        return Arith("/", _lift(other), self)

    def gt(self, other: Expr | float) -> Expr:
        return Compare(">", self, _lift(other))

    def ge(self, other: Expr | float) -> Expr:
        return Compare(">=", self, _lift(other))

    def lt(self, other: Expr | float) -> Expr:
        return Compare("<", self, _lift(other))

    def le(self, other: Expr | float) -> Expr:
        return Compare("<=", self, _lift(other))

    def is_missing(self) -> Expr:
        return IsMissing(self)

    def fill(self, value: float) -> Expr:
        return FillMissing(self, float(value))

    def clip(self, lo: float, hi: float) -> Expr:
        return minimum(maximum(self, lo), hi)


def _lift(value: Expr | float) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a feature expression takes numbers or expressions, not {type(value).__name__}")
    return Const(float(value))


def _check_input_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"input name {name!r} must be snake_case (a-z, 0-9, _)")


def _fmt(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True, slots=True)
class Const(Expr):
    value: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError("a constant must be finite")

    def key(self) -> str:
        return _fmt(self.value)

    def refs(self) -> Iterator[InputRef]:
        return iter(())

    def column(self, env: Mapping[str, npt.NDArray[Any]], n: int) -> Column:
        return np.full(n, self.value, dtype=np.float64)

    def source(self, ns: dict[str, Any]) -> str:
        return repr(self.value)


@dataclass(frozen=True, slots=True)
class Num(Expr):
    """A numeric input as a float (missing: NaN)."""

    name: str

    def __post_init__(self) -> None:
        _check_input_name(self.name)

    def key(self) -> str:
        return f"num({self.name})"

    def refs(self) -> Iterator[InputRef]:
        yield InputRef(self.name, InputKind.NUMBER)

    def column(self, env: Mapping[str, npt.NDArray[Any]], n: int) -> Column:
        return env[self.name]

    def source(self, ns: dict[str, Any]) -> str:
        return f"r[{self.name!r}]"


@dataclass(frozen=True, slots=True)
class Flag(Expr):
    """A yes/no input as 1.0 / 0.0 (missing: NaN)."""

    name: str

    def __post_init__(self) -> None:
        _check_input_name(self.name)

    def key(self) -> str:
        return f"flag({self.name})"

    def refs(self) -> Iterator[InputRef]:
        yield InputRef(self.name, InputKind.FLAG)

    def column(self, env: Mapping[str, npt.NDArray[Any]], n: int) -> Column:
        return env[self.name]

    def source(self, ns: dict[str, Any]) -> str:
        return f"r[{self.name!r}]"


def _where(c: float, then: float, otherwise: float) -> float:
    return NAN if c != c else (then if c != 0.0 else otherwise)


def _is_missing(a: float) -> float:
    return 1.0 if a != a else 0.0


def _fill(a: float, value: float) -> float:
    return value if a != a else a


def _div(a: float, b: float) -> float:
    # NaN operands give NaN through the division itself; only a zero denominator needs a rule.
    return NAN if b == 0.0 else a / b


@dataclass(frozen=True, slots=True)
class Arith(Expr):
    op: str
    a: Expr
    b: Expr

    def __post_init__(self) -> None:
        if self.op not in ("+", "-", "*", "/"):
            raise ValueError(f"unknown operator {self.op!r}")

    def key(self) -> str:
        return f"({self.a.key()} {self.op} {self.b.key()})"

    def refs(self) -> Iterator[InputRef]:
        yield from self.a.refs()
        yield from self.b.refs()

    def column(self, env: Mapping[str, npt.NDArray[Any]], n: int) -> Column:
        a, b = self.a.column(env, n), self.b.column(env, n)
        # Overflow to infinity and inf - inf = NaN are IEEE results, as in the row form: no warnings.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.op == "+":
                return a + b
            if self.op == "-":
                return a - b
            if self.op == "*":
                return a * b
            out = a / b
        out[b == 0.0] = NAN
        return out

    def source(self, ns: dict[str, Any]) -> str:
        a, b = self.a.source(ns), self.b.source(ns)
        return f"_div({a}, {b})" if self.op == "/" else f"({a} {self.op} {b})"


def _min(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a <= b else b


def _max(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a >= b else b


@dataclass(frozen=True, slots=True)
class Extreme(Expr):
    """min or max of two values; missing if either is missing (as numpy's minimum/maximum)."""

    op: str  # "min" | "max"
    a: Expr
    b: Expr

    def key(self) -> str:
        return f"{self.op}({self.a.key()}, {self.b.key()})"

    def refs(self) -> Iterator[InputRef]:
        yield from self.a.refs()
        yield from self.b.refs()

    def column(self, env: Mapping[str, npt.NDArray[Any]], n: int) -> Column:
        a, b = self.a.column(env, n), self.b.column(env, n)
        # Pick the operand itself (not a recomputed value), as the row form does, so that the signed
        # zeros and ties come out the same.
        out = np.where(a <= b, a, b) if self.op == "min" else np.where(a >= b, a, b)
        out[np.isnan(a) | np.isnan(b)] = NAN
        return out

    def source(self, ns: dict[str, Any]) -> str:
        return f"_{self.op}({self.a.source(ns)}, {self.b.source(ns)})"


def minimum(a: Expr | float, b: Expr | float) -> Expr:
    return Extreme("min", _lift(a), _lift(b))


def maximum(a: Expr | float, b: Expr | float) -> Expr:
    return Extreme("max", _lift(a), _lift(b))


def _gt(a: float, b: float) -> float:
    return NAN if a != a or b != b else (1.0 if a > b else 0.0)


def _ge(a: float, b: float) -> float:
    return NAN if a != a or b != b else (1.0 if a >= b else 0.0)


def _lt(a: float, b: float) -> float:
    return NAN if a != a or b != b else (1.0 if a < b else 0.0)


def _le(a: float, b: float) -> float:
    return NAN if a != a or b != b else (1.0 if a <= b else 0.0)


_CMP: Final = {">": "_gt", ">=": "_ge", "<": "_lt", "<=": "_le"}
_NP_CMP: Final[dict[str, Callable[[Column, Column], npt.NDArray[np.bool_]]]] = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
}


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    """1.0 when the comparison holds, 0.0 when not, NaN when either side is missing."""

    op: str
    a: Expr
    b: Expr

    def key(self) -> str:
        return f"({self.a.key()} {self.op} {self.b.key()})"

    def refs(self) -> Iterator[InputRef]:
        yield from self.a.refs()
        yield from self.b.refs()

    def column(self, env: Mapping[str, npt.NDArray[Any]], n: int) -> Column:
        a, b = self.a.column(env, n), self.b.column(env, n)
        out = _NP_CMP[self.op](a, b).astype(np.float64)
        out[np.isnan(a) | np.isnan(b)] = NAN
        return out

    def source(self, ns: dict[str, Any]) -> str:
        return f"{_CMP[self.op]}({self.a.source(ns)}, {self.b.source(ns)})"


@dataclass(frozen=True, slots=True)
class Where(Expr):
    """``then`` where ``cond`` is non-zero, ``otherwise`` where it is zero, NaN where it is missing."""

    cond: Expr
    then: Expr
    otherwise: Expr

    def key(self) -> str:
        return f"where({self.cond.key()}, {self.then.key()}, {self.otherwise.key()})"

    def refs(self) -> Iterator[InputRef]:
        yield from self.cond.refs()
        yield from self.then.refs()
        yield from self.otherwise.refs()

    def column(self, env: Mapping[str, npt.NDArray[Any]], n: int) -> Column:
        c = self.cond.column(env, n)
        out = np.where(c != 0.0, self.then.column(env, n), self.otherwise.column(env, n))
        out[np.isnan(c)] = NAN
        return out

    def source(self, ns: dict[str, Any]) -> str:
        # Both branches are computed, as in the column form: every node is total (no exceptions).
        return f"_where({self.cond.source(ns)}, {self.then.source(ns)}, {self.otherwise.source(ns)})"


def where(cond: Expr, then: Expr | float, otherwise: Expr | float) -> Expr:
    return Where(cond, _lift(then), _lift(otherwise))


@dataclass(frozen=True, slots=True)
class IsMissing(Expr):
    """1.0 where the value is missing, else 0.0 (never missing itself)."""

    a: Expr

    def key(self) -> str:
        return f"is_missing({self.a.key()})"

    def refs(self) -> Iterator[InputRef]:
        return self.a.refs()

    def column(self, env: Mapping[str, npt.NDArray[Any]], n: int) -> Column:
        return np.isnan(self.a.column(env, n)).astype(np.float64)

    def source(self, ns: dict[str, Any]) -> str:
        return f"_is_missing({self.a.source(ns)})"


@dataclass(frozen=True, slots=True)
class FillMissing(Expr):
    a: Expr
    value: float

    def key(self) -> str:
        return f"fill({self.a.key()}, {_fmt(self.value)})"

    def refs(self) -> Iterator[InputRef]:
        return self.a.refs()

    def column(self, env: Mapping[str, npt.NDArray[Any]], n: int) -> Column:
        a = self.a.column(env, n)
        return np.where(np.isnan(a), self.value, a)

    def source(self, ns: dict[str, Any]) -> str:
        return f"_fill({self.a.source(ns)}, {self.value!r})"


@dataclass(frozen=True, slots=True)
class Category(Expr):
    """The index of a text input in ``categories``; missing when absent or not one of them."""

    name: str
    categories: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_input_name(self.name)
        if not self.categories or len(set(self.categories)) != len(self.categories) or "" in self.categories:
            raise ValueError("categories must be distinct, non-empty strings")

    def key(self) -> str:
        return f"category({self.name}, {json.dumps(list(self.categories), ensure_ascii=False)})"

    def refs(self) -> Iterator[InputRef]:
        yield InputRef(self.name, InputKind.TEXT)

    def column(self, env: Mapping[str, npt.NDArray[Any]], n: int) -> Column:
        texts = env[self.name]
        if n == 0:
            return np.empty(0, np.float64)
        uniq, inverse = np.unique(texts, return_inverse=True)
        codes = {c: float(i) for i, c in enumerate(self.categories)}
        mapped = np.array([codes.get(str(u), NAN) for u in uniq], dtype=np.float64)
        return mapped[inverse.reshape(-1)]

    def source(self, ns: dict[str, Any]) -> str:
        table = f"_categories_{len(ns)}"
        ns[table] = {c: float(i) for i, c in enumerate(self.categories)}
        return f"{table}.get(r[{self.name!r}], _nan)"


_DIGITS: Final = frozenset("0123456789")
_CHECK_CHARS: Final = frozenset("0123456789Xx")
_MONTH_DAYS: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MIN_BIRTH_YEAR: Final = 1900


def _month_days(year: int, month: int) -> int:
    leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0
    return 29 if month == 2 and leap else _MONTH_DAYS[month - 1]


def _age_from_id(id_number: str | None, as_of: dt.date | None) -> float:
    if id_number is None or as_of is None or len(id_number) != 18:
        return NAN
    if not (_DIGITS.issuperset(id_number[:17]) and id_number[17] in _CHECK_CHARS):
        return NAN
    y, m, d = int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])
    if y < _MIN_BIRTH_YEAR or not 1 <= m <= 12 or not 1 <= d <= _month_days(y, m):
        return NAN
    age = as_of.year - y - ((as_of.month, as_of.day) < (m, d))
    return float(age) if age >= 0 else NAN


@dataclass(frozen=True, slots=True)
class AgeFromResidentId(Expr):
    """Whole years from the birth date inside an 18-character resident ID (身份证号, digits 7-14) to a date.

    Only the layout is read (the check digit is the identity module's business): an ID that is not 18
    characters, has a non-digit in the first 17, or an impossible birth date gives a missing age, as
    does a birth date after ``as_of``. A 29 February birthday completes on 1 March in common years
    (as ``identity.domain.age_on``)."""

    id_number: str
    as_of: str

    def __post_init__(self) -> None:
        _check_input_name(self.id_number)
        _check_input_name(self.as_of)

    def key(self) -> str:
        return f"age_from_resident_id({self.id_number}, {self.as_of})"

    def refs(self) -> Iterator[InputRef]:
        yield InputRef(self.id_number, InputKind.TEXT)
        yield InputRef(self.as_of, InputKind.DATE)

    def column(self, env: Mapping[str, npt.NDArray[Any]], n: int) -> Column:
        ids = env[self.id_number]
        as_of = env[self.as_of]
        out = np.full(n, NAN, dtype=np.float64)
        if n == 0:
            return out
        ok = np.char.str_len(ids) == 18
        codes = ids.astype("<U18").view(np.uint32).reshape(n, 18).astype(np.int64)
        digits = codes[:, :17]
        ok &= ((digits >= 48) & (digits <= 57)).all(axis=1)
        last = codes[:, 17]
        ok &= ((last >= 48) & (last <= 57)) | (last == ord("X")) | (last == ord("x"))
        v = codes - 48
        y = v[:, 6] * 1000 + v[:, 7] * 100 + v[:, 8] * 10 + v[:, 9]
        m = v[:, 10] * 10 + v[:, 11]
        d = v[:, 12] * 10 + v[:, 13]
        ok &= (y >= _MIN_BIRTH_YEAR) & (m >= 1) & (m <= 12)
        leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
        month_days = np.array(_MONTH_DAYS, dtype=np.int64)[np.clip(m, 1, 12) - 1] + ((m == 2) & leap)
        ok &= (d >= 1) & (d <= month_days)
        ok &= ~np.isnat(as_of)
        months = as_of.astype("datetime64[M]")
        ay = as_of.astype("datetime64[Y]").astype(np.int64) + 1970
        am = months.astype(np.int64) % 12 + 1
        ad = (as_of - months.astype("datetime64[D]")).astype(np.int64) + 1
        age = ay - y - ((am < m) | ((am == m) & (ad < d)))
        ok &= age >= 0
        out[ok] = age[ok]
        return out

    def source(self, ns: dict[str, Any]) -> str:
        return f"_age_from_id(r[{self.id_number!r}], r[{self.as_of!r}])"


# ------------------------------------------------------------------------------------ features


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    version: int
    source: Source
    dtype: DType
    expr: Expr
    description_en: str
    description_zh: str
    missing: MissingPolicy = MissingPolicy.KEEP
    fill_value: float | None = None
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"feature name {self.name!r} must be snake_case (a-z, 0-9, _)")
        if self.version < 1:
            raise ValueError("a feature version starts at 1")
        if (self.missing is MissingPolicy.FILL) != (self.fill_value is not None):
            raise ValueError(f"feature {self.name!r}: a fill value goes with (only) the fill policy")
        if self.fill_value is not None and not math.isfinite(self.fill_value):
            raise ValueError(f"feature {self.name!r}: the fill value must be finite")
        if (self.dtype is DType.CATEGORY) != bool(self.categories):
            raise ValueError(f"feature {self.name!r}: categories go with (only) the category dtype")

    @property
    def definition(self) -> str:
        return self.expr.key()

    @property
    def content_hash(self) -> str:
        doc = {
            "name": self.name,
            "version": self.version,
            "source": self.source.value,
            "dtype": self.dtype.value,
            "missing": self.missing.value,
            "fill_value": self.fill_value,
            "categories": list(self.categories),
            "definition": self.definition,
        }
        return hashlib.sha256(_canonical(doc)).hexdigest()


def _row_helpers() -> dict[str, Any]:
    return {
        "_nan": NAN,
        "_div": _div,
        "_min": _min,
        "_max": _max,
        "_gt": _gt,
        "_ge": _ge,
        "_lt": _lt,
        "_le": _le,
        "_where": _where,
        "_is_missing": _is_missing,
        "_fill": _fill,
        "_age_from_id": _age_from_id,
    }


def _compile_row(label: str, exprs: Sequence[Expr]) -> RowFn:
    """One Python function computing every feature of a row: the row form of each node, inlined.

    A tree of closures costs a call per node; one generated function evaluates ~30 features in
    a few microseconds. The source is built only from the nodes' own text (input names are checked
    identifiers, constants are float reprs), never from outside input."""
    ns = _row_helpers()
    body = ", ".join(e.source(ns) for e in exprs)
    src = f"def _row(r):\n    return ({body},)\n"
    exec(compile(src, f"<features {label}>", "exec"), ns)  # noqa: S102 - generated from typed nodes only
    fn: RowFn = ns["_row"]
    return fn


def _canonical(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _missing_rejected(feature: Feature, rows: int) -> ValidationFailed:
    return ValidationFailed(
        f"feature {feature.name!r} is required but missing",
        code="feature_missing",
        details={"feature": feature.name, "rows": rows},
    )


class FeatureSet:
    """A named, versioned list of features, computed together over a frame or one row."""

    __slots__ = (
        "_coerce",
        "_fill",
        "_names",
        "_reject",
        "_row",
        "content_hash",
        "features",
        "inputs",
        "name",
        "version",
    )

    def __init__(self, name: str, version: int, features: Sequence[Feature]) -> None:
        if not _NAME.match(name):
            raise ValueError(f"feature set name {name!r} must be snake_case")
        if version < 1:
            raise ValueError("a feature set version starts at 1")
        names = [f.name for f in features]
        if not names or len(set(names)) != len(names):
            raise ValueError("a feature set needs features with distinct names")
        inputs: dict[str, InputKind] = {}
        for f in features:
            for ref in f.expr.refs():
                if inputs.setdefault(ref.name, ref.kind) is not ref.kind:
                    raise ValueError(f"input {ref.name!r} is read both as {inputs[ref.name]} and {ref.kind}")
        self.name = name
        self.version = version
        self.features: tuple[Feature, ...] = tuple(features)
        self.inputs: Mapping[str, InputKind] = dict(sorted(inputs.items()))
        self.content_hash = hashlib.sha256(
            _canonical(
                {"name": name, "version": version, "features": [f.content_hash for f in self.features]}
            )
        ).hexdigest()
        self._coerce = tuple((n, _ROW_COERCE[k]) for n, k in self.inputs.items())
        self._row = _compile_row(f"{name} v{version}", [f.expr for f in self.features])
        self._names = tuple(f.name for f in self.features)
        self._fill = {f.name: f.fill_value for f in self.features if f.fill_value is not None}
        self._reject = {f.name: f for f in self.features if f.missing is MissingPolicy.REJECT}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def manifest(self) -> dict[str, Any]:
        """What a trained model stores to prove which definitions it was trained on."""
        return {
            "name": self.name,
            "version": self.version,
            "content_hash": self.content_hash,
            "features": {
                f.name: {"version": f.version, "content_hash": f.content_hash} for f in self.features
            },
        }

    def row(self, values: Mapping[str, object]) -> dict[str, float]:
        """Every feature of one application (keys absent from ``values`` are missing)."""
        get = values.get
        prepared = {name: coerce(name, get(name)) for name, coerce in self._coerce}
        out = dict(zip(self._names, self._row(prepared), strict=True))
        for name, fill in self._fill.items():
            if out[name] != out[name]:
                out[name] = fill
        for name, feature in self._reject.items():
            if out[name] != out[name]:
                raise _missing_rejected(feature, 1)
        return out

    def frame(self, columns: Mapping[str, Sequence[object] | npt.NDArray[Any]]) -> dict[str, Column]:
        """Every feature over equally long columns (absent columns are missing throughout)."""
        lengths = {len(v) for k, v in columns.items() if k in self.inputs}
        if len(lengths) > 1:
            raise ValidationFailed(
                "feature input columns differ in length",
                code="feature_frame_ragged",
                details={"lengths": sorted(lengths)},
            )
        n = lengths.pop() if lengths else 0
        env: dict[str, npt.NDArray[Any]] = {}
        for name, kind in self.inputs.items():
            raw = columns.get(name)
            if raw is None:
                env[name] = _absent(kind, n)
                continue
            # A plain sequence keeps its Python objects so that each value is checked as in ``row``
            # (numpy would quietly turn [1, True] into integers and ["1"] into text).
            arr = raw if isinstance(raw, np.ndarray) else np.array(raw, dtype=object)
            if arr.ndim != 1:
                raise ValidationFailed(
                    f"feature input {name!r} must be one-dimensional",
                    code="invalid_feature_input",
                    details={"input": name, "expected": kind.value},
                )
            env[name] = _COLUMN_COERCE[kind](name, arr)
        out: dict[str, Column] = {}
        for f in self.features:
            col = f.expr.column(env, n)
            if f.fill_value is not None:
                col = np.where(np.isnan(col), f.fill_value, col)
            elif f.missing is MissingPolicy.REJECT:
                missing = int(np.isnan(col).sum())
                if missing:
                    raise _missing_rejected(f, missing)
            out[f.name] = col.astype(np.float64, copy=False)
        return out


# ------------------------------------------------------------------------------------ default set

#: Consumer-finance scenes (场景) a partner may send; anything else is missing.
SCENES: Final = ("consumer_goods", "education", "travel", "home_improvement", "medical", "auto", "cash")


def _f(  # noqa: PLR0917 - one line per feature reads like the analyst's table
    name: str,
    source: Source,
    dtype: DType,
    expr: Expr,
    en: str,
    zh: str,
    *,
    missing: MissingPolicy = MissingPolicy.KEEP,
    fill: float | None = None,
    categories: tuple[str, ...] = (),
) -> Feature:
    return Feature(name, 1, source, dtype, expr, en, zh, missing, fill, categories)


def default_feature_set() -> FeatureSet:
    """Application features for Chinese consumer credit (A卡): the usual first model of a small bank.

    Inputs: the application (``id_number``, ``application_date``, ``income_monthly_minor``,
    ``requested_amount_minor``, ``requested_term_months``, ``employment_years``, ``scene``,
    ``application_hour``), identity and KYC results, the bureau report
    (:meth:`dipper.risk.domain.bureau.BureauReport.as_inputs`) and the customer's history here
    (``dipper_*``). Money inputs are integer fen; the features speak yuan, as analysts do.
    """
    A, I, B, H = Source.APPLICATION, Source.IDENTITY, Source.BUREAU, Source.BEHAVIOUR  # noqa: N806, E741
    F, N, G, C = DType.FLOAT, DType.INT, DType.FLAG, DType.CATEGORY  # noqa: N806
    income = Num("income_monthly_minor") / 100.0
    amount = Num("requested_amount_minor") / 100.0
    term = Num("requested_term_months")
    installment = amount / term  # principal per month: a first-order proxy, interest aside
    bureau_debt = Num("bureau_monthly_debt_minor") / 100.0
    features = [
        # application 进件
        _f("age", I, N, AgeFromResidentId("id_number", "application_date"),
           "Age in whole years on the application date, from the resident ID's birth date",
           "年龄（按身份证出生日期计算至申请日）", missing=MissingPolicy.REJECT),
        _f("monthly_income", A, F, income, "Declared monthly income (yuan)", "申报月收入（元）"),
        _f("requested_amount", A, F, amount, "Requested amount (yuan)", "申请金额（元）",
           missing=MissingPolicy.REJECT),
        _f("requested_term_months", A, N, term, "Requested term in months", "申请期数（月）"),
        _f("loan_to_annual_income", A, F, amount / (income * 12.0),
           "Requested amount over annual income", "申请金额 / 年收入"),
        _f("installment_to_income", A, F, installment / income,
           "New monthly principal over monthly income", "新增月还本金 / 月收入"),
        _f("employment_years", A, F, Num("employment_years"),
           "Years with the current employer", "现单位工作年限"),
        _f("scene", A, C, Category("scene", SCENES), "Consumption scene of the application", "进件场景",
           categories=SCENES),
        _f("night_application", A, G, Num("application_hour").lt(6.0),
           "Applied between midnight and 6 a.m.", "凌晨 0-6 点申请"),
        # identity, KYC and device 身份核验与设备
        _f("kyc_passed", I, G, Flag("kyc_passed"),
           "Face match and liveness passed", "人脸比对与活体检测通过"),
        _f("four_elements_verified", I, G, Flag("four_elements_verified"),
           "Name, ID, phone and bank card verified together", "四要素核验通过"),
        _f("phone_tenure_months", I, N, Num("phone_tenure_months"),
           "Months the phone number has been in service", "手机号在网时长（月）"),
        _f("device_risky", I, G, Flag("device_risky"),
           "Rooted device, emulator or hooking tool", "设备越狱/模拟器/改机"),
        _f("device_customer_count", I, N, Num("device_customer_count").fill(1.0),
           "Customers who applied from this device", "同设备申请人数"),
        _f("blacklisted", I, G, Flag("blacklisted"), "On the bank's or the alliance blacklist", "命中黑名单"),
        # credit bureau 征信
        _f("bureau_thin_file", B, G, Flag("bureau_thin_file"), "No credit history at the bureau", "征信白户"),
        _f("bureau_inquiries_3m", B, N, Num("bureau_inquiries_3m"),
           "Hard inquiries in 3 months", "近3个月查询次数"),
        _f("bureau_inquiries_6m", B, N, Num("bureau_inquiries_6m"),
           "Hard inquiries in 6 months", "近6个月查询次数"),
        _f("bureau_inquiries_3m_share", B, F, Num("bureau_inquiries_3m") / Num("bureau_inquiries_6m"),
           "Share of 6-month inquiries made in the last 3 months", "近3月查询占近6月比例"),
        _f("bureau_current_delinquency", B, G, Flag("bureau_current_delinquency"),
           "An account is past due now", "当前有逾期"),
        _f("bureau_delinquencies_24m", B, N, Num("bureau_delinquencies_24m"),
           "Months with a delinquency in 24 months", "近24个月逾期月份数"),
        _f("bureau_max_dpd_24m", B, N, Num("bureau_max_dpd_24m"),
           "Worst days past due in 24 months", "近24个月最大逾期天数"),
        _f("bureau_open_accounts", B, N, Num("bureau_open_accounts"), "Open credit accounts", "未结清账户数"),
        _f("bureau_monthly_debt", B, F, bureau_debt,
           "Monthly repayments owed elsewhere (yuan)", "他行月还款额（元）"),
        _f("dti", B, F, bureau_debt / income, "Debt-to-income: monthly repayments over income", "负债收入比"),
        _f("dti_after_loan", B, F, (bureau_debt + installment) / income,
           "Debt-to-income including the new loan's principal", "含本笔贷款的负债收入比"),
        _f("bureau_card_utilisation", B, F, Num("bureau_card_utilisation").clip(0.0, 2.0),
           "Credit card balances over limits (capped at 2)", "信用卡额度使用率（上限2）"),
        # history with this bank 本行表现
        _f("dipper_has_history", H, G, Num("dipper_loans_total").fill(0.0).gt(0.0),
           "Has borrowed here before", "本行有借款记录"),
        _f("dipper_max_dpd_12m", H, N, Num("dipper_max_dpd_12m"),
           "Worst days past due here in 12 months", "本行近12个月最大逾期天数"),
        _f("dipper_on_time_ratio", H, F, Num("dipper_on_time_ratio"),
           "Share of installments paid on time here", "本行按时还款比例"),
        _f("dipper_active_loans", H, N, Num("dipper_active_loans"), "Loans open here", "本行在贷笔数",
           missing=MissingPolicy.FILL, fill=0.0),
        _f("dipper_line_utilisation", H, F, Num("dipper_line_used_minor") / Num("dipper_line_limit_minor"),
           "Drawn share of the credit line here", "本行授信额度使用率"),
    ]  # fmt: skip
    return FeatureSet("consumer_application", 1, features)


DEFAULT_FEATURE_SET: Final = default_feature_set()
