"""The client as a distribution of its own (clients/python): what it imports is what it declares,
the server requires its exact version, it ships py.typed, and its public API is annotated."""

import ast
import inspect
import re
import sys
import tomllib
import typing
from pathlib import Path

import ganforge
from ganforge._api import Datasets, Models
from ganforge.client import AsyncJobs, SyncJobs

REPO = Path(__file__).resolve().parents[3]
CLIENT = REPO / "clients" / "python"
CLIENT_PROJECT = tomllib.loads((CLIENT / "pyproject.toml").read_text())
SERVER_PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# A distribution's name -> the module it installs, where the two differ.
MODULE_OF = {"pillow": "PIL"}


def name_of(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower()


def imported_roots() -> set[str]:
    roots = set()
    for path in (CLIENT / "ganforge").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots.add(node.module.split(".")[0])
    return roots


def test_the_client_declares_exactly_what_it_imports():
    declared = {MODULE_OF.get(name_of(r), name_of(r)) for r in CLIENT_PROJECT["project"]["dependencies"]}
    third_party = imported_roots() - set(sys.stdlib_module_names) - {"ganforge"}
    assert third_party == declared == {"httpx", "pydantic", "rich", "PIL"}


def test_the_package_is_the_one_in_clients_python_and_ships_py_typed():
    assert Path(ganforge.__file__).resolve().parent == CLIENT / "ganforge"
    assert (CLIENT / "ganforge" / "py.typed").is_file()
    assert "py.typed" in CLIENT_PROJECT["tool"]["setuptools"]["package-data"]["ganforge"]
    assert CLIENT_PROJECT["project"]["scripts"] == {"ganforge": "ganforge.cli:main"}


def test_the_server_requires_the_clients_own_version_by_name():
    assert SERVER_PROJECT["project"]["name"] == "ganforge-server"
    (requirement,) = [r for r in SERVER_PROJECT["project"]["dependencies"] if name_of(r) == "ganforge"]
    assert requirement == f"ganforge=={ganforge.__version__}", "a path or a drifted version"
    assert "scripts" not in SERVER_PROJECT["project"], "the console script is the client's"


def _public_methods(cls: type) -> dict[str, typing.Callable]:
    methods = {}
    for name, member in inspect.getmembers(cls):
        function = member.fget if isinstance(member, property) else member
        if (name.startswith("_") and name != "__init__") or not inspect.isfunction(function):
            continue
        if function.__module__.startswith("ganforge"):
            methods[name] = function
    return methods


def test_every_public_method_and_its_parameters_are_annotated():
    classes = {getattr(ganforge, name) for name in ganforge.__all__ if inspect.isclass(getattr(ganforge, name))}
    classes |= {SyncJobs, AsyncJobs, Models, Datasets}
    missing = []
    for cls in classes:
        for name, function in _public_methods(cls).items():
            hints = typing.get_type_hints(function)  # also proves every annotation resolves
            parameters = [p for p in inspect.signature(function).parameters.values() if p.name not in ("self", "cls")]
            if "return" not in hints:
                missing.append(f"{cls.__name__}.{name} -> ?")
            missing += [f"{cls.__name__}.{name}({p.name})" for p in parameters if p.name not in hints]
    assert not missing, missing


def test_the_async_client_has_every_method_of_the_sync_one():
    sync, asynchronous = ganforge.Client("http://127.0.0.1:1"), ganforge.AsyncClient("http://127.0.0.1:1")
    for resource in ("", "jobs", "models", "datasets"):
        a = getattr(sync, resource) if resource else sync
        b = getattr(asynchronous, resource) if resource else asynchronous
        names = {n for n in dir(a) if not n.startswith("_") and callable(getattr(a, n))} - {"close"}
        for name in names:
            assert typing.get_type_hints(getattr(b, name))["return"] is not None, f"{resource}.{name}"
    sync.close()
