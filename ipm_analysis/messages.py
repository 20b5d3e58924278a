"""The one message catalogue: every reading the analysis hands to a reader, in every language.

An analysis function does not write sentences. It returns a :class:`Message`: a key of the
catalogue and the parameters that fill it (numbers as :class:`Num`, with the decimals the
package's rounding rule gave them; names from client.yaml as text; other messages, and lists of
them). :func:`render` writes a message in a language; the wording of each language is in its
catalogue, ``ipm_analysis/locale/<language>/LC_MESSAGES/ipm.po`` (gettext, read with Babel), with
the key as ``msgid`` and the sentence, with ``{name}`` fields, as ``msgstr``.

A message *is* its English text (:class:`Message` is a ``str``), so tables, ``summary.json`` and
the notebooks read it as before; the presentation layer renders it in the report's language
(``reporting.language``) with :func:`render`. Numbers keep their digits in every language; only
the symbols change (:func:`ipm_analysis.present.format_number`).
"""

from __future__ import annotations

import contextvars
import re
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from . import present
from .errors import AnalysisError

__all__ = ["Message", "Num", "Seq", "catalogue", "fields", "interval", "p_text", "render", "texts", "translate",
           "localize_text", "translate_words", "reason_message",
           "use_language", "current_language"]

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "ipm"
#: The catalogue of the report's fixed texts (headings, table headers, notebook text cells): the
#: English text itself is the ``msgid``, so English needs no catalogue of its own.
TEXT_DOMAIN = "text"


@dataclass(frozen=True)
class Num:
    """A number in a message: ``decimals`` as the rounding rule gave them (None: as few as the
    value needs, as Python's ``g`` format), with its sign when ``signed``."""

    value: float
    decimals: int | None = None
    signed: bool = False


@dataclass(frozen=True)
class Seq:
    """Items written one after the other, joined by the catalogue's ``sep`` (``list.and``: "a and
    b"; ``list.comma``: "a, b")."""

    items: tuple
    sep: str = "list.comma"


class Message(str):
    """A catalogue key and its parameters; as a ``str`` it is the English text."""

    key: str
    params: dict[str, Any]

    def __new__(cls, key: str, **params: Any) -> Message:
        self = super().__new__(cls, _render(key, params, "en"))
        self.key = key
        self.params = params
        return self

    def __reduce__(self):
        return (_message, (self.key, self.params))


def _message(key: str, params: dict[str, Any]) -> Message:
    return Message(key, **params)


@cache
def catalogue(language: str) -> dict[str, str]:
    """Key -> sentence of one language, read from its ``.po`` file once."""
    from babel.messages.pofile import read_po

    if language not in present.LANGUAGES:
        raise ValueError(f"language must be one of {sorted(present.LANGUAGES)}, got {language!r}")
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as f:
        cat = read_po(f, locale=present.LANGUAGES[language])
    return {m.id: m.string for m in cat if m.id and m.string}


def _value(v: Any, language: str) -> str:
    if isinstance(v, Message):
        return _render(v.key, v.params, language)
    if isinstance(v, Num):
        return present.format_number(v.value, v.decimals, language, v.signed)
    if isinstance(v, Seq):
        return catalogue(language)[v.sep].join(_value(x, language) for x in v.items)
    return str(v)


def _render(key: str, params: dict[str, Any], language: str) -> str:
    try:
        template = catalogue(language)[key]
    except KeyError:
        raise KeyError(f"message {key!r} is not in the {language} catalogue") from None
    return template.format(**{k: _value(v, language) for k, v in params.items()})


def render(message: Any, language: str = "en") -> str:
    """``message`` written in ``language``; a plain text (not from the catalogue) as it is."""
    if isinstance(message, Message):
        return _render(message.key, message.params, language)
    return str(message)


