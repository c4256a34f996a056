"""Test-only failure injection, so tests can exercise the failure path of a real search.

A job spec may carry ``testing: {fail_topologies: [shared_bottom], after_epochs: 1}``: the
trainable then raises :class:`InjectedFailure` for every candidate whose topology is listed,
once it has trained ``after_epochs`` epochs (0: before training starts). With
``mode: nan`` it reports NaN validation metrics instead, which exercises the NaN check. Nothing
happens unless the spec asks for it; it is not meant for production jobs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from automtl.config import Candidate, StrictModel


class InjectedFailure(RuntimeError):
    """The error a failure-injected trial raises."""


class FailureInjection(StrictModel):
    """Which candidates fail on purpose, when and how."""

    fail_topologies: list[str] = Field(default_factory=list)
    after_epochs: int = Field(1, ge=0)
    mode: Literal["raise", "nan"] = "raise"

    def applies_to(self, candidate: Candidate) -> bool:
        return candidate.architecture.topology in self.fail_topologies

    def check(self, candidate: Candidate, epochs_done: int) -> None:
        """Raise :class:`InjectedFailure` when this candidate is due to fail (mode ``raise``)."""
        if self.mode == "raise" and self.applies_to(candidate) and \
                epochs_done >= self.after_epochs:
            raise InjectedFailure(f"injected failure for topology "
                                  f"{candidate.architecture.topology!r} after "
                                  f"{epochs_done} epoch(s) (spec.testing)")
