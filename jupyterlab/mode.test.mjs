// The highlighting's tokens for a line of each kind of word, read as CodeMirror reads
// them (its StringStream over the line): `node jupyterlab/mode.test.mjs`, from the test
// command.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

import { spelMode, TOKENS } from './mode.js';

const require = createRequire(import.meta.url);
const { StringStream } = require('@codemirror/language');
const vocabulary = JSON.parse(
  readFileSync(new URL('../python/spel_pygments/vocabulary.json', import.meta.url), 'utf8'),
);
const mode = spelMode(vocabulary);

function tokens(line) {
  const stream = new StringStream(line, 4, 2);
  const found = [];
  while (!stream.eol()) {
    stream.start = stream.pos;
    const token = mode.token(stream, mode.startState());
    if (token) found.push([stream.current(), token]);
  }
  return found;
}

const cases = [
  [
    'model confidence ~ lw_fte_50k + fe(pcn) | ltc, weights = weight, cluster = pcn # within',
    [
      ['model', TOKENS.verb], ['confidence', TOKENS.name], ['~', TOKENS.operator],
      ['lw_fte_50k', TOKENS.name], ['+', TOKENS.operator], ['fe', TOKENS.function],
      ['pcn', TOKENS.name], ['|', TOKENS.operator], ['ltc', TOKENS.name],
      ['weights', TOKENS.option], ['=', TOKENS.operator], ['weight', TOKENS.name],
      ['cluster', TOKENS.option], ['=', TOKENS.operator], ['pcn', TOKENS.name],
      ['# within', TOKENS.comment],
    ],
  ],
  [
    't |> filter year >= 2023 & region == "London" |> summarise total = count() by region',
    [
      ['t', TOKENS.name], ['|>', TOKENS.pipe], ['filter', TOKENS.verb], ['year', TOKENS.name],
      ['>=', TOKENS.operator], ['2023', TOKENS.number], ['&', TOKENS.operator],
      ['region', TOKENS.name], ['==', TOKENS.operator], ['"London"', TOKENS.string],
      ['|>', TOKENS.pipe], ['summarise', TOKENS.verb], ['total', TOKENS.name],
      ['=', TOKENS.operator], ['count', TOKENS.function], ['by', TOKENS.keyword],
      ['region', TOKENS.name],
    ],
  ],
  // A verb's name as a column, an option's name not before `=`, a date, `true`.
  [
    'x = `model` + cluster + 2024-04-01 + 1.5e3 + true',
    [
      ['x', TOKENS.name], ['=', TOKENS.operator], ['`model`', TOKENS.name],
      ['+', TOKENS.operator], ['cluster', TOKENS.name], ['+', TOKENS.operator],
      ['2024-04-01', TOKENS.number], ['+', TOKENS.operator], ['1.5e3', TOKENS.number],
      ['+', TOKENS.operator], ['true', TOKENS.bool],
    ],
  ],
];
for (const [line, expected] of cases) assert.deepEqual(tokens(line), expected, line);
console.log(`the highlighting's tokens: ${cases.length} lines as expected`);
