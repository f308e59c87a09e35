//! Anchoring the transparency log on an EVM chain (SPEC §5; docs/transparency-log.md, "Anchoring").
//!
//! - The `ProvenanceRegistry` contract: source in `contracts/`, its ABI and bytecode committed in
//!   `contract/` (rebuilt by `scripts/build-contract.sh` with solc 0.8.37; CI checks they match).
//! - [`Chain`]: one JSON-RPC endpoint and the submitter's key — deploy the registry, sign a
//!   `registerCheckpoint` transaction with an explicit nonce and fees (so a resubmission replaces it instead of
//!   adding a second one), broadcast it, read receipts and the chain head.
//! - [`read_anchor`] and [`verify_anchored_inclusion`]: read-only checks anyone can make.
//!
//! The only crate that depends on `alloy`, so that the rest of the workspace builds without it.
use std::str::FromStr;

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, Bytes, FixedBytes, B256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{anyhow, bail, Context, Result};

alloy::sol!(
    #[sol(rpc)]
    ProvenanceRegistry,
    "contract/ProvenanceRegistry.abi.json"
);

/// The contract's creation bytecode (hex), as solc 0.8.37 built it.
pub const BYTECODE_HEX: &str = include_str!("../contract/ProvenanceRegistry.bin");

/// A checkpoint as the contract holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnChainAnchor {
    pub tree_size: u64,
    pub timestamp: u64,
    pub block_number: u64,
    pub log_key_id: [u8; 32],
}

/// What `registerCheckpoint` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub root: [u8; 32],
    pub tree_size: u64,
    /// SHA-256 of the log's verifier key text (C2SP vkey).
    pub log_key_id: [u8; 32],
    /// The checkpoint's signing time (POSIX seconds).
    pub timestamp: u64,
}

/// A signed transaction, ready to broadcast (again, if need be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    pub hash: [u8; 32],
    pub raw: Vec<u8>,
}

/// A mined transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mined {
    pub block_number: u64,
    pub success: bool,
}

/// EIP-1559 fees, in wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

impl Fees {
    /// The replacement's fees: at least 12.5 % above both (nodes refuse smaller bumps), here +25 % and 1 wei.
    pub fn bumped(self) -> Fees {
        Fees {
            max_fee_per_gas: self.max_fee_per_gas + self.max_fee_per_gas / 4 + 1,
            max_priority_fee_per_gas: self.max_priority_fee_per_gas + self.max_priority_fee_per_gas / 4 + 1,
        }
    }
}

fn url(rpc: &str) -> Result<alloy::transports::http::reqwest::Url> {
    alloy::transports::http::reqwest::Url::from_str(rpc).with_context(|| format!("RPC URL {rpc:?}"))
}

/// A parsed `0x…` address.
pub fn parse_address(text: &str) -> Result<Address> {
    Address::from_str(text).map_err(|e| anyhow!("{text:?} is not an address: {e}"))
}

/// The address that `key` (a secp256k1 secret) signs as.
pub fn address_of(key: &[u8; 32]) -> Result<Address> {
    Ok(PrivateKeySigner::from_bytes(&B256::from(*key)).context("not a secp256k1 secret key")?.address())
}

/// One chain, reached over JSON-RPC, and the submitter's key.
#[derive(Debug, Clone)]
pub struct Chain {
    provider: DynProvider,
    wallet: EthereumWallet,
    address: Address,
    chain_id: u64,
}

impl Chain {
    /// Connects and checks that the node serves `chain_id`.
    pub async fn connect(rpc: &str, chain_id: u64, key: &[u8; 32]) -> Result<Self> {
        let signer = PrivateKeySigner::from_bytes(&B256::from(*key)).context("the submitter key")?;
        let address = signer.address();
        let wallet = EthereumWallet::from(signer);
        let provider = ProviderBuilder::new().connect_http(url(rpc)?).erased();
        let served = provider.get_chain_id().await.with_context(|| format!("{rpc}: eth_chainId"))?;
        if served != chain_id {
            bail!("{rpc} serves chain {served}, not the configured {chain_id}");
        }
        Ok(Chain { provider, wallet, address, chain_id })
    }

