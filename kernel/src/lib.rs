//! spel's Jupyter kernel: wire format and signing ([`wire`]), the sockets and what each
//! answers ([`server`]), the engine adapter ([`engine`]), cursor units ([`offsets`]), where
//! jupyter-protocol falls short ([`protocol_gaps`]) and
//! the kernelspec ([`install`]). The engine is spel-stdlib's `Session`; nothing here
//! evaluates or formats.

pub mod engine;
pub mod install;
pub mod offsets;
pub mod protocol_gaps;
pub mod server;
pub mod wire;

use std::path::Path;

/// Runs the kernel for a Jupyter connection file until it is shut down.
pub fn run(connection_file: &Path) -> Result<(), String> {
    // Every panic is caught where it happens and answered as an error; its message and
    // place go to stderr, which Jupyter shows in its log, so a bug leaves a trace.
    std::panic::set_hook(Box::new(|info| eprintln!("spel kernel: {info}")));
    let text = std::fs::read_to_string(connection_file)
        .map_err(|e| format!("cannot read {}: {e}", connection_file.display()))?;
    let connection: jupyter_protocol::ConnectionInfo =
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not a connection file: {e}",
                connection_file.display()
            )
        })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    runtime.block_on(server::serve(connection))
}
