"""The settings model (``Params``) of every built-in topology, in one module without torch.

Setting groups several topologies share come first; each topology's ``Params`` combines the ones
it uses (``class MMoEParams(ExpertParams, GateParams)``) and adds its own fields and checks.
They live here, not beside their models, so validating a config, a job spec or a search space
(:mod:`search_spaces.catalog` reads their fields, bounds and descriptions; ``job_fields`` and
``l0_penalty`` say what a topology needs and offers) never imports torch. Importing this module
registers :data:`BUILTIN_TOPOLOGY_PARAMS` in :data:`automtl.config.TOPOLOGY_PARAMS`; each model
module registers the same class with ``@register_topology`` (a test checks the two agree).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from automtl.config import TOPOLOGY_PARAMS, TopologyParams

GateKind = Literal["linear", "mlp"]


def _widths(value: list[int], field: str) -> list[int]:
    if not value:
        raise ValueError(f"{field}: at least one layer is required")
    bad = [u for u in value if u < 1]
    if bad:
        raise ValueError(f"layer widths must be >= 1, got {value}")
    return value


class BottomParams(TopologyParams):
    """A bottom MLP (shared, or one column per task)."""

    shared_dsl_fields: ClassVar[tuple[str, ...]] = ("bottom_units",)

    bottom_units: list[int] = Field(default_factory=lambda: [128, 64],
                                    description="hidden layers of the bottom (shared, or one "
                                                "column per task)")

    @field_validator("bottom_units")
    @classmethod
    def _bottom(cls, value: list[int]) -> list[int]:
        return _widths(value, "bottom_units")

    def summary(self) -> dict[str, str]:
        return {"experts": "", "units": f"bottom {self.bottom_units}", "gate": ""}


class ExpertParams(TopologyParams):
    """Experts (or SNR sub-networks) as MLPs of ``expert_units``."""

    shared_dsl_fields: ClassVar[tuple[str, ...]] = ("expert_units",)

    expert_units: list[int] = Field(default_factory=lambda: [64],
                                    description="hidden layers of each expert (SNR: of each "
                                                "sub-network)")

    @field_validator("expert_units")
    @classmethod
    def _experts(cls, value: list[int]) -> list[int]:
        return _widths(value, "expert_units")


class GateParams(TopologyParams):
    """Softmax gates over experts: linear or a small MLP, with a temperature."""

    gated: ClassVar[bool] = True
    shared_dsl_fields: ClassVar[tuple[str, ...]] = ("gate_kind", "gate_units",
                                                    "gate_temperature")

    gate_kind: GateKind = Field("linear", description="gate network: linear or a small MLP")
    gate_units: list[int] = Field(default_factory=lambda: [16],
                                  description="hidden layers of an mlp gate")
    gate_temperature: float = Field(1.0, gt=0.0, description="softmax temperature of the gates")

    @field_validator("gate_units")
    @classmethod
    def _gate_widths(cls, value: list[int]) -> list[int]:
        bad = [u for u in value if u < 1]
        if bad:
            raise ValueError(f"layer widths must be >= 1, got {value}")
        return value

    @model_validator(mode="after")
    def _mlp_gate_has_layers(self) -> GateParams:
        if self.gate_kind == "mlp" and not self.gate_units:
            raise ValueError("gate_units: an mlp gate needs at least one hidden layer")
        return self


def shared_dsl_fields(params: type[TopologyParams]) -> tuple[str, ...]:
    """Every shared-section field of ``params`` and its bases, in declaration order."""
    out: list[str] = []
    for base in reversed(params.__mro__):
        for name in vars(base).get("shared_dsl_fields", ()):
            if name not in out:
                out.append(name)
    return tuple(out)


class MMoEParams(ExpertParams, GateParams):
    """MMoE's settings: ``num_shared_experts`` experts of ``expert_units``, gated per task."""

    dsl_keys: ClassVar[dict[str, str]] = {"experts": "num_shared_experts"}

    num_shared_experts: int = Field(4, ge=1, le=64, description="number of experts")

    def summary(self) -> dict[str, str]:
        return {"experts": f"{self.num_shared_experts} shared",
                "units": f"experts {self.expert_units}", "gate": self.gate_kind}


class CGCParams(ExpertParams, GateParams):
    """CGC's settings: ``num_task_experts`` per task and ``num_shared_experts`` shared experts of
    ``expert_units``; every task gate needs at least one expert."""

    dsl_keys: ClassVar[dict[str, str]] = {"shared_experts": "num_shared_experts",
                                          "task_experts": "num_task_experts"}

    num_shared_experts: int = Field(4, ge=0, le=64, description="shared experts per level")
    num_task_experts: int = Field(1, ge=0, le=16, description="experts per task per level")

    @model_validator(mode="after")
    def _a_gate_has_experts(self) -> CGCParams:
        if self.num_shared_experts + self.num_task_experts < 1:
            raise ValueError("num_task_experts: cgc/ple need at least one expert per gate")
        return self

    def summary(self) -> dict[str, str]:
        return {"experts": f"{self.num_shared_experts} shared + {self.num_task_experts}/task",
                "units": f"experts {self.expert_units}", "gate": self.gate_kind}

    def task_experts(self) -> int:
        return self.num_task_experts


