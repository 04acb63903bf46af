//! `spel kernel install`: the kernelspec folder Jupyter looks in, as
//! `python -m ipykernel install` writes it.

use std::path::{Path, PathBuf};

use serde_json::json;

pub enum Target {
    /// `~/.local/share/jupyter` (or `$JUPYTER_DATA_DIR`).
    User,
    /// The Python environment's `share/jupyter` (`sys.prefix`).
    SysPrefix,
    /// `DIR/share/jupyter`.
    Prefix(PathBuf),
}

const LOGO_32: &[u8] =
    include_bytes!("../../python/spel.data/data/share/jupyter/kernels/spel/logo-32x32.png");
const LOGO_64: &[u8] =
    include_bytes!("../../python/spel.data/data/share/jupyter/kernels/spel/logo-64x64.png");

fn data_dir(target: &Target) -> Result<PathBuf, String> {
    match target {
        Target::User => {
            if let Some(dir) = std::env::var_os("JUPYTER_DATA_DIR") {
                return Ok(PathBuf::from(dir));
            }
            let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
            Ok(if cfg!(target_os = "macos") {
                PathBuf::from(home).join("Library/Jupyter")
            } else {
                PathBuf::from(home).join(".local/share/jupyter")
            })
        }
        Target::SysPrefix => {
            let output = std::process::Command::new("python3")
                .args(["-c", "import sys; print(sys.prefix)"])
                .output()
                .map_err(|e| format!("--sys-prefix needs python3: {e}"))?;
            let prefix = String::from_utf8_lossy(&output.stdout).trim().to_string();
            Ok(PathBuf::from(prefix).join("share/jupyter"))
        }
        Target::Prefix(dir) => Ok(dir.join("share/jupyter")),
    }
}

/// The kernelspec that starts `executable`. The wheel's own (under python/spel.data)
/// names the binary by its place beside the kernelspec, `{resource_dir}/../../../../bin/spel`,
/// so that the kernel starts whether or not the environment is on PATH.
fn spec(executable: &str) -> serde_json::Value {
    json!({
        "argv": [executable, "kernel", "--connection-file", "{connection_file}"],
        "display_name": "spel",
        "language": "spel",
        "interrupt_mode": "message",
        "metadata": { "debugger": false },
    })
}

/// Writes `kernels/spel/{kernel.json, logo-32x32.png, logo-64x64.png}`; returns the folder.
pub fn install(target: &Target, executable: &Path) -> Result<PathBuf, String> {
    let folder = data_dir(target)?.join("kernels/spel");
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let spec = spec(&executable.display().to_string());
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(folder.join(name), bytes).map_err(|e| format!("cannot write {name}: {e}"))
    };
    write(
        "kernel.json",
        serde_json::to_string_pretty(&spec)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    write("logo-32x32.png", LOGO_32)?;
    write("logo-64x64.png", LOGO_64)?;
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wheel_s_kernelspec_is_the_installed_one_beside_its_binary() {
        let wheel =
            include_str!("../../python/spel.data/data/share/jupyter/kernels/spel/kernel.json");
        let wheel: serde_json::Value = serde_json::from_str(wheel).expect("kernel.json is JSON");
        assert_eq!(wheel, spec("{resource_dir}/../../../../bin/spel"));
    }
}
