"""A Pygments lexer for spel, so that nbconvert, Sphinx and anything else that
highlights with Pygments colours spel code (the kernel names it in
``language_info.pygments_lexer``).

The word lists are the engine's own (``vocabulary.json``, written from the verb
registry and the grammar by a test in the Rust workspace), not typed here.
"""

import json
from importlib import resources

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Literal,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

__all__ = ["SpelLexer"]

VOCABULARY = json.loads(
    resources.files(__package__).joinpath("vocabulary.json").read_text(encoding="utf-8")
)

# A word ends where an identifier could not go on (identifiers may hold dots).
END = r"(?![\w.])"


class SpelLexer(RegexLexer):
    """spel: verbs, pipes (``|>``), formulas (``~``), options and comments."""

    name = "spel"
    aliases = ["spel"]
    filenames = ["*.spel"]
    mimetypes = ["text/x-spel"]

    tokens = {
        "root": [
            (r"[ \t]+", Whitespace),
            (r"\n", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"(\\\\|\\"|[^"])*"', String.Double),
            (r"`[^`\n]*`", Name.Variable),
            (r"\d{4}-\d{2}-\d{2}(?!\d)", Literal.Date),
            (r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", Number),
            (r"\|>", Operator),
            (r"~", Operator),
            (r"==|!=|<=|>=|[<>+\-*/^&|!:=]", Operator),
            (words(VOCABULARY["keywords"], suffix=END), Keyword),
            # An option is a word before a single `=`; a function, one before `(`.
            (
                words(VOCABULARY["options"], suffix=r"(\s*)(=)(?!=)"),
                bygroups(Name.Attribute, Whitespace, Operator),
            ),
            (
                words(VOCABULARY["functions"], suffix=r"(?=\s*\()"),
                Name.Function,
            ),
            (words(VOCABULARY["verbs"], suffix=END), Name.Builtin),
            (r"[A-Za-z_][\w.]*", Name),
            (r"[()\[\],;]", Punctuation),
            (r".", Text),
        ]
    }
