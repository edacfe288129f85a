"""Spec models the traffic section of a suite uses beyond ``TrafficSpec`` itself.

Kept here (not in ``experiments/schema.py``) so the traffic package owns its vocabulary;
the schema imports them. Only pydantic is imported: the schema module imports this one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["StageSpec"]


class StageSpec(BaseModel):
    """One stage of a load profile: move linearly to ``rate_per_s`` over ``duration_s``.

    The first stage starts from the traffic's ``rate_per_s``; a stage whose rate equals the
    previous one holds it. The load ends after the last stage (ramp down with a final stage
    to 0 if you want it gentle).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    duration_s: float = Field(gt=0, le=7 * 24 * 3600)
    rate_per_s: float = Field(ge=0, le=1_000_000)
