"""Flex Template entry file (FLEX_TEMPLATE_PYTHON_PY_FILE): runs `python -m pipeline`.

The template launcher runs `python main.py ARGS`; running the package as a module keeps its
own __main__ and relative imports, so this file stays the same whatever the pipeline becomes.
"""

import runpy

runpy.run_module("pipeline", run_name="__main__", alter_sys=True)
