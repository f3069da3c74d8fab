"""What a command comes to: handled (ok, or rejected by the rules) or refused (it could not run)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Refusal(Enum):
    """Why a command could not run at all; the web edge gives each its HTTP status."""

    MALFORMED = "malformed"  # the command or its payload has the wrong shape
    UNKNOWN_COMMAND = "unknown_command"
    NOT_FOUND = "not_found"  # it names something that does not exist (an entry no longer queued)
    CONFLICT = "conflict"  # it was made against a state that has changed (a settings version)
    INVALID = "invalid"  # a value is out of its range


@dataclass(frozen=True, slots=True)
class Refused:
    kind: Refusal
    code: str  # machine-readable, e.g. "version_conflict"
    message: str  # for people, naming the field

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.message}"

    def stored(self) -> dict[str, Any]:
        """How the command log keeps it, so that a repeated idempotency key is refused the same way."""
        return {"refused": {"kind": self.kind.value, "code": self.code, "message": self.message}}

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Refused:
        refused = stored["refused"]
        return cls(Refusal(refused["kind"]), refused["code"], refused["message"])


@dataclass(frozen=True, slots=True)
class Handled:
    """The command ran: `ok`, or `rejected` by the rules (queue closed or full, per-user limit)."""

    result: str
    reason: str | None = None
    data: dict[str, Any] | None = None
    events: tuple[dict[str, Any], ...] = ()  # what it emitted, {type, data}, as the admin sees them
    replayed: bool = False  # the answer of an earlier command with the same idempotency key

    def answer(self) -> dict[str, Any]:
        """The JSON answer: {result, reason?, data?, events, replayed?}."""
        out: dict[str, Any] = {"result": self.result}
        if self.reason:
            out["reason"] = self.reason
        if self.data:
            out["data"] = self.data
        out["events"] = list(self.events)
        if self.replayed:
            out["replayed"] = True
        return out

    @classmethod
    def replay(cls, answer: dict[str, Any]) -> Handled:
        return cls(answer["result"], answer.get("reason"), answer.get("data"), tuple(answer["events"]), True)


Outcome = Handled | Refused


class Refuse(Exception):
    """Raised inside a handler (or a validator it calls); the runner rolls the command back and
    returns the Refused outcome."""

    def __init__(self, kind: Refusal, code: str, message: str):
        super().__init__(message)
        self.outcome = Refused(kind, code, message)


def malformed(message: str, code: str = "invalid_payload") -> Refuse:
    return Refuse(Refusal.MALFORMED, code, message)


def invalid(field: str, message: str) -> Refuse:
    return Refuse(Refusal.INVALID, "invalid_value", f"{field}: {message}")
