#!/usr/bin/env bash
# The notebooks in notebooks/ run top to bottom on the spel kernel (nbclient, through
# shared/tools/run_notebooks.py, through kernel/tests/run_notebooks.py, which leaves out
# progress lines) and their outputs are compared with the stored ones.
. "$(dirname "$0")/common.sh"
tool="$root/../shared/tools/run_notebooks.py"
skip_unless_present "$tool" "the notebooks"
need_python "import nbclient, nbformat" nbclient nbformat
install_kernelspec
timeout 900 "$venv/bin/python" "$root/kernel/tests/run_notebooks.py" "$(dirname "$tool")" "$root/notebooks" --kernel spel --compare --timeout 300
