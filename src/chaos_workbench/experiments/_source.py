"""Reading a suite file into plain data plus the line of every value, for error reports.

YAML is composed into PyYAML's node tree, whose marks give each key and item its line;
JSON is read by a small position-tracking parser built from the standard library's own
string and number scanners, so its values are exactly what ``json.loads`` would give
(PyYAML's YAML 1.1 rules differ from JSON on numbers like ``1e5``, so we do not read JSON
as YAML). Both expand ``${VAR}`` / ``${VAR:-default}`` in string values and notice keys
that appear twice (both formats otherwise keep the last one silently).
"""

from __future__ import annotations

import bisect
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]  # public, untyped in typeshed
from json.scanner import NUMBER_RE
from typing import Any

import yaml

from chaos_workbench.experiments.placeholders import is_placeholder
from chaos_workbench.limits import (
    MAX_DEPTH,
    MAX_SUITE_BYTES,
    MAX_SUITE_VALUES,
    json_depth_exceeds,
)

__all__ = [
    "Document",
    "Loc",
    "SourceIssue",
    "SyntaxProblem",
    "expand_env",
    "parse_json",
    "parse_yaml",
]

Loc = tuple[str | int, ...]

# "$${" is an escaped literal "${"; "${...}" a reference; a lone "${" is left unclosed.
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_SURROGATE = re.compile("[\ud800-\udfff]")
# Python refuses to convert longer decimal integers (a guard against quadratic time).
_MAX_DIGITS = sys.get_int_max_str_digits() or 4300
_TOO_MANY_DIGITS = f"an integer has more than {_MAX_DIGITS:,} digits (the limit)"
# A JSON string (matched whole, so digits inside are skipped) or a run of digits.
_STRING_OR_DIGITS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|\d+')


@dataclass(frozen=True)
class SourceIssue:
    """A mistake found while reading (unset variable, duplicate key), before validation."""

    loc: Loc
    line: int | None
    message: str


class SyntaxProblem(Exception):
    """The text is not valid YAML/JSON; ``line`` is 1-based when known."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Document:
    """Plain data, the line of each location in it, and what reading found wrong."""

    data: object
    lines: dict[Loc, int] = field(default_factory=dict)
    issues: list[SourceIssue] = field(default_factory=list)

    def line_for(self, loc: Loc) -> int | None:
        """The line of ``loc``, or of its nearest ancestor that is in the file."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return None


