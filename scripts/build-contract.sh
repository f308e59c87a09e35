#!/usr/bin/env bash
# Compiles contracts/ProvenanceRegistry.sol with solcjs 0.8.37 (npm, tools/evm) into the committed ABI and
# bytecode that crates/proofmark-anchor embeds. `--check` compiles to a temporary folder and fails if the
# result differs from what is committed (CI runs that).
set -euo pipefail
cd "$(dirname "$0")/.."
solcjs=tools/evm/node_modules/.bin/solcjs
[ -x "$solcjs" ] || { echo "solcjs missing: run npm ci --prefix tools/evm" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$solcjs" --bin --abi --optimize --optimize-runs 200 --base-path . -o "$tmp" contracts/ProvenanceRegistry.sol
name=contracts_ProvenanceRegistry_sol_ProvenanceRegistry
out=crates/proofmark-anchor/contract
if [ "${1:-}" = "--check" ]; then
  cmp -s "$tmp/$name.abi" "$out/ProvenanceRegistry.abi.json" || { echo "the committed ABI differs from solc's: run scripts/build-contract.sh" >&2; exit 1; }
  cmp -s "$tmp/$name.bin" "$out/ProvenanceRegistry.bin" || { echo "the committed bytecode differs from solc's: run scripts/build-contract.sh" >&2; exit 1; }
  echo "contract: committed ABI and bytecode match solc 0.8.37's build of contracts/ProvenanceRegistry.sol"
else
  cp "$tmp/$name.abi" "$out/ProvenanceRegistry.abi.json"
  cp "$tmp/$name.bin" "$out/ProvenanceRegistry.bin"
  echo "wrote $out/ProvenanceRegistry.abi.json and .bin"
fi
