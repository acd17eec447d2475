"""requirements.txt's floors are the versions `bash .ci/floors` installs and tests."""

import os
import re

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lines(name):
    with open(os.path.join(ROOT, name)) as stream:
        return [line.strip() for line in stream if line.strip() and not line.startswith("#")]


def floors() -> dict:
    """Each requirement's lowest allowed version: ``{name: (version, exact)}`` (exact for a ``==`` pin)."""
    found = {}
    for line in _lines("requirements.txt"):
        requirement = Requirement(line)
        lows = [spec for spec in requirement.specifier if spec.operator in (">=", "==")]
        assert len(lows) == 1, f"{line!r} needs one floor (>=) or pin (==)"
        found[requirement.name.lower()] = (lows[0].version, lows[0].operator == "==")
    return found


def pins() -> dict:
    found = {}
    for line in _lines(".ci/floors.txt"):
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line).groups()
        found[name.lower()] = version
    return found


def test_every_floor_is_installed_by_the_floors_run_at_its_lowest_minor_release():
    pinned = pins()
    for name, (floor, exact) in floors().items():
        if exact:  # a pin in requirements.txt installs itself
            continue
        assert name in pinned, f"{name} has a floor in requirements.txt that .ci/floors.txt does not install"
        low, got = Version(floor), Version(pinned[name])
        assert got >= low and got.release[: len(low.release)] == low.release, (name, floor, pinned[name])


def test_the_floors_run_pins_nothing_the_requirements_do_not_ask_for():
    asked = set(floors()) | {"jaxlib", "dask"}  # jax[cpu] brings jaxlib; distributed brings dask
    assert set(pins()) <= asked, set(pins()) - asked


def test_the_package_metadata_asks_for_the_requirements():
    """pyproject.toml's dependencies plus its [test] extra are requirements.txt's lines, no more, no fewer."""
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as stream:
        project = tomllib.load(stream)["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    assert sorted(map(str, map(Requirement, declared))) == sorted(
        map(str, map(Requirement, _lines("requirements.txt")))
    )
