"""benchmarks.report_render (issue 21 item 2): the study it makes has its importances stored,
and a render in the stored mode neither imports scikit-learn nor fits anything."""

from __future__ import annotations

from pathlib import Path

import optuna

from automtl.report.importances import STUDY_IMPORTANCES_ATTR
from automtl.trial_record import study_attrs
from benchmarks.report_render import make_study, render


def test_the_stored_mode_renders_without_scikit_learn(tmp_path: Path) -> None:
    make_study(tmp_path, trials=6, seed=0)
    study = optuna.load_study(study_name="automtl-render",
                              storage=f"sqlite:///{tmp_path / 'automtl.db'}")
    stored = study_attrs(study)[STUDY_IMPORTANCES_ATTR]
    assert stored["complete_trials"] == 6 and stored["objectives"] == ["t1 auc (valid)",
                                                                      "t2 auc (valid)"]
    measured = render(tmp_path, "stored")
    assert measured["sklearn"] is False and measured["first"] > 0 and measured["bytes"] > 0
    assert render(tmp_path, "fit")["sklearn"] is True
