"""The parameter models of every built-in loss-weighting strategy, in one module without torch.

Each strategy's class (``automtl.weighting.<name>``) carries its model as ``Params``; the models
live here so validating a job spec or a search space (:mod:`search_spaces.catalog` reads their
fields, bounds and descriptions) reads them without importing torch or the strategies.
:data:`WEIGHTING_PARAMS` maps each built-in strategy's name to its model;
``tests/weighting/test_weighting_params_table.py`` checks it against the strategy registry.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from automtl.registry import Registry

#: where a gradient-based strategy takes its per-task gradients
GradOn = Literal["parameters", "representation"]


class WeightingParams(BaseModel):
    """Base of each strategy's parameter model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class GradientParams(WeightingParams):
    """Params of a method that can use either the shared parameters or the representation."""

    grad_on: GradOn = Field("parameters", description="where per-task gradients are taken")


class CAGradParams(GradientParams):
    c: float = Field(0.4, ge=0.0, description="radius of the ball around the mean gradient")
    rescale: bool = Field(True, description="divide the update by 1 + c^2")


class DBMTLParams(WeightingParams):
    beta: float = Field(0.9, ge=0.0, lt=1.0, description="EMA factor of the gradients")
    beta_sigma: float = Field(0.0, ge=0.0, description="decay exponent of beta")
    eps: float = Field(1e-8, gt=0.0, description="added to each loss inside the logarithm")


class DTPParams(WeightingParams):
    gamma: float = Field(1.0, ge=0.0, description="focusing parameter")
    smoothing: float = Field(0.1, gt=0.0, le=1.0,
                             description="weight of the newest batch's KPI in the moving "
                                         "average over training batches")
    normalize: bool = True


class DWAParams(WeightingParams):
    temperature: float = Field(2.0, gt=0.0, description="softmax temperature T")


class ExcessMTLParams(WeightingParams):
    step_size: float = Field(0.01, gt=0.0, description="exponentiated-gradient step (eta)")


class FairGradParams(GradientParams):
    alpha: float = Field(1.0, gt=0.0, description="fairness degree")


class FAMOParams(WeightingParams):
    lr: float = Field(0.025, gt=0.0, description="Adam learning rate of the task logits")
    weight_decay: float = Field(0.001, ge=0.0, description="the paper's gamma")
    eps: float = Field(1e-8, gt=0.0, description="added to every loss inside the logarithm")


class FixedParams(WeightingParams):
    weights: dict[str, float] = Field(description="weight per task name (every task, >= 0)")


class GLSParams(WeightingParams):
    min_loss: float = Field(1e-8, gt=0.0, description="floor of each loss inside the product")


class GradDropParams(WeightingParams):
    grad_on: GradOn = Field("representation", description="where per-task gradients are taken")


class GradNormParams(WeightingParams):
    alpha: float = Field(1.5, ge=0.0, description="restoring-force strength")
    lr: float = Field(0.025, gt=0.0, description="learning rate of the task weights")


class GradVacParams(GradientParams):
    beta: float = Field(0.5, gt=0.0, le=1.0, description="EMA factor of the target cosines")


class IMTLParams(GradientParams):
    mode: Literal["hybrid", "gradient", "loss"] = "hybrid"


class MGDAParams(WeightingParams):
    normalization: Literal["none", "l2", "loss", "loss+"] = "none"
    max_iter: int = Field(250, ge=1, description="Frank-Wolfe iterations (3+ tasks)")
    tolerance: float = Field(1e-5, gt=0.0)
    grad_on: GradOn = Field("representation", description="where per-task gradients are taken")


class MoCoParams(WeightingParams):
    beta: float = Field(0.5, gt=0.0, le=1.0, description="tracking rate of y")
    beta_sigma: float = Field(0.5, ge=0.0, description="decay exponent of beta")
    gamma: float = Field(0.1, gt=0.0, description="step size of lambda")
    gamma_sigma: float = Field(0.5, ge=0.0, description="decay exponent of gamma")
    rho: float = Field(0.0, ge=0.0, description="regularisation of the lambda step")


class MoDoParams(GradientParams):
    gamma: float = Field(0.001, gt=0.0, description="step size of lambda")
    rho: float = Field(0.1, ge=0.0, description="regularisation of the lambda step")


class NashMTLParams(GradientParams):
    ridge: float = Field(1e-6, gt=0.0, description="Gram-matrix ridge, relative to its mean "
                                                    "diagonal")
    max_weight: float = Field(1e6, gt=0.0, description="upper bound on each alpha_k")


class PLEDecayParams(WeightingParams):
    initial_weights: dict[str, float] | None = Field(
        None, description="w_k,0 per task (all tasks); default 1 for every task")
    gamma: float | dict[str, float] = Field(
        0.95, description="one decay ratio for every task, or one per task (all tasks), > 0")


class RLWParams(WeightingParams):
    distribution: Literal["normal", "dirichlet"] = "normal"
    concentration: float = Field(1.0, gt=0.0, description="Dirichlet concentration (dirichlet)")


class SDMGradParams(GradientParams):
    lamda: float = Field(0.3, ge=0.0, description="pull toward the mean gradient (lambda)")
    max_iter: int = Field(250, ge=1, description="Frank-Wolfe iterations (3+ tasks)")


class STCHParams(WeightingParams):
    mu: float = Field(1.0, gt=0.0, description="smoothing parameter")
    log_losses: bool = Field(False, description="scalarise log L_k instead of L_k")
    preferences: dict[str, float] | None = Field(
        None, description="lambda_k per task (every task, > 0); default 1 each")


class UncertaintyParams(WeightingParams):
    form: Literal["uniform", "paper"] = Field(
        "uniform", description="uniform: eq. 7 for every task; paper: eq. 10 for binary tasks")
    init_log_variance: float = Field(0.0, description="initial log sigma^2 of every task")


#: strategy name -> its parameter model. The first lookup imports this module, which registers
#: every built-in strategy's model (:data:`BUILTIN_WEIGHTING_PARAMS`) without torch;
#: ``@register_weighting`` registers a strategy's ``Params`` here too (one added outside automtl)
WEIGHTING_PARAMS: Registry[type[WeightingParams]] = Registry("weighting",
                                                             "automtl.weighting.params", None)
#: built-in strategy name -> its parameter model (several strategies may share one)
BUILTIN_WEIGHTING_PARAMS: dict[str, type[WeightingParams]] = {
    "aligned_mtl": GradientParams,
    "cagrad": CAGradParams,
    "db_mtl": DBMTLParams,
    "dtp": DTPParams,
    "dwa": DWAParams,
    "equal": WeightingParams,
    "excess_mtl": ExcessMTLParams,
    "fairgrad": FairGradParams,
    "famo": FAMOParams,
    "fixed": FixedParams,
    "gls": GLSParams,
    "graddrop": GradDropParams,
    "gradnorm": GradNormParams,
    "gradvac": GradVacParams,
    "imtl": IMTLParams,
    "mgda": MGDAParams,
    "moco": MoCoParams,
    "modo": MoDoParams,
    "nash_mtl": NashMTLParams,
    "pcgrad": GradientParams,
    "ple_decay": PLEDecayParams,
    "rlw": RLWParams,
    "sdmgrad": SDMGradParams,
    "stch": STCHParams,
    "uncertainty": UncertaintyParams,
    "upgrad": GradientParams,
}
for _name, _params in BUILTIN_WEIGHTING_PARAMS.items():
    WEIGHTING_PARAMS.register(_name)(_params)
