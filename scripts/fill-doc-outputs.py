#!/usr/bin/env python3
"""Fill the ```text block after each ```spel / ```spel-error block of a markdown file
with what `spel run` prints for it. The docs test then checks they stay equal.

Usage (from the repository root): python3 scripts/fill-doc-outputs.py docs/language.md
"""
import os
import subprocess
import sys

SPEL = os.environ.get("SPEL", os.path.expanduser("~/.cache/spel/target/debug/spel"))


def run(code):
    with open("example.spel", "w") as f:
        f.write(code)
    try:
        out = subprocess.run([SPEL, "run", "example.spel"], capture_output=True, text=True)
    finally:
        os.remove("example.spel")
    return out.stdout + out.stderr


def fill(path):
    lines = open(path).read().split("\n")
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        info = line.strip()[3:].strip() if line.strip().startswith("```") else None
        i += 1
        if info not in ("spel", "spel-error"):
            continue
        code = []
        while not lines[i].strip().startswith("```"):
            code.append(lines[i])
            out.append(lines[i])
            i += 1
        out.append(lines[i])
        i += 1
        if i < len(lines) and lines[i].strip() == "```text":
            i += 1
            while not lines[i].strip().startswith("```"):
                i += 1
            i += 1
            printed = run("\n".join(code) + "\n").rstrip("\n")
            out.append("```text")
            out.extend(printed.split("\n"))
            out.append("```")
    open(path, "w").write("\n".join(out))


for p in sys.argv[1:]:
    fill(p)
