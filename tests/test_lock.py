"""The lock: complete, in step with pyproject.toml, and installable from wheels everywhere.

- On every supported Python (3.11 to 3.14; 3.14 cannot run here, so this reads the lock rather
  than installing) and on Linux, macOS and Windows, every locked package has a ready-made wheel:
  no student compiles anything.
- Python 3.15, the first one pyproject.toml refuses, really lacks wheels, for the packages the
  refusal in kit.py names.
- requirements.txt and requirements-test.txt are exactly what ``uv export`` writes from uv.lock.
- Every third-party module the kit imports is declared in pyproject.toml (the package's in its
  dependencies, the notebooks' and tests' in their groups), and every declared package is used.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import kit
import locked_wheels

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

LOW, HIGH = kit.supported_pythons()
SUPPORTED = [(LOW[0], minor) for minor in range(LOW[1], HIGH[1])]
TARGETS = locked_wheels.targets(SUPPORTED)


@pytest.mark.parametrize("purpose", sorted(kit.LOCKS))
@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_every_locked_package_installs_from_a_wheel(target, purpose):
    chosen, missing = locked_wheels.wheels_for(kit.LOCKS[purpose], target)
    assert not missing, (f"{target} would have to build {[pin.name for pin in missing]} from "
                         "source: hold them back in [tool.uv] constraint-dependencies")
    assert "pydantic-core" in chosen and "jupyterlab" in chosen


def test_the_first_python_refused_really_lacks_wheels():
    """The upper bound in requires-python is earned: the packages kit.py names have none."""
    for platform in locked_wheels.PLATFORMS:
        target = locked_wheels.Target(HIGH, platform)
        _, missing = locked_wheels.wheels_for(kit.LOCKS["lab"], target)
        missing_names = {pin.name for pin in missing}
        assert {"pydantic-core", "numpy"} <= missing_names, target
        assert "pydantic-core" in kit.python_problem(HIGH)


def test_the_platform_specific_pins_apply_where_they_should():
    """Markers are read per laptop: Windows gets pywinpty, macOS appnope, Linux neither."""
    by_platform = {platform.name: locked_wheels.Target(HIGH[:1] + (HIGH[1] - 1,), platform)
                   for platform in locked_wheels.PLATFORMS}
    needed = {name: set(locked_wheels.wheels_for(kit.LOCKS["lab"], target)[0])
              for name, target in by_platform.items()}
    assert "pywinpty" in needed["Windows"] and "pywinpty" not in needed["Linux x86_64"]
    assert "appnope" in needed["macOS Intel"] and "appnope" not in needed["Windows"]


def uv_command() -> str:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.skip("needs uv: pip install uv (it is in the test group)")
    return uv


@pytest.mark.parametrize("group", sorted(kit.LOCKS))
@pytest.mark.slow
def test_the_requirements_files_are_exported_from_uv_lock(group):
    exported = subprocess.run([uv_command(), "export", *kit.export_arguments(group)],
                              cwd=ROOT, capture_output=True, text=True, check=True).stdout
    committed = kit.LOCKS[group].read_text(encoding="utf-8")
    strip = lambda text: [line for line in text.splitlines() if not line.startswith("#")]  # noqa: E731
    assert strip(exported) == strip(committed), (
        f"{kit.LOCKS[group].name} is not what uv.lock gives: run `python kit.py lock`")


@pytest.mark.slow
def test_uv_lock_is_in_step_with_pyproject():
    result = subprocess.run([uv_command(), "lock", "--check", "--offline"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# -- what the kit imports against what it declares ----------------------------------------------

#: Declared packages that are used without being imported by name, and why.
USED_WITHOUT_IMPORT = {
    "jupyterlab": "the notebooks' user interface (kit.py lab)",
    "ipykernel": "the kernel the notebooks run in",
    "jupyter-server-proxy": "serves the chat page through JupyterLab on hubs (wslab.display)",
    "pytest-asyncio": "a pytest plugin (asyncio_mode in pyproject.toml)",
    "pytest-timeout": "a pytest plugin (timeout in pyproject.toml)",
    "nbval": "a pytest plugin that runs the notebooks",
    "pytest-xdist": "a pytest plugin: kit.py test --fast runs on every core with it",
    "uv": "kit.py's installer, and this module's export check",
    "jupyter-repo2docker": "reads the Binder configuration in tests/test_hosting.py",
}


def third_party_imports(paths: list[Path]) -> set[str]:
    """Top-level module names imported by these files that are not the standard library's."""
    local = {path.stem for folder in (ROOT / "labsrc", ROOT / "tests", ROOT / "slides", ROOT)
             for path in folder.glob("*.py")} | {"wslab"}
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {name for name in names
            if name not in sys.stdlib_module_names and name not in local and name != "__future__"}


def distributions(modules: set[str]) -> set[str]:
    owners = packages_distributions()
    return {canonicalize_name(dist) for module in modules for dist in owners.get(module, [module])}


#: The notebooks' side of the package: what may import the ``notebook`` extra's packages.
NOTEBOOK_SIDE = ("answers", "checks", "figures", "display.py", "widgets.py", "redis_stand_in.py")


def core_dependencies() -> set[str]:
    return {canonicalize_name(Requirement(text).name)
            for text in PYPROJECT["project"]["dependencies"]}


def declared(*groups: str) -> set[str]:
    """Packages named in the project's dependencies, its extras and these groups (included
    ones too)."""
    extras = PYPROJECT["project"]["optional-dependencies"].values()
    names = {Requirement(text).name for text in PYPROJECT["project"]["dependencies"]}
    names |= {Requirement(text).name for extra in extras for text in extra}
    pending = list(groups)
    while pending:
        for entry in PYPROJECT["dependency-groups"][pending.pop()]:
            if isinstance(entry, dict):
                pending.append(entry["include-group"])
            else:
                names.add(Requirement(entry).name)
    return {canonicalize_name(name) for name in names}


def python_files(*folders: str) -> list[Path]:
    return [path for folder in folders for path in (ROOT / folder).rglob("*.py")]


def test_the_package_declares_what_it_imports():
    imported = distributions(third_party_imports(python_files("labsrc/wslab")))
    assert imported <= declared(), f"import without a dependency: {imported - declared()}"


def test_the_server_clients_and_benchmark_need_no_extra():
    package = ROOT / "labsrc" / "wslab"
    server_side = [path for path in package.rglob("*.py")
                   if path.relative_to(package).parts[0] not in NOTEBOOK_SIDE]
    imported = distributions(third_party_imports(server_side))
    assert imported <= core_dependencies(), (
        f"imported outside the notebook side, but only in the notebook extra: "
        f"{imported - core_dependencies()}")
    assert any(path.parts[-2] == "bench" for path in server_side)  # the benchmark is checked too


def test_the_notebooks_need_only_the_students_install():
    imported = distributions(third_party_imports(python_files("labsrc/lessons")))
    assert imported <= declared("lab"), imported - declared("lab")


def test_the_tests_and_slides_declare_what_they_import():
    files = python_files("tests", "slides") + list((ROOT / "labsrc").glob("*.py"))
    imported = distributions(third_party_imports(files))
    assert imported <= declared("test"), imported - declared("test")


def test_every_declared_package_is_used():
    everything = python_files("labsrc", "tests", "slides") + [ROOT / "kit.py"]
    imported = distributions(third_party_imports(everything))
    unused = declared("test") - imported - {canonicalize_name(n) for n in USED_WITHOUT_IMPORT}
    assert not unused, f"declared but never imported: {unused}"
