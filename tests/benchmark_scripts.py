"""The benchmark scripts (benchmarks/*.py) loaded into a test process, and
their absl `main` run as `absl.app.run` would run it.

Each script defines its absl flags when it is imported, into absl's one
global `FLAGS`, and scripts share flag names with their own defaults
(`--batch-size` is 250 in one, 64 in another). A process runs one script;
a test process loads several, so `load` first removes the flags of the
scripts it loaded before.
"""

import importlib.util
import os
import sys

from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LOADED = set()  # module names of the scripts loaded so far


def load(name):
    """benchmarks/<name>.py as a fresh module named `<name>_benchmark`."""
    for module_name in _LOADED:
        for flag in flags.FLAGS.get_flags_for_module(module_name):
            if flag.name in flags.FLAGS:
                delattr(flags.FLAGS, flag.name)
    module_name = f"{name}_benchmark"
    path = os.path.join(ROOT, "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    # absl names a flag's module from sys.modules: the script must be there.
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    _LOADED.add(module_name)
    return module


def run(module, argv):
    """`module.main` after parsing `argv` (flags and arguments, no program
    name) from the flags' defaults; returns what main returns."""
    flags.FLAGS.unparse_flags()
    program = os.path.basename(module.__file__)
    return module.main(flags.FLAGS([program, *argv]))
