// run.mjs runs a WASI command (the peer run's guest) under Node.js's
// built-in WASI (node:wasi, preview1) on V8's WebAssembly engine:
//
//	node run.mjs GUEST.wasm ARGS...
//
// The guest's stdin, stdout and stderr are the process's (the guest reads
// its rounds from stdin); the exit status is the guest's. Nothing else: no
// file system is pre-opened, no environment is passed, as under the guest's
// other hosts.
import { readFile } from 'node:fs/promises';
import { argv, exit } from 'node:process';
import { WASI } from 'node:wasi';

const [wasmPath, ...args] = argv.slice(2);
if (!wasmPath) {
  console.error('usage: node run.mjs GUEST.wasm ARGS...');
  exit(2);
}
const wasi = new WASI({
  version: 'preview1',
  args: ['guest', ...args],
  env: {},
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
exit(wasi.start(instance));
