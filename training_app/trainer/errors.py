"""Failures the user can act on. Import-light: the CLI reports them before torch is loaded."""

from __future__ import annotations


class JobError(Exception):
    """``reason`` is shown to the user as is; ``detail`` (a traceback, a library message) is for the curious."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
