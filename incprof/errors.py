"""The errors that are the user's input, not incprof's bugs: each message is one line.

Kept free of heavy imports, so that the command line can catch them without loading torch.
"""

from __future__ import annotations


class InputError(ValueError):
    """Input the user gave that cannot work (too small, malformed); one line for the user."""


class RegistryError(ValueError):
    """A name that cannot be resolved or registered; its message is one line for the user."""


def error_line(exc: BaseException) -> str:
    """'TypeError: first line of the message', so that a user's error stays one line."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
