"""Builds capisync's pure core (capisync.capi) into C extensions with mypyc.

The core (rows to normalized, hashed, validated event bodies) is where a sync spends its
time; compiled, it runs about 1.4 times faster than the same modules interpreted. The
compiled modules are the Python files below, unchanged: mypyc type-checks them and turns
them into C. Everything else in the project metadata lives in pyproject.toml.

CAPISYNC_PURE_PYTHON=1 skips compilation (a pure-Python install, same behaviour). Use it for
an editable install you will edit: an editable install that compiled puts its modules in
src/, where Python imports them before the .py files; a pure-Python install removes them.
Where no C compiler works (a slim container image), the install goes on without compiling,
and says so.
"""

import glob
import os
import sys
import sysconfig
import tempfile

from setuptools import setup
from setuptools._distutils.ccompiler import new_compiler
from setuptools._distutils.sysconfig import customize_compiler

# The per-row hot path and what it calls per row; modules it calls outside this list run
# interpreted (slower, not different).
COMPILED = [
    "batch",
    "dates",
    "event",
    "geo",
    "keyrules",
    "normalize",
    "outcome",
    "personal",
    "phone",
    "plan",
    "textforms",
    "validate",
    "values",
]


def _extensions() -> list:
    if os.environ.get("CAPISYNC_PURE_PYTHON") == "1":
        _remove_compiled_from_source()
        return []
    if not _can_compile():
        _remove_compiled_from_source()
        print(
            "capisync: no working C compiler (or no Python headers), so the core is installed "
            "as plain Python: same results, about 1.4 times slower. Install gcc and the "
            "Python headers (python3-dev) and reinstall to compile it.",
            file=sys.stderr,
        )
        return []
    from mypyc.build import mypycify

    files = [f"src/capisync/capi/{name}.py" for name in COMPILED]
    # The isolated build environment holds no runtime dependency: their types read as Any.
    return mypycify(["--ignore-missing-imports", *files], opt_level="3", debug_level="0")


def _remove_compiled_from_source() -> None:
    """An earlier editable install that compiled left its modules in src/; Python would still
    import them before the .py files, so a pure-Python install removes them."""
    for path in glob.glob("src/capisync/capi/*.so") + glob.glob("src/*__mypyc*.so"):
        os.remove(path)


def _can_compile() -> bool:
    """Whether the compiler setuptools would use builds a file that includes Python.h."""
    compiler = new_compiler()
    customize_compiler(compiler)
    with tempfile.TemporaryDirectory() as folder:
        probe = os.path.join(folder, "probe.c")
        with open(probe, "w") as file:
            file.write("#include <Python.h>\nint main(void) { return 0; }\n")
        try:
            compiler.compile([probe], output_dir=folder,
                             include_dirs=[sysconfig.get_paths()["include"]])
        except Exception:  # CompileError, or no compiler at all (OSError)
            return False
    return True


setup(ext_modules=_extensions())
