#!/usr/bin/env python3
"""Fill each verb example whose `output: ""` is empty with what `spel run` prints for
its `code`, in the registry files given. The example tests then keep them equal.

Usage (from the repository root, after a build):
    python3 scripts/fill-verb-examples.py stdlib/src/verbs/designs/did.rs
"""
import os
import re
import subprocess
import sys

SPEL = os.environ.get("SPEL", os.path.expanduser("~/.cache/spel/target/debug/spel"))
EXAMPLE = re.compile(r'code: "((?:[^"\\]|\\.)*)",(\s*)output: "",', re.S)


def unescape(literal):
    """A Rust string literal's value: escapes and `\\` line continuations."""
    literal = re.sub(r"\\\n\s*", "", literal)
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), literal)


def printed(code):
    with open("example.spel", "w") as f:
        f.write(code + "\n")
    try:
        out = subprocess.run([SPEL, "run", "example.spel"], capture_output=True, text=True)
    finally:
        os.remove("example.spel")
    if out.returncode != 0:
        sys.exit(f"example failed:\n{code}\n{out.stderr}")
    return out.stdout.rstrip("\n")


def fill(path):
    source = open(path).read()

    def replace(m):
        output = printed(unescape(m.group(1)))
        return f'code: "{m.group(1)}",{m.group(2)}output: r#"{output}"#,'

    filled = EXAMPLE.sub(replace, source)
    with open(path, "w") as f:
        f.write(filled)


for path in sys.argv[1:]:
    fill(path)
