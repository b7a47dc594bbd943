"""Version checks of installed distributions, all in one place.

A floor in pyproject.toml holds only when pip enforces it: an environment built another way (a `--no-deps` install,
system packages seen through `--system-site-packages`, a pinned older wheel) can hold a release that imports fine
and then misbehaves without a word. Code that needs a release newer than "importable" checks it here, at import or
construction time, so that an older install fails with one clear line:

    require_version("paho-mqtt", "2.2", "pip install -U 'paho-mqtt>=2.2'")

Versions are compared as PEP 440 versions (`packaging.version`), never as strings.
"""

from __future__ import annotations

from importlib import metadata

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from edge.errors import InputError

__all__ = ["declared_specifier", "installed_version", "require_version", "version_satisfies"]


def installed_version(distribution: str) -> str | None:
    """The installed version string of `distribution` (its name as pip knows it, e.g. "paho-mqtt"), or None when no
    installed distribution has that name."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def version_satisfies(version: str, specifier: str) -> bool:
    """Whether `version` lies in `specifier` (">=2.2", ">=1.21.2,<2"), pre-releases included. A version or specifier
    that is not PEP 440 is a ValueError."""
    try:
        return SpecifierSet(specifier).contains(Version(version), prereleases=True)
    except (InvalidVersion, InvalidSpecifier) as exc:
        raise ValueError(str(exc)) from None


def require_version(distribution: str, minimum: str, hint: str) -> Version:
    """The installed version of `distribution`; an InputError of one line, ending in `hint` (what to run), when it is
    not installed, older than `minimum`, or has a version that is not PEP 440."""
    found = installed_version(distribution)
    if found is None:
        raise InputError(f"{distribution} >= {minimum} is needed and is not installed: {hint}")
    try:
        version = Version(found)
    except InvalidVersion:
        raise InputError(f"{distribution} >= {minimum} is needed; the installed version {found!r} cannot be "
                         f"compared: {hint}") from None
    if version < Version(minimum):
        raise InputError(f"{distribution} >= {minimum} is needed, {found} is installed: {hint}")
    return version


def declared_specifier(distribution: str, project: str = "ergo-edge") -> str | None:
    """The version range the installed `project` declares for `distribution` on this machine (environment markers
    applied, extras not), e.g. ">=1.12"; None when it declares none or `project` is not installed."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    try:
        lines = metadata.requires(project) or []
    except metadata.PackageNotFoundError:
        return None
    for line in lines:
        req = Requirement(line)
        if canonicalize_name(req.name) == canonicalize_name(distribution) and (
                req.marker is None or req.marker.evaluate({"extra": ""})):
            return str(req.specifier) or None
    return None
