"""The shared notebook runner (shared/tools/run_notebooks.py), leaving out spel's progress
lines: whether "reading ...: 2.8 s" appears depends on the machine's speed, so it is
neither compared nor kept in the stored notebooks. Same arguments as the shared runner."""
import pathlib
import sys

import nbformat

sys.path.insert(0, sys.argv.pop(1))
import run_notebooks  # noqa: E402  (the shared runner, from the folder given first)


def is_progress(output):
    return output.get("output_type") == "display_data" and bool(
        output.get("metadata", {}).get("spel_progress")
    )


shared_summarize = run_notebooks.summarize
run_notebooks.summarize = lambda outputs, ignore: shared_summarize(
    [o for o in outputs if not is_progress(o)], ignore
)

try:
    run_notebooks.main()
finally:
    if "--update" in sys.argv:
        for path in sys.argv[1:]:
            p = pathlib.Path(path)
            for f in [p] if p.is_file() else sorted(p.glob("*.ipynb")):
                nb = nbformat.read(f, as_version=4)
                for cell in nb.cells:
                    if cell.cell_type == "code":
                        cell.outputs = [o for o in cell.outputs if not is_progress(o)]
                nbformat.write(nb, f)
