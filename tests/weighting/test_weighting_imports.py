"""A search worker imports every weighting (the registry) before its first trial; the solvers
a few of them use (cvxpy for Nash-MTL, scipy.optimize for CAGrad, UPGrad, FairGrad) are
imported when such a weighting first solves, not at start-up (issue 14: ~0.5 s per worker)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import torch

PROBE = """
import json, sys
from automtl.weighting import available_weightings
assert len(available_weightings()) > 20 and "torch" in sys.modules  # every strategy imported
print(json.dumps(sorted(m for m in ("cvxpy", "scipy.optimize") if m in sys.modules)))
"""


def test_importing_the_weightings_loads_no_solver() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True,
                         text=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_the_solvers_still_run_when_called() -> None:
    from automtl.weighting.cagrad import cagrad_weights
    from automtl.weighting.fairgrad import fairgrad_weights
    from automtl.weighting.nash_mtl import nash_weights
    from automtl.weighting.upgrad import upgrad_weights

    gram = np.array([[2.0, 0.5], [0.5, 1.0]])
    alpha = nash_weights(gram)
    np.testing.assert_allclose(gram @ alpha, 1.0 / alpha, rtol=1e-4)
    np.testing.assert_allclose(fairgrad_weights(gram, 1.0), alpha, rtol=1e-3)
    assert cagrad_weights(gram, 0.5).shape == (2,)
    assert upgrad_weights(torch.from_numpy(gram)).shape == (2,)
