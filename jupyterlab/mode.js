// spel's highlighting as a CodeMirror stream parser: one token at a time, no state
// between lines (a statement's continuation needs none for colour). The word lists are
// the engine's (python/spel_pygments/vocabulary.json, written by a test from the verb
// registry and the grammar), never typed here.

const sets = (vocabulary) => Object.fromEntries(
  Object.entries(vocabulary).map(([kind, words]) => [kind, new Set(words)]),
);

// The token names are CodeMirror highlighting tags (`variableName.standard` is what a
// legacy mode calls `builtin`); JupyterLab's themes colour each of them.
export const TOKENS = {
  comment: 'comment',
  string: 'string',
  number: 'number',
  pipe: 'operator',
  operator: 'operator',
  keyword: 'keyword',
  bool: 'bool',
  option: 'attributeName',
  function: 'variableName.special',
  verb: 'variableName.standard',
  name: 'variableName',
};

export function spelMode(vocabulary) {
  const words = sets(vocabulary);
  return {
    name: 'spel',
    startState: () => ({}),
    token(stream) {
      if (stream.eatSpace()) return null;
      if (stream.match('#')) {
        stream.skipToEnd();
        return TOKENS.comment;
      }
      if (stream.match(/^"(?:[^"\\]|\\.)*"?/)) return TOKENS.string;
      if (stream.match(/^`[^`]*`?/)) return TOKENS.name;
      if (stream.match(/^\d{4}-\d{2}-\d{2}(?!\d)/)) return TOKENS.number;
      if (stream.match(/^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/)) return TOKENS.number;
      if (stream.match('|>')) return TOKENS.pipe;
      if (stream.match(/^(?:==|!=|<=|>=|[~<>+\-*/^&|!:=])/)) return TOKENS.operator;
      const word = stream.match(/^[A-Za-z_][\w.]*/);
      if (word) return wordToken(word[0], stream, words);
      stream.next();
      return null;
    },
  };
}

// A word's colour: reserved, an option (before a single `=`), a function (before `(`),
// a verb, or a name (a column or a binding).
function wordToken(word, stream, words) {
  if (word === 'true' || word === 'false') return TOKENS.bool;
  if (words.keywords.has(word)) return TOKENS.keyword;
  if (words.options.has(word) && stream.match(/^\s*=(?!=)/, false)) return TOKENS.option;
  if (words.functions.has(word) && stream.match(/^\s*\(/, false)) return TOKENS.function;
  if (words.verbs.has(word)) return TOKENS.verb;
  return TOKENS.name;
}
