"""Does each model and weighting behave as its paper says? Seeded runs with 95% intervals.

Sections (``--sections``, all by default):

- ``correlation``: the MMoE paper's synthetic set-up (Ma et al. KDD 2018, section 3.2 and
  section 5.2 / figure 4): two regression tasks of d = 100 features whose correlation falls
  1.0 -> 0.5 -> 0.0, c = 1 and raw labels as in the paper (``--labels standardised``: each
  label standardised with its exact moments, an MSE a share of the label variance);
  shared-bottom (one hidden layer of 113 units, the paper's size, ``--bottom-units``), OMoE
  and MMoE (8 experts of 16 units, towers of 8). The paper's claim: MMoE's advantage over
  shared-bottom grows as the correlation falls. Two modes (``--correlation-mode``):
  ``online`` (default) trains every model for the same number of Adam steps, each on a fresh
  batch drawn from the generator (the same batches for every model of a seed), as the
  paper's loss curves over training steps do, so no model overfits a finite sample; all
  (correlation, seed) cells of a model train side by side in one vmapped stack
  (:class:`StackedModels`, each model as if alone), and ``--lr`` may be a grid, each model
  taking the rate with the lowest validation MSE, as the paper grid-searches it (over all
  correlations, or per correlation with ``--lr-choice correlation``); ``--init glorot``
  starts from TensorFlow's default weights instead of automtl's; ``--correlation-models``
  runs a subset (shared-bottom and MMoE always). Besides the final test MSE, the paper's own
  metric: the training loss (each fresh batch's loss before its step, the paper's curves),
  averaged over all steps and over the last tenth; every run (model, rate, correlation,
  seed) goes to ``paper_checks_correlation_seeds.csv``;
  ``epochs`` trains with the Trainer over a fixed sample (best-valid epoch
  restored) and adds the transfer to task 1 (y1's test MSE minus that of the same shared
  bottom trained on y1 alone). Printed: test MSE (mean of the two tasks) per model, the gap
  shared-bottom - MMoE (absolute and relative), the gap's change from correlation 1.0 paired
  by seed (same weights' basis, sines, inputs and initialisation), each model's MSE change
  from correlation 1.0 (online), OMoE - MMoE, how differently the two MMoE gates mix the
  experts, each with a 95% t interval over seeds, the gap along training (online) and
  whether the ordering reproduced (mean gaps rising as the correlation falls, the paired
  rise's t interval above 0 and a one-sided Wilcoxon signed-rank p < 0.05), on each metric.
- ``snr``: SNR-Trans sparsity (share of closed connections) and validation AUC over the L0
  weight lambda (Ma et al. AAAI 2019; Louizos et al. ICLR 2018), lambda = 0 the reference.
- ``peers``: validation AUC of automtl's MMoE and PLE (normalization none and batch) next to
  DeepCTR-Torch's and torch-rechub's after 1, 3 and 10 epochs, same sizes, data, optimiser
  (:mod:`benchmarks.peers`); the peers are skipped with a note when not installed.
- ``cross_stitch``: cross-stitch (Misra et al. CVPR 2016) with one input layer shared by the
  columns (before) and with an input layer per column as in the paper (after).
- ``uncertainty``: uncertainty weighting (Kendall et al. CVPR 2018) with the regression form
  for every task (``uniform``) against the paper's classification form for the binary task
  (``paper``), on one binary and one regression task; the regression task's test MSE in
  standardised units (divided by the label's exact variance, :func:`label_variance`) and in
  raw label units.

    python -m benchmarks.paper_checks --sections correlation  # 16 seeds: about 4 min of CPU
    python -m benchmarks.paper_checks --quick          # smoke run (seconds)
    python -m benchmarks.paper_checks --sections correlation --correlation-seeds 10
    python -m benchmarks.paper_checks --sections correlation --lr 1e-4 1e-3 1e-2
    python -m benchmarks.paper_checks --sections correlation --correlation-mode epochs
    python -m benchmarks.paper_checks --sections correlation --correlation-seeds 24 \
        --correlation-steps 2000 --correlation-models shared_bottom mmoe --lr 3e-3 1e-2 \
        --seed 300   # one block of README section 6's exploration / confirmation
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from automtl.config import (
    ArchitectureConfig,
    ModelConfig,
    TaskSpec,
    TrainConfig,
    WeightingConfig,
)
from automtl.data import SplitTensors, TabularDataset, make_synthetic, synthetic_tasks
from automtl.data.synthetic import (
    SyntheticParameters,
    draw_synthetic,
    label_correlation,
    label_moments,
    synthetic_parameters,
)
from automtl.models import MTLModel, build_model
from automtl.training import Trainer
from automtl.training.result import TrainResult
from automtl.weighting import build_weighting
from benchmarks.common import (
    TASKS,
    base_parser,
    machine_line,
    resolve_device,
    setup_threads,
    synthetic_categorical,
    synthetic_dense,
    write_table,
)

SECTIONS = ("correlation", "snr", "peers", "cross_stitch", "uncertainty")
CORRELATIONS = (1.0, 0.5, 0.0)
CORRELATION_MODELS = ("shared_bottom", "omoe", "mmoe")
#: models whose y1 test MSE is compared with a shared bottom trained on y1 alone (the transfer)
TRANSFER_MODELS = ("shared_bottom", "mmoe")
TRANSFER_LABELS = {"shared_bottom": "sb", "mmoe": "mmoe"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--seeds", type=int, default=3, help="seeds per configuration")
    parser.add_argument("--rows", type=int, default=10_000,
                        help="rows of the correlation / snr / uncertainty data "
                             "(default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=4,
                        help="epochs of the correlation sweep (default: %(default)s)")
    parser.add_argument("--correlation-rows", type=int, default=30_000,
                        help="rows of the correlation sweep's data (default: %(default)s)")
    parser.add_argument("--correlation-seeds", type=int, default=16,
                        help="seeds per correlation (default: %(default)s)")
    parser.add_argument("--correlation-mode", choices=("online", "epochs"), default="online",
                        help="online: every step trains on a fresh batch from the generator "
                             "(the paper's loss curves over steps, no overfitting), all models "
                             "at equal steps; epochs: --epochs passes over "
                             "--correlation-rows rows with the Trainer (default: %(default)s)")
    parser.add_argument("--correlation-steps", type=int, default=3000,
                        help="training steps per model in online mode (default: %(default)s)")
    parser.add_argument("--correlation-batch", type=int, default=128,
                        help="batch size of the correlation sweep (default: %(default)s)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="the paper's c, the norm of the task weights: the sines' "
                             "frequency along w_i, so the labels' difficulty (default: "
                             "%(default)s, the paper's)")
    parser.add_argument("--labels", choices=("raw", "standardised"), default="raw",
                        help="raw: the paper's labels, an MSE in label units (a seed's label "
                             "variance is 0.1 to 19, median 2); standardised: each label minus "
                             "its exact mean over its exact standard deviation, an MSE a share "
                             "of the label variance (default: %(default)s)")
    parser.add_argument("--bottom-units", type=int, default=113,
                        help="the shared bottom's width: 113 is the paper's (its experts' and "
                             "towers' weights, 13,056, over 100 + 2·8); 0 sizes it to the "
                             "MMoE's whole parameter count, gates and biases included (126) "
                             "(default: %(default)s)")
    parser.add_argument("--lr", type=float, nargs="+", default=[1e-2],
                        help="Adam's learning rate in the correlation sweep; in online mode "
                             "several values are a grid (the paper searches 1e-4, 1e-3, "
                             "1e-2): each model gets the one with the lowest validation MSE "
                             "(default: %(default)s, the best of that grid for every model "
                             "over 16 seeds; see benchmarks/README.md section 6)")
    parser.add_argument("--correlation-models", nargs="+", choices=CORRELATION_MODELS,
                        default=list(CORRELATION_MODELS),
                        help="models of the online correlation sweep; shared_bottom and mmoe "
                             "are always run (the gap is theirs) (default: all)")
    parser.add_argument("--lr-choice", choices=("model", "correlation"), default="model",
                        help="with an --lr grid (online): one rate per model over all "
                             "correlations, or one per model and correlation, each the lowest "
                             "mean validation MSE (default: %(default)s)")
    parser.add_argument("--init", choices=("torch", "glorot"), default="torch",
                        help="initial weights in the online correlation sweep: automtl's "
                             "(nn.Linear's default) or Glorot-uniform with zero biases, "
                             "TensorFlow's default (default: %(default)s)")
    parser.add_argument("--peer-rows", type=int, default=10_000)
    parser.add_argument("--peer-epochs", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--peer-seeds", type=int, default=1,
                        help="seeds of the peers section, each its own data and initial "
                             "weights (default: %(default)s)")
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0])
    # one thread: steady on a shared machine, and what a search trial gets
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be >= 1")
    if args.peer_seeds < 1:
        parser.error("--peer-seeds must be >= 1")
    if args.correlation_seeds < 2:
        parser.error("--correlation-seeds must be >= 2 (an interval needs two)")
    if args.correlation_mode == "epochs" and len(args.lr) > 1:
        parser.error("--lr takes one value in --correlation-mode epochs")
    if args.bottom_units < 0:
        parser.error("--bottom-units must be >= 0")
    args.bottom_units = args.bottom_units or None
    args.correlation_models = sorted({*args.correlation_models, "shared_bottom", "mmoe"},
                                     key=CORRELATION_MODELS.index)
    if args.correlation_steps < 1 or args.correlation_batch < 1:
        parser.error("--correlation-steps and --correlation-batch must be >= 1")
    if args.quick:
        args.seeds, args.rows, args.epochs = 2, min(args.rows, 600), 1
        args.correlation_seeds, args.correlation_rows = 2, min(args.correlation_rows, 600)
        args.correlation_steps = min(args.correlation_steps, 30)
        args.peer_rows, args.peer_epochs = min(args.peer_rows, 1000), [1]
        args.lambdas = [0.0, 0.3]
    return args


# ----------------------------------------------------------------------------------- helpers

def mean_interval(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% Student-t interval (NaN for a single value)."""
    from scipy import stats

    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    mean = statistics.fmean(finite)
    if len(finite) < 2:
        return mean, math.nan
    half = stats.t.ppf(0.975, len(finite) - 1) * statistics.stdev(finite) / math.sqrt(len(finite))
    return mean, float(half)


