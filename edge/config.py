"""The one way configs are read and numbers are checked.

Configs are frozen dataclasses with documented defaults. A TOML file (or any mapping) holds only the changes from
the defaults; command-line values beat the file, the file beats the defaults. An unknown key anywhere is an error
that names it (a misspelled threshold must never be silently ignored), and so is a missing required key.

    config = load_config(RunConfig, "line3.toml")                       # defaults + the file's changes
    config = with_overrides(config, **{"source.uri": "test://"})        # + the command line's (None = not given)
    rule = from_mapping(AlertRule, {"name": "x", "metric": "reba_total", "threshold": 8})

Values are converted by their annotation: bool, int, float, str, `X | None`, `tuple[X, ...]`, dict and nested
dataclasses (tables). Range checks belong to each dataclass's `__post_init__`, through `check_number`.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from edge.errors import InputError

T = TypeVar("T")

# Keys holding credentials: an error about one names the key, never the value (errors reach terminals and journals).
SECRET_KEY_WORDS = ("password", "passwd", "secret", "token")


def is_secret_key(name: str) -> bool:
    """Whether a config key holds a credential (its value is never shown)."""
    return any(word in name.lower() for word in SECRET_KEY_WORDS)


def check_number(value: Any, what: str, *, minimum: float | None = None, maximum: float | None = None,
                 integer: bool = False, positive: bool = False) -> float | int:
    """`value` as a finite float (an int with `integer`), or an `InputError` saying what `what` must be.

    Booleans are refused (True is not 1 second). `positive` means > 0; `minimum`/`maximum` are inclusive.
    """
    if minimum is not None and maximum is not None:
        bounds = f" from {minimum:g} to {maximum:g}"
    elif positive:
        bounds = " above 0" + (f" and at most {maximum:g}" if maximum is not None else "")
    elif minimum is not None:
        bounds = f" >= {minimum:g}"
    elif maximum is not None:
        bounds = f" <= {maximum:g}"
    else:
        bounds = ""
    wanted = ("a whole number" if integer else "a number" if bounds else "a finite number") + bounds
    ok_type = hasattr(value, "__index__") if integer else hasattr(value, "__float__")
    if isinstance(value, (bool, str)) or not ok_type:
        raise InputError(f"{what} must be {wanted}, got {value!r}")
    number = operator.index(value) if integer else float(value)
    if (not math.isfinite(number) or (positive and number <= 0) or (minimum is not None and number < minimum)
            or (maximum is not None and number > maximum)):
        raise InputError(f"{what} must be {wanted}, got {value!r}")
    return number


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _convert(value: Any, tp: Any, path: str) -> Any:
    """Check and convert one value to the annotated type (dataclasses recursively)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(tp):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, path)
            except InputError as exc:
                errors.append(str(exc))
        raise InputError(errors[0] if errors else f"{path}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InputError(f"{path}: expected a table, got {type(value).__name__}")
        return from_mapping(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{path}: expected a whole number, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise InputError(f"{path}: expected a string, got {value!r}")
        return value
    if origin is tuple or tp is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{path}: expected a list, got {value!r}")
        inner = args[0] if args and args[-1] is Ellipsis else None
        return tuple(_convert(v, inner, f"{path}[{i}]") if inner else v for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise InputError(f"{path}: expected a table, got {value!r}")
        return dict(value)
    return value


def from_mapping(cls: type[T], data: dict, path: str = "config") -> T:
    """Build the frozen dataclass `cls` from a mapping holding only changes; unknown and missing keys are errors."""
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{path}: unknown key {unknown[0]!r} (valid: {', '.join(sorted(names))})")
    required = [f.name for f in fields if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING and f.name not in data]
    if required:
        raise InputError(f"{path}: missing key {required[0]!r}")
    kwargs = {}
    for key, value in data.items():
        try:
            kwargs[key] = _convert(value, hints[key], f"{path}.{key}")
        except InputError as exc:
            if is_secret_key(key):
                raise InputError(str(exc).replace(repr(value), "(value hidden)")) from None
            raise
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # InputError is a ValueError: the path says where
        raise InputError(f"{path}: {exc}") from None


def read_toml(path: str | os.PathLike, what: str = "config file") -> dict:
    """A TOML file as a dict; a missing, undecodable or malformed file is a one-line `InputError` (`what` names
    the file's role in it)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such {what}: {path}")
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 on JetPack 6
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None


def load_config(cls: type[T], path: str | os.PathLike | None) -> T:
    """The defaults of `cls`, with the TOML file's changes applied (the defaults alone when `path` is None)."""
    if path is None:
        return cls()
    return from_mapping(cls, read_toml(path), Path(path).name)


def with_overrides(config: T, **changes: Any) -> T:
    """Command-line values (dotted keys like "source.uri") over the config's; None means "not given"."""
    grouped: dict[str, dict] = {}
    top = {}
    for key, value in changes.items():
        if value is None:
            continue
        section, _, name = key.partition(".")
        if name:
            grouped.setdefault(section, {})[name] = value
        else:
            top[key] = value
    for section, values in grouped.items():
        top[section] = dataclasses.replace(getattr(config, section), **values)
    return dataclasses.replace(config, **top)


def whole_number_option(minimum: int):
    """An argparse `type` for a whole number >= `minimum`: a bad value is argparse's own one-line error."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse
