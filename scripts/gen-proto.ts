// Regenerates packages/proto/src/gen from proto/ with buf + ts-proto.
// With --check, generates into a temporary folder and fails when the
// committed code differs (CI runs this).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const gen = join(root, 'packages/proto/src/gen');
const check = process.argv.includes('--check');

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out.sort();
}

const tmp = mkdtempSync(join(tmpdir(), 'fh-proto-'));
try {
  execFileSync(join(root, 'node_modules/.bin/buf'), ['lint'], { cwd: root, stdio: 'inherit' });
  execFileSync(join(root, 'node_modules/.bin/buf'), ['generate', '-o', tmp], { cwd: root, stdio: 'inherit' });
  const fresh = join(tmp, 'packages/proto/src/gen');
  if (check) {
    const a = files(fresh).map((f) => relative(fresh, f));
    const b = files(gen).map((f) => relative(gen, f));
    const diff: string[] = [];
    if (a.join('\n') !== b.join('\n')) diff.push(`file lists differ: generated [${a}] committed [${b}]`);
    for (const f of a) {
      if (b.includes(f) && readFileSync(join(fresh, f), 'utf8') !== readFileSync(join(gen, f), 'utf8')) diff.push(`${f} differs`);
    }
    if (diff.length) {
      console.error(`generated protobuf code is stale; run "pnpm proto":\n  ${diff.join('\n  ')}`);
      process.exit(1);
    }
    console.log('generated protobuf code is up to date');
  } else {
    rmSync(gen, { recursive: true, force: true });
    cpSync(fresh, gen, { recursive: true });
    console.log(`generated ${files(gen).length} files into ${relative(root, gen)}`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
