"""How long a Tab takes: complete_request to complete_reply on pipelines users type,
with the national-scale table bound, spel beside ipykernel (jedi, on a pandas frame of
the same size). Median of 7 Tabs each.

usage: python bench/complete.py KERNEL_NAME...   (kernelspecs on JUPYTER_PATH, as
bench/complete.sh arranges)
"""
import statistics
import sys
import time

from jupyter_client.manager import start_new_kernel

SPEL_SETUP = "d = simulate gpps, seed = 1"
SPEL_TABS = [
    ("after a 3-million-row simulation", "simulate gpps, n = 3000000, seed = 1 |> filter lw"),
    ("on the bound 4.1-million-row table", "d |> filter lw"),
    ("after derive and summarise", "d |> derive z = lw_fte_50k * 2 |> summarise m = mean(z) by pcn |> filter "),
    ("after a fit (no columns: it must compute)", "d |> model good_experience ~ lw_fte_50k + fe(pcn), family = logit |> filter "),
]
PYTHON_SETUP = (
    "import numpy as np, pandas as pd\n"
    "d = pd.DataFrame({'lw_fte_50k': np.random.rand(4132676), 'pcn': np.random.randint(0, 1250, 4132676)})"
)
PYTHON_TABS = [
    ("on the bound 4.1-million-row frame", "d[d.lw"),
    ("after assign and groupby", "d.assign(z=d.lw_fte_50k * 2).groupby('pcn').z.mean().reset_index().z"),
]


def tab(client, code):
    began = time.perf_counter()
    msg_id = client.complete(code, len(code))
    while True:
        reply = client.get_shell_msg(timeout=600)
        if reply["parent_header"].get("msg_id") == msg_id:
            return time.perf_counter() - began, reply["content"]["matches"]


def measure(kernel, setup, tabs):
    manager, client = start_new_kernel(kernel_name=kernel, startup_timeout=120)
    client.execute_interactive(setup, timeout=600, output_hook=lambda msg: None)
    rows = []
    for what, code in tabs:
        times, matches = [], []
        for _ in range(7):
            took, matches = tab(client, code)
            times.append(took)
        rows.append((kernel, what, statistics.median(times), len(matches)))
    client.stop_channels()
    manager.shutdown_kernel(now=True)
    return rows


print("| kernel | Tab | median of 7 | candidates |")
print("|:---|:---|---:|---:|")
for kernel in sys.argv[1:]:
    setup, tabs = (PYTHON_SETUP, PYTHON_TABS) if kernel == "python3" else (SPEL_SETUP, SPEL_TABS)
    for name, what, took, count in measure(kernel, setup, tabs):
        print(f"| {name} | {what} | {took * 1000:.1f} ms | {count} |", flush=True)
