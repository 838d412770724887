"""Domain errors: raised by services, turned into HTTP answers by the API and the portal."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields
        if code:
            self.code = code


class Conflict(DomainError):
    """The object is not in a state that allows this (an illegal status change, a busy resource)."""

    status = 409
    code = "conflict"


class NotFound(DomainError):
    status = 404
    code = "not_found"