def fmt(values: Sequence[float], digits: int = 4) -> str:
    """``"mean ± half-width"`` of the 95% interval."""
    mean, half = mean_interval(values)
    if math.isnan(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


@dataclass
class Run:
    model: MTLModel
    result: TrainResult


def train(data: TabularDataset, tasks: list[TaskSpec], architecture: ArchitectureConfig,
          config: TrainConfig, device: torch.device,
          weighting: WeightingConfig | None = None) -> Run:
    """Build, train (every epoch, early stopping off) and evaluate one model."""
    torch.manual_seed(config.seed)
    model = build_model(ModelConfig.from_parts(architecture, data.schema, tasks))
    strategy = build_weighting(weighting or WeightingConfig(name="equal"), tasks,
                               seed=config.seed)
    result = Trainer(model, strategy, config, device).fit(data.train, data.valid, tasks,
                                                          test=data.test)
    return Run(model, result)


def mean_metric(metrics: dict[str, dict[str, float]], metric: str) -> float:
    return statistics.fmean(values[metric] for values in metrics.values())


# ------------------------------------------------------------------------ MMoE correlation

def correlation_architectures(features: int, bottom_units: int | None = None
                              ) -> dict[str, ArchitectureConfig]:
    """The MMoE paper's sizes: 8 experts of 16 units, towers of 8, linear gates; the shared
    bottom is one hidden layer of ``bottom_units`` or, when None, with as many parameters as
    the whole MMoE, gates and biases included (126 units at d = 100; the paper's own
    count, experts and towers' weights only, gives 13,056 / (100 + 2·8) ≈ 113)."""
    experts, expert_units, tower = 8, 16, 8
    moe = dict(num_shared_experts=experts, expert_units=[expert_units], tower_units=[tower],
               gate_kind="linear")
    mmoe_params = (experts * (features * expert_units + expert_units)
                   + 2 * (features * experts + experts)
                   + 2 * (expert_units * tower + 2 * tower + 1))
    # shared bottom of width h: features*h + h + 2 * (h*tower + tower + tower + 1)
    width = bottom_units or (mmoe_params - 2 * (2 * tower + 1)) // (features + 1 + 2 * tower)
    return {"shared_bottom": ArchitectureConfig(topology="shared_bottom", bottom_units=[width],
                                                tower_units=[tower]),
            "omoe": ArchitectureConfig(topology="omoe", **moe),
            "mmoe": ArchitectureConfig(topology="mmoe", **moe)}


def glorot_init(model: MTLModel) -> MTLModel:
    """Re-initialise ``model`` as TensorFlow/Keras ``Dense`` layers start (the paper's
    framework; its code is not public): every weight matrix Glorot-uniform,
    U(-sqrt(6 / (fan_in + fan_out)), +), every bias 0; each expert of :class:`Experts` as its
    own ``[in, out]`` matrix. Other parameters (embeddings, norms) are left as they are.
    PyTorch's ``nn.Linear`` default, U(-1/sqrt(fan_in), +) with a bias drawn alike, is 1.7x
    narrower for 100 -> 113 and 2.3x for 113 -> 8. Returns ``model``."""
    from automtl.models.layers import Experts

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, Experts):
                for weight, bias in zip(module.weights, module.biases, strict=True):
                    fan_in, fan_out = weight.shape[1], weight.shape[2]  # [E, in, out]
                    bound = math.sqrt(6.0 / (fan_in + fan_out))
                    nn.init.uniform_(weight, -bound, bound)
                    nn.init.zeros_(bias)
    return model


