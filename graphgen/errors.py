"""graphgen's error classes: every error graphgen raises on purpose derives from :class:`GraphgenError`.

A ``GraphgenError`` message is one line that names the problem (the file, row, item, field or flag) and, where there
is one, what to do. The command line prints it without a traceback; other exceptions are bugs. Subclasses also derive
from the built-in class a caller would catch (``ValueError`` for bad values, ``FileNotFoundError`` for a missing file),
so ``except ValueError`` keeps working.
"""
from __future__ import annotations


class GraphgenError(Exception):
    """Base class of the errors graphgen raises on purpose."""


class InputError(GraphgenError, ValueError):
    """Bad input (a value, tensor, file content or option); the message names the item and the field."""


class CorruptFileError(InputError):
    """A file graphgen wrote or reads (a cache, a model folder, a run folder) is damaged or does not fit; the message
    names the file and says how to rebuild it."""