class AdaTTParams(ExpertParams, GateParams):
    """AdaTT's settings: ``levels`` fusion levels of ``num_task_experts`` experts per task and
    ``num_shared_experts`` shared ones, MLPs of ``expert_units``; every gate fuses all of them.
    At least one expert per level is required."""

    dsl_keys: ClassVar[dict[str, str]] = {"shared_experts": "num_shared_experts",
                                          "task_experts": "num_task_experts"}

    num_task_experts: int = Field(2, ge=0, le=16, description="experts per task per level")
    num_shared_experts: int = Field(1, ge=0, le=64, description="shared experts per level")
    levels: int = Field(2, ge=1, le=8, description="stacked fusion levels")

    @model_validator(mode="after")
    def _a_level_has_experts(self) -> AdaTTParams:
        if self.num_shared_experts + self.num_task_experts < 1:
            raise ValueError("num_task_experts: adatt needs at least one expert per level")
        return self

    def summary(self) -> dict[str, str]:
        return {"experts": f"{self.num_shared_experts} shared + {self.num_task_experts}/task, "
                           f"{self.levels} levels",
                "units": f"experts {self.expert_units}", "gate": self.gate_kind}


class AITMParams(BottomParams):
    """AITM's settings: each task column's ``bottom_units`` (the last width D is also the width
    of the transfer and attention layers) and the calibrator weight alpha."""

    job_fields: ClassVar[frozenset[str]] = frozenset({"sequence"})

    calibrator_weight: float = Field(
        0.6, ge=0.0, le=10.0,
        description="weight of the behavioural expectation calibrator (AITM), the mean excess "
                    "of a step's probability over the previous step's; 0 turns it off")

    def summary(self) -> dict[str, str]:
        return {"experts": "",
                "units": f"columns {self.bottom_units}, calibrator {self.calibrator_weight:g}",
                "gate": ""}


class CrossStitchParams(BottomParams):
    """Cross-stitch's settings: the per-task columns' ``bottom_units`` and whether the columns
    share one input layer. The previous format's nested ``cross_stitch: {...}`` is read too."""

    # off in the paper, where the columns are separate networks joined only by stitch units
    share_embeddings: bool = Field(
        False, description="one input layer (embeddings) for every column (the paper: one each)")


class DSelectKParams(ExpertParams):
    """DSelect-k's settings: ``num_shared_experts`` experts of ``expert_units``, ``k`` selectors
    per task gate, the smooth-step's width ``gamma`` and the entropy regulariser's weight."""

    gated: ClassVar[bool] = True
    dsl_keys: ClassVar[dict[str, str]] = {"experts": "num_shared_experts"}

    num_shared_experts: int = Field(4, ge=1, le=64, description="number of experts")
    k: int = Field(2, ge=1, le=16, description="experts each task's gate selects at most "
                                              "(capped at the number of experts)")
    gamma: float = Field(1.0, gt=0.0, le=100.0,
                         description="width of the smooth-step's cubic region")
    entropy_reg: float = Field(0.0, ge=0.0, le=10.0,
                               description="weight of the selectors' entropy regulariser "
                                           "(0: off)")

    def summary(self) -> dict[str, str]:
        return {"experts": f"{self.num_shared_experts} shared, top-{self.k}",
                "units": f"experts {self.expert_units}", "gate": "dselect"}


class L2ConstrainedParams(BottomParams):
    """The columns' ``bottom_units`` and ``penalty_weight``, the weight of the squared L2
    distance between every pair of columns in the training loss."""

    penalty_weight: float = Field(1e-3, ge=0.0, le=100.0,
                                  description="weight of the squared L2 distance between "
                                              "the task columns' parameters (0: independent)")

    def summary(self) -> dict[str, str]:
        return {"experts": f"L2-tied columns (weight {self.penalty_weight:g})",
                "units": f"bottom {self.bottom_units}", "gate": ""}


class MLMMoEParams(MMoEParams):
    """MMoE's settings plus ``levels``, the number of stacked MMoE layers."""

    levels: int = Field(2, ge=1, le=8, description="stacked MMoE layers")

    def summary(self) -> dict[str, str]:
        text = super().summary()
        return {**text, "experts": f"{text['experts']}, {self.levels} levels"}


class PLEParams(CGCParams):
    """PLE's settings: CGC's plus ``levels``, the number of stacked extraction layers."""

    levels: int = Field(1, ge=1, le=8, description="extraction levels (stacked CGC layers)")

    def summary(self) -> dict[str, str]:
        text = super().summary()
        return {**text, "experts": f"{text['experts']}, {self.levels} levels"}


