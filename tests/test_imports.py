"""The package's import structure: no module takes a private name from
another, the module graph has no circle, and every module imports on its
own, bottom layer first."""

import ast
import configparser
import json
import os
import subprocess
import sys
import textwrap

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tfgen")
ROOT = os.path.dirname(os.path.abspath(PACKAGE_DIR))


def _modules():
    """Dotted name -> path of every module under tfgen/."""
    modules = {}
    for directory, _, names in os.walk(PACKAGE_DIR):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            parts = os.path.relpath(path, ROOT)[: -len(".py")].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _is_package(module):
    return MODULES[module].endswith("__init__.py")


def _imports(module):
    """`(line, imported module, names)` of every tfgen import in `module`,
    inside functions too: a deferred import is still a dependency."""
    with open(MODULES[module]) as f:
        tree = ast.parse(f.read())
    package = module if _is_package(module) else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((node.lineno, alias.name, []))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((node.lineno, base, [a.name for a in node.names]))
    return [f for f in found if f[1] == "tfgen" or f[1].startswith("tfgen.")]


def _dependencies(module):
    """The tfgen modules `module` imports: `from a import b` names module
    `a.b` when that is a module, else `a`. A package's imports of its own
    submodules (re-exports) are left out."""
    deps = set()
    for _, base, names in _imports(module):
        targets = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
        if len(targets) < len(names) or not names:
            targets.append(base)
        deps.update(t for t in targets if t in MODULES)
    if _is_package(module):
        deps = {d for d in deps if not d.startswith(module + ".")}
    deps.discard(module)
    return deps


def _layering():
    """Every module after all it depends on (a topological order); raises
    AssertionError naming a circle if there is one."""
    graph = {m: _dependencies(m) for m in MODULES}
    order, state = [], {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        if state.get(module) == "open":
            circle = path[path.index(module) :] + [module]
            raise AssertionError("Import circle: " + " -> ".join(circle))
        state[module] = "open"
        for dep in sorted(graph[module]):
            visit(dep, path + [module])
        state[module] = "done"
        order.append(module)

    for module in sorted(graph):
        visit(module, [])
    return order


def test_no_private_name_is_imported_from_another_module():
    offenders = [
        f"{os.path.relpath(MODULES[module], ROOT)}:{line}: from {base} import {name}"
        for module in sorted(MODULES)
        for line, base, names in _imports(module)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not offenders, "Private names taken across modules:\n" + "\n".join(offenders)


def test_the_module_graph_has_no_circle():
    order = _layering()  # raises on a circle
    bottom = _dependencies("tfgen.files")
    assert not bottom, f"tfgen.files is the bottom layer; it imports {bottom}"
    assert order.index("tfgen.files") < order.index("tfgen.zoo")
    assert order.index("tfgen.codec.container") < order.index("tfgen.codec.bits_back")


# Each module in a clean tfgen namespace: the package's __init__ (which
# imports everything in its own order) is not run first, so a module that
# only imports because something else loaded its dependencies fails here.
_IMPORT_EACH = textwrap.dedent(
    """
    import importlib, json, sys, traceback, types
    root, version, names = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    failures = {}
    for name in names:
        for loaded in [m for m in sys.modules if m == "tfgen" or m.startswith("tfgen.")]:
            del sys.modules[loaded]
        stub = types.ModuleType("tfgen")
        stub.__path__ = [root]
        stub.__version__ = version
        sys.modules["tfgen"] = stub
        try:
            importlib.import_module(name)
        except Exception:
            failures[name] = traceback.format_exc(limit=-3)
    print(json.dumps(failures))
    """
)


def _version():
    with open(MODULES["tfgen"]) as f:
        for node in ast.parse(f.read()).body:
            if isinstance(node, ast.Assign) and node.targets[0].id == "__version__":
                return node.value.value
    raise AssertionError("tfgen/__init__.py sets no __version__")


def _run(code, *args):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_module_imports_on_its_own_in_layering_order():
    order = [m for m in _layering() if m != "tfgen"]
    failures = _run(_IMPORT_EACH, PACKAGE_DIR, _version(), json.dumps(order))
    assert not failures, "\n".join(f"{k}:\n{v}" for k, v in failures.items())


def test_the_files_module_needs_only_the_standard_library():
    code = textwrap.dedent(
        """
        import importlib, json, sys, types
        stub = types.ModuleType("tfgen")
        stub.__path__ = [sys.argv[1]]
        sys.modules["tfgen"] = stub
        before = set(sys.modules)
        importlib.import_module("tfgen.files")
        new = {m.partition(".")[0] for m in set(sys.modules) - before}
        print(json.dumps(sorted(new - set(sys.stdlib_module_names) - {"tfgen"})))
        """
    )
    assert _run(code, PACKAGE_DIR) == []


def test_every_package_is_listed_in_setup_cfg():
    # setup.cfg names packages explicitly; a package missing there is left
    # out of the wheel while the editable install still finds it.
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    listed = set(config["options"]["packages"].split())
    packages = {m for m in MODULES if _is_package(m)}
    missing = sorted(packages - listed)
    assert not missing, f"Add these packages to setup.cfg [options] packages: {missing}"