def expand_env(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Expand ``${VAR}`` and ``${VAR:-default}`` (default when unset or empty, as in sh)."""
    errors: list[str] = []

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return "${"
        if whole == "${":
            errors.append("'${' without a closing '}'")
            return whole
        name, sep, default = match.group(1).partition(":-")
        if not _NAME.fullmatch(name) and not is_placeholder(name):
            errors.append(f"malformed variable reference {whole!r}")
            return whole
        value = env.get(name)
        if value is None or (sep and not value):
            if sep:
                return default
            errors.append(
                f"environment variable {name} is not set "
                f"(set it, or give a default: ${{{name}:-value}})"
            )
            return ""
        return value

    return _REFERENCE.sub(replace, text), errors


def parse_yaml(text: str, env: Mapping[str, str]) -> Document:
    """Parse YAML text; raises :class:`SyntaxProblem` when it is not YAML or breaks a bound.

    The bounds of :mod:`chaos_workbench.limits` hold before anything is built: nesting
    while composing (PyYAML's composer recurses per level), and the number of values
    with every alias expanded while walking (ten anchors of ten aliases each would be
    10^10 values for whoever reads the data next).
    """
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # the reader refuses unprintable characters here
        node = loader.get_single_node()
        if node is None:
            return Document(data=None)
        doc = Document(data=None)
        _YamlWalk(loader, doc, env).walk(node, (), node.start_mark.line + 1, 0)
        doc.data = loader.construct_document(node)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        raise SyntaxProblem(
            None if mark is None else mark.line + 1, f"invalid YAML: {message}"
        ) from None
    except yaml.reader.ReaderError as exc:
        raise SyntaxProblem(
            text.count("\n", 0, exc.position) + 1,
            f"invalid YAML: character U+{exc.character:04X} is not allowed in YAML "
            "(control characters such as NUL cannot appear, even quoted)",
        ) from None
    except yaml.YAMLError as exc:
        raise SyntaxProblem(None, f"invalid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, bounded: nesting deeper than ``MAX_DEPTH`` is refused by the
    scanner (flow brackets: it would otherwise read every one of 100,000 ``[`` before the
    parser sees the first) and by the composer (block nesting: it recurses per level);
    a tagged value that cannot be built is refused at its own line."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._values = 0

    def fetch_flow_collection_start(self, TokenClass: type[yaml.Token]) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise SyntaxProblem(
                self.get_mark().line + 1,
                f"invalid YAML: nested more than {MAX_DEPTH} levels deep (the limit)",
            )
        super().fetch_flow_collection_start(TokenClass)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        line = node.start_mark.line + 1
        # Python refuses int("9" * 5000), and YAML 1.1's base 60 ("1:0:0:...", an int
        # however long) costs quadratic time: no integer is longer than Python's digit limit.
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag == _INT_TAG
            and len(node.value) > _MAX_DIGITS
        ):
            raise SyntaxProblem(line, f"invalid YAML: {_TOO_MANY_DIGITS}")
        # PyYAML's constructors assume a tag fits its value: "!!timestamp not-a-date"
        # raises AttributeError, "!!float x" ValueError, "!!binary ü" TypeError.
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError, AttributeError):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            shown = _shown(node.value) if isinstance(node, yaml.ScalarNode) else "this value"
            raise SyntaxProblem(line, f"invalid YAML: {shown} is not a valid {tag}") from None

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
            if self._depth > MAX_DEPTH:
                raise SyntaxProblem(
                    event.start_mark.line + 1,
                    f"invalid YAML: nested more than {MAX_DEPTH} levels deep (the limit)",
                )
            # Values are counted here too, not only in the walk: composing the 2 million
            # items of a 4 MiB "[1,1,1,...]" would take a minute before the walk could count.
            # A mapping key (index None) is not a value; an alias composes no new node.
            is_key = isinstance(parent, yaml.MappingNode) and index is None
            if not is_key and not isinstance(event, yaml.AliasEvent):
                self._values += 1
                if self._values > MAX_SUITE_VALUES:
                    raise SyntaxProblem(event.start_mark.line + 1, _too_many_values("YAML"))
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_characters(text: str, line: int | None, kind: str = "YAML") -> None:
    """Refuse a lone UTF-16 surrogate (from a ``"\\ud800"`` escape, or an undecodable
    environment value): it is not a character, and no file, terminal or database takes it."""
    match = _SURROGATE.search(text)
    if match is not None:
        raise SyntaxProblem(
            line,
            f"invalid {kind}: \\u{ord(match.group(0)):04x} is half of a UTF-16 surrogate pair, "
            "not a character (write the character itself, or both halves of the pair)",
        )


def _too_many_values(kind: str) -> str:
    return (
        f"invalid {kind}: more than {MAX_SUITE_VALUES:,} values once aliases are "
        "expanded (the limit; nested aliases multiply)"
        if kind == "YAML"
        else f"invalid {kind}: more than {MAX_SUITE_VALUES:,} values (the limit)"
    )


class _YamlWalk:
    """Record lines, expand variables in string scalars (once per node: aliases share nodes).

    Every value is visited once per path that reaches it, so aliases count as many times
    as they are used: the walk stops at ``MAX_SUITE_VALUES`` visits, ``MAX_DEPTH`` levels,
    or ``MAX_SUITE_BYTES`` characters of keys and scalars (a 3 MB string aliased 40,000
    times is 120 GB for whoever reads the data next), before the expanded data could be
    built or validated. Each scalar node's text is read once, however often it is visited.
    """

    def __init__(self, loader: yaml.SafeLoader, doc: Document, env: Mapping[str, str]) -> None:
        self.loader = loader
        self.doc = doc
        self.env = env
        self.read: set[int] = set()  # ids of scalar nodes already expanded and checked
        self.visited = 0
        self.chars = 0

    def walk(self, node: yaml.Node, loc: Loc, line: int, depth: int) -> None:
        self.visited += 1
        if self.visited > MAX_SUITE_VALUES:
            raise SyntaxProblem(line, _too_many_values("YAML"))
        if depth > MAX_DEPTH:
            raise SyntaxProblem(
                line, f"invalid YAML: nested more than {MAX_DEPTH} levels deep (the limit)"
            )
        self.doc.lines[loc] = line
        if isinstance(node, yaml.ScalarNode):
            self._scalar(node, loc, line)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*loc, index), item.start_mark.line + 1, depth + 1)
        elif isinstance(node, yaml.MappingNode):
            self._duplicate_keys(node, loc)
            self.loader.flatten_mapping(node)  # resolve "<<" merge keys as construction will
            for key_node, value_node in node.value:  # a key given twice: the last one wins
                key_line = key_node.start_mark.line + 1
                if isinstance(key_node, yaml.ScalarNode):
                    self._count(key_node.value, key_line)
                    _check_characters(key_node.value, key_line)
                    key = str(key_node.value)
                else:
                    key = "?"
                self.walk(value_node, (*loc, key), key_line, depth + 1)

    def _scalar(self, node: yaml.ScalarNode, loc: Loc, line: int) -> None:
        if id(node) not in self.read:
            self.read.add(id(node))
            if node.tag == _STR_TAG and "${" in node.value:
                node.value, errors = expand_env(node.value, self.env)
                self.doc.issues.extend(SourceIssue(loc, line, message) for message in errors)
            _check_characters(node.value, line)
        self._count(node.value, line)

    def _count(self, text: str, line: int) -> None:
        self.chars += len(text)
        if self.chars > MAX_SUITE_BYTES:
            raise SyntaxProblem(
                line,
                f"invalid YAML: more than {MAX_SUITE_BYTES // (1024 * 1024)} MiB of text once "
                "aliases are expanded (the limit for a suite file)",
            )

    def _duplicate_keys(self, node: yaml.MappingNode, loc: Loc) -> None:
        first_line: dict[str, int] = {}
        for key_node, _ in node.value:  # before merging: "<<" keys may be overridden
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            key_line = key_node.start_mark.line + 1
            if key in first_line and key_node.tag != "tag:yaml.org,2002:merge":
                self.doc.issues.append(
                    SourceIssue(
                        (*loc, key),
                        key_line,
                        f"key {key!r} appears twice (first on line {first_line[key]}); "
                        "the last one would win",
                    )
                )
            first_line.setdefault(key, key_line)


def parse_json(text: str, env: Mapping[str, str]) -> Document:
    """Parse JSON text; raises :class:`SyntaxProblem` when it is not JSON."""
    if json_depth_exceeds(text, MAX_DEPTH):  # before the recursive parsers see it
        raise SyntaxProblem(
            None, f"invalid JSON: nested more than {MAX_DEPTH} levels deep (the limit)"
        )
    try:
        json.loads(text)  # the standard library's messages for malformed JSON
    except json.JSONDecodeError as exc:
        raise SyntaxProblem(exc.lineno, f"invalid JSON: {exc.msg}") from None
    except ValueError:  # an integer past Python's digit limit, which gives no position
        raise SyntaxProblem(_long_number_line(text), f"invalid JSON: {_TOO_MANY_DIGITS}") from None
    parser = _JsonParser(text, env)
    data, _ = parser.value(parser.skip(0), (), parser.doc)
    parser.doc.data = data
    return parser.doc


def _long_number_line(text: str) -> int | None:
    """The line of the first number in JSON ``text`` with too many digits to convert."""
    for match in _STRING_OR_DIGITS.finditer(text):
        if len(match.group(0)) > _MAX_DIGITS and match.group(0)[0] != '"':
            return text.count("\n", 0, match.start()) + 1
    return None


def _shown(value: str) -> str:
    """``value`` quoted for a message, cut short when long."""
    return repr(value) if len(value) <= 60 else repr(value[:60]) + "…"


class _JsonParser:
    """Recursive descent over text already known to be valid JSON, noting each line."""

    _WHITESPACE = re.compile(r"[ \t\n\r]*")
    _CONSTANTS: Mapping[str, object] = {
        "true": True,
        "false": False,
        "null": None,
        "NaN": float("nan"),
        "Infinity": float("inf"),
        "-Infinity": float("-inf"),
    }

    def __init__(self, text: str, env: Mapping[str, str]) -> None:
        self.text = text
        self.env = env
        self.newlines = [i for i, char in enumerate(text) if char == "\n"]
        self.doc = Document(data=None)
        self.values = 0

    def line(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def skip(self, pos: int) -> int:
        match = self._WHITESPACE.match(self.text, pos)
        return pos if match is None else match.end()

    def value(self, pos: int, loc: Loc, doc: Document) -> tuple[object, int]:
        self.values += 1
        if self.values > MAX_SUITE_VALUES:  # as in YAML (json.loads itself is fast C)
            raise SyntaxProblem(self.line(pos), _too_many_values("JSON"))
        doc.lines.setdefault(loc, self.line(pos))
        char = self.text[pos]
        if char == "{":
            return self._object(pos + 1, loc, doc)
        if char == "[":
            return self._array(pos + 1, loc, doc)
        if char == '"':
            text, end = scanstring(self.text, pos + 1)
            if "${" in text:
                text, errors = expand_env(text, self.env)
                doc.issues.extend(SourceIssue(loc, self.line(pos), m) for m in errors)
            _check_characters(text, self.line(pos), "JSON")
            return text, end
        number = NUMBER_RE.match(self.text, pos)
        if number is not None:
            integer, frac, exp = number.groups()
            if frac or exp:
                return float(integer + (frac or "") + (exp or "")), number.end()
            return int(integer), number.end()
        for word, constant in self._CONSTANTS.items():
            if self.text.startswith(word, pos):
                return constant, pos + len(word)
        raise SyntaxProblem(self.line(pos), "invalid JSON")  # json.loads accepted it: unreachable

    def _object(self, pos: int, loc: Loc, doc: Document) -> tuple[object, int]:
        result: dict[str, object] = {}
        first_line: dict[str, int] = {}
        pos = self.skip(pos)
        if self.text[pos] == "}":
            return result, pos + 1
        while True:
            key_line = self.line(pos)
            key, pos = scanstring(self.text, pos + 1)
            _check_characters(key, key_line, "JSON")
            if key in first_line:
                doc.issues.append(
                    SourceIssue(
                        (*loc, key),
                        key_line,
                        f"key {key!r} appears twice (first on line {first_line[key]}); "
                        "the last one would win",
                    )
                )
            first_line.setdefault(key, key_line)
            doc.lines[(*loc, key)] = key_line
            pos = self.skip(self.skip(pos) + 1)  # past ':'
            result[key], pos = self.value(pos, (*loc, key), doc)
            pos = self.skip(pos)
            if self.text[pos] == "}":
                return result, pos + 1
            pos = self.skip(pos + 1)  # past ','

    def _array(self, pos: int, loc: Loc, doc: Document) -> tuple[object, int]:
        result: list[object] = []
        pos = self.skip(pos)
        if self.text[pos] == "]":
            return result, pos + 1
        while True:
            item, pos = self.value(pos, (*loc, len(result)), doc)
            result.append(item)
            pos = self.skip(pos)
            if self.text[pos] == "]":
                return result, pos + 1
            pos = self.skip(pos + 1)
