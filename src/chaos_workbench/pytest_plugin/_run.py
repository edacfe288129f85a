"""``cwb_run``: run a suite inside a test and hand back its :class:`RunRecord`.

The run directory is under the test's ``tmp_path``; the HTML report is always written to
``tmp_path / "cwb-report.html"`` (``cwb-report-2.html``... for later runs in the same test),
and the plugin prints its path in the test's failure report.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos_workbench.experiments.schema import Suite
    from chaos_workbench.model import RunRecord

__all__ = ["SuiteRunner"]


class SuiteRunner:
    """Call it from a sync test (``cwb_run(suite)``), or await :meth:`arun` in an async one."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self.reports: list[Path] = []  # the HTML reports written so far, in order

    def __call__(
        self,
        suite: Path | str | Mapping[str, Any] | Suite,
        *,
        env: Mapping[str, str] | None = None,
        seed: int | None = None,
        only: Sequence[str] = (),
    ) -> RunRecord:
        """Run ``suite`` (a file, a dict in the suite file's shape, or a ``Suite``); block.

        Inside a running event loop (an async test) the run goes to a worker thread with its
        own loop, and the test's loop waits for it: use :meth:`arun` when the service under
        test runs in the test's loop.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.arun(suite, env=env, seed=seed, only=only))
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="cwb-run") as pool:
            future = pool.submit(asyncio.run, self.arun(suite, env=env, seed=seed, only=only))
            return future.result()

    async def arun(
        self,
        suite: Path | str | Mapping[str, Any] | Suite,
        *,
        env: Mapping[str, str] | None = None,
        seed: int | None = None,
        only: Sequence[str] = (),
    ) -> RunRecord:
        """Run ``suite`` on the running loop and return its record."""
        from chaos_workbench.engine.runner import RunOptions, execute_suite
        from chaos_workbench.reports import write_report

        loaded, suite_path = _load(suite, env)
        number = len(self.reports) + 1
        suffix = "" if number == 1 else f"-{number}"
        run_dir = self._tmp_path / f"cwb-run{suffix}"
        options = RunOptions(run_dir=run_dir, env=dict(env or {}), seed=seed, only=tuple(only))
        record = await execute_suite(loaded, options, suite_path=suite_path)
        write_report(record, run_dir / "report.json")
        html = write_report(record, self._tmp_path / f"cwb-report{suffix}.html")
        self.reports.append(html)
        return record


def _load(
    suite: Path | str | Mapping[str, Any] | Suite, env: Mapping[str, str] | None
) -> tuple[Suite, Path | None]:
    from chaos_workbench.experiments.loader import load_suite
    from chaos_workbench.experiments.schema import Suite

    if isinstance(suite, Suite):
        return suite, None
    if isinstance(suite, Mapping):
        return Suite.model_validate(dict(suite)), None
    path = Path(suite)
    return load_suite(path, env), path
