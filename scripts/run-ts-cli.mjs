// Launcher for the command-line tools (`npm run user`, `npm run agents`, `npm run eval`):
//   node scripts/run-ts-cli.mjs server/<part>/cli.ts [arguments…]
// runs the TypeScript source through tsx when tsx is installed (a development checkout),
// otherwise the built JavaScript (a production install with `npm ci --omit=dev` followed
// by `npm run build`, which puts server/<part>/cli.ts at dist/server/server/<part>/cli.js).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [modulePath, ...rest] = process.argv.slice(2);
if (!modulePath || !/^server\/[\w/-]+\.ts$/.test(modulePath)) {
  process.stderr.write('usage: node scripts/run-ts-cli.mjs server/<part>/<module>.ts [arguments…]\n');
  process.exit(2);
}
const source = path.join(root, modulePath);
const built = path.join(root, 'dist', 'server', modulePath.replace(/\.ts$/, '.js'));

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

const child = spawn(process.execPath, [...args, ...rest], { stdio: 'inherit', cwd: process.cwd() });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
