"""The spel kernel through a real jupyter_client: what a notebook user relies on beyond
the protocol conformance suite. Run by kernel/tests/conformance.sh."""
import os
import queue
import re
import shutil
import tempfile
import time

import pytest
from jupyter_client.manager import KernelManager, start_new_kernel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKFORCE = os.path.join(ROOT, "examples", "data", "pcn_workforce_*.csv")


@pytest.fixture(scope="module")
def kernel():
    manager, client = start_new_kernel(kernel_name="spel")
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def run(client, code, timeout=60):
    """Executes code; returns (reply content, iopub messages for it)."""
    msg_id = client.execute(code)
    reply = client.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=timeout)
    outputs = []
    while True:
        try:
            msg = client.get_iopub_msg(timeout=5)
        except queue.Empty:
            break
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        outputs.append(msg)
    return reply["content"], outputs


def test_results_print_and_tables(kernel):
    reply, outputs = run(kernel, 't = table region = ["London", "North West"], fte = [1.5, 2]\nprint "two regions"\nt\nt |> summarise total = sum(fte)')
    assert reply["status"] == "ok"
    shown = [m for m in outputs if m["msg_type"] != "status"]
    kinds = [m["msg_type"] for m in shown]
    assert kinds == ["execute_input", "stream", "display_data", "execute_result"], kinds
    assert shown[1]["content"] == {"name": "stdout", "text": "two regions\n"}
    table = [m for m in outputs if m["msg_type"] == "display_data"][0]["content"]["data"]
    assert "<table>" in table["text/html"] and "shape: (2, 2)" in table["text/plain"]
    result = [m for m in outputs if m["msg_type"] == "execute_result"][0]["content"]["data"]
    assert "3.5" in result["text/plain"] and "application/json" not in result


def test_error_shows_the_caret_and_keeps_bindings(kernel):
    run(kernel, "kept = 41")
    reply, outputs = run(kernel, "kept = 1\nbroken = kept + nope")
    assert reply["status"] == "error"
    errors = [m for m in outputs if m["msg_type"] == "error"]
    assert len(errors) == 1
    # The traceback is the terminal's diagnostic, in colour.
    traceback = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(errors[0]["content"]["traceback"]))
    assert "unknown name `nope`" in traceback
    assert "broken = kept + nope" in traceback
    reply, outputs = run(kernel, "kept")
    result = [m for m in outputs if m["msg_type"] == "execute_result"][0]
    assert result["content"]["data"]["text/plain"] == "1"


def test_completion_of_columns_with_types(kernel):
    run(kernel, "wf = table FTE = [1.5], PCN_CODE = [\"U1\"]")
    code = "wf |> filter PC"
    msg_id = kernel.complete(code, len(code))
    reply = kernel.get_shell_msg(timeout=10)["content"]
    assert reply["matches"] == ["PCN_CODE"]
    assert reply["cursor_start"] == len("wf |> filter ")
    types = reply["metadata"]["_jupyter_types_experimental"]
    assert types[0]["type"] == "column" and types[0]["signature"] == "str"


def test_completion_counts_code_points(kernel):
    code = 'x = "😀" |> filt'
    kernel.complete(code, len(code))
    reply = kernel.get_shell_msg(timeout=10)["content"]
    assert reply["matches"] == ["filter"]
    assert reply["cursor_start"] == len(code) - 4