def fields(template: str) -> set[str]:
    """The ``{name}`` fields of a sentence of the catalogue."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def p_text(p: float) -> Message:
    """A p-value in a sentence, by :func:`ipm_analysis.present.p_text`'s rule: ``p < 0.001``,
    ``p = 0.012``, ``p = 0.45``."""
    p = float(p)
    if p < 0.001:
        return Message("p.below", p=Num(0.001, 3))
    return Message("p.equals", p=Num(p, 3 if p < 0.1 else 2))


def interval(est: float, lo: float, hi: float, base: int = 1, signed: bool = False) -> tuple[Num, Num, Num]:
    """An estimate and its bounds as numbers of a message, with the decimals
    :func:`ipm_analysis.present.interval` writes them with."""
    d = present.interval_decimals(est, lo, hi, base)
    return Num(est, d[0], signed), Num(lo, d[1], signed), Num(hi, d[2], signed)


@cache
def texts(language: str) -> dict[str, str]:
    """English text -> its translation in ``language``, read from ``text.po`` once (English: empty)."""
    from babel.messages.pofile import read_po

    if language not in present.LANGUAGES:
        raise ValueError(f"language must be one of {sorted(present.LANGUAGES)}, got {language!r}")
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{TEXT_DOMAIN}.po"
    if language == "en" or not path.is_file():
        return {}
    with path.open("rb") as f:
        cat = read_po(f, locale=present.LANGUAGES[language])
    return {m.id: m.string for m in cat if m.id and m.string}


def translate(text: str, language: str = "en", **values: Any) -> str:
    """A fixed text of the report (a heading, a table header, a notebook's text cell) in
    ``language``: English as it is, another language from its ``text.po`` (the English text when
    it has no entry: the tests list every text without one). With ``values``, its ``{fields}``
    are filled after translating."""
    out = text if language == "en" else texts(language).get(text, text)
    return out.format(**values) if values else out


def localize_text(text: str, language: str = "en") -> str:
    """A short English text a table or summary.json holds (``76.7% → 90%``, ``26.7 hours``,
    ``below target``) for a reader of ``language``: its numbers in the language's symbols, and
    each run of words that the text catalogue knows translated (names from client.yaml stay)."""
    if language == "en" or not isinstance(text, str):
        return text
    return translate_words(present.localize_numbers(text, language), language)


# a run of words: not part of a name such as ``result_kpi.value_per_point`` or ``client.yaml``
# (no letter, digit or underscore on either side, no dot before it, no ``.name`` after it)
_WORD_RUN = re.compile(r"(?<![\w.])[A-Za-z][A-Za-z ()/'-]*[A-Za-z)](?!\w|\.\w)")


def translate_words(text: str, language: str = "en") -> str:
    """A text the text catalogue knows, translated; otherwise each run of words it knows (names from
    client.yaml, keys of client.yaml and column names such as ``case_id``, and numbers stay as
    they are)."""
    if language == "en" or not isinstance(text, str):
        return text
    known = texts(language)
    if text in known:
        return known[text]

    def words(m: re.Match) -> str:
        run = m.group(0)
        if run in known:
            return known[run]
        # the columns of a printed table: each header on its own
        return re.sub(r"[^ ]+(?: [^ ]+)*", lambda c: known.get(c.group(0), c.group(0)), run)

    return _WORD_RUN.sub(words, text)


def analysis_error(key: str, **values: Any) -> AnalysisError:
    """An :class:`~ipm_analysis.errors.AnalysisError` whose reason is the catalogue's ``key``: its
    text the English reading, the reader's language by :func:`reason`."""
    return AnalysisError(_render(key, values, "en"), key=key, **values)


def reason(error: Exception, language: str | None = None) -> str:
    """Why an analysis could not be done, for a reader of ``language`` (the report's language
    unless given): the catalogue's reading of an error made by :func:`analysis_error`, otherwise
    the error's own text."""
    return render(reason_message(error), language or current_language())


def reason_message(error: Exception) -> Message | str:
    """:func:`reason` as a message written later, in whatever language the reader has (a note
    kept in a frame or in ``summary.json``); the error's own text when it has no key."""
    key = getattr(error, "key", None)
    return Message(key, **error.values) if key in catalogue("en") else str(error)


_LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar("ipm_language", default="en")


def use_language(language: str) -> None:
    """The language of the readings written from now on where no language is passed: the HTML of
    the notebooks (:mod:`ipm_analysis.html_report`) and the sentences ``summary.json`` stores. A
    notebook calls it once, with ``client.config.reporting.language``."""
    if language not in present.LANGUAGES:
        raise ValueError(f"language must be one of {sorted(present.LANGUAGES)}, got {language!r}")
    _LANGUAGE.set(language)


def current_language() -> str:
    """The language set by :func:`use_language` (English unless set)."""
    return _LANGUAGE.get()
