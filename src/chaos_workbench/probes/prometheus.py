"""Prometheus probe: a PromQL instant query, its value judged against a threshold.

One ``GET {url}/api/v1/query?query=…`` per call through an httpx client (its pool keeps the
connection; proxies from the environment are ignored: the URL is the one the suite names).
A call succeeds when Prometheus answers ``success`` and every sample lies within
``[min, max]``; the latency is the query's round trip. Failures, each one a measurement:

* Prometheus unreachable, slow, or resetting: the socket's error kind (refused, timeout…);
* an error answer: ``http_4xx`` (a bad query: 400, 422) or ``http_5xx`` (503 while starting
  up or overloaded);
* a body that is not a Prometheus answer, or a range vector or string result: ``protocol``;
* a sample outside the threshold: ``other``;
* no sample, or NaN (``0/0`` when nothing happened): ``other`` unless ``on_empty: pass``.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from chaos_workbench.errors import WorkbenchError
from chaos_workbench.probes.base import Prober, classify_os_error
from chaos_workbench.probes.spec import PrometheusProbeSpec
from chaos_workbench.traffic.window import ErrorKind

__all__ = ["PrometheusProber", "QueryFailed", "judge_result"]


class QueryFailed(WorkbenchError):
    """The query answered, but not with a value within the threshold (or not at all).

    Raised inside the probe and counted in its window, never to the user.
    """

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _samples(data: Any) -> list[float]:
    """The sample values of an instant query's ``data`` (vector or scalar)."""
    if not isinstance(data, dict):
        raise QueryFailed(ErrorKind.PROTOCOL, "the answer has no data")
    kind, result = data.get("resultType"), data.get("result")
    try:
        if kind == "vector" and isinstance(result, list):
            return [float(series["value"][1]) for series in result]
        if kind == "scalar" and isinstance(result, list):
            return [float(result[1])]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise QueryFailed(ErrorKind.PROTOCOL, f"unreadable sample: {exc}") from None
    raise QueryFailed(ErrorKind.PROTOCOL, f"expected a vector or scalar result, got {kind!r}")


def judge_result(spec: PrometheusProbeSpec, data: Any) -> None:
    """Raise :class:`QueryFailed` unless the result satisfies the spec's threshold."""
    values = _samples(data)
    numbers = [v for v in values if not math.isnan(v)]
    if len(numbers) < len(values) or not numbers:
        if spec.on_empty == "fail":
            what = "NaN" if values else "no sample"
            raise QueryFailed(ErrorKind.OTHER, f"the query returned {what}")
        if not numbers:
            return
    for value in numbers:
        if spec.min is not None and value < spec.min:
            raise QueryFailed(ErrorKind.OTHER, f"{value:g} is below min {spec.min:g}")
        if spec.max is not None and value > spec.max:
            raise QueryFailed(ErrorKind.OTHER, f"{value:g} is above max {spec.max:g}")


class PrometheusProber(Prober):
    """Evaluates ``spec.query`` once per call."""

    def __init__(self, spec: PrometheusProbeSpec) -> None:
        self.spec = spec
        timeout_s = spec.timeout_ms / 1000
        self._endpoint = spec.url.rstrip("/") + "/api/v1/query"
        # Prometheus gives up evaluating at our deadline too, instead of working on for no one.
        self._params = {"query": spec.query, "timeout": f"{max(1, round(spec.timeout_ms))}ms"}
        self._client = httpx.AsyncClient(
            headers=spec.headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=spec.max_in_flight),
            trust_env=False,
        )

    async def call(self) -> None:
        response = await self._client.get(self._endpoint, params=self._params)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or not isinstance(body, dict):
            status = response.status_code
            kind = (
                ErrorKind.HTTP_5XX
                if status >= 500
                else ErrorKind.HTTP_4XX
                if status >= 400
                else ErrorKind.PROTOCOL
            )
            detail = body.get("error", "") if isinstance(body, dict) else "not a JSON object"
            raise QueryFailed(kind, f"HTTP {status}: {detail}")
        if body.get("status") != "success":
            raise QueryFailed(ErrorKind.PROTOCOL, f"status {body.get('status')!r}")
        judge_result(self.spec, body.get("data"))

    def classify(self, exc: BaseException) -> ErrorKind:
        if isinstance(exc, QueryFailed):
            return exc.kind
        if isinstance(exc, httpx.ConnectTimeout):
            return ErrorKind.CONNECT_TIMEOUT
        if isinstance(exc, httpx.TimeoutException):
            return ErrorKind.READ_TIMEOUT
        kind = classify_os_error(exc)
        if kind is not ErrorKind.OTHER:
            return kind
        if isinstance(exc, httpx.ConnectError):
            return ErrorKind.CONNECT_REFUSED if "refused" in str(exc).lower() else ErrorKind.OTHER
        if isinstance(exc, httpx.ReadError | httpx.WriteError):
            return ErrorKind.RESET
        if isinstance(exc, httpx.RemoteProtocolError):
            return ErrorKind.PROTOCOL
        return ErrorKind.OTHER

    async def aclose(self) -> None:
        await self._client.aclose()
