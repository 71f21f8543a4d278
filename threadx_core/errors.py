"""The root of every error ThreadX raises for something a user can act on.

A :class:`ThreadXError` is an expected failure — bad settings, a hostile key, a corrupt file, a
Binance ban, a grid too large — whose message alone says what went wrong and where (symbol,
month, file or key). Callers show that message as one line, without a stack trace; any other
exception is a bug and keeps its traceback. Each subclass also derives from the built-in class
callers caught before (``ValueError``, ``RuntimeError``), so existing handlers still apply.
"""


class ThreadXError(Exception):
    """An expected failure whose message is the whole explanation."""
