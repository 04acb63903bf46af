#!/usr/bin/env bash
# The spel kernel against jupyter_kernel_test (shared/tools/kernel_conformance.py), with a
# real jupyter_client, and kernel/tests/test_kernel.py. Installs its Python packages into a
# virtual environment first.
. "$(dirname "$0")/common.sh"
tool="$root/../shared/tools/kernel_conformance.py"
skip_unless_present "$tool" "the kernel conformance check"
need_python "import jupyter_kernel_test, jupyter_client, pytest" jupyter_client jupyter_kernel_test pytest
install_kernelspec
set -a
. "$root/kernel/tests/conformance.env"
set +a
cd "$(dirname "$tool")"
timeout 300 "$venv/bin/python" -m pytest -q -p no:cacheprovider kernel_conformance.py "$root/kernel/tests/test_kernel.py"
