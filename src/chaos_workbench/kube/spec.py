"""The ``kubernetes:`` section of a suite: which cluster, which namespace, how long to wait.

Present, it makes the suite a Kubernetes suite: every fault becomes a Chaos Mesh resource
in that namespace (``chaos_workbench.chaosmesh``) instead of acting on local proxies and
processes. See ``docs/kubernetes.md``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chaos_workbench.host.units import Seconds

__all__ = ["DNS_LABEL", "KubernetesSpec", "check_dns_label"]

# RFC 1123 label: what Kubernetes accepts as a namespace name (and most names).
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def check_dns_label(value: str) -> str:
    if not DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes name: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


class KubernetesSpec(BaseModel):
    """Where the suite's Chaos Mesh resources are created, and the bounds of each wait."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str = Field(description="Namespace of the resources and the default of selectors.")
    context: str | None = Field(
        default=None, description="kubeconfig context to use (the current context if unset)."
    )
    kubeconfig: str | None = Field(
        default=None, description="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)."
    )
    inject_timeout_s: Seconds = Field(
        default=60.0, description="How long Chaos Mesh may take to report the fault injected."
    )
    recover_timeout_s: Seconds = Field(
        default=60.0, description="How long a deleted resource may take to be gone."
    )
    duration_margin_s: Seconds = Field(
        default=120.0,
        description="Chaos Mesh's own duration is the hold plus this: the cluster ends the "
        "chaos by itself even if the workbench and its watchdog are gone.",
    )

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return check_dns_label(value)
