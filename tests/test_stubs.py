"""The type stubs (``_core.pyi``) name exactly the functions the compiled module has, with their
keyword names, so type checkers and editors see the real interface."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import convergent as cg
from convergent import _core

STUB = Path(cg.__file__).with_name("_core.pyi")


def _stub_functions() -> dict[str, list[str]]:
    tree = ast.parse(STUB.read_text())
    return {
        node.name: [a.arg for a in node.args.args + node.args.kwonlyargs]
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }


def _core_functions() -> dict[str, list[str]]:
    out = {}
    for name, fn in vars(_core).items():
        if name.startswith("_") or not callable(fn) or isinstance(fn, type):
            continue
        # pybind11 signatures: "name(arg0: type, arg1: type = default, ...) -> ret"
        first = (fn.__doc__ or "").splitlines()[0] if fn.__doc__ else ""
        m = re.match(rf"{name}\((.*)\)\s*->", first)
        args = re.findall(r"(?:^|, )(\*{0,2}\w+):", m.group(1)) if m else []
        out[name] = args
    return out


def test_stub_names_every_function_and_no_other():
    stub, core = _stub_functions(), _core_functions()
    assert sorted(set(core) - set(stub)) == []
    assert sorted(set(stub) - set(core)) == []


def test_stub_argument_names_match():
    stub, core = _stub_functions(), _core_functions()
    wrong = {n: (stub[n], core[n]) for n in core if n in stub and core[n] and stub[n] != core[n]}
    assert wrong == {}


def test_stub_file_ships_with_py_typed():
    assert STUB.is_file() and STUB.with_name("py.typed").is_file()
    assert inspect.ismodule(_core)
