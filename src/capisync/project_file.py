"""Reading a project file: YAML typed as JSON types it, merge keys, `x-` blocks, `${VAR}`s.

What comes out is plain data (dicts, lists, str, int, float, bool, None) for the schema in
`capisync.config`; each problem is a ConfigError naming the file, or a line in `problems`
naming where in the file (`syncs.purchases.destination.access_token: ...`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from capisync.errors import ConfigError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
EXTENSION_PREFIX = "x-"  # top-level (and per-sync) keys ignored, for YAML anchors


def read_yaml(file: Path) -> dict[str, Any]:
    """The file's top-level mapping; ConfigError if it is missing, not YAML or not a mapping."""
    if not file.is_file():
        hint = "run `capisync init` to create one, or pass --config PATH"
        raise ConfigError([f"project file not found ({hint})"], str(file))
    try:
        raw = yaml.load(file.read_text(encoding="utf-8"), Loader=_ProjectLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"
        raise ConfigError([problem], str(file)) from None
    if not isinstance(raw, dict):
        raise ConfigError(["expected a mapping with a 'syncs:' key at the top"], str(file))
    return raw


def without_extensions(raw: dict[str, Any]) -> dict[str, Any]:
    """The file without its `x-` keys, at the top and in each sync (as docker-compose files
    use them: blocks that hold YAML anchors for `<<: *name` merge keys)."""

    def strip(node: dict[Any, Any]) -> dict[Any, Any]:
        return {
            k: v
            for k, v in node.items()
            if not (isinstance(k, str) and k.startswith(EXTENSION_PREFIX))
        }

    data = strip(raw)
    syncs = data.get("syncs")
    if isinstance(syncs, dict):
        data["syncs"] = {k: strip(v) if isinstance(v, dict) else v for k, v in syncs.items()}
    return data


class _ProjectLoader(yaml.SafeLoader):
    """SafeLoader with JSON's scalar types, merge keys, and no key given twice.

    - Unquoted scalars are typed as in JSON (the YAML 1.2 JSON schema): `null`/`~`/empty,
      `true`/`false`, decimal integers and decimal numbers. Everything else stays the text
      written: YAML 1.1 would read `no`/`on`/`yes`/`off` as booleans (`default_country: no`,
      Norway, became False), `0123` as octal 83 (a ZIP code, a test code), `2026-01-02` as a
      date and `1:30` as 90. The schema then converts text where a field wants a number.
    - `<<: *anchor` merges a mapping (YAML merge keys), the keys written beside it win.
    - A key given twice in one mapping is an error: PyYAML would silently keep the last one
      (a second `mapping:` block would erase the first).
    """

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag.endswith((":null", ":merge"))]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # merged keys may be overridden by the keys written beside them
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key '{key}' is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_JSON_SCALARS = (
    ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("tag:yaml.org,2002:int", r"-?(?:0|[1-9][0-9]*)", "-0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)",
        "-0123456789",
    ),
)
for _tag, _pattern, _first in _JSON_SCALARS:
    _ProjectLoader.add_implicit_resolver(_tag, re.compile(f"^(?:{_pattern})$"), list(_first))


def interpolate(
    node: Any, env: Mapping[str, str], where: tuple[Any, ...], problems: list[str]
) -> Any:
    if isinstance(node, dict):
        return {k: interpolate(v, env, (*where, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, (*where, i), problems) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(
            f"{dotted(where)}: environment variable {name} is not set "
            f"(export {name}=... before running, or write ${{{name}:-default}})"
        )
        return ""

    return _ENV_REF.sub(substitute, node)


def dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"
