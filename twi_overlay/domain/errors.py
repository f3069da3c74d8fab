from __future__ import annotations


class CommandError(Exception):
    """A command that cannot run at all: the HTTP edge maps it to status + error code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
