// The manual's table of keys and gestures (doc/shortcuts.inc), written from the viewer's one tools table:
// node scripts/shortcut_table.mjs > doc/shortcuts.inc  (tests/test_docs_shortcuts.py checks the two agree).
import { GROUPS, TOOLS, keyLabel } from '../client/js/core/tools.js';

const rows = GROUPS.flatMap((group) => TOOLS.filter((tool) => tool.group === group)
  .map((tool) => [keyLabel(tool).split(' ').map((k) => (/^[A-Z][a-z]/.test(k) ? k : `\`\`${k}\`\``)).join(' '),
    `${group}: ${tool.label}`]));
const width = Math.max(...rows.map(([keys]) => keys.length), 'key'.length);
const rule = `${'='.repeat(width)}  ${'='.repeat(Math.max(...rows.map(([, label]) => label.length)))}`;
const line = ([keys, label]) => `${keys.padEnd(width)}  ${label}`.trimEnd();
process.stdout.write(`${[rule, line(['key or gesture', 'action']), rule, ...rows.map(line), rule].join('\n')}\n`);