def test_interrupt_stops_a_long_read_and_keeps_the_session(kernel):
    run(kernel, "before = 7")
    msg_id = kernel.execute(f'wf = read "{WORKFORCE}", encoding = "cp1252"\nwf |> summarise n()')
    time.sleep(0.3)
    manager_interrupt = kernel.session.msg("interrupt_request", {})
    kernel.control_channel.send(manager_interrupt)
    started = time.time()
    reply = kernel.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kernel.get_shell_msg(timeout=30)
    assert time.time() - started < 1.5
    assert reply["content"]["status"] == "error"
    assert reply["content"]["evalue"] == "interrupted"
    reply, outputs = run(kernel, "before")
    assert [m for m in outputs if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"] == "7"


def test_messages_with_a_wrong_signature_are_dropped(kernel):
    key = kernel.session.key
    kernel.session.key = b"not-the-kernel-key"
    try:
        kernel.execute("forged = 1")
        with pytest.raises(queue.Empty):
            kernel.get_shell_msg(timeout=2)
    finally:
        kernel.session.key = key
    reply, _ = run(kernel, "forged")
    assert reply["status"] == "error" and "unknown name `forged`" in reply["evalue"]


def test_help_opens_the_pager(kernel):
    reply, _ = run(kernel, ":help filter")
    assert reply["status"] == "ok"
    page = reply["payload"][0]
    assert page["source"] == "page" and "filter CONDITION" in page["data"]["text/plain"]


def test_long_work_shows_progress(kernel):
    reply, outputs = run(kernel, f'all_quarters = read "{WORKFORCE}", encoding = "cp1252"')
    assert reply["status"] == "ok"
    progress = [m for m in outputs if m["msg_type"] in ("display_data", "update_display_data")]
    assert progress, "a read of nine files should show progress"
    assert progress[0]["msg_type"] == "display_data"
    assert "reading" in progress[0]["content"]["data"]["text/plain"]
    assert progress[-1]["msg_type"] == "update_display_data"
    ids = {m["content"]["transient"]["display_id"] for m in progress}
    assert len(ids) == 1


def test_plots_are_svg_and_vegalite(kernel):
    reply, outputs = run(
        kernel,
        'table quarter = [1, 2, 3], fte = [112.3, 1093.3, 2047.0]\n  |> plot line fte by quarter, title = "Link workers"',
    )
    assert reply["status"] == "ok"
    data = [m for m in outputs if m["msg_type"] == "execute_result"][0]["content"]["data"]
    assert data["text/plain"] == "Link workers: line plot of fte by quarter (3 points)"
    svg = data["image/svg+xml"]
    assert svg.startswith("<svg") and "2,000" in svg and "Link workers" in svg
    spec = data["application/vnd.vegalite.v5+json"]
    assert spec["$schema"].endswith("vega-lite/v5.json")
    assert [row["y"] for row in spec["data"]["values"]] == [112.3, 1093.3, 2047.0]
    assert "text/html" not in data


def test_the_ipc_transport_serves_as_tcp_does():
    """A connection file with `transport = "ipc"` (Unix sockets, what a shared server
    uses so that other users cannot reach the kernel's ports) is served."""
    manager = KernelManager(kernel_name="spel", transport="ipc")
    manager.start_kernel()
    try:
        assert manager.transport == "ipc"
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=30)
        reply, outputs = run(client, "6 * 7")
        assert reply["status"] == "ok"
        result = [m for m in outputs if m["msg_type"] == "execute_result"][0]
        assert result["content"]["data"]["text/plain"] == "42"
        client.stop_channels()
    finally:
        manager.shutdown_kernel(now=True)


