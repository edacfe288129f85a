"""The three providers of Chaos Toolkit: ``http``, ``process`` and ``python``.

Each runs one activity's provider with its arguments already substituted and returns the
activity's output, or raises :class:`ActivityFailed` (the journal's ``exception``):

* http: ``{status, headers, body}`` (``body`` is JSON when the response's Content-Type is
  exactly ``application/json``, as chaoslib, else text). A 4xx/5xx status is an output,
  not a failure (as chaoslib), unless ``expected_status`` is given and does not match;
  a connection error or a timeout is a failure. GET sends ``arguments`` as the query
  string; other methods send them as JSON when the ``Content-Type`` header says
  ``application/json``, else as a form.
* process: ``{status, stdout, stderr}``; ``arguments`` as a string runs through the shell
  (``path arguments``), as a list (or mapping, flattened) runs directly; a timeout fails.
* python: ``module.func(**arguments)`` plus ``configuration`` / ``secrets`` when the
  function takes them; an exception fails. Modules under ``chaostoxi.`` are Chaos
  Toolkit's Toxiproxy extension, run natively against our proxy (see ``toxi``).
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import os
import shutil
import subprocess
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import JsonValue

from chaos_workbench.chaostoolkit.model import HttpProvider, ProcessProvider, PythonProvider
from chaos_workbench.chaostoolkit.values import substitute
from chaos_workbench.errors import WorkbenchError

__all__ = [
    "ActivityFailed",
    "find_function",
    "run_http",
    "run_process",
    "run_python",
]

Config = Mapping[str, JsonValue]
Secrets = Mapping[str, Mapping[str, JsonValue]]


class ActivityFailed(WorkbenchError):  # chaoslib's name, as in its journals
    """An experiment's activity did not complete (its journal entry is ``failed``)."""


def run_http(provider: HttpProvider, configuration: Config, secrets: Secrets) -> JsonValue:
    url = str(substitute(provider.url, configuration, secrets))
    headers = substitute(provider.headers, configuration, secrets) if provider.headers else None
    timeout = substitute(provider.timeout, configuration, secrets)  # type: ignore[arg-type]
    arguments = substitute(provider.arguments, configuration, secrets)
    method = provider.method.upper()
    header_map = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
    request: dict[str, Any] = {"headers": header_map}
    if method == "GET":
        request["params"] = arguments if isinstance(arguments, dict) else None
    elif header_map.get("Content-Type") == "application/json":
        request["json"] = arguments
    elif isinstance(arguments, dict):
        request["data"] = arguments
    elif isinstance(arguments, str):
        request["content"] = arguments
    try:
        with httpx.Client(
            timeout=_http_timeout(timeout),
            verify=provider.verify_tls,
            transport=httpx.HTTPTransport(retries=provider.max_retries),
        ) as client:
            response = client.request(method, url, **request)
    except httpx.TimeoutException:
        raise ActivityFailed("activity took too long to complete") from None
    except httpx.HTTPError as exc:
        raise ActivityFailed(f"failed to connect to {url}: {exc}") from None
    body: JsonValue
    if response.headers.get("Content-Type") == "application/json":
        try:
            body = response.json()
        except ValueError:
            body = response.text
    else:
        body = response.text
    expected = provider.expected_status
    if expected is not None:
        allowed = expected if isinstance(expected, list) else [expected]
        if response.status_code not in allowed:
            raise ActivityFailed(
                f"{method} {url} answered {response.status_code}, expected {expected}"
            )
    return {"status": response.status_code, "headers": dict(response.headers), "body": body}


def _http_timeout(timeout: JsonValue) -> httpx.Timeout | None:
    if isinstance(timeout, list) and len(timeout) == 2:
        connect, read = (float(part) for part in timeout)  # type: ignore[arg-type]
        return httpx.Timeout(read, connect=connect)
    if isinstance(timeout, int | float | str) and not isinstance(timeout, bool):
        return httpx.Timeout(float(timeout))
    return None  # chaoslib (requests) waits forever by default


def run_process(
    provider: ProcessProvider, configuration: Config, secrets: Secrets, env: Mapping[str, str]
) -> JsonValue:
    path = shutil.which(os.path.expanduser(provider.path))
    if path is None:
        raise ActivityFailed(f"path {provider.path!r} cannot be found")
    arguments = substitute(provider.arguments, configuration, secrets)
    argv: str | list[str]
    if isinstance(arguments, str):
        argv = f"{path} {arguments}"
    else:
        items: list[JsonValue] = []
        if isinstance(arguments, dict):
            items = list(itertools.chain.from_iterable(arguments.items()))
        elif isinstance(arguments, list):
            items = arguments
        argv = [path, *(str(item) for item in items if item not in (None, ""))]
    try:
        done = subprocess.run(
            argv,
            shell=isinstance(argv, str),
            timeout=provider.timeout,
            capture_output=True,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ActivityFailed("process activity took too long to complete") from None
    except OSError as exc:
        raise ActivityFailed(f"cannot run {path}: {exc.strerror or exc}") from None
    return {
        "status": done.returncode,
        "stdout": done.stdout.decode("utf-8", errors="replace"),
        "stderr": done.stderr.decode("utf-8", errors="replace"),
    }


def find_function(module: str, func: str) -> Callable[..., Any]:
    """``module.func``; raises ImportError / AttributeError as importing does."""
    found = getattr(importlib.import_module(module), func)
    if not callable(found):
        raise AttributeError(f"{module}.{func} is not a function")
    return found  # type: ignore[no-any-return]


def run_python(
    provider: PythonProvider,
    function: Callable[..., Any],
    configuration: dict[str, JsonValue],
    secrets: Secrets,
) -> JsonValue:
    arguments = substitute(provider.arguments, configuration, secrets)
    kwargs: dict[str, Any] = dict(arguments) if isinstance(arguments, dict) else {}
    parameters = inspect.signature(function).parameters
    if provider.secrets and "secrets" in parameters:
        merged: dict[str, JsonValue] = {}
        for scope in provider.secrets:
            merged.update(secrets.get(scope, {}))
        kwargs["secrets"] = merged
    if "configuration" in parameters:
        kwargs["configuration"] = configuration  # chaostoxi writes ports back into it
    try:
        result = function(**kwargs)
    except Exception as exc:
        message = traceback.format_exception_only(type(exc), exc)[0].strip()
        raise ActivityFailed(message) from exc
    return _jsonable(result)


def _jsonable(value: object) -> JsonValue:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
