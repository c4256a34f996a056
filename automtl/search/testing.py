"""Test-only failure injection, so tests can exercise the failure path of a real search.

Like ``optuna.testing``, this is a helper for test suites, not part of a job: a test passes
``run_search(..., failure_injection=FailureInjection(fail_topologies=["shared_bottom"]))`` (or
puts it in a :class:`~automtl.search.trainable.TrialContext`); the trainable then raises
:class:`InjectedFailure` for every candidate whose topology is listed, once it has trained
``after_epochs`` epochs (0: before training starts). With ``mode: nan`` it reports NaN
validation metrics instead, which exercises the NaN check. A job spec (YAML, REST) cannot ask
for it: ``testing`` is not a spec field.
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
                                  f"{epochs_done} epoch(s) (automtl.search.testing)")
