"""The one error hierarchy of the package.

Domain code raises these; only the edges (``bot.api``, ``bot.cli``) turn them into HTTP statuses or CLI
messages. Each error carries a stable machine ``code`` and a citizen-readable Chinese ``message``.
"""

from __future__ import annotations


class PolicyBotError(Exception):
    """Base class. ``code`` is stable for clients; ``message`` is shown to citizens."""

    code = "error"
    status = 500

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidQuestion(PolicyBotError):
    """The question cannot be answered as given (empty, too long, not text)."""

    code = "invalid_question"
    status = 422


class EmptyQuestion(InvalidQuestion):
    code = "empty_question"


class QuestionTooLong(InvalidQuestion):
    code = "question_too_long"
    status = 413


class MalformedNotice(PolicyBotError):
    """A source notice does not have the expected shape; names the file and line."""

    code = "malformed_notice"

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class IndexProblem(PolicyBotError):
    """Base for problems with the on-disk index."""

    code = "index_error"
    status = 503


class IndexMissing(IndexProblem):
    code = "index_missing"


class IndexCorrupt(IndexProblem):
    code = "index_corrupt"


class IndexModelMismatch(IndexProblem):
    """The index was built with another embedding model than the one configured."""

    code = "index_model_mismatch"


class NotFound(PolicyBotError):
    code = "not_found"
    status = 404


class ConfigError(PolicyBotError):
    code = "config_error"
