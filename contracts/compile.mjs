// Compiles SequencerAccountability.sol with the solc pinned in package.json
// and writes SequencerAccountability.abi and .bin into the directory named
// by the first argument (default: build). contracts_test.go runs it into a
// temporary directory and compares the output with the committed files.
//
//   npm ci && node compile.mjs build
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import solc from 'solc';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] ?? path.join(here, 'build'));
const name = 'SequencerAccountability';
const source = fs.readFileSync(path.join(here, `${name}.sol`), 'utf8');

// Fixed settings: the bytecode (and its metadata hash) depends on every one.
const input = {
  language: 'Solidity',
  sources: { [`${name}.sol`]: { content: source } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};

const want = '0.8.37';
if (!solc.version().startsWith(want + '+')) {
  console.error(`solc ${solc.version()} is not the pinned ${want}`);
  process.exit(1);
}
const result = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (result.errors ?? []).filter((e) => e.severity === 'error');
for (const e of result.errors ?? []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(1);

const contract = result.contracts[`${name}.sol`][name];
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, `${name}.abi`), JSON.stringify(contract.abi, null, 2) + '\n');
fs.writeFileSync(path.join(out, `${name}.bin`), contract.evm.bytecode.object + '\n');
console.log(`solc ${solc.version()}: wrote ${name}.abi and ${name}.bin to ${out}`);
