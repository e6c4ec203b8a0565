//! Builds the browser client (`crates/web`) to wasm32, runs wasm-bindgen on
//! it (as a library: nothing is downloaded), and writes `assets.rs` into
//! OUT_DIR, which `include_bytes!`s every file the server serves at `/`.
//!
//! `CONFAB_SKIP_WEB=1` embeds a placeholder page instead, for quick
//! server-only builds. docs/ARCHITECTURE.md ("Crates") says
//! why each step is the way it is.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::Digest;

const WEB_CRATE: &str = "confab-web";
const WASM_NAME: &str = "confab_web";

fn main() {
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest
        .join("../..")
        .canonicalize()
        .expect("workspace root");
    let out = PathBuf::from(env("OUT_DIR"));
    let web = workspace.join("crates/web");

    println!("cargo:rerun-if-env-changed=CONFAB_SKIP_WEB");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/transport/index.html");
    for dir in ["crates/web", "crates/client/src", "crates/proto/src"] {
        watch(&workspace.join(dir));
    }
    watch(&workspace.join("Cargo.lock"));

    let mut assets: Vec<(String, PathBuf)> = Vec::new();
    if std::env::var_os("CONFAB_SKIP_WEB").is_some_and(|v| v == "1") {
        assets.push(("/".into(), manifest.join("src/transport/index.html")));
    } else {
        let pkg = build_web(&workspace, &out);
        for name in ["index.html", "style.css", "sw.js"] {
            let route = if name == "index.html" {
                "/".to_owned()
            } else {
                format!("/{name}")
            };
            assets.push((route, web.join("static").join(name)));
        }
        let mut files = Vec::new();
        list(&pkg, &mut files);
        for f in files {
            let rel = f.strip_prefix(&pkg).expect("under pkg");
            let route = format!("/pkg/{}", rel.to_string_lossy().replace('\\', "/"));
            assets.push((route, f));
        }
    }
    // Each file with an ETag (so that a reload costs a 304) and, where it
    // is smaller, a gzipped copy (the wasm shrinks to about a third).
    let gz_dir = out.join("gz");
    std::fs::create_dir_all(&gz_dir).expect("gz dir");
    let mut code = String::from(
        "/// Every file of the web client.\n\
         pub static ASSETS: &[Asset] = &[\n",
    );
    for (i, (route, file)) in assets.iter().enumerate() {
        let body = std::fs::read(file).expect("read asset");
        let digest = sha2::Sha256::digest(&body);
        let etag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&body).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let gz_expr = if gz.len() < body.len() {
            let gz_file = gz_dir.join(format!("{i}.gz"));
            std::fs::write(&gz_file, &gz).expect("write gz");
            format!("Some(include_bytes!({:?}))", gz_file.display().to_string())
        } else {
            "None".to_owned()
        };
        code.push_str(&format!(
            "    Asset {{ path: {route:?}, mime: {:?}, etag: \"\\\"{etag}\\\"\", body: include_bytes!({:?}), gzip: {gz_expr} }},\n",
            content_type(file),
            file.display().to_string()
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("assets.rs"), code).expect("write assets.rs");
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} is set by cargo"))
}

/// Tells cargo to rerun when anything under `path` changes (only paths
/// that exist: a missing one would rerun this script on every build).
fn watch(path: &Path) {
    if !path.exists() {
        return;
    }
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read dir").flatten() {
            watch(&entry.path());
        }
    } else {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn list(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read pkg").flatten() {
        let p = entry.path();
        if p.is_dir() {
            list(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Stops the build with a message (a panic would print a backtrace).
fn fail(message: &str) -> ! {
    eprintln!("\nerror: {message}\n");
    std::process::exit(1);
}

/// Makes sure the toolchain has the wasm32 target. rust-toolchain.toml
/// names it, but rustup adds a listed target only when it installs the
/// toolchain, not to one that is already there; so when it is missing and
/// rustup is at hand, the build adds it itself (and says so). Without rustup
/// it stops with what to do.
fn ensure_wasm_target(sysroot: &str) {
    let installed = || {
        Path::new(sysroot)
            .join("lib/rustlib/wasm32-unknown-unknown")
            .exists()
    };
    if installed() {
        return;
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", "wasm32-unknown-unknown"]);
    // The toolchain this build runs with (set by rustup's cargo proxy), so
    // the target lands where this rustc looks for it.
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        rustup.args(["--toolchain", &toolchain]);
    }
    eprintln!(
        "confab: the browser client needs the wasm32 target; adding it with `rustup target add wasm32-unknown-unknown`"
    );
    println!(
        "cargo:warning=added the wasm32-unknown-unknown target to this toolchain (rustup target add wasm32-unknown-unknown) to build the browser client"
    );
    let added = rustup
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .is_ok_and(|s| s.success());
    if !added || !installed() {
        fail(
            "the browser client needs the wasm32 target, which this Rust toolchain lacks, \
             and it could not be added with rustup. Add it with:\n\n    \
             rustup target add wasm32-unknown-unknown\n\n\
             (or build with CONFAB_SKIP_WEB=1 to leave the browser client out)",
        );
    }
}

/// The wasm32 build and wasm-bindgen; returns the folder of generated files.
fn build_web(workspace: &Path, out: &Path) -> PathBuf {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| fail("cannot ask rustc for its sysroot"));
    ensure_wasm_target(&sysroot);

    // A target dir of its own, so the nested build never waits on the lock
    // of the build that runs this script. OUT_DIR is
    // `<target>/<profile>/build/<crate>-<hash>/out`; cargo marks `<target>`
    // with CACHEDIR.TAG only when it created that folder itself (not when an
    // earlier build made it as the parent of another target dir).
    let target = out
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .or_else(|| out.ancestors().nth(4))
        .unwrap_or_else(|| fail("cannot find the target directory above OUT_DIR"))
        .join("web-wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            WEB_CRATE,
        ])
        .arg("--target-dir")
        .arg(&target)
        // Its output goes to our stderr: a `cargo:` line on stdout would be
        // taken as an instruction to the outer build.
        .stdout(Stdio::from(std::io::stderr()))
        // Every visitor downloads the result: small beats fast. (Set here,
        // not in the workspace's profile, as this target dir builds nothing
        // else.)
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let outer = [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTC_WORKSPACE_WRAPPER",
            "RUSTC_WRAPPER",
            "TARGET",
            "HOST",
            "OUT_DIR",
            "PROFILE",
            "OPT_LEVEL",
            "DEBUG",
            "NUM_JOBS",
            "CARGO_TARGET_DIR",
            "CARGO_MAKEFLAGS",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PRIMARY_PACKAGE",
        ]
        .contains(&key.as_ref())
            || ["CARGO_CFG_", "CARGO_FEATURE_", "CARGO_PKG_", "DEP_"]
                .iter()
                .any(|p| key.starts_with(p));
        if outer {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo for the browser client: {e}")));
    if !status.success() {
        fail("building the browser client (crates/web) for wasm32 failed; its errors are above");
    }

    let wasm = target
        .join("wasm32-unknown-unknown/release")
        .join(format!("{WASM_NAME}.wasm"));
    let pkg = out.join("pkg");
    let _ = std::fs::remove_dir_all(&pkg);
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)
        .and_then(|b| b.typescript(false).generate(&pkg))
        .unwrap_or_else(|e| fail(&format!("wasm-bindgen on {}: {e}", wasm.display())));
    pkg
}
