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


# What torch says when a meta tensor is asked for a value or a data-dependent shape.
_DATA_DEPENDENT = ("meta tensor", "data-independent", "data-dependent", "_local_scalar_dense")


def needs_real_data(exc: BaseException) -> bool:
    """Whether a meta-device forward failed for want of values rather than of size."""
    return any(marker in str(exc) for marker in _DATA_DEPENDENT)
