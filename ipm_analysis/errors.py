"""One error hierarchy for the package.

Every error a user can cause derives from :class:`IpmError`. The command line catches
``IpmError`` and prints its message (never a traceback) with exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class IpmError(Exception):
    """Root of every error raised on purpose by ipm-analysis."""


@dataclass(frozen=True)
class Problem:
    """One problem found while validating a client folder.

    ``rows`` holds up to a handful of example row numbers (1-based data rows, header not
    counted) so a user can find the offending lines in the file.
    """

    file: str
    message: str
    column: str | None = None
    rows: tuple[int, ...] = field(default_factory=tuple)
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = self.file
        if self.column:
            where += f", column '{self.column}'"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:5])
            more = "" if len(self.rows) <= 5 else ", ..."
            where += f", rows {shown}{more}"
        return f"{self.severity.upper()}: {where}: {self.message}"


class ValidationError(IpmError):
    """A client folder has one or more problems; carries all of them."""

    def __init__(self, problems: list[Problem], client: str | None = None):
        self.problems = list(problems)
        self.client = client
        super().__init__(str(self))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def __str__(self) -> str:  # one readable block, every problem on its own line
        head = f"client '{self.client}': " if self.client else ""
        n = len(self.errors)
        lines = [f"{head}{n} problem{'s' if n != 1 else ''} found"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class ConfigError(IpmError):
    """client.yaml cannot be read or does not follow the contract."""


class ExpressionError(IpmError):
    """A KPI or segment expression is not a safe scalar expression over the table."""


class AnalysisError(IpmError):
    """The data do not allow the requested analysis (e.g. too few rows).

    ``key`` and ``values``, when given, name the reason in the message catalogue, so that a report
    gives it in its own language (:func:`ipm_analysis.messages.reason`); the error's text is the
    English reading (:func:`ipm_analysis.messages.analysis_error` makes both from the key).
    """

    def __init__(self, text: str = "", key: str | None = None, **values: object):
        super().__init__(text)
        self.key = key
        self.values = values


class MissingDependencyError(IpmError):
    """An optional dependency is not installed; the message gives the install command."""