class SluiceParams(TopologyParams):
    """Sluice's settings: ``layers`` layers of ``units`` per task column, each layer's output
    split into ``subspaces`` subspaces (``units`` must be divisible by ``subspaces``)."""

    layers: int = Field(2, ge=1, le=6, description="hidden layers of each task column")
    units: int = Field(64, ge=1, le=4096, description="width of every column layer")
    subspaces: int = Field(2, ge=1, le=8, description="subspaces each layer's output is "
                                                      "split into for the alpha mixing")
    orthogonality: float = Field(0.0, ge=0.0, le=100.0,
                                 description="weight of the penalty that keeps a column's "
                                             "subspaces orthogonal (0: off)")

    @model_validator(mode="after")
    def _units_split_evenly(self) -> SluiceParams:
        if self.units % self.subspaces:
            raise ValueError(f"units: {self.units} is not divisible by subspaces "
                             f"({self.subspaces})")
        return self

    def summary(self) -> dict[str, str]:
        return {"experts": f"{self.layers} layers x {self.subspaces} subspaces",
                "units": f"columns {[self.units] * self.layers}", "gate": ""}


class SNRParams(ExpertParams):
    """SNR's settings (Ma et al. AAAI 2019): ``layers`` layers of ``subnetworks`` sub-networks of
    ``expert_units``, and the hard-concrete distribution's beta, gamma, zeta (Louizos et al.
    ICLR 2018), the gates' initial drop rate, own learning rate and the L0 warm-up. The
    previous format's nested ``snr: {...}`` is read too (converted)."""

    l0_penalty: ClassVar[bool] = True

    layers: int = Field(2, ge=1, le=6, description="layers of sub-networks")
    subnetworks: int = Field(3, ge=1, le=32, description="sub-networks per layer")
    beta: float = Field(2 / 3, gt=0.0, description="hard-concrete temperature beta")
    gamma: float = Field(-0.1, lt=0.0, description="hard-concrete stretch lower end gamma")
    zeta: float = Field(1.1, gt=1.0, description="hard-concrete stretch upper end zeta")
    # log_alpha starts at log((1 - p) / p) (Louizos et al.'s droprate_init; 0.5 gives 0)
    init_drop_rate: float = Field(0.5, gt=0.0, lt=1.0,
                                  description="initial probability that a gate is closed")
    # without a warm-up, a lambda that prunes at all closes every gate at once: the network
    # first learns which connections matter, then the penalty closes gates
    l0_warmup_epochs: float = Field(1.0, ge=0.0, le=100.0,
                                    description="epochs over which the L0 weight ramps up "
                                                "linearly from 0 to l0_lambda")
    # the gates must travel about 2.4 in log_alpha to close, which at lr 1e-3 takes thousands
    # of Adam steps
    gate_lr: float | None = Field(0.1, gt=0.0, le=10.0,
                                  description="learning rate of the gates' log_alpha (None: "
                                              "the model's lr)")

    def summary(self) -> dict[str, str]:
        return {"experts": f"{self.layers} layers x {self.subnetworks} sub-networks",
                "units": f"sub-networks {self.expert_units}", "gate": ""}


class StarParams(TopologyParams):
    """The star (centre x domain) network's widths and the auxiliary network's."""

    job_fields: ClassVar[frozenset[str]] = frozenset({"domains"})

    star_units: list[int] = Field(default_factory=lambda: [64, 32],
                                  description="hidden layers of the star (centre x domain) "
                                              "network")
    aux_units: list[int] = Field(default_factory=lambda: [16],
                                 description="hidden layers of the auxiliary (domain) network; "
                                             "[]: linear")

    @field_validator("star_units")
    @classmethod
    def _star_widths(cls, value: list[int]) -> list[int]:
        if not value or any(u < 1 for u in value):
            raise ValueError(f"star_units: at least one layer, widths >= 1, got {value}")
        return value

    @field_validator("aux_units")
    @classmethod
    def _aux_widths(cls, value: list[int]) -> list[int]:
        if any(u < 1 for u in value):
            raise ValueError(f"aux_units: layer widths must be >= 1, got {value}")
        return value

    def summary(self) -> dict[str, str]:
        return {"experts": "", "units": f"star {self.star_units}, aux {self.aux_units}",
                "gate": ""}


#: built-in topology name -> its settings model (several topologies may share one), the names
#: ``@register_topology`` gives the models in ``automtl.models.builtin``'s modules
BUILTIN_TOPOLOGY_PARAMS: dict[str, type[TopologyParams]] = {
    "adatt": AdaTTParams,
    "aitm": AITMParams,
    "cgc": CGCParams,
    "cross_stitch": CrossStitchParams,
    "dselect_k": DSelectKParams,
    "l2_constrained": L2ConstrainedParams,
    "ml_mmoe": MLMMoEParams,
    "mmoe": MMoEParams,
    "omoe": MMoEParams,
    "ple": PLEParams,
    "shared_bottom": BottomParams,
    "single_task": BottomParams,
    "sluice": SluiceParams,
    "snr_avg": SNRParams,
    "snr_trans": SNRParams,
    "star": StarParams,
}
for _name, _params in BUILTIN_TOPOLOGY_PARAMS.items():
    TOPOLOGY_PARAMS.register(_name)(_params)