    pub fn address(&self) -> Address {
        self.address
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Deploys the registry with the submitter as its owner; waits for the receipt.
    pub async fn deploy(&self) -> Result<Address> {
        let code = hex::decode(BYTECODE_HEX.trim()).context("the committed bytecode is not hex")?;
        let nonce = self.nonce().await?;
        let fees = self.fees().await?;
        let tx = TransactionRequest::default()
            .with_from(self.address)
            .with_deploy_code(Bytes::from(code))
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let gas = self.provider.estimate_gas(tx.clone()).await.context("estimating the deployment's gas")?;
        let envelope = tx.with_gas_limit(gas + gas / 5).build(&self.wallet).await.context("signing the deployment")?;
        let pending = self.provider.send_raw_transaction(&envelope.encoded_2718()).await.context("deploying")?;
        let receipt = pending.get_receipt().await.context("waiting for the deployment")?;
        receipt.contract_address.ok_or_else(|| anyhow!("the deployment made no contract"))
    }

    /// The submitter's next nonce, counting pending transactions.
    pub async fn nonce(&self) -> Result<u64> {
        self.provider.get_transaction_count(self.address).pending().await.context("eth_getTransactionCount")
    }

    /// The node's fee estimate.
    pub async fn fees(&self) -> Result<Fees> {
        let e = self.provider.estimate_eip1559_fees().await.context("estimating fees")?;
        Ok(Fees { max_fee_per_gas: e.max_fee_per_gas, max_priority_fee_per_gas: e.max_priority_fee_per_gas })
    }

    /// Signs `registerCheckpoint(root, treeSize, logKeyId, timestamp)` with this nonce and these fees. The
    /// same nonce with higher fees replaces an earlier signature; at most one of them is ever mined.
    pub async fn sign_register(
        &self,
        contract: Address,
        checkpoint: &Registration,
        nonce: u64,
        fees: Fees,
    ) -> Result<SignedTx> {
        let registry = ProvenanceRegistry::new(contract, &self.provider);
        let call = registry.registerCheckpoint(
            FixedBytes(checkpoint.root),
            checkpoint.tree_size,
            FixedBytes(checkpoint.log_key_id),
            checkpoint.timestamp,
        );
        let tx = call
            .into_transaction_request()
            .with_from(self.address)
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
            // Enough for the first registration (three storage slots and the event); fixed so that a
            // replacement never needs a new estimate.
            .with_gas_limit(200_000);
        let envelope = tx.build(&self.wallet).await.context("signing registerCheckpoint")?;
        Ok(SignedTx { hash: envelope.tx_hash().0, raw: envelope.encoded_2718() })
    }

    /// Broadcasts a signed transaction. A node that already has it, or has mined it, is not an error.
    pub async fn broadcast(&self, raw: &[u8]) -> Result<()> {
        match self.provider.send_raw_transaction(raw).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let text = e.to_string().to_lowercase();
                if ["already known", "already imported", "nonce too low", "replacement transaction underpriced"]
                    .iter()
                    .any(|m| text.contains(m))
                {
                    Ok(())
                } else {
                    Err(anyhow!("eth_sendRawTransaction: {e}"))
                }
            }
        }
    }

    /// The transaction's receipt, once mined.
    pub async fn mined(&self, hash: [u8; 32]) -> Result<Option<Mined>> {
        let receipt =
            self.provider.get_transaction_receipt(B256::from(hash)).await.context("eth_getTransactionReceipt")?;
        Ok(receipt.map(|r| Mined { block_number: r.block_number.unwrap_or_default(), success: r.status() }))
    }

    /// The newest block's number.
    pub async fn block_number(&self) -> Result<u64> {
        self.provider.get_block_number().await.context("eth_blockNumber")
    }
}

fn reader(rpc: &str) -> Result<DynProvider> {
    Ok(ProviderBuilder::new().connect_http(url(rpc)?).erased())
}

/// The chain id the endpoint serves.
pub async fn chain_id(rpc: &str) -> Result<u64> {
    reader(rpc)?.get_chain_id().await.with_context(|| format!("{rpc}: eth_chainId"))
}