def gate_difference(model: MTLModel, split: SplitTensors, device: torch.device) -> float:
    """Total-variation distance (0..1) between the two tasks' mean gate weights on ``split``:
    0 when both gates mix the experts alike, 1 when they use disjoint experts."""
    model.eval()
    with torch.no_grad():
        gates = list(model.gate_weights(split.numeric.to(device),
                                        split.categorical.to(device)).values())
    model.train()
    if len(gates) != 2:
        return math.nan
    return 0.5 * float((gates[0].mean(0) - gates[1].mean(0)).abs().sum())


def correlation_sweep(args: argparse.Namespace, device: torch.device
                      ) -> tuple[list[dict[str, Any]], list[str]]:
    if args.correlation_mode == "online":
        return online_correlation_sweep(args, device)
    return epochs_correlation_sweep(args, device)


@dataclass
class Stream:
    """One seed's synthetic task pair as a stream: fixed test and validation sets and fresh
    training rows."""

    params: SyntheticParameters
    test: SplitTensors
    seed: int
    standardize: bool = True
    valid: SplitTensors | None = None

    def batches(self, steps: int, batch: int, chunk: int = 64
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``steps`` fresh batches ``([batch, d], [batch, 2])`` float32, the same sequence for
        every model of a seed (drawn in chunks of ``chunk`` steps)."""
        rng = np.random.default_rng([self.seed, 2])
        done = 0
        while done < steps:
            count = min(chunk, steps - done)
            x, y = draw_synthetic(self.params, count * batch, rng, standardize=self.standardize)
            xs = torch.from_numpy(x).float().split(batch)
            ys = torch.from_numpy(y).float().split(batch)
            yield from zip(xs, ys, strict=True)
            done += count


def _stream_split(params: SyntheticParameters, rows: int, rng: np.random.Generator,
                  standardize: bool) -> SplitTensors:
    x, y = draw_synthetic(params, rows, rng, standardize=standardize)
    return SplitTensors(numeric=torch.from_numpy(x).float(),
                        categorical=torch.zeros(rows, 0, dtype=torch.long),
                        labels=torch.from_numpy(y).float(),
                        mask=torch.ones(rows, 2, dtype=torch.bool), task_names=("y1", "y2"))


def make_stream(correlation: float, scale: float, seed: int, test_rows: int,
                standardize: bool = True, valid_rows: int = 0) -> Stream:
    """Seed ``seed``'s task pair at ``correlation`` (the same basis u1, u2, sines and input rows
    at every correlation, so correlations pair by seed), its test set of ``test_rows`` and, when
    ``valid_rows``, a validation set (to choose a learning rate on), each from its own stream
    of random numbers."""
    params = synthetic_parameters(100, correlation, scale, seed=seed)
    test = _stream_split(params, test_rows, np.random.default_rng([seed, 1]), standardize)
    valid = (_stream_split(params, valid_rows, np.random.default_rng([seed, 3]), standardize)
             if valid_rows else None)
    return Stream(params, test, seed, standardize, valid)


def stream_mse(model: MTLModel, split: SplitTensors, device: torch.device) -> list[float]:
    """Each task's MSE on ``split`` (in the split's label units)."""
    model.eval()
    with torch.no_grad():
        outputs = model(split.numeric.to(device), split.categorical.to(device))
    model.train()
    labels = split.labels.to(device)
    return [float(((outputs[name] - labels[:, i]) ** 2).mean())
            for i, name in enumerate(split.task_names)]


def train_on_stream(model: MTLModel, stream: Stream, steps: int, batch: int, lr: float,
                    checkpoints: Sequence[int], device: torch.device) -> list[float]:
    """Adam on the sum of the two tasks' MSE over ``steps`` fresh batches; the mean test MSE
    of the two tasks after each step in ``checkpoints``. One model at a time: the reference
    :class:`StackedModels` is checked against."""
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    empty = torch.zeros(batch, 0, dtype=torch.long, device=device)
    curve: list[float] = []
    for step, (x, y) in enumerate(stream.batches(steps, batch), start=1):
        x, y = x.to(device), y.to(device)
        outputs = model(x, empty)
        loss = ((outputs["y1"] - y[:, 0]) ** 2).mean() + ((outputs["y2"] - y[:, 1]) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step in checkpoints:
            curve.append(statistics.fmean(stream_mse(model, stream.test, device)))
    return curve


class StackedModels:
    """``K`` models of one architecture trained side by side as one, each on its own rows.

    Their parameters are stacked along a new first dimension
    (``torch.func.stack_module_state``), the forward is ``vmap``-ed over it and one Adam steps
    the stacks. The loss is the sum over models of each model's loss (the sum of its tasks'
    MSE), so each model's gradient is its own, and Adam works elementwise: every model follows
    the trajectory it would follow trained alone (equal up to float rounding, checked in
    ``tests/benchmarks``), at a fraction of the Python and kernel-launch cost per model on
    small networks (about 0.5 ms per model and step at K = 48 on one core, against about
    6 ms one at a time). Numeric features only (no categorical columns).
    """

    def __init__(self, models: Sequence[MTLModel], task_names: Sequence[str], lr: float,
                 device: torch.device) -> None:
        from torch.func import functional_call, stack_module_state, vmap

        if not models:
            raise ValueError("models: at least one model is required")
        self.models = [model.to(device).train() for model in models]
        params, self.buffers = stack_module_state(self.models)  # type: ignore[arg-type]
        self.params = {name: p.detach().requires_grad_() for name, p in params.items()}
        self.device = device
        template, names = self.models[0], tuple(task_names)

        def forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor,
                    categorical: torch.Tensor) -> torch.Tensor:
            outputs = functional_call(template, (p, b), (x, categorical))
            return torch.stack([outputs[name] for name in names], dim=-1)

        self._forward = vmap(forward, in_dims=(0, 0, 0, None))
        self.optimizer = torch.optim.Adam(list(self.params.values()), lr=lr)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``[K, B, d]`` -> ``[K, B, tasks]``, model k on rows ``x[k]``."""
        empty = torch.zeros(x.shape[1], 0, dtype=torch.long, device=self.device)
        return self._forward(self.params, self.buffers, x.to(self.device), empty)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        """One Adam step of every model on its batch: ``x`` ``[K, B, d]``, ``y`` ``[K, B,
        tasks]``. Returns each model's training loss on its batch before the step, the mean
        of its tasks' MSE, ``[K]`` (a point of the paper's training-loss curve)."""
        per_task = ((self.predict(x) - y.to(self.device)) ** 2).mean(dim=1)  # [K, tasks]
        self.optimizer.zero_grad(set_to_none=True)
        per_task.sum().backward()
        self.optimizer.step()
        return per_task.detach().mean(dim=1).cpu().numpy()

    def mse(self, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        """Each model's MSE on its rows, the mean over tasks: ``[K]``."""
        with torch.no_grad():
            error = (self.predict(x) - y.to(self.device)) ** 2
        return error.mean(dim=(1, 2)).cpu().numpy()

    def unstack(self) -> list[MTLModel]:
        """The models with their trained parameters copied back."""
        with torch.no_grad():
            for k, model in enumerate(self.models):
                for name, param in model.named_parameters():
                    param.copy_(self.params[name][k])
        return self.models


#: the metrics a correlation verdict is read on (online mode): the final test MSE, and the
#: paper's training loss (the loss of each fresh batch before its step, the paper's curves)
#: averaged over all steps or over the last tenth of the steps
METRICS = {"test": "final test MSE",
           "train": "training loss averaged over all steps",
           "train_last": "training loss averaged over the last tenth of the steps"}
MODEL_LABELS = {"shared_bottom": "sb", "omoe": "omoe", "mmoe": "mmoe"}


def online_correlation_sweep(args: argparse.Namespace, device: torch.device
                             ) -> tuple[list[dict[str, Any]], list[str]]:
    """The sweep at equal training steps on fresh rows (see the module docstring): every
    (correlation, seed) cell of a model and learning rate trains in one :class:`StackedModels`,
    all of them on the same batches; the learning rate of each model (``--lr-choice model``)
    or of each model and correlation (``correlation``) is the one of ``--lr`` with the lowest
    mean validation MSE over its cells (the paper grid-searches it). Writes every run (each
    model, learning rate, correlation and seed) to ``paper_checks_correlation_seeds.csv``."""
    models_run = [name for name in CORRELATION_MODELS if name in args.correlation_models]
    architectures = correlation_architectures(100, args.bottom_units)
    tasks = synthetic_tasks(binary=False)
    names = [task.name for task in tasks]
    schema = TabularDataset(make_synthetic(rows=50, features=100), tasks).schema
    steps, batch = args.correlation_steps, args.correlation_batch
    checkpoints = sorted({max(1, round(steps * k / 6)) for k in range(1, 7)})
    last_from = steps - max(1, steps // 10) + 1  # the last tenth of the steps
    seeds = range(args.seed, args.seed + args.correlation_seeds)
    test_rows, valid_rows = (600, 300) if args.quick else (5000, 2000)
    standardize = args.labels == "standardised"
    cells = list(itertools.product(CORRELATIONS, seeds))
    streams = [make_stream(correlation, args.scale, seed, test_rows, standardize, valid_rows)
               for correlation, seed in cells]
    test_x = torch.stack([s.test.numeric for s in streams])
    test_y = torch.stack([s.test.labels for s in streams])
    valid_x = torch.stack([s.valid.numeric for s in streams if s.valid is not None])
    valid_y = torch.stack([s.valid.labels for s in streams if s.valid is not None])
    lrs = list(dict.fromkeys(args.lr))
    stacks: dict[tuple[str, float], StackedModels] = {}
    for name, lr in itertools.product(models_run, lrs):
        models = []
        for _, seed in cells:  # a seed's initial weights are the same at every correlation
            torch.manual_seed(seed)
            model = build_model(ModelConfig.from_parts(architectures[name], schema, tasks))
            models.append(glorot_init(model) if args.init == "glorot" else model)
        stacks[name, lr] = StackedModels(models, names, lr, device)
    curves: dict[tuple[str, float], list[np.ndarray]] = {key: [] for key in stacks}
    train_sum = {key: np.zeros(len(cells)) for key in stacks}
    last_sum = {key: np.zeros(len(cells)) for key in stacks}
    batches = zip(*(stream.batches(steps, batch) for stream in streams), strict=True)
    for step, fresh in enumerate(batches, start=1):
        x = torch.stack([row[0] for row in fresh])                      # [K, B, d]
        y = torch.stack([row[1] for row in fresh])                      # [K, B, 2]
        for key, stack in stacks.items():
            loss = stack.step(x, y)
            train_sum[key] += loss
            if step >= last_from:
                last_sum[key] += loss
            if step in checkpoints:
                curves[key].append(stack.mse(test_x, test_y))
    index = {cell: k for k, cell in enumerate(cells)}
    valid_cells = {key: stack.mse(valid_x, valid_y) for key, stack in stacks.items()}
    by_metric = {key: {"test": curves[key][-1], "train": train_sum[key] / steps,
                       "train_last": last_sum[key] / (steps - last_from + 1)}
                 for key in stacks}

    def valid_mean(name: str, lr: float, correlation: float | None) -> float:
        values = [valid_cells[name, lr][k] for k, (c, _) in enumerate(cells)
                  if correlation is None or c == correlation]
        return float(np.mean(values))

    def best_lr(name: str, correlation: float) -> float:
        scope = None if args.lr_choice == "model" else correlation
        return min(lrs, key=lambda lr: valid_mean(name, lr, scope))

    chosen = {(name, c): best_lr(name, c) for name in models_run for c in CORRELATIONS}

    def series(name: str, correlation: float, at: int = -1, metric: str = "test"
               ) -> list[float]:
        key = name, chosen[name, correlation]
        values = curves[key][at] if metric == "test" else by_metric[key][metric]
        return [float(values[index[correlation, seed]]) for seed in seeds]

    def diffs(first: str, second: str, correlation: float, at: int = -1,
              metric: str = "test") -> list[float]:
        return [a - b for a, b in zip(series(first, correlation, at, metric),
                                      series(second, correlation, at, metric), strict=True)]

    def gaps(correlation: float, at: int = -1, metric: str = "test") -> list[float]:
        return diffs("shared_bottom", "mmoe", correlation, at, metric)

    label_corr = {c: [float(np.corrcoef(streams[index[c, s]].test.labels.double().numpy().T)
                            [0, 1]) for s in seeds] for c in CORRELATIONS}
    mmoe_lrs = {chosen["mmoe", c] for c in CORRELATIONS}
    trained = {lr: stacks["mmoe", lr].unstack() for lr in mmoe_lrs}
    gates = {c: [gate_difference(trained[chosen["mmoe", c]][index[c, s]],
                                 streams[index[c, s]].test, device) for s in seeds]
             for c in CORRELATIONS}
    params = {name: stacks[name, lrs[0]].models[0].num_parameters() for name in models_run}
    write_seed_table(args, cells, index, models_run, lrs, chosen, by_metric, valid_cells,
                     label_corr, gates)
    top = CORRELATIONS[0]
    rows: list[dict[str, Any]] = []
    for correlation in CORRELATIONS:
        row: dict[str, Any] = {"correlation": correlation,
                               "label corr": fmt(label_corr[correlation], 3),
                               "label corr (exact)": fmt([label_correlation(
                                   streams[index[correlation, s]].params) for s in seeds], 3)}
        for name in models_run:
            row[f"{name} test MSE"] = fmt(series(name, correlation))
        row["sb - mmoe"] = fmt(gaps(correlation))
        row["(sb - mmoe) / sb %"] = fmt([100 * (sb - mm) / sb for sb, mm in zip(
            series("shared_bottom", correlation), series("mmoe", correlation), strict=True)], 1)
        row["gap - gap at 1.0"] = fmt([g - g1 for g, g1 in zip(
            gaps(correlation), gaps(top), strict=True)])
        for name in models_run:  # the paper's figure: how much each model loses
            row[f"{name} - same at 1.0"] = fmt([m - m1 for m, m1 in zip(
                series(name, correlation), series(name, top), strict=True)])
        if "omoe" in models_run:
            row["omoe - mmoe"] = fmt(diffs("omoe", "mmoe", correlation))
        for name in ("shared_bottom", "mmoe"):  # the paper's metric: the training loss
            row[f"{MODEL_LABELS[name]} train loss"] = fmt(series(name, correlation,
                                                                 metric="train"))
        row["sb - mmoe train loss"] = fmt(gaps(correlation, metric="train"))
        row["sb - mmoe train loss, last tenth"] = fmt(gaps(correlation, metric="train_last"))
        row["sb runs > 2x median"] = outlier_share(series("shared_bottom", correlation))
        row["mmoe gates differ"] = fmt(gates[correlation], 3)
        row["params " + "/".join(MODEL_LABELS[n] for n in models_run)] = "/".join(
            str(params[n]) for n in models_run)
        if len(lrs) > 1:
            row["lr " + "/".join(MODEL_LABELS[n] for n in models_run)] = "/".join(
                f"{chosen[n, correlation]:g}" for n in models_run)
        rows.append(row)
    notes = [ordering_verdict({c: gaps(c, metric=metric) for c in CORRELATIONS},
                              label=f"sb - mmoe ({METRICS[metric]})")
             for metric in METRICS]
    # the paper's observation 1 (and its figure 2 for the shared bottom): every model does
    # worse as the correlation falls; the ordering needs the shared bottom to lose more
    notes += [ordering_verdict({c: series(name, c, metric="train") for c in CORRELATIONS},
                               label=f"{name} ({METRICS['train']})",
                               claim=f"{name} worse as the correlation falls", what="mean")
              for name in models_run]
    if "omoe" in models_run:
        notes.append(ordering_verdict({c: diffs("omoe", "mmoe", c) for c in CORRELATIONS},
                                      label="omoe - mmoe", claim="OMoE falling behind MMoE"))
    if len(lrs) > 1:
        scope = ("all cells" if args.lr_choice == "model" else "the cells of its correlation")
        notes.append(f"learning rate per model, the lowest mean validation MSE over {scope}: "
                     + "; ".join(f"{name} (" + ", ".join(
                         f"{lr:g}: {valid_mean(name, lr, None):.4f}" for lr in lrs) + ")"
                         for name in models_run))
    notes += [f"gap sb - mmoe over training steps, corr {correlation:g}: " + ", ".join(
        f"{step}: {fmt(gaps(correlation, i))}" for i, step in enumerate(checkpoints))
        for correlation in CORRELATIONS]
    notes += [f"mean test MSE over steps, corr {correlation:g}, {name}: " + ", ".join(
        f"{step}: {statistics.fmean(series(name, correlation, i)):.4f}"
        for i, step in enumerate(checkpoints))
        for correlation in CORRELATIONS for name in models_run]
    notes.append(f"every run: {args.out / 'paper_checks_correlation_seeds.csv'}")
    return rows, notes


def outlier_share(values: Sequence[float]) -> str:
    """``"k/n"``: how many of ``values`` exceed twice their median (runs stuck on a plateau,
    the heavy tail that carries a mean over few seeds)."""
    median = statistics.median(values)
    return f"{sum(v > 2 * median for v in values)}/{len(values)}"


def write_seed_table(args: argparse.Namespace, cells: Sequence[tuple[float, int]],
                     index: dict[tuple[float, int], int], models_run: Sequence[str],
                     lrs: Sequence[float], chosen: dict[tuple[str, float], float],
                     by_metric: dict[tuple[str, float], dict[str, np.ndarray]],
                     valid_cells: dict[tuple[str, float], np.ndarray],
                     label_corr: dict[float, list[float]],
                     gates: dict[float, list[float]]) -> Path:
    """One CSV row per run (model, learning rate, correlation, seed): its final test MSE,
    training loss (mean over all steps and over the last tenth), final validation MSE,
    whether its learning rate was the one chosen, the label correlation of its test rows and
    (MMoE at the chosen rate) how far its two gates differ. For tests a reader may run."""
    path = args.out / "paper_checks_correlation_seeds.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    seeds = sorted({seed for _, seed in cells})
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["correlation", "seed", "model", "lr", "chosen", "test_mse",
                         "train_loss_mean", "train_loss_last_tenth", "valid_mse",
                         "label_corr", "gates_differ"])
        for (correlation, seed), name, lr in itertools.product(cells, models_run, lrs):
            k, position = index[correlation, seed], seeds.index(seed)
            is_chosen = chosen[name, correlation] == lr
            metric = by_metric[name, lr]
            writer.writerow([
                correlation, seed, name, lr, int(is_chosen), f"{metric['test'][k]:.6g}",
                f"{metric['train'][k]:.6g}", f"{metric['train_last'][k]:.6g}",
                f"{valid_cells[name, lr][k]:.6g}", f"{label_corr[correlation][position]:.4f}",
                f"{gates[correlation][position]:.4f}" if name == "mmoe" and is_chosen else ""])
    return path


def epochs_correlation_sweep(args: argparse.Namespace, device: torch.device
                             ) -> tuple[list[dict[str, Any]], list[str]]:
    features = 100
    architectures = correlation_architectures(features, args.bottom_units)
    tasks = synthetic_tasks(binary=False)
    seeds = range(args.seed, args.seed + args.correlation_seeds)
    mse: dict[float, dict[str, list[float]]] = {}
    transfer: dict[float, dict[str, list[float]]] = {}
    label_corr: dict[float, list[float]] = {}
    gates: dict[float, list[float]] = {}
    params: dict[str, int] = {}
    alone: dict[int, float] = {}  # y1's test MSE of a shared bottom trained on y1 alone
    for correlation in CORRELATIONS:
        mse[correlation] = {name: [] for name in CORRELATION_MODELS}
        transfer[correlation] = {name: [] for name in TRANSFER_MODELS}
        label_corr[correlation], gates[correlation] = [], []
        for seed in seeds:
            frame = make_synthetic(rows=args.correlation_rows, features=features,
                                   correlation=correlation, scale=args.scale, seed=seed,
                                   standardize=args.labels == "standardised")
            data = TabularDataset(frame, tasks, valid_fraction=0.1, test_fraction=0.1,
                                  seed=seed)
            test_split = data.test
            assert test_split is not None  # test_fraction > 0
            labels = test_split.labels.double().numpy()
            label_corr[correlation].append(float(np.corrcoef(labels[:, 0], labels[:, 1])[0, 1]))
            config = TrainConfig(lr=args.lr[0], batch_size=args.correlation_batch,
                                 epochs=args.epochs,
                                 early_stopping_patience=0, seed=seed)
            if seed not in alone:  # y1 (w1 = c·u1) is the same frame column at every p
                single = TabularDataset(frame, tasks[:1], valid_fraction=0.1,
                                        test_fraction=0.1, seed=seed)
                run = train(single, tasks[:1], architectures["shared_bottom"], config, device)
                alone[seed] = (run.result.test_metrics or {})["y1"]["mse"]
            for name in CORRELATION_MODELS:
                run = train(data, tasks, architectures[name], config, device)
                test = run.result.test_metrics or {}
                mse[correlation][name].append(mean_metric(test, "mse"))
                if name in TRANSFER_MODELS:
                    transfer[correlation][name].append(test["y1"]["mse"] - alone[seed])
                params[name] = run.model.num_parameters()
                if name == "mmoe":
                    gates[correlation].append(gate_difference(run.model, test_split, device))

    def gaps(correlation: float) -> list[float]:
        cell = mse[correlation]
        return [sb - mm for sb, mm in zip(cell["shared_bottom"], cell["mmoe"], strict=True)]

    rows: list[dict[str, Any]] = []
    for correlation in CORRELATIONS:
        cell = mse[correlation]
        row: dict[str, Any] = {"correlation": correlation,
                               "label corr": fmt(label_corr[correlation], 3)}
        for name in CORRELATION_MODELS:
            row[f"{name} test MSE"] = fmt(cell[name])
        row["sb - mmoe"] = fmt(gaps(correlation))
        row["(sb - mmoe) / sb %"] = fmt([100 * (sb - mm) / sb for sb, mm in zip(
            cell["shared_bottom"], cell["mmoe"], strict=True)], 1)
        row["gap - gap at 1.0"] = fmt([g - g1 for g, g1 in zip(
            gaps(correlation), gaps(CORRELATIONS[0]), strict=True)])
        for name in TRANSFER_MODELS:
            row[f"{TRANSFER_LABELS[name]} y1 - sb on y1 alone"] = fmt(transfer[correlation][name])
        row["mmoe gates differ"] = fmt(gates[correlation], 3)
        row["params sb/omoe/mmoe"] = "/".join(str(params[n]) for n in CORRELATION_MODELS)
        rows.append(row)
    return rows, [ordering_verdict({c: gaps(c) for c in CORRELATIONS})]


def ordering_verdict(gaps: dict[float, list[float]], label: str = "sb - mmoe",
                     claim: str = "ordering", what: str = "mean gap") -> str:
    """Whether MMoE's advantage (``gaps``: another model's MSE minus MMoE's, per seed) grew as
    the correlation fell: the mean gaps rise from the highest to the lowest correlation, the
    paired rise lowest - highest has a 95% Student t interval above 0 and a one-sided Wilcoxon
    signed-rank test of that rise (robust to the heavy tail of a few stuck runs) gives
    p < 0.05. Also counts the seeds whose gap rose (a sign count)."""
    order = sorted(gaps, reverse=True)
    means = [statistics.fmean(gaps[c]) for c in order]
    rises = [low - high for low, high in zip(gaps[order[-1]], gaps[order[0]], strict=True)]
    rise, half = mean_interval(rises)
    p_value = wilcoxon_greater(rises)
    monotone = all(a < b for a, b in itertools.pairwise(means))
    reproduced = monotone and rise - half > 0 and p_value < 0.05
    return (f"{claim} {'REPRODUCED' if reproduced else 'NOT reproduced'}: {what} {label} "
            + " -> ".join(f"{m:+.4f} (corr {c:g})" for c, m in zip(order, means, strict=True))
            + f"; paired rise from corr {order[0]:g} to {order[-1]:g}: {rise:+.4f} ± {half:.4f}"
            + f", median {statistics.median(rises):+.4f}, Wilcoxon signed-rank one-sided "
            + f"p = {p_value:.3g}; it rose in {sum(r > 0 for r in rises)} of {len(rises)} seeds")


def wilcoxon_greater(values: Sequence[float]) -> float:
    """One-sided p-value of the Wilcoxon signed-rank test that ``values`` (paired differences)
    centre above 0 (:func:`scipy.stats.wilcoxon`); 1.0 when every value is 0 or NaN."""
    from scipy import stats

    finite = [v for v in values if math.isfinite(v)]
    if not any(finite):
        return 1.0
    return float(stats.wilcoxon(finite, alternative="greater").pvalue)


# -------------------------------------------------------------------------------- SNR sparsity

def snr_sweep(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    architecture = ArchitectureConfig(topology="snr_trans", expert_units=[32], tower_units=[16])
    by_lambda: dict[float, dict[str, list[float]]] = {
        lam: {"auc": [], "sparsity": [], "effective": [], "drop": []} for lam in args.lambdas}
    for seed in range(args.seed, args.seed + args.seeds):
        data = synthetic_dense(args.rows * 2, features=20, seed=seed).data
        reference = math.nan
        for lam in sorted(args.lambdas):
            config = TrainConfig(lr=3e-3, batch_size=256, epochs=3, l0_lambda=lam,
                                 early_stopping_patience=0, seed=seed)
            run = train(data, TASKS, architecture, config, device)
            auc = mean_metric(run.result.valid_metrics, "auc")
            if lam == 0.0:
                reference = auc
            cell = by_lambda[lam]
            cell["auc"].append(auc)
            cell["sparsity"].append(run.model.sparsity() or 0.0)
            cell["effective"].append(run.model.effective_parameters()
                                     / run.model.num_parameters())
            cell["drop"].append(reference - auc)
    return [{"l0_lambda": lam, "valid AUC": fmt(cell["auc"]),
             "AUC drop vs lambda 0": fmt(cell["drop"]),
             "closed connections": fmt(cell["sparsity"], 3),
             "effective / all params": fmt(cell["effective"], 3)}
            for lam, cell in sorted(by_lambda.items())]


# ----------------------------------------------------------------------------- peers per epoch

def peer_epochs(args: argparse.Namespace, device: torch.device
                ) -> tuple[list[dict[str, Any]], list[str]]:
    from benchmarks.peers import PEERS, TRAINERS, missing_peer
    from benchmarks.runs import ModelSizes

    sizes, notes = ModelSizes(), []
    peers = []
    for tool in PEERS:
        reason = missing_peer(tool)
        if reason:
            notes.append(f"{tool} skipped: {reason}")
        else:
            peers.append(tool)
    seeds = range(args.seed, args.seed + args.peer_seeds)
    rows: list[dict[str, Any]] = []
    for dataset in ("synthetic", "categorical"):
        choices = {seed: synthetic_dense(args.peer_rows, seed=seed) if dataset == "synthetic"
                   else synthetic_categorical(args.peer_rows, seed=seed) for seed in seeds}
        for topology in ("mmoe", "ple"):
            # automtl: one run per normalisation and seed, read after each epoch count
            ours: dict[tuple[str, int], TrainResult] = {}
            for normalization, seed in itertools.product(("none", "batch"), seeds):
                architecture = sizes.architecture(topology).model_copy(
                    update={"normalization": normalization})
                config = TrainConfig(lr=1e-3, batch_size=512, epochs=max(args.peer_epochs),
                                     early_stopping_patience=0, seed=seed)
                ours[normalization, seed] = train(choices[seed].data, TASKS, architecture,
                                                  config, device).result
            for epochs in args.peer_epochs:
                row: dict[str, Any] = {"dataset": dataset, "model": topology, "epochs": epochs}
                aucs: dict[str, list[float]] = {}
                for (normalization, _), result in ours.items():
                    aucs.setdefault(f"automtl {normalization}", []).append(mean_metric(
                        result.history[epochs - 1].valid_metrics, "auc"))
                for tool in peers:  # the peers report only after their last epoch
                    aucs[tool] = [TRAINERS[tool](choices[seed].data, topology, sizes, 512,
                                                 epochs, 1e-3, device, seed).mean_auc
                                  for seed in seeds]
                row.update({name: statistics.fmean(values) for name, values in aucs.items()})
                # paired by seed (same data and initial weights): the interval of the change
                row["batch - none"] = fmt([b - n for b, n in zip(
                    aucs["automtl batch"], aucs["automtl none"], strict=True)])
                for tool in peers:
                    row[f"batch - {tool}"] = fmt([b - p for b, p in zip(
                        aucs["automtl batch"], aucs[tool], strict=True)])
                row["best automtl - best peer"] = (
                    max(row["automtl none"], row["automtl batch"])
                    - max((row[t] for t in peers), default=math.nan))
                rows.append(row)
    notes.append("validation AUC (mean of the two tasks) after the given epoch (not a restored "
                 f"best epoch), mean over seeds {seeds.start}..{seeds.stop - 1} (each seed its "
                 "own data and initial weights; differences paired by seed, 95% Student t "
                 "interval when there are 2 or more); batch 512, Adam lr 1e-3, sizes of "
                 "benchmarks.runs.ModelSizes")
    return rows, notes


# ----------------------------------------------------------------------------- cross-stitch

def cross_stitch(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    results: dict[bool, dict[str, list[float]]] = {
        share: {"auc": [], "params": []} for share in (True, False)}
    for seed in range(args.seed, args.seed + args.seeds):
        data = synthetic_categorical(args.rows * 2, seed=seed).data
        for share in (True, False):
            architecture = ArchitectureConfig(topology="cross_stitch", bottom_units=[64, 32],
                                              tower_units=[16],
                                              cross_stitch={"share_embeddings": share})
            config = TrainConfig(lr=1e-3, batch_size=256, epochs=3, early_stopping_patience=0,
                                 seed=seed)
            run = train(data, TASKS, architecture, config, device)
            results[share]["auc"].append(mean_metric(run.result.test_metrics or {}, "auc"))
            results[share]["params"].append(run.model.num_parameters())
    paired = [after - before for after, before
              in zip(results[False]["auc"], results[True]["auc"], strict=True)]
    return [{"input layer": "shared (before)" if share else "per column (paper, after)",
             "test AUC": fmt(cell["auc"]), "params": int(cell["params"][0]),
             "AUC - shared, same seed": fmt([0.0] * len(paired) if share else paired)}
            for share, cell in results.items()]


# ------------------------------------------------------------------------------ uncertainty

#: the uncertainty section's data: the MMoE recipe with 20 features at task correlation 0.5
MIXED_FEATURES, MIXED_CORRELATION = 20, 0.5


def mixed_tasks_data(rows: int, seed: int) -> tuple[TabularDataset, list[TaskSpec]]:
    """The MMoE recipe (20 features) with ``y1`` binary (above its median) and ``y2``
    regression in raw label units: with two binary tasks the two uncertainty forms differ only
    by a common factor 2 on every weight, which Adam's scale invariance removes."""
    frame = make_synthetic(rows=rows, features=MIXED_FEATURES, correlation=MIXED_CORRELATION,
                           seed=seed)
    frame["y1"] = (frame["y1"] > frame["y1"].median()).astype(float)
    tasks = [TaskSpec(name="y1", type="binary"), TaskSpec(name="y2", type="regression")]
    return TabularDataset(frame, tasks, valid_fraction=0.1, test_fraction=0.1, seed=seed), tasks


def label_variance(features: int, correlation: float, seed: int) -> float:
    """The exact variance of a raw label of ``make_synthetic(features=features,
    correlation=correlation, seed=seed)`` (:func:`label_moments`): an MSE divided by it is in
    standardised units (a share of the label variance, 1 - R²), comparable across seeds whose
    raw label variances range from 0.13 to 19 (c = 1, seeds 0..199; median 2.0)."""
    _, std = label_moments(synthetic_parameters(features, correlation, seed=seed))
    return std**2


def uncertainty_forms(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    results: dict[str, dict[str, list[float]]] = {
        form: {"auc": [], "mse": [], "mse_std": [], "w1": [], "w2": []}
        for form in ("uniform", "paper")}
    for seed in range(args.seed, args.seed + args.seeds):
        data, tasks = mixed_tasks_data(args.rows * 2, seed)
        variance = label_variance(MIXED_FEATURES, MIXED_CORRELATION, seed)
        for form in results:
            config = TrainConfig(lr=1e-3, batch_size=256, epochs=3, early_stopping_patience=0,
                                 seed=seed)
            run = train(data, tasks, ArchitectureConfig(topology="mmoe"), config, device,
                        WeightingConfig(name="uncertainty", params={"form": form}))
            test = run.result.test_metrics or {}
            results[form]["auc"].append(test["y1"]["auc"])
            results[form]["mse"].append(test["y2"]["mse"])
            results[form]["mse_std"].append(test["y2"]["mse"] / variance)
            weights = run.result.history[-1].weights
            results[form]["w1"].append(weights["y1"])
            results[form]["w2"].append(weights["y2"])
    return [{"form": form, "y1 (binary) test AUC": fmt(cell["auc"]),
             "y2 test MSE (standardised: share of label variance)": fmt(cell["mse_std"]),
             "y2 test MSE (raw label units)": fmt(cell["mse"]),
             "last-epoch weight y1": fmt(cell["w1"], 3),
             "last-epoch weight y2": fmt(cell["w2"], 3)}
            for form, cell in results.items()]


# --------------------------------------------------------------------------------------- main

TITLES = {
    "correlation": "MMoE paper: test MSE by task correlation (lower is better)",
    "snr": "SNR-Trans: closed connections and AUC over the L0 weight",
    "peers": "Validation AUC at equal epochs: automtl vs DeepCTR-Torch and torch-rechub",
    "cross_stitch": "Cross-stitch: shared input layer vs one per column",
    "uncertainty": "Uncertainty weighting: uniform (eq. 7) vs paper (eq. 10 for binary tasks)",
}


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    args = parse_args(argv)
    setup_threads(args.threads)
    device = resolve_device(args.device)
    machine = machine_line(device)
    seeds = f"seeds {args.seed}..{args.seed + args.seeds - 1}; intervals: 95% Student t"
    runners: dict[str, Callable[[argparse.Namespace, torch.device], Any]] = {
        "correlation": correlation_sweep, "snr": snr_sweep, "peers": peer_epochs,
        "cross_stitch": cross_stitch, "uncertainty": uncertainty_forms}
    details = {
        "correlation": (
            f"online: {args.correlation_steps} steps of {args.correlation_batch} fresh rows "
            f"per model, test set of {600 if args.quick else 5000} rows"
            if args.correlation_mode == "online" else
            f"{args.correlation_rows} rows (80/10/10), {args.epochs} epochs, best-valid epoch "
            "restored") + f"; d = 100, c = {args.scale}, "
            + ("labels standardised with their exact moments (MSE = share of label variance)"
               if args.labels == "standardised" else "raw labels (MSE in label units)")
            + f"; shared bottom of {args.bottom_units or 'MMoE-sized'} units, batch "
            f"{args.correlation_batch}, Adam lr {'/'.join(f'{lr:g}' for lr in args.lr)}"
            + (f" (chosen per {args.lr_choice})" if len(args.lr) > 1 else "")
            + f", equal weights; models {'/'.join(args.correlation_models)}, "
            f"{args.init} initialisation; seeds {args.seed}.."
            f"{args.seed + args.correlation_seeds - 1}; intervals: 95% Student t",
        "snr": f"{args.rows * 2} rows, 20 features, 2 binary tasks; 2 layers of 3 sub-networks "
               f"of 32 units; 3 epochs, batch 256, lr 3e-3; {seeds}",
        "cross_stitch": f"{args.rows * 2} rows, 13 numeric + 26 categorical features; bottom "
                        f"[64, 32]; 3 epochs, batch 256, lr 1e-3; {seeds}",
        "uncertainty": f"{args.rows * 2} rows, 20 features, y1 binary + y2 regression; MMoE "
                       f"defaults; "
                       f"3 epochs, batch 256, lr 1e-3; {seeds}",
        "peers": f"{args.peer_rows} rows per dataset, {args.peer_seeds} seed(s)",
    }
    tables: dict[str, list[dict[str, Any]]] = {}
    for section in args.sections:
        output = runners[section](args, device)
        rows, notes = output if isinstance(output, tuple) else (output, [])
        write_table(rows, args.out, f"paper_checks_{section}", TITLES[section], machine,
                    notes=[details[section], *notes])
        tables[section] = rows
    return tables


if __name__ == "__main__":
    main()
