"""The one error hierarchy of the package.

Domain code raises these; only the edges (``bot.api``, ``bot.cli``) turn them into HTTP statuses or CLI
messages. Each error carries a stable machine ``code`` and a citizen-readable Chinese ``message``.

    PolicyBotError
    ├── InvalidQuestion (422) ── EmptyQuestion, QuestionTooLong (413)
    ├── MalformedNotice (422)            a notice's structure: file and line
    ├── DocumentError (422)              an administrator's file that cannot become a notice
    │   ├── UnsupportedFormat (415)      not .txt/.docx/.pdf/.html
    │   ├── UnreadableDocument (422)     a corrupt file, undecodable text
    │   │   └── NoTextLayer (422)        a scanned PDF
    │   ├── DocumentExists (409)         add without replace over an existing document
    │   └── UnknownDocument (404)        retire/remove of a document id that is not there
    ├── IndexProblem (503) ── IndexMissing, IndexCorrupt, IndexModelMismatch
    ├── NotFound (404)
    └── ConfigError (500)
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
    status = 422

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


class DocumentError(PolicyBotError):
    """An administrator's document cannot be added, replaced, retired or removed as asked."""

    code = "document_error"
    status = 422


class UnsupportedFormat(DocumentError):
    code = "unsupported_format"
    status = 415


class UnreadableDocument(DocumentError):
    """The file is of a supported kind but its text cannot be read (corrupt, undecodable)."""

    code = "unreadable_document"


class NoTextLayer(UnreadableDocument):
    """A PDF without a text layer (a scan): it would need OCR, which the service does not do."""

    code = "no_text_layer"


class DocumentExists(DocumentError):
    code = "document_exists"
    status = 409


class UnknownDocument(DocumentError):
    code = "unknown_document"
    status = 404
