"""Outcome checks shared by the hypothesis suites (``tests/**/test_fuzz_*.py``): a case either returns a result or
raises a :class:`graphgen.errors.GraphgenError` whose one-line message names the problem; anything else fails."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from graphgen.errors import GraphgenError


def run_case(fn: Callable[[], Any]) -> tuple[Any, GraphgenError | None]:
    """``(result, None)`` or ``(None, error)`` for a GraphgenError; any other exception propagates (a failure)."""
    try:
        return fn(), None
    except GraphgenError as err:
        return None, err


def expect_error(err: GraphgenError | None, words: Iterable[str], case: str, prefix: str = "") -> None:
    """``err`` exists, is one line, starts with ``prefix`` and names at least one of ``words``."""
    assert err is not None, f"silent acceptance: no error for {case}"
    message = str(err)
    assert "\n" not in message, f"error message is not one line: {message!r}"
    assert message.startswith(prefix), f"unclear error for {case}: {message!r} does not start with {prefix!r}"
    words = list(words)
    assert any(word in message for word in words), f"unclear error for {case}: {message!r} names none of {words}"


def expect_result(err: GraphgenError | None, case: str) -> None:
    assert err is None, f"error for a valid case {case}: {err}"