def test_long_and_deep_input_are_errors_and_the_kernel_lives(kernel):
    """A 20,000-term sum killed the kernel (stack overflow); 10,000 brackets too."""
    for code, says in [
        (" + ".join(["1"] * 20000), "more than spel's limit of 200"),
        ("(" * 10000 + "1" + ")" * 10000, "nest more than 256 levels"),
        ("-" * 20000 + "1", "nest more than 256 levels"),
    ]:
        reply, _ = run(kernel, code)
        assert reply["status"] == "error" and says in reply["evalue"], reply
    reply, outputs = run(kernel, "(" * 200 + "6 * 7" + ")" * 200)
    assert reply["status"] == "ok"
    assert [m for m in outputs if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"] == "42"


def _work_threads(pid):
    """The kernel's worker threads (named spel-work) and its resident memory in kB."""
    tasks = os.path.join("/proc", str(pid), "task")
    names = []
    for task in os.listdir(tasks):
        try:
            with open(os.path.join(tasks, task, "comm")) as f:
                names.append(f.read().strip())
        except OSError:
            pass
    with open(os.path.join("/proc", str(pid), "status")) as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return names.count("spel-work"), rss


def test_interrupt_stops_a_fit_and_frees_its_thread():
    """Interrupted in its passes, a fit's worker thread ends within seconds (it ran on
    to the end before, so repeated interrupts piled up threads and memory)."""
    manager, client = start_new_kernel(kernel_name="spel")
    try:
        pid = manager.provisioner.pid
        reply, _ = run(client, "d = simulate gpps, n = 400000, seed = 2", timeout=300)
        assert reply["status"] == "ok"
        # Factors of too many level combinations for the fit by cells (region by ICB by
        # the rest: 88,200), so the two absorbed effects are demeaned row by row: seconds
        # of passes to interrupt. (A fit by cells ends before its progress line shows.)
        fit = ("model good_experience ~ lw_fte_50k + age_band + sex + ethnicity + "
               "factor(imd_quintile) + region + icb + fe(pcn) + fe(year), family = logit from d")
        rss_after_first = None
        for attempt in range(10):
            msg_id = client.execute(fit)
            # Wait until the fit itself is running (its progress line), then interrupt.
            deadline = time.time() + 120
            while time.time() < deadline:
                msg = client.get_iopub_msg(timeout=120)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                text = msg["content"].get("data", {}).get("text/plain", "")
                if "fitting the model" in text:
                    break
            client.control_channel.send(client.session.msg("interrupt_request", {}))
            reply = client.get_shell_msg(timeout=60)
            while reply["parent_header"].get("msg_id") != msg_id:
                reply = client.get_shell_msg(timeout=60)
            assert reply["content"]["evalue"] == "interrupted"
            ended = time.time() + 10
            while _work_threads(pid)[0] and time.time() < ended:
                time.sleep(0.1)
            threads, rss = _work_threads(pid)
            assert threads == 0, f"interrupt {attempt + 1}: {threads} fits still running"
            rss_after_first = rss_after_first or rss
        assert rss <= rss_after_first + 200_000, (rss_after_first, rss)
        # A read stops too, at its next block (it ran to the end before).
        folder = tempfile.mkdtemp()
        big = os.path.join(folder, "big.csv")
        reply, _ = run(client, f'write d to "{big}"', timeout=300)
        assert reply["status"] == "ok", reply
        for attempt in range(3):
            msg_id = client.execute(f'again = read "{big}"')
            while True:
                msg = client.get_iopub_msg(timeout=120)
                if msg["parent_header"].get("msg_id") == msg_id and "reading" in \
                        msg["content"].get("data", {}).get("text/plain", ""):
                    break
            client.control_channel.send(client.session.msg("interrupt_request", {}))
            ended = time.time() + 5
            while _work_threads(pid)[0] and time.time() < ended:
                time.sleep(0.1)
            assert _work_threads(pid)[0] == 0, f"read {attempt + 1} ran on after the interrupt"
            reply = client.get_shell_msg(timeout=60)
            while reply["parent_header"].get("msg_id") != msg_id:
                reply = client.get_shell_msg(timeout=60)
            assert reply["content"]["evalue"] == "interrupted"
        shutil.rmtree(folder)
        # A simulation stops too, between its respondents.
        msg_id = client.execute("big = simulate gpps, n = 6000000, seed = 3")
        while True:
            msg = client.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") == msg_id and "simulating" in \
                    msg["content"].get("data", {}).get("text/plain", ""):
                break
        client.control_channel.send(client.session.msg("interrupt_request", {}))
        ended = time.time() + 10
        while _work_threads(pid)[0] and time.time() < ended:
            time.sleep(0.1)
        assert _work_threads(pid)[0] == 0, "the simulation ran on after the interrupt"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_a_panic_in_any_request_is_an_error_reply_and_logged():
    """Each request handler panics on purpose (SPEL_DEBUG_FAULT, debug builds): every one
    is answered with an error reply of its own type, the panic's message and place are in
    the kernel's stderr, and the session with its bindings goes on."""
    faults = "complete,inspect,is_complete,history,meta"
    log = tempfile.NamedTemporaryFile(mode="w+", suffix=".log", delete=False)
    manager, client = start_new_kernel(
        kernel_name="spel", env={**os.environ, "SPEL_DEBUG_FAULT": faults}, stderr=log)
    try:
        run(client, "x = 6 * 7")
        requests = {
            "complete_reply": lambda: client.complete("x |> fil", 8),
            "inspect_reply": lambda: client.inspect("filter", 3),
            "is_complete_reply": lambda: client.is_complete("x = ("),
            "history_reply": lambda: client.history(hist_access_type="tail", n=5),
        }
        for reply_type, send in requests.items():
            msg_id = send()
            reply = client.get_shell_msg(timeout=10)
            assert reply["parent_header"]["msg_id"] == msg_id
            assert reply["msg_type"] == reply_type
            assert reply["content"]["status"] == "error", reply
            assert reply["content"]["ename"] == "spel::internal"
        reply, _ = run(client, ":tables")
        assert reply["status"] == "error" and "internal error" in reply["evalue"], reply
        reply, outputs = run(client, "x")
        assert [m for m in outputs if m["msg_type"] == "execute_result"][0]["content"]["data"]["text/plain"] == "42"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    log.seek(0)
    logged = log.read()
    os.unlink(log.name)
    for fault in faults.split(","):
        assert f"fault injected at {fault}" in logged, logged
    assert "guard.rs:" in logged, "the panic's place is logged"
    assert "history_request failed" in logged
