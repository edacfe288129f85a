"""The Chaos Toolkit experiment format as typed, frozen models.

The shapes follow ``chaoslib`` (``experiment.py``, ``activity.py``, ``hypothesis.py``,
``provider/*.py``): an experiment has a ``title``, a ``description``, a ``method`` of
activities (probes and actions), an optional ``steady-state-hypothesis`` whose probes
carry a ``tolerance``, and optional ``rollbacks``. An activity may instead be a ``ref``
to another activity by name. Keys Chaos Toolkit does not read are kept (``extra="allow"``)
so that the journal records the experiment as written.

Provider arguments are free-form by nature (``JsonValue``); everything else is typed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
)

__all__ = [
    "Activity",
    "ActivityOrRef",
    "Experiment",
    "HttpProvider",
    "Hypothesis",
    "JsonPathTolerance",
    "Pauses",
    "ProbeTolerance",
    "ProcessProvider",
    "Provider",
    "PythonProvider",
    "RangeTolerance",
    "Ref",
    "RegexTolerance",
    "Tolerance",
]

_KEEP = ConfigDict(frozen=True, extra="allow", populate_by_name=True)
Number = StrictInt | StrictFloat


class HttpProvider(BaseModel):
    """``type: http``: one request; the result is ``{status, headers, body}``."""

    model_config = _KEEP

    type: Literal["http"]
    url: StrictStr = Field(min_length=1)
    method: StrictStr = "GET"
    headers: dict[str, JsonValue] | None = None
    arguments: JsonValue = None
    timeout: Number | list[Number] | StrictStr | None = None
    verify_tls: StrictBool = True
    max_retries: StrictInt = Field(default=0, ge=0)
    expected_status: StrictInt | list[StrictInt] | None = None


class ProcessProvider(BaseModel):
    """``type: process``: run an executable; the result is ``{status, stdout, stderr}``."""

    model_config = _KEEP

    type: Literal["process"]
    path: StrictStr = Field(min_length=1)
    arguments: StrictStr | list[JsonValue] | dict[str, JsonValue] | None = None
    timeout: Number | None = Field(default=None, gt=0)


class PythonProvider(BaseModel):
    """``type: python``: import ``module`` and call ``func(**arguments)``."""

    model_config = _KEEP

    type: Literal["python"]
    module: StrictStr = Field(min_length=1)
    func: StrictStr = Field(min_length=1)
    arguments: dict[str, JsonValue] = Field(default_factory=dict)
    secrets: list[StrictStr] = Field(default_factory=list)


Provider = Annotated[HttpProvider | ProcessProvider | PythonProvider, Field(discriminator="type")]


class Pauses(BaseModel):
    """Seconds to wait before/after an activity: a number or ``${name}`` from configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    before: Number | StrictStr | None = None
    after: Number | StrictStr | None = None

    @field_validator("before", "after")
    @classmethod
    def _number_or_reference(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, str) and not (value.startswith("${") and value.endswith("}")):
            raise ValueError(
                "a pause is a number of seconds or a ${name} from the configuration or secrets"
            )
        if isinstance(value, int | float) and value < 0:
            raise ValueError("a pause cannot be negative")
        return value


class _ActivityBody(BaseModel):
    model_config = _KEEP

    name: StrictStr = Field(min_length=1)
    provider: Provider
    pauses: Pauses | None = None
    background: StrictBool = False


class ProbeTolerance(_ActivityBody):
    """A probe called with the value under test as its ``value`` argument; truthy passes."""

    type: Literal["probe"]


class RegexTolerance(BaseModel):
    model_config = _KEEP

    type: Literal["regex"]
    pattern: StrictStr
    target: StrictStr | None = None


class JsonPathTolerance(BaseModel):
    model_config = _KEEP

    type: Literal["jsonpath"]
    path: StrictStr = Field(min_length=1)
    target: StrictStr | None = None
    expect: JsonValue = None
    count: StrictInt | None = None


class RangeTolerance(BaseModel):
    model_config = _KEEP

    type: Literal["range"]
    range: tuple[Number, Number]
    target: StrictStr | None = None


def _tolerance_kind(value: object) -> str | None:
    if isinstance(value, BaseModel):  # serialising a validated model
        return str(getattr(value, "type", "unknown"))
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        kind = value.get("type")
        return kind if kind in ("probe", "regex", "jsonpath", "range") else "unknown"
    return None


class _UnknownTolerance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    type: Literal["probe", "regex", "jsonpath", "range"]


Tolerance = Annotated[
    Annotated[StrictBool, Tag("bool")]
    | Annotated[StrictInt, Tag("int")]
    | Annotated[StrictStr, Tag("str")]
    | Annotated[list[JsonValue], Tag("list")]
    | Annotated[ProbeTolerance, Tag("probe")]
    | Annotated[RegexTolerance, Tag("regex")]
    | Annotated[JsonPathTolerance, Tag("jsonpath")]
    | Annotated[RangeTolerance, Tag("range")]
    | Annotated[_UnknownTolerance, Tag("unknown")],
    Discriminator(
        _tolerance_kind,
        custom_error_type="tolerance",
        custom_error_message=(
            "a tolerance is a boolean, an integer, a string, a list, or a mapping "
            "with type probe, regex, jsonpath or range"
        ),
    ),
]


class Activity(_ActivityBody):
    """A probe or an action of the method, the hypothesis or the rollbacks."""

    type: Literal["probe", "action"]
    tolerance: Tolerance | None = None


class Ref(BaseModel):
    """``{"ref": "name"}``: run the activity of that name again."""

    model_config = _KEEP

    ref: StrictStr = Field(min_length=1)


def _activity_kind(value: object) -> str:
    if isinstance(value, BaseModel):
        return "ref" if isinstance(value, Ref) else "activity"
    return "ref" if isinstance(value, dict) and "ref" in value else "activity"


ActivityOrRef = Annotated[
    Annotated[Ref, Tag("ref")] | Annotated[Activity, Tag("activity")],
    Discriminator(_activity_kind),
]


class Hypothesis(BaseModel):
    model_config = _KEEP

    title: StrictStr = Field(min_length=1)
    probes: list[ActivityOrRef] = Field(default_factory=list)


class Experiment(BaseModel):
    """A whole experiment file."""

    model_config = _KEEP

    title: StrictStr = Field(min_length=1)
    description: StrictStr = Field(min_length=1)
    method: list[ActivityOrRef]
    steady_state_hypothesis: Hypothesis | None = Field(
        default=None, alias="steady-state-hypothesis"
    )
    rollbacks: list[ActivityOrRef] = Field(default_factory=list)
    configuration: dict[str, JsonValue] = Field(default_factory=dict)
    secrets: dict[str, dict[str, JsonValue]] = Field(default_factory=dict)
    tags: list[Annotated[StrictStr, Field(min_length=1)]] = Field(default_factory=list)
