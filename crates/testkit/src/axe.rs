//! axe-core, the accessibility checker, for browser tests. It comes from
//! the npm registry (the machine's `npm`), once, into `target/axe-core/`,
//! at a pinned version; a test injects it into the page and runs it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The axe-core release the tests use.
pub const VERSION: &str = "4.10.3";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/axe-core")
        .join(VERSION)
}

/// The script of axe-core, fetched on first use.
pub fn source() -> &'static str {
    static AXE: OnceLock<Result<String, String>> = OnceLock::new();
    let got = AXE.get_or_init(|| {
        let file = dir().join("node_modules/axe-core/axe.min.js");
        if !file.exists() {
            // Installed beside, then moved in whole, so that two test
            // processes never see half an install.
            let tmp = dir().with_extension(format!("tmp-{}", std::process::id()));
            let out = Command::new("npm")
                .args(["install", "--no-save", "--no-audit", "--no-fund", "--prefix"])
                .arg(&tmp)
                .arg(format!("axe-core@{VERSION}"))
                .output()
                .map_err(|e| {
                    format!("the accessibility tests fetch axe-core with npm (Node.js), which did not run: {e}")
                })?;
            if !out.status.success() {
                return Err(format!(
                    "npm install axe-core@{VERSION} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let _ = std::fs::rename(&tmp, dir());
            let _ = std::fs::remove_dir_all(&tmp);
        }
        std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))
    });
    match got {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}
