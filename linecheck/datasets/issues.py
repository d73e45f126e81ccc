"""Problems found in a YOLO dataset, as data: what ``validate_yolo`` returns and ``data check`` prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from linecheck.errors import DatasetError


class Severity(StrEnum):
    """How bad an issue is: errors make a dataset unusable, warnings are worth a look."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, kw_only=True, slots=True)
class DatasetIssue:
    """One problem in one file.

    Attributes:
        code: stable machine-readable name, e.g. ``label.fields`` or ``image.unreadable``.
        severity: error or warning.
        path: the file at fault (``data.yaml``, a label file, an image).
        line: 1-based line number in ``path`` where that applies.
        message: what was expected and what arrived.

    """

    code: str
    severity: Severity
    path: Path
    message: str
    line: int | None = None

    @property
    def location(self) -> str:
        """``path:line`` (or just ``path``)."""
        return f"{self.path}:{self.line}" if self.line is not None else str(self.path)

    def to_line(self) -> str:
        """``path:line: code: message``, the one-line form editors and ``grep`` understand."""
        return f"{self.location}: {self.code}: {self.message}"

    def to_dict(self) -> dict[str, str | int | None]:
        """The issue as JSON-ready data (``line`` is None where no line applies)."""
        return {
            "path": str(self.path),
            "line": self.line,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
        }

    def to_error(self) -> DatasetError:
        """The issue as a :class:`DatasetError` naming the file and the line."""
        return DatasetError(f"{self.message} [{self.code}]", path=self.path, line=self.line)


#: Receives each issue as it is found; may raise to stop at the first one.
IssueSink = Callable[[DatasetIssue], None]


def raise_on_error(issue: DatasetIssue) -> None:
    """Issue sink that raises the first error and ignores warnings."""
    if issue.severity is Severity.ERROR:
        raise issue.to_error()


class IssueList(list[DatasetIssue]):
    """Issue sink that keeps every issue (``validate_yolo`` uses it)."""

    def __call__(self, issue: DatasetIssue) -> None:
        """Keep ``issue``."""
        self.append(issue)

    @property
    def errors(self) -> list[DatasetIssue]:
        """Issues of severity error."""
        return [i for i in self if i.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[DatasetIssue]:
        """Issues of severity warning."""
        return [i for i in self if i.severity is Severity.WARNING]
