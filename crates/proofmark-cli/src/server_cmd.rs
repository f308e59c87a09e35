//! `proofmark serve`, `proofmark admin token`, `proofmark keys rotate|list`: the server and its chores.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use proofmark_server::{keys, Config};

/// Configuration sources shared by the server commands: defaults → TOML file → PROOFMARK_* → these flags.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// TOML configuration file (also PROOFMARK_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    bind: Option<std::net::SocketAddr>,
    /// Data directory: SQLite database and generated keys [default: ./proofmark-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL instead of the embedded SQLite database.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The issuer URL written into trust tokens [default: http://{bind}].
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
}

impl ServerArgs {
    pub fn config(&self) -> Result<Config> {
        let file = self.config.clone().or_else(|| std::env::var_os("PROOFMARK_CONFIG").map(PathBuf::from));
        let mut config = Config::load(file.as_deref(), std::env::vars())?;
        if let Some(bind) = self.bind {
            config.bind = bind;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &self.database_url {
            config.database_url = Some(proofmark_server::config::DatabaseUrl(url.clone()));
        }
        if let Some(issuer) = &self.issuer {
            config.issuer = Some(issuer.clone());
        }
        config.validate()?;
        Ok(config)
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Create an admin token (printed once; only its hash is stored).
    Token {
        /// A note to remember what the token is for.
        #[arg(long, default_value = "admin")]
        label: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Create an organisation (the publisher plane's signer and the capture plane's publisher) with its owner,
    /// for servers where registration is closed. Prints the organisation id; the owner logs in with the
    /// e-mail address and password.
    CreateOrg {
        /// The organisation's name (unique among look-alikes).
        name: String,
        /// The owner's e-mail address.
        #[arg(long, value_name = "ADDRESS")]
        email: String,
        /// The owner's full name [default: the address].
        #[arg(long, value_name = "NAME")]
        full_name: Option<String>,
        /// Read the owner's password from the first line of standard input; without it a random password is
        /// made and printed once.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Deploy the transparency log's `ProvenanceRegistry` with the anchor submitter key (sealed in the store;
    /// made or imported from `anchor.submitter_key` on first use) as its owner, through `anchor.rpc_url` on
    /// `anchor.chain_id`. Prints the contract address to set as `anchor.contract`. The submitter's address
    /// needs funds first: `proofmark admin anchor-address` prints it.
    DeployRegistry {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print the anchor submitter's address (fund it on the chain; made on first use).
    AnchorAddress {
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a new issuer key current. The old one stays in the JWKS, so older sidecars still verify; running
    /// servers switch within 10 seconds.
    Rotate {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the issuer keys.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// Logs to stderr, filtered by PROOFMARK_LOG (default `info`).
fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PROOFMARK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

pub fn serve(args: ServerArgs) -> ExitCode {
    init_logging();
    crate::exit_status(args.config().and_then(|config| {
        let rt = runtime()?;
        let result = rt.block_on(proofmark_server::serve(config));
        // The server has stopped within its own deadline; blocking work still running is not waited for.
        rt.shutdown_timeout(std::time::Duration::from_secs(1));
        result
    }))
}

use proofmark_server::open_store;

fn now() -> i64 {
    proofmark_os::unix_now()
}

pub fn admin(cmd: AdminCommand) -> ExitCode {
    init_logging();
    crate::exit_status((|| {
        let (label, server) = match cmd {
            AdminCommand::Token { label, server } => (label, server),
            AdminCommand::CreateOrg { name, email, full_name, password_stdin, server } => {
                return create_org(name, email, full_name, password_stdin, server);
            }
            AdminCommand::DeployRegistry { server } => return anchor_admin(server, true),
            AdminCommand::AnchorAddress { server } => return anchor_admin(server, false),
        };
        let config = server.config()?;
        runtime()?.block_on(async {
            let store = open_store(&config).await?;
            let token = proofmark_server::random_token();
            let hash = proofmark_server::sha256_hex(token.as_bytes());
            store.create_admin_token(&hash, &label, proofmark_store::Timestamp(now())).await?;
            println!("{token}");
            eprintln!(
                "admin token {label:?} created; use it as `Authorization: Bearer <token>`. It is not shown again."
            );
            Ok(())
        })
    })())
}

/// `admin anchor-address` and `admin deploy-registry`: the submitter key from the store (under the servers'
/// KEK), its address, and optionally a deployment.
fn anchor_admin(server: ServerArgs, deploy: bool) -> anyhow::Result<()> {
    let config = server.config()?;
    runtime()?.block_on(async {
        let store = open_store(&config).await?;
        let kek = keys::Kek::load_existing(&config)?.ok_or_else(|| {
            anyhow::anyhow!("no key-encryption key: set PROOFMARK_KEK as the servers have it, or point --data-dir at the server's data directory")
        })?;
        let key = proofmark_server::anchoring::load_or_create_key(
            store.as_ref(),
            &kek,
            config.anchor.submitter_key.as_ref().map(|k| k.0.as_str()),
            now(),
        )
        .await?;
        let address = proofmark_anchor::address_of(&key)?;
        if !deploy {
            println!("{address}");
            return Ok(());
        }
        let rpc = config.anchor.rpc_url.as_deref().ok_or_else(|| anyhow::anyhow!("set anchor.rpc_url (PROOFMARK_ANCHOR_RPC_URL)"))?;
        let chain = proofmark_anchor::Chain::connect(rpc, config.anchor.chain_id, &key).await?;
        let contract = chain.deploy().await?;
        println!("{contract}");
        eprintln!("ProvenanceRegistry deployed on chain {} by {address}; set anchor.contract = \"{contract}\"", config.anchor.chain_id);
        Ok(())
    })
}

pub fn keys(cmd: KeysCommand) -> ExitCode {
    init_logging();
    crate::exit_status((|| match cmd {
        KeysCommand::Rotate { server } => {
            let config = server.config()?;
            runtime()?.block_on(async {
                let store = open_store(&config).await?;
                // Never a new KEK here: a key sealed under one the servers do not have would stop them all.
                let kek = keys::Kek::load_existing(&config)?.ok_or_else(|| {
                    anyhow::anyhow!(
                        "no key-encryption key: set PROOFMARK_KEK (or `kek` in the config) as the servers have it, or point --data-dir at the server's data directory"
                    )
                })?;
                let kid = keys::rotate(store.as_ref(), &kek, now()).await?;
                println!("{kid}");
                eprintln!("issuer key {kid} is now current; the previous keys stay published");
                Ok(())
            })
        }
        KeysCommand::List { server } => {
            let config = server.config()?;
            runtime()?.block_on(async {
                let store = open_store(&config).await?;
                for k in store.issuer_keys().await? {
                    let status = if k.is_current { "current".to_owned() } else { "retired".to_owned() };
                    let created = k.created_at.to_string();
                    let retired = k.retired_at.map(|t| t.to_string()).unwrap_or_default();
                    println!("{}  {status:<8} created {created} {retired}", k.kid);
                }
                Ok(())
            })
        }
    })())
}

fn create_org(
    name: String,
    email: String,
    full_name: Option<String>,
    password_stdin: bool,
    server: ServerArgs,
) -> Result<()> {
    use proofmark_server::accounts;
    let generated = !password_stdin;
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
        zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        zeroize::Zeroizing::new(proofmark_server::random_token())
    };
    let full_name = full_name.unwrap_or_else(|| email.trim().to_owned());
    accounts::check_registration(&email, &password, &full_name, &name).map_err(anyhow::Error::msg)?;
    let config = server.config()?;
    runtime()?.block_on(async {
        let store = open_store(&config).await?;
        let hash = accounts::hash_password(&password)?;
        let (org, user) = accounts::new_account(name, &email, hash, full_name, proofmark_store::Timestamp(now()));
        accounts::create_account(store.as_ref(), &org, &user, None).await?;
        println!("{}", org.publisher_id);
        eprintln!(
            "organisation {:?} created with owner {}; its id is also the publisher_id for capture devices",
            org.name, user.email
        );
        if generated {
            eprintln!("owner password (shown once): {}", *password);
        }
        Ok(())
    })
}
