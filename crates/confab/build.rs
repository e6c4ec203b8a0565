//! Puts the commit this binary was built from into `confab --version`
//! (`CONFAB_COMMIT`; "unknown" outside a git checkout, e.g. from a source
//! tarball, unless the variable is set by the packager).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CONFAB_COMMIT");
    let commit = std::env::var("CONFAB_COMMIT").ok().or_else(git_commit);
    println!(
        "cargo:rustc-env=CONFAB_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
}

fn git_commit() -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    // Rebuild when HEAD moves: HEAD itself, and the branch file it names.
    let git_dir = git(&["rev-parse", "--absolute-git-dir"])?;
    println!("cargo:rerun-if-changed={git_dir}/HEAD");
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        println!("cargo:rerun-if-changed={git_dir}/{branch}");
    }
    println!("cargo:rerun-if-changed={git_dir}/packed-refs");
    git(&["rev-parse", "--short=12", "HEAD"])
}
