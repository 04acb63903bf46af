"""Kernel start-up and cell round trip, spel beside ipykernel, on this machine.

usage: python bench/kernel.py   (with jupyter_client and ipykernel installed; the spel
kernelspec on JUPYTER_PATH, as bench/kernel.sh arranges)
"""
import statistics
import time

from jupyter_client.manager import start_new_kernel


def measure(name, code, rounds=50):
    starts = []
    for _ in range(3):
        began = time.perf_counter()
        manager, client = start_new_kernel(kernel_name=name)
        starts.append(time.perf_counter() - began)
        trips = []
        for _ in range(rounds):
            began = time.perf_counter()
            client.execute_interactive(code, timeout=30, output_hook=lambda msg: None)
            trips.append(time.perf_counter() - began)
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return statistics.median(starts), statistics.median(trips)


rows = [("spel", *measure("spel", "x = 1")), ("python3 (ipykernel)", *measure("python3", "x = 1"))]
print("| kernel | start to ready (median of 3) | `x = 1` round trip (median of 150) |")
print("|:---|---:|---:|")
for name, start, trip in rows:
    print(f"| {name} | {start * 1000:.0f} ms | {trip * 1000:.1f} ms |")
