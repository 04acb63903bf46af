"""The kernel checks run where nothing may be missing: a test that skips (a sample left
unset, a file or package not found) fails, with its reason, instead of passing quietly."""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, and a skip is a failure here: {reason}"
