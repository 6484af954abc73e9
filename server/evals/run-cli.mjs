// Launcher for `npm run eval`: the TypeScript source through tsx when tsx is
// installed (a development checkout), otherwise the built JavaScript (a
// production install with `npm ci --omit=dev` followed by `npm run build`).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const source = path.join(root, 'server', 'evals', 'cli.ts');
const built = path.join(root, 'dist', 'server', 'server', 'evals', 'cli.js');

function hasTsx() {
  try {
    createRequire(import.meta.url).resolve('tsx/package.json');
    return true;
  } catch {
    return false;
  }
}

let args;
if (hasTsx() && existsSync(source)) args = ['--import', 'tsx', source];
else if (existsSync(built)) args = [built];
else {
  process.stderr.write('error: neither tsx (npm install) nor the built server (npm run build) is available\n');
  process.exit(1);
}

const child = spawn(process.execPath, [...args, ...process.argv.slice(2)], { stdio: 'inherit', cwd: process.cwd() });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