/// The registry's record of `root`, if registered.
pub async fn read_anchor(rpc: &str, contract: Address, root: [u8; 32]) -> Result<Option<OnChainAnchor>> {
    let provider = reader(rpc)?;
    let registry = ProvenanceRegistry::new(contract, &provider);
    let a = registry.anchorOf(FixedBytes(root)).call().await.with_context(|| format!("{rpc}: anchorOf"))?;
    if a.blockNumber == 0 {
        return Ok(None);
    }
    Ok(Some(OnChainAnchor {
        tree_size: a.treeSize,
        timestamp: a.timestamp,
        block_number: a.blockNumber,
        log_key_id: a.logKeyId.0,
    }))
}

/// The contract's own RFC 9162 verifier: does `proof` lead from `leaf_hash` at `leaf_index` to a registered
/// `root`, at the tree size it was registered with?
pub async fn verify_anchored_inclusion(
    rpc: &str,
    contract: Address,
    leaf_hash: [u8; 32],
    leaf_index: u64,
    proof: &[[u8; 32]],
    root: [u8; 32],
) -> Result<bool> {
    let provider = reader(rpc)?;
    let registry = ProvenanceRegistry::new(contract, &provider);
    let proof: Vec<FixedBytes<32>> = proof.iter().map(|h| FixedBytes(*h)).collect();
    registry
        .verifyAnchoredInclusion(FixedBytes(leaf_hash), leaf_index, proof, FixedBytes(root))
        .call()
        .await
        .with_context(|| format!("{rpc}: verifyAnchoredInclusion"))
}

/// A local `anvil` node for this workspace's tests (npm `@foundry-rs/anvil`, installed by `.ci/run` into
/// `tools/evm`): started on a free loopback port, killed when dropped. Fails loudly when anvil is missing:
/// the anchor tests never skip.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod testing {
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// Anvil's first dev account (its documented, public test key; funded on every anvil chain).
    pub const DEV_KEY: [u8; 32] = [
        0xac, 0x09, 0x74, 0xbe, 0xc3, 0x9a, 0x17, 0xe3, 0x6b, 0xa4, 0xa6, 0xb4, 0xd2, 0x38, 0xff, 0x94, 0x4b, 0xac,
        0xb4, 0x78, 0xcb, 0xed, 0x5e, 0xfc, 0xae, 0x78, 0x4d, 0x7b, 0xf4, 0xf2, 0xff, 0x80,
    ];
    pub const CHAIN_ID: u64 = 31337;

    #[derive(Debug)]
    pub struct Anvil {
        child: Child,
        pub url: String,
    }

    /// Where anvil is: `PROOFMARK_ANVIL`, else the npm package's binary under `tools/evm`.
    pub fn anvil_path() -> std::path::PathBuf {
        match std::env::var_os("PROOFMARK_ANVIL") {
            Some(p) => p.into(),
            None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tools/evm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"),
        }
    }

    impl Anvil {
        /// Starts anvil on [`CHAIN_ID`]; `extra` are more flags (e.g. `--no-mining`).
        pub fn start(extra: &[&str]) -> Anvil {
            Self::start_chain(CHAIN_ID, extra)
        }

        /// Starts anvil serving `chain_id`.
        pub fn start_chain(chain_id: u64, extra: &[&str]) -> Anvil {
            let path = anvil_path();
            assert!(
                path.exists(),
                "anvil is required for the anchor tests: run `npm ci --prefix tools/evm` (looked at {})",
                path.display()
            );
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = Command::new(&path)
                .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--chain-id", &chain_id.to_string()])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("anvil exited ({status}) before serving {url}");
                }
                assert!(Instant::now() < deadline, "anvil did not come up on {url}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Anvil { child, url }
        }

        /// One raw JSON-RPC call (e.g. `evm_mine`, `anvil_setBalance`).
        pub fn rpc(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
            let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
            let answer: serde_json::Value =
                ureq::post(&self.url).send_json(body).unwrap_or_else(|e| panic!("{method}: {e}")).into_json().unwrap();
            assert!(answer.get("error").is_none(), "{method}: {answer}");
            answer["result"].clone()
        }
    }

    impl Drop for Anvil {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
