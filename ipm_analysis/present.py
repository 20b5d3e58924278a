"""How numbers are written for a reader: one rounding rule for every text the report prints.

The rule
--------
A number gets ``base`` decimals (1 for NPS points and percentage points, 2 for a mean on a
rating scale), *more when its size needs them*: a non-zero number always shows at least one
significant digit, so nothing that is not zero is ever written ``0.0``, ``+0.0`` or ``-0.0``
(``0.04`` stays ``0.04``, ``-0.003`` stays ``-0.003``). An exact zero is written ``0``.
An estimate and its interval are written with the decimals the estimate needs (a bound that
would then read as zero gets the decimals it needs), and two numbers compared with each other get the decimals
that tell them apart (never "3.6 against 3.6" for 3.61 and 3.64). Missing values are ``n/a``.

Everything in the package that writes an estimate, an interval, a difference or a gain into a
sentence or table goes through these functions.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["LANGUAGES", "MAX_DECIMALS", "decimals", "format_date", "localize",
           "localize_numbers", "unit_base", "format_number", "num", "interval",
           "interval_decimals", "pair", "pair_decimals", "pct", "p_value", "p_text", "table", "zero_artifacts"]

#: The languages a report can be written in, with the locale of their number and date formats.
LANGUAGES = {"en": "en", "nl": "nl_NL"}

#: The most decimals a number is ever written with.
MAX_DECIMALS = 6


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def decimals(x: float, base: int = 1) -> int:
    """Decimals for ``x``: ``base``, or more so that a non-zero ``x`` shows a significant digit."""
    if not _finite(x) or float(x) == 0:
        return base
    a = abs(float(x))
    d = max(base, -math.floor(math.log10(a)))
    while d < MAX_DECIMALS and round(a, d) == 0:
        d += 1
    return min(d, MAX_DECIMALS)


def _write(x: float, d: int, signed: bool) -> str:
    if not _finite(x):
        return "n/a"
    x = float(x)
    if x == 0:
        return "0"
    text = f"{x:+,.{d}f}" if signed else f"{x:,.{d}f}"
    if re.fullmatch(r"[+-]?0(\.0*)?", text.replace(",", "")):  # only past MAX_DECIMALS
        return ("-" if x < 0 else "+" if signed else "") + "<" + f"{10 ** -MAX_DECIMALS:.{MAX_DECIMALS}f}"
    return text


def format_number(x: float, decimals: int | None, language: str = "en", signed: bool = False) -> str:
    """A number written for a reader of ``language`` with ``decimals`` decimals (None: as few as
    the value needs, Python's ``g`` format). English keeps the package's own format (``1,234.5``);
    Dutch swaps the separators by the locale's symbols (``1.234,5``) and writes a missing value
    ``n.v.t.``. The digits are the same in every language: only the symbols change."""
    from babel import numbers

    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {sorted(LANGUAGES)}, got {language!r}")
    if decimals is None:
        text = f"{float(x):+g}" if signed else f"{float(x):g}"
    else:
        text = _write(x, decimals, signed)
    if language == "en":
        return text
    if text == "n/a":
        return "n.v.t."
    locale = LANGUAGES[language]
    group, point = numbers.get_group_symbol(locale), numbers.get_decimal_symbol(locale)
    return text.translate(str.maketrans({",": group, ".": point}))


def unit_base(unit: Any) -> int:
    """The base decimals of a change in the result KPI's unit: two for a mean on a rating scale
    ("points on the 1-5 scale", in Dutch "punten op de schaal 1-5"), one otherwise."""
    return 2 if str(unit).startswith(("points on", "punten op")) else 1


def localize(text: str, language: str = "en") -> str:
    """A number this module wrote (``1,234.5``, ``+0.04``, ``n/a``) in the symbols of ``language``
    (``1.234,5``): the digits stay, only the symbols change."""
    if language == "en" or not isinstance(text, str):
        return text
    from babel import numbers

    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {sorted(LANGUAGES)}, got {language!r}")
    if text == "n/a":
        return "n.v.t."
    locale = LANGUAGES[language]
    group, point = numbers.get_group_symbol(locale), numbers.get_decimal_symbol(locale)
    return text.translate(str.maketrans({",": group, ".": point}))


_NUMBER_TOKEN = re.compile(r"(?<![\w.,:-])[+-]?\d(?:[\d.,]*\d)?(?![\w])")
_EN_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+")
_NL_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(?:\.\d{3})+")


def _english_number(token: str) -> bool:
    """Whether a number token is written the English way (``1,234.5``, ``0.04``, ``1,234``) rather
    than the Dutch (``1.234,5``, ``0,04``, ``1.234``)."""
    if "," in token and "." in token:
        return token.rfind(".") > token.rfind(",")
    if "," in token:
        return bool(_EN_THOUSANDS.fullmatch(token))
    if "." in token:
        return not _NL_THOUSANDS.fullmatch(token)
    return False


def localize_numbers(text: str, language: str = "en") -> str:
    """The numbers an English text of this package holds (``76.7%``, ``1,234``, ``14.2 – 18.0
    days``) in the symbols of ``language``; the words, and numbers already written in the
    language's way, as they are."""
    if language == "en" or not isinstance(text, str):
        return text
    return _NUMBER_TOKEN.sub(lambda m: localize(m.group(0), language) if _english_number(m.group(0))
                             else m.group(0), text)


def format_date(day: Any, language: str = "en") -> str:
    """A day written for a reader of ``language``: ``10 January 2026``, ``10 januari 2026``."""
    from babel import dates

    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {sorted(LANGUAGES)}, got {language!r}")
    return dates.format_date(day, format="d MMMM y", locale=LANGUAGES[language])


def num(x: float, base: int = 1, signed: bool = False) -> str:
    """One number by the rule: ``num(0.04) == "0.04"``, ``num(-0.0004, signed=True) == "-0.0004"``."""
    return _write(x, decimals(x, base), signed)


def interval_decimals(est: float, lo: float, hi: float, base: int = 1) -> tuple[int, int, int]:
    """The decimals :func:`interval` writes an estimate and its bounds with."""
    d = decimals(est, base) if _finite(est) and float(est) != 0 else \
        min([decimals(v, base) for v in (lo, hi) if _finite(v)] or [base])
    out = []
    for v in (est, lo, hi):
        near_zero = _finite(v) and float(v) != 0 and round(abs(float(v)), d) == 0
        out.append(decimals(v, base) if near_zero else d)
    return out[0], out[1], out[2]


def interval(est: float, lo: float, hi: float, base: int = 1, signed: bool = False) -> tuple[str, str, str]:
    """An estimate and its interval with the same decimals (each non-zero one non-zero)."""
    d = interval_decimals(est, lo, hi, base)
    return _write(est, d[0], signed), _write(lo, d[1], signed), _write(hi, d[2], signed)


def pair_decimals(a: float, b: float, base: int = 1, signed: bool = False) -> int:
    """The decimals :func:`pair` writes two compared numbers with."""
    d = max(decimals(a, base), decimals(b, base)) if _finite(a) and _finite(b) else base
    if _finite(a) and _finite(b) and float(a) != float(b):
        while d < MAX_DECIMALS and _write(a, d, signed) == _write(b, d, signed):
            d += 1
    return d


def pair(a: float, b: float, base: int = 1, signed: bool = False) -> tuple[str, str]:
    """Two numbers compared: the decimals that tell them apart when they differ."""
    d = pair_decimals(a, b, base, signed)
    return _write(a, d, signed), _write(b, d, signed)


def pct(share: float, base: int = 1) -> str:
    """A share (0-1) in percent: ``pct(0.439) == "43.9 %"``; ``pct(0.0004) == "0.04 %"``."""
    if not _finite(share):
        return "n/a"
    return num(100 * float(share), base) + " %"


def p_value(p: float) -> str:
    """``< 0.001``, ``0.012``, ``0.45``."""
    if not _finite(p):
        return "n/a"
    p = float(p)
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def p_text(p: float) -> str:
    """A p-value in a sentence: ``p < 0.001``, ``p = 0.012``."""
    text = p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def table(frame: Any, percent: Any = (), numbers: Any = (), base: int = 1) -> Any:
    """A table for print by this rule: the ``percent`` columns (shares 0-1) written in percent,
    the ``numbers`` columns as numbers (``base`` decimals, more when a value needs them), the
    rest as they are; a true/false column reads yes / empty."""
    out = frame.copy()
    for c in percent:
        out[c] = [num(100 * float(v), base) for v in out[c]]
    for c in numbers:
        out[c] = [num(v, base) for v in out[c]]
    for c in out.columns:
        if str(out[c].dtype) == "bool":
            out[c] = ["yes" if v else "" for v in out[c]]
    return out


_ZERO = re.compile(r"(?<![\d.,])[+-]?0\.0+(?![\d])")
_AGAINST = re.compile(r"(?<![\d.])([+-]?\d[\d,]*(?:\.\d+)?)( ?%?) (?:against|vs\.?|versus) \1\2(?![\d])")


def zero_artifacts(text: str) -> list[str]:
    """What the rule forbids in a text: ``0.0``-style zeros and "x against x" comparisons.

    Used by the tests on every text the report prints; an exact zero is written ``0``.
    """
    return [m.group(0) for m in _ZERO.finditer(text)] + [m.group(0) for m in _AGAINST.finditer(text)]
