#!/usr/bin/env bash
# spel as a user installs it: the wheel (scripts/wheel.sh) and JupyterLab in a fresh
# virtual environment, run with that environment's bin/ NOT on PATH (a JupyterLab
# started from a menu or by its full path): `jupyter kernelspec list` shows spel; a
# notebook runs through nbclient; nbconvert's and Sphinx's HTML colour spel with
# Pygments; JupyterLab in headless Chromium highlights a cell's verb; and `pipx install`
# gives the command.
. "$(dirname "$0")/common.sh"
need_browser

echo "-- building the wheel"
rm -rf "$target/wheels"
bash "$root/scripts/wheel.sh"
wheel=$(ls "$target"/wheels/spel-*.whl)
# The extension's tokeniser on its own (scripts/wheel.sh installed its node_modules).
node "$root/jupyterlab/mode.test.mjs"

work=$(mktemp -d)
env="$work/env"
python3 -m venv "$env"
"$env/bin/pip" install -q "$wheel" jupyterlab
# Nothing of this machine's Jupyter set-up: only the environment's own share/jupyter.
export JUPYTER_DATA_DIR="$work/data" JUPYTER_CONFIG_DIR="$work/config" JUPYTER_RUNTIME_DIR="$work/runtime"
unset JUPYTER_PATH
export PATH=/usr/local/bin:/usr/bin:/bin
if command -v spel >/dev/null; then echo "a spel is on PATH ($(command -v spel)): the check would not show the kernelspec's own path" >&2; exit 1; fi

echo "-- jupyter kernelspec list"
specs=$("$env/bin/jupyter" kernelspec list)
echo "$specs"
grep -q "^ *spel  *$env/share/jupyter/kernels/spel$" <<<"$specs" || { echo "no spel kernelspec in the environment" >&2; exit 1; }

echo "-- a notebook through nbclient"
"$env/bin/python" - "$work/notebook.ipynb" <<'PY'
import sys, nbformat
cells = [nbformat.v4.new_code_cell(
    't = table region = ["London", "North West"], fte = [1.5, 2]\n'
    '# the total\n'
    't |> filter fte > 0 |> summarise total = sum(fte)')]
nb = nbformat.v4.new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "spel", "display_name": "spel", "language": "spel"}})
nbformat.write(nb, sys.argv[1])
PY
"$env/bin/jupyter" execute --inplace "$work/notebook.ipynb"
"$env/bin/python" - "$work/notebook.ipynb" <<'PY'
import sys, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in nb.cells[0].outputs)
assert "3.5" in text, f"the cell's output has no 3.5: {text!r}"
info = nb.metadata.language_info
assert info.pygments_lexer == "spel" and info.codemirror_mode == "spel", info
print("the notebook ran: total 3.5; language_info names spel's lexer and mode")
PY

echo "-- nbconvert to HTML"
"$env/bin/jupyter" nbconvert --to html --output "$work/notebook.html" "$work/notebook.ipynb" 2>"$work/nbconvert.log" ||
  { cat "$work/nbconvert.log" >&2; exit 1; }
for token in '<span class="nb">summarise</span>' '<span class="o">|&gt;</span>' \
  '<span class="nf">sum</span>' '<span class="c1"># the total</span>' '<span class="s2">"London"</span>'; do
  grep -qF "$token" "$work/notebook.html" || { echo "nbconvert's HTML lacks $token" >&2; exit 1; }
done
echo "nbconvert's HTML colours spel's verbs, pipes, functions, comments and strings"

echo "-- Sphinx: a spel code block in a documentation page"
"$env/bin/pip" install -q sphinx
mkdir -p "$work/sphinx"
printf 'project = "spel check"\n' >"$work/sphinx/conf.py"
cat >"$work/sphinx/index.rst" <<'RST'
A spel block
============

.. code-block:: spel

   d |> summarise mean_fte = mean(fte) by region  # per region
RST
"$env/bin/sphinx-build" -q -W -b html "$work/sphinx" "$work/sphinx/html"
for token in '<span class="nb">summarise</span>' '<span class="nf">mean</span>' \
  '<span class="c1"># per region</span>'; do
  grep -qF "$token" "$work/sphinx/html/index.html" || { echo "Sphinx's HTML lacks $token" >&2; exit 1; }
done
echo "Sphinx colours a spel code block with the wheel's lexer"

echo "-- pipx install: the terminal command alone"
"$env/bin/pip" install -q pipx
PIPX_HOME="$work/pipx-home" PIPX_BIN_DIR="$work/pipx-bin" PIPX_MAN_DIR="$work/pipx-man" \
  "$env/bin/pipx" install -q "$wheel" >/dev/null
printf 't = table x = [1, 2]\nt |> summarise total = sum(x)\n' >"$work/sum.spel"
ran=$("$work/pipx-bin/spel" run --format json "$work/sum.spel")
grep -qF '"rows":[[3.0]]' <<<"$ran" || { echo "pipx's spel printed: $ran" >&2; exit 1; }
echo "pipx's spel runs a script"

echo "-- JupyterLab in a browser"
venv=$env
start_lab
CODE=$'t = table region = ["London", "North West"], fte = [1.5, 2]\nt |> summarise total = sum(fte)' \
  EXPECT=3.5 HIGHLIGHTED=summarise PNG="$target/jupyterlab-wheel.png" KERNEL=spel \
  timeout 300 node "$root/kernel/tests/lab_cell.mjs"
