// Writes a generated document, or with --check fails when the one in the
// tree differs from what the generator makes now (CI runs the checks).
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';

export function emitGenerated(target: string, fresh: string, check: boolean, generator: string, summary: string): void {
  const name = relative(process.cwd(), target) || target;
  if (!check) {
    writeFileSync(target, fresh);
    console.log(`wrote ${name}${summary ? ` (${summary})` : ''}`);
    return;
  }
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing counts as stale
  }
  if (current !== fresh) {
    console.error(`${name} is stale: run "node ${generator}"`);
    process.exit(1);
  }
  console.log(`${name} is up to date`);
}
