#!/usr/bin/env bash
# The notebooks in notebooks/ run top to bottom on the spel kernel and their outputs are
# compared with the stored ones (kernel/tests/run_notebooks.py, on nbclient).
. "$(dirname "$0")/common.sh"
need_python "import nbclient, nbformat" nbclient nbformat
install_kernelspec
timeout 900 "$venv/bin/python" "$root/kernel/tests/run_notebooks.py" "$root/notebooks" --kernel spel --compare --timeout 300
