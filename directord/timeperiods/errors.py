"""The one error type of the time-period core."""

from __future__ import annotations


class TimePeriodError(ValueError):
    """A range key, a range value or a period definition that cannot be evaluated.

    The message names the text, the character position and what was expected there, so a user can
    fix the config without reading our source: ``'mondayy': unknown day name at 0, expected a
    weekday, month, 'day' or a date``.
    """

    def __init__(
        self,
        problem: str,
        *,
        text: str | None = None,
        position: int | None = None,
        expected: str | None = None,
        period: str | None = None,
        key: str | None = None,
    ) -> None:
        self.problem = problem
        self.text = text
        self.position = position
        self.expected = expected
        self.period = period
        # For an error in a value: the key whose value it is.
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = []
        if self.period is not None:
            parts.append(f"time period {self.period!r}")
        if self.key is not None and self.key != self.text:
            parts.append(f"range {self.key!r}")
        head = ", ".join(parts)
        body = self.problem
        if self.text is not None:
            body = f"{self.text!r}: {body}"
        if self.position is not None:
            body += f" at {self.position}"
        if self.expected is not None:
            body += f", expected {self.expected}"
        return f"{head}: {body}" if head else body

    def within(self, *, period: str | None = None, key: str | None = None) -> TimePeriodError:
        """The same error with more context (which period, which key) filled in."""
        return TimePeriodError(
            self.problem,
            text=self.text,
            position=self.position,
            expected=self.expected,
            period=self.period if period is None else period,
            key=self.key if key is None else key,
        )
