"""The environment fingerprint: what must match for stored numbers to mean something.

Timing is compared only between measurements made side by side in one job, so the fingerprint
does not gate timing. It gates the *stored* memory numbers, which count only when the
fingerprint matches exactly: two builds of one Python version can allocate differently
(seen with memray here), and so can two versions of orjson or starlette. The short `environment_key`
names the baseline file (`baselines/linux-x86_64-cpython3.11.json`).
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from agui_perf.gate._codec import from_json, to_json
from agui_perf.gate.store.layout import DEFAULT_FINGERPRINT

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from agui_perf.gate._io import Reader

__all__ = [
    "GATE_PACKAGES",
    "KEY_PACKAGES",
    "NOT_INSTALLED",
    "Environment",
    "current_environment",
    "environment_differences",
    "environment_from_json",
    "environment_key",
    "environment_to_json",
]

#: The gate's own instruments: their version changes the numbers of any project, so they are
#: in every fingerprint, beside the project's `[tool.agui_perf.layout].fingerprint_packages`.
GATE_PACKAGES: tuple[str, ...] = ("memray", "pytest-benchmark")
#: The fingerprint's distributions with the default layout (this repository's streaming core).
KEY_PACKAGES: tuple[str, ...] = (*DEFAULT_FINGERPRINT, *GATE_PACKAGES)
NOT_INSTALLED = "not installed"


@dataclass(frozen=True)
class Environment:
    implementation: str  # "CPython"
    python_version: str  # "3.11.7"
    python_build: tuple[str, str]  # platform.python_build(): (build number, build date)
    compiler: str  # platform.python_compiler()
    machine: str  # "x86_64"
    system: str  # "Linux"
    cpu_model: str  # /proc/cpuinfo "model name", or platform.processor()
    packages: Mapping[str, str] = field(default_factory=dict)  # distribution -> version

    @property
    def key(self) -> str:
        return environment_key(self)


def _cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        # x86 says "model name"; some ARM kernels only say "Hardware" or "Processor".
        if sep and name.strip().lower() in {"model name", "hardware", "processor name"}:
            return value.strip()
    return platform.processor() or "unknown"


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return NOT_INSTALLED


def current_environment(packages: Sequence[str] = DEFAULT_FINGERPRINT) -> Environment:
    """Fingerprint the running interpreter and machine, with the versions of `packages`
    (the project's) and of the gate's own instruments."""
    build = platform.python_build()
    return Environment(
        implementation=platform.python_implementation(),
        python_version=platform.python_version(),
        python_build=(str(build[0]), str(build[1])),
        compiler=platform.python_compiler(),
        machine=platform.machine(),
        system=platform.system(),
        cpu_model=_cpu_model(),
        packages={
            name: _package_version(name) for name in dict.fromkeys((*packages, *GATE_PACKAGES))
        },
    )


def environment_key(env: Environment | None = None) -> str:
    """`<system>-<machine>-<implementation><major>.<minor>`, e.g. `linux-x86_64-cpython3.11`."""
    if env is None:
        env = current_environment()
        major_minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    else:
        major_minor = ".".join(env.python_version.split(".")[:2])
    parts = (env.system, env.machine, f"{env.implementation}{major_minor}")
    return "-".join(part.strip().lower().replace(" ", "_") for part in parts)


def environment_differences(a: Environment, b: Environment) -> list[str]:
    """Human-readable differences, e.g. `python_build '(main, May 9)' vs '(main, Jun 1)'`."""
    diffs: list[str] = []
    for name in ("implementation", "python_version", "python_build", "compiler", "machine"):
        left, right = getattr(a, name), getattr(b, name)
        if left != right:
            diffs.append(f"{name} {_show(left)} vs {_show(right)}")
    for name in ("system", "cpu_model"):
        left, right = getattr(a, name), getattr(b, name)
        if left != right:
            diffs.append(f"{name} {left!r} vs {right!r}")
    for package in sorted(set(a.packages) | set(b.packages)):
        left = a.packages.get(package, NOT_INSTALLED)
        right = b.packages.get(package, NOT_INSTALLED)
        if left != right:
            diffs.append(f"{package} {left} vs {right}")
    return diffs


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return repr(", ".join(str(v) for v in value))
    return repr(value)


def environment_to_json(env: Environment) -> dict[str, object]:
    return to_json(env)


def environment_from_json(obj: object, reader: Reader, where: str = "environment") -> Environment:
    data = reader.mapping(obj, where)
    build = reader.array(data, "python_build", where)
    if len(build) != 2 or not all(isinstance(part, str) for part in build):
        raise reader.error(where, f"field 'python_build' should be two strings, found {build!r}")
    packages = reader.sub(data, "packages", where)
    versions: dict[str, str] = {}
    for name, version in packages.items():
        if not isinstance(version, str):
            raise reader.error(
                where, f"package {name!r} has version {version!r}; expected a string"
            )
        versions[name] = version
    python_build = (str(build[0]), str(build[1]))
    return from_json(Environment, reader, data, where, python_build=python_build, packages=versions)
