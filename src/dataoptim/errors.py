"""Typed errors raised on bad input.

Every error that bad input can cause is a :class:`DataOptimError`. Its message
names the file, the record (index and id) and the field at fault, in one line,
so the CLI can print it as is and exit with status 2.
"""

from __future__ import annotations

from os import PathLike

#: Longest message kept (characters); a longer one keeps its start and end.
MAX_MESSAGE = 2000


def _short(value: str, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


class DataOptimError(Exception):
    """Base class: bad input or a request the library cannot serve.

    Args:
        message: what is wrong, one sentence.
        file: the file at fault, if any.
        record: index of the record in that file (0-based), if any.
        id: id of the record, if known.
        field: the field at fault, as a path such as ``conversations[1].from``.

    ``str(error)`` gives ``"<file>: record <i> (id '<id>'), field '<field>': <message>"``
    with the absent parts left out.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | PathLike | None = None,
        record: int | None = None,
        id: str | None = None,
        field: str | None = None,
    ) -> None:
        if len(message) > MAX_MESSAGE:  # untrusted values quoted in a message must not make it megabytes long
            message = f"{message[: MAX_MESSAGE - 200]} ... {message[-150:]}"
        self.message = message
        self.file = None if file is None else str(file)
        self.record = record
        self.id = id
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        rec = " ".join(
            part
            for part in (
                None if self.record is None else f"record {self.record}",
                None if self.id is None else (f"(id {_short(self.id)})" if self.record is not None else f"id {_short(self.id)}"),
            )
            if part
        )
        where = ", ".join(
            part for part in (rec, None if self.field is None else f"field {_short(self.field)}") if part
        )
        head = ": ".join(part for part in (self.file, where) if part)
        return f"{head}: {self.message}" if head else self.message

    def located(self, **where) -> "DataOptimError":
        """Return a copy of this error with missing location parts filled in from ``where``."""
        kw = dict(file=self.file, record=self.record, id=self.id, field=self.field)
        for key, value in where.items():
            if kw.get(key) is None:
                kw[key] = value
        return type(self)(self.message, **kw)


class InputError(DataOptimError):
    """An input file is unreadable or not in the expected layout (bad JSON, wrong type, missing key)."""


class RecordError(InputError):
    """A record breaks the LLaVA record rules (DESIGN §2): schema, turns, ``<image>`` token, image path."""


class MissingFileError(DataOptimError, FileNotFoundError):
    """A file that the operation needs does not exist (annotation file, image, pool)."""


class UnknownIdError(DataOptimError, KeyError):
    """A submission names ids that are not in the pool."""

    def __str__(self) -> str:  # KeyError would quote the message
        return DataOptimError.__str__(self)


class ConfigError(DataOptimError, ValueError):
    """A builder config, option or CLI argument is not valid (e.g. a source not written yet)."""


class UnsafeInputError(DataOptimError):
    """Input that tries to escape its sandbox: a pickle with code, a path outside the image folder, a zip bomb."""


class ModelInputError(DataOptimError):
    """A record cannot be fed to the model: too long for ``model_max_length``, corrupt image, template mismatch."""


class BoxFrameError(ConfigError):
    """A file's boxes are already in the frame a conversion would move them to (its ``.boxes.json`` says so)."""
class MissingExtraError(DataOptimError, ImportError):
    """An optional dependency is not installed; the message names the extra to install (:mod:`dataoptim.extras`).

    Args:
        message: the one-line message (``... pip install "dataoptim[train]"``).
        name: the first missing module (``ImportError.name``).
    """

    def __init__(self, message: str, *, name: str | None = None, **where) -> None:
        DataOptimError.__init__(self, message, **where)
        self.name = name

    def located(self, **where) -> "DataOptimError":
        copy = DataOptimError.located(self, **where)
        copy.name = self.name
        return copy
