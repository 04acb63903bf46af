// The JupyterLab extension: registers spel with JupyterLab's editor languages, so that a
// notebook on the spel kernel (its language_info names `codemirror_mode: "spel"`) and
// any `.spel` file are highlighted.
import { EditorLanguageRegistry, IEditorLanguageRegistry } from '@jupyterlab/codemirror';

import vocabulary from '../python/spel_pygments/vocabulary.json';
import { spelMode } from './mode.js';

export default {
  id: 'spel-jupyterlab:language',
  description: 'spel highlighting in notebooks and editors',
  autoStart: true,
  requires: [IEditorLanguageRegistry],
  activate(app, languages) {
    languages.addLanguage({
      name: 'spel',
      mime: 'text/x-spel',
      extensions: ['spel'],
      support: EditorLanguageRegistry.legacy(spelMode(vocabulary)),
    });
  },
};
