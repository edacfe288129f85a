"""The analysis settings of a suite: the SLO, the impact thresholds, the expectations.

The analysis package owns these models (its pure functions take them as arguments);
``experiments.schema`` composes them into a suite. Rules in ``docs/analysis.md``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chaos_workbench.host.units import Milliseconds, Ratio, SecondsOrZero
from chaos_workbench.model import ImpactLevel

__all__ = ["Expectations", "ImpactThresholds", "Slo"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Slo(_Spec):
    """What "healthy" means, checked on every window."""

    success_ratio: Ratio = Field(default=0.99, gt=0)
    p99_ms: Milliseconds | None = None


class ImpactThresholds(_Spec):
    """Success ratios that separate degraded, partial and full outage (see docs/analysis.md)."""

    partial_outage_below: Ratio = Field(default=0.90, gt=0)
    full_outage_below: Ratio = Field(default=0.10, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> ImpactThresholds:
        if self.full_outage_below >= self.partial_outage_below:
            raise ValueError("full_outage_below must be lower than partial_outage_below")
        return self


class Expectations(_Spec):
    """What the experiment must show to pass."""

    max_impact: ImpactLevel = ImpactLevel.FULL_OUTAGE
    recovery_within_s: SecondsOrZero | None = None
