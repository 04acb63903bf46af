"""Runs notebooks top to bottom on a kernel (nbclient) and judges them.

    python run_notebooks.py NOTEBOOK_OR_FOLDER... [--kernel NAME] [--timeout SECONDS]
                            [--compare [--rtol R] [--atol A]] [--update]

A notebook fails when a cell shows an error (unless the cell is tagged
`raises-exception`), when a cell runs longer than --timeout, or when the kernel cannot
start or dies. With --compare, each code cell's new outputs must equal the stored ones,
as a reader sees them: the text of streams and errors, and of each result its mime types
and its text/plain, with numbers equal within --rtol/--atol (other mime types, such as
HTML tables, SVG and Vega-Lite plots, are compared by type only; a cell tagged
`no-compare` is not compared). --update writes the new outputs into the notebooks.

spel's progress lines ("reading ...: 2.8 s", a display_data marked `spel_progress`)
depend on the machine's speed: they are neither compared nor written.

Each notebook runs in its own folder, so relative paths in it work. Prints one line a
notebook and ends with "N passed, N failed"; exits 1 when any failed.
Run by kernel/tests/notebooks.sh."""
import argparse
import difflib
import math
import pathlib
import re
import sys
import time

import nbformat
from nbclient import NotebookClient

COMPARED_TEXT = "text/plain"
COLOUR = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
NUMBER = re.compile(r"([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|\b(?:NaN|nan|inf)\b)")


def is_progress(output):
    return output.get("output_type") == "display_data" and bool(
        output.get("metadata", {}).get("spel_progress")
    )


def text_of(value):
    return "".join(value) if isinstance(value, list) else str(value)


def seen(outputs):
    """A cell's outputs as the lines compared: what a reader sees, minus progress."""
    lines = []
    for output in outputs:
        kind = output.get("output_type")
        if is_progress(output):
            continue
        if kind == "stream":
            parts = [f"<{output['name']}>", text_of(output.get("text", ""))]
        elif kind == "error":
            parts = [f"<error> {output.get('ename')}: {output.get('evalue')}"]
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            parts = [f"<{kind}> " + ", ".join(sorted(data))]
            if COMPARED_TEXT in data:
                parts.append(text_of(data[COMPARED_TEXT]))
        else:
            parts = [f"<{kind}>"]
        for line in COLOUR.sub("", "\n".join(parts)).splitlines():
            if line.strip():
                lines.append(line.rstrip())
    return lines


def same(stored, new, rtol, atol):
    """Equal lines, or lines that differ only in numbers within the tolerances."""
    if stored == new:
        return True
    a, b = NUMBER.split(stored), NUMBER.split(new)
    if len(a) != len(b):
        return False
    # re.split with one group: text at even places, numbers at odd ones.
    for i, (x, y) in enumerate(zip(a, b)):
        if i % 2 == 0:
            if x != y:
                return False
            continue
        fx, fy = float(x), float(y)
        if not (math.isclose(fx, fy, rel_tol=rtol, abs_tol=atol) or (math.isnan(fx) and math.isnan(fy))):
            return False
    return True


def judge(path, args):
    """Runs one notebook; returns what is wrong with it (nothing when it passed)."""
    notebook = nbformat.read(path, as_version=4)
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    stored = [seen(cell.get("outputs", [])) for cell in cells]
    options = {"kernel_name": args.kernel} if args.kernel else {}
    client = NotebookClient(
        notebook,
        timeout=args.timeout,
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
        **options,
    )
    try:
        client.execute()
    except Exception as error:  # a cell past its time, a dead kernel, no such kernel
        return [f"did not run to the end: {type(error).__name__}: {str(error).strip()[:800]}"]
    problems = []
    for number, (cell, before) in enumerate(zip(cells, stored), 1):
        tags = cell.get("metadata", {}).get("tags", [])
        for output in cell.outputs:
            if output.output_type == "error" and "raises-exception" not in tags:
                problems.append(f"code cell {number}: {output.ename}: {output.evalue}")
        if args.compare and "no-compare" not in tags:
            after = seen(cell.outputs)
            if len(before) != len(after) or not all(
                same(x, y, args.rtol, args.atol) for x, y in zip(before, after)
            ):
                diff = difflib.unified_diff(before, after, "stored", "new", lineterm="", n=1)
                problems.append(f"code cell {number}: outputs differ\n" + "\n".join(diff))
        cell.outputs = [output for output in cell.outputs if not is_progress(output)]
    if args.update:
        nbformat.write(notebook, path)
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=pathlib.Path, metavar="NOTEBOOK_OR_FOLDER")
    parser.add_argument("--kernel", help="the kernelspec for every notebook (default: each notebook's own)")
    parser.add_argument("--timeout", type=int, default=60, help="seconds a cell may run")
    parser.add_argument("--compare", action="store_true", help="compare outputs with the stored ones")
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--atol", type=float, default=1e-9)
    parser.add_argument("--update", action="store_true", help="store the new outputs")
    args = parser.parse_args()
    notebooks = sorted(
        {
            notebook
            for path in args.paths
            for notebook in ([path] if path.is_file() else path.rglob("*.ipynb"))
            if ".ipynb_checkpoints" not in notebook.parts
        }
    )
    if not notebooks:
        sys.exit(f"no notebooks in {' '.join(map(str, args.paths))}")
    failed = 0
    for path in notebooks:
        started = time.monotonic()
        problems = judge(path, args)
        failed += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {path} ({time.monotonic() - started:.1f} s)", flush=True)
        for problem in problems:
            print("     " + problem.replace("\n", "\n     "), flush=True)
    print(f"{len(notebooks) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
