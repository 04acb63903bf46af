"""The spel kernel against jupyter_kernel_test: every message of the Jupyter protocol
that a front end sends, answered and validated against the protocol's schemas, through a
real jupyter_client. Run by kernel/tests/conformance.sh (which installs the kernelspec as
`spel`); kernel/tests/test_kernel.py checks what spel adds beyond the protocol.

Every test of jupyter_kernel_test runs with a spel sample, except two that nothing in
spel can produce (see the end of SpelKernelTests): a test without its sample would be
skipped: conftest.py turns a skip into a failure."""
import jupyter_kernel_test as jkt

# Seconds to wait for any reply. jupyter_kernel_test waits 15 s for an execution and
# for ever for the other replies (a kernel that never answers would hang the run).
TIMEOUT = 30


class SpelKernelTests(jkt.KernelTests):
    kernel_name = "spel"

    # kernel_info_reply's language_info
    language_name = "spel"
    file_extension = ".spel"

    # `print` writes to stdout
    code_hello_world = 'print "hello, world"'

    # one `error` message and nothing else (no stderr before it)
    code_generate_error = "x = nope + 1"

    # verbs, and functions after `=`
    completion_samples = [
        {"text": "summ", "matches": ["summarise"]},
        {"text": "x = rea", "matches": ["read"]},
    ]

    # is_complete, as the console asks before running a line
    complete_code_samples = ["x = 1", "6 * 7"]
    incomplete_code_samples = ["x = (1 +", "model y ~"]
    invalid_code_samples = ["x = 1 +* 2"]

    # a value's execute_result, with its exact text
    code_execute_result = [{"code": "6 * 7", "result": "42"}]

    # a table that is not the cell's last value is shown by display_data (as HTML)
    code_display_data = [{"code": "table x = [1, 2]\n6 * 7", "mime": "text/html"}]

    # the help of a verb, by inspect_request (Shift+Tab in a notebook)
    code_inspect_sample = "summarise"

    # `:help` opens the pager (the reply's "page" payload)
    code_page_something = ":help filter"

    # history_request: the last n, a range of one session, and a search; the
    # history tests run code_execute_result's code first
    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "6*"

    def execute_helper(self, code, timeout=TIMEOUT, **options):
        return super().execute_helper(code, timeout=timeout, **options)

    def get_non_kernel_info_reply(self, timeout=TIMEOUT):
        return super().get_non_kernel_info_reply(timeout=timeout)

    # Two tests left out, because no spel code can give what they look for:
    # - test_execute_stderr needs code that writes to stderr. spel has none: `print`
    #   and `write` go to stdout, a failing statement is an `error` message, and notes
    #   are part of the result they qualify.
    # - test_clear_output needs code that clears a cell's output. spel never does: a
    #   progress line is replaced by update_display_data on its display id
    #   (test_kernel.py's test_long_work_shows_progress checks it).
    test_execute_stderr = None
    test_clear_output = None

    # Beyond jupyter_kernel_test: what a notebook's execution counter relies on.
    def test_execution_count_counts_stored_executions(self):
        self.flush_channels()
        first, _ = self.execute_helper("1 + 1")
        second, _ = self.execute_helper("1 + 1")
        self.assertEqual(
            second["content"]["execution_count"], first["content"]["execution_count"] + 1
        )

    def test_silent_execution_shows_nothing_and_is_not_counted(self):
        self.flush_channels()
        before, _ = self.execute_helper("6 * 7")
        reply, outputs = self.execute_helper("6 * 7", silent=True, store_history=False)
        after, _ = self.execute_helper("6 * 7")
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual([m["msg_type"] for m in outputs], [])
        self.assertEqual(
            after["content"]["execution_count"], before["content"]["execution_count"] + 1
        )


class SpelIopubWelcome(jkt.IopubWelcomeTests):
    """A new iopub subscriber is welcomed (an `iopub_welcome` message, protocol 5.4), so
    a front end knows when its subscription is live."""

    kernel_name = "spel"
    support_iopub_welcome = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The library's test waits for the welcome with no time limit.
        receive = cls.kc.get_iopub_msg
        cls.kc.get_iopub_msg = lambda timeout=TIMEOUT: receive(timeout=timeout)
