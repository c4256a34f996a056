"""Setting groups several topologies share; each topology's ``Params`` combines the ones it uses
(``class MMoEParams(ExpertParams, GateParams)``) and adds its own fields and checks."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from automtl.config import TopologyParams

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
