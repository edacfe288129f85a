"""The ``http_error`` fault through our proxy against a real HTTP upstream."""

from __future__ import annotations

import httpx
from faults_network_helpers import HttpUpstream, Rig

from chaos_workbench.faults.http_error import HttpError, HttpErrorParams


async def test_all_requests_answered_then_revert(rig: Rig, http_upstream: HttpUpstream) -> None:
    host, port = await rig.proxy("payments", http_upstream.address)
    fault = HttpError(HttpErrorParams(proxy="payments"), rig.ctx)
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", trust_env=False) as http:
        assert (await http.post("/charge")).status_code == 200  # keep-alive from here on
        await fault.apply()
        hits = http_upstream.hits
        statuses = [(await http.post("/charge")).status_code for _ in range(10)]
        assert statuses == [503] * 10
        assert http_upstream.hits == hits  # answered by the proxy, never forwarded
        await fault.revert()
        await fault.revert()
        assert (await http.post("/charge")).status_code == 200
        assert http_upstream.hits == hits + 1


async def test_probability_and_match(rig: Rig, http_upstream: HttpUpstream) -> None:
    host, port = await rig.proxy("payments", http_upstream.address)
    params = HttpErrorParams(
        proxy="payments", status=500, probability=0.5, method="POST", path="/charge*"
    )
    fault = HttpError(params, rig.ctx)
    await fault.apply()
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", trust_env=False) as http:
        failed = sum([(await http.post("/charge/1")).status_code == 500 for _ in range(200)])
        # 200 draws at p = 0.5: 100 ± 5σ (σ ≈ 7) is never a fluke.
        assert 65 <= failed <= 135, failed
        # Not matched: other method, other path.
        assert (await http.get("/charge/1")).status_code == 200
        assert (await http.post("/orders")).status_code == 200
    await fault.revert()
    assert fault.describe() == "HTTP 500 on 50% of POST /charge* requests via payments"
