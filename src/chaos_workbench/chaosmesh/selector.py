"""Which pods a Kubernetes fault acts on: labels, namespaces and a Chaos Mesh mode."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chaos_workbench.kube.spec import check_dns_label

__all__ = ["Mode", "PodSelector", "label_problem"]

Mode = Literal["one", "all", "fixed", "fixed-percent"]
# Kubernetes' label syntax: a value (and a key's name) is at most 63 characters of
# [A-Za-z0-9._-], starting and ending alphanumeric; a key may have a DNS-subdomain prefix.
_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def label_problem(key: str, value: str) -> str | None:
    """Why ``key: value`` is not a Kubernetes label, or None."""
    prefix, _, name = key.rpartition("/")
    if not name or not _NAME.fullmatch(name) or (prefix and not _PREFIX.fullmatch(prefix)):
        return f"label key {key!r} is not valid in Kubernetes ([prefix/]name, name ≤ 63 of A-Z a-z 0-9 . _ -)"
    if not _NAME.fullmatch(value):
        return f"label value {value!r} of {key!r} is not valid in Kubernetes (≤ 63 of A-Z a-z 0-9 . _ -)"
    return None


class PodSelector(BaseModel):
    """Which pods: by labels (all must match), in namespaces, picked by a Chaos Mesh mode."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    labels: dict[str, str] = Field(min_length=1, max_length=64)
    namespaces: tuple[str, ...] = Field(
        default=(), max_length=64, description="Default: the suite's kubernetes.namespace."
    )
    mode: Mode = Field(default="one", description="one, all, fixed or fixed-percent.")
    value: int | None = Field(
        default=None, ge=1, le=100_000, description="Pods (fixed) or percent (fixed-percent)."
    )

    @model_validator(mode="after")
    def _check(self) -> PodSelector:
        for namespace in self.namespaces:
            check_dns_label(namespace)
        for key, text in self.labels.items():
            problem = label_problem(key, text)
            if problem is not None:
                raise ValueError(problem)
        # Chaos Mesh's admission webhook requires these (the CRD schema does not).
        if self.mode in ("fixed", "fixed-percent") and self.value is None:
            raise ValueError(f"mode {self.mode!r} needs 'value' (how many pods, or percent)")
        if self.mode == "fixed-percent" and self.value is not None and self.value > 100:
            raise ValueError("mode 'fixed-percent' takes a value from 1 to 100")
        if self.mode in ("one", "all") and self.value is not None:
            raise ValueError(f"mode {self.mode!r} takes no 'value'")
        return self

    def chaos_selector(self, namespace: str) -> dict[str, Any]:
        """``mode``, ``value`` and ``selector`` as Chaos Mesh writes them."""
        out: dict[str, Any] = {
            "mode": self.mode,
            "selector": {
                "namespaces": list(self.namespaces or (namespace,)),
                "labelSelectors": dict(self.labels),
            },
        }
        if self.value is not None:
            out["value"] = str(self.value)  # a string in the CRD
        return out
