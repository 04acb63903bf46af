#!/usr/bin/env bash
# The spel kernel through a real jupyter_client: the protocol, message by message
# (jupyter_kernel_test, kernel/tests/test_conformance.py), and what spel adds to it
# (kernel/tests/test_kernel.py). Installs its Python packages into a virtual environment
# first. A skipped test fails (kernel/tests/conftest.py makes a skip a failure): every
# test has what it needs, or is left out of the run with the reason written beside it.
. "$(dirname "$0")/common.sh"
need_python "import jupyter_kernel_test, jupyter_client, pytest" jupyter_client jupyter_kernel_test pytest
install_kernelspec
cd "$root/kernel/tests"
PYTHONDONTWRITEBYTECODE=1 timeout 300 "$venv/bin/python" -m pytest -q -p no:cacheprovider \
  test_conformance.py test_kernel.py
