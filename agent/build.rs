//! Build script: on Windows targets, embeds a version resource in `certfleet-agent.exe` (file
//! version = crate version, product and company names), which Explorer's Details tab, Intune's
//! and SCCM's file-version detection rules and `(Get-Item exe).VersionInfo` read. Elsewhere it
//! does nothing.
//!
//! The resource is compiled by the toolchain's resource compiler: `windres` from mingw-w64 for
//! the GNU target (`$WINDRES`, else `<arch>-w64-mingw32-windres`, else `windres`), `rc.exe`
//! from the Windows SDK for MSVC (`$RC`, else `rc.exe` on PATH, as in a Developer PowerShell).
//! A missing compiler fails the build: a Windows agent without its version is not shipped.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const PRODUCT: &str = "certfleet";
const COMPANY: &str = "certfleet project";
const DESCRIPTION: &str = "certfleet agent: reports client certificates to the certfleet collector";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=WINDRES");
    println!("cargo:rerun-if-env-changed=RC");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let version = env::var("CARGO_PKG_VERSION").expect("CARGO_PKG_VERSION");
    let numbers: Vec<u16> = version
        .split(['.', '-', '+'])
        .take(3)
        .map(|part| part.parse().unwrap_or(0))
        .collect();
    let [major, minor, patch] = [0, 1, 2].map(|i| numbers.get(i).copied().unwrap_or(0));
    let rc = out.join("certfleet-agent.rc");
    std::fs::write(
        &rc,
        format!(
            r#"#pragma code_page(65001)
1 VERSIONINFO
FILEVERSION {major},{minor},{patch},0
PRODUCTVERSION {major},{minor},{patch},0
FILEFLAGSMASK 0x3F
FILEFLAGS 0
FILEOS 0x40004
FILETYPE 1
FILESUBTYPE 0
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904B0"
    BEGIN
      VALUE "CompanyName", "{COMPANY}"
      VALUE "FileDescription", "{DESCRIPTION}"
      VALUE "FileVersion", "{version}"
      VALUE "InternalName", "certfleet-agent"
      VALUE "LegalCopyright", "Apache-2.0"
      VALUE "OriginalFilename", "certfleet-agent.exe"
      VALUE "ProductName", "{PRODUCT}"
      VALUE "ProductVersion", "{version}"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"#
        ),
    )
    .expect("write the version resource script");

    let target_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let object = if target_env == "msvc" {
        let res = out.join("certfleet-agent.res");
        let compiler = env::var("RC").unwrap_or_else(|_| "rc.exe".to_owned());
        run(Command::new(&compiler)
            .arg("/nologo")
            .arg("/fo")
            .arg(&res)
            .arg(&rc));
        res
    } else {
        let obj = out.join("certfleet-agent-version.o");
        let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
        let compiler = env::var("WINDRES").unwrap_or_else(|_| {
            let prefixed = format!("{arch}-w64-mingw32-windres");
            if Command::new(&prefixed).arg("--version").output().is_ok() {
                prefixed
            } else {
                "windres".to_owned()
            }
        });
        run(Command::new(&compiler)
            .arg("--input-format=rc")
            .arg("--output-format=coff")
            .arg("-c")
            .arg("65001")
            .arg("-i")
            .arg(&rc)
            .arg("-o")
            .arg(&obj));
        obj
    };
    println!(
        "cargo:rustc-link-arg-bin=certfleet-agent={}",
        object.display()
    );
}

fn run(cmd: &mut Command) {
    let shown = format!("{cmd:?}");
    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("resource compiler failed ({status}): {shown}"),
        Err(e) => panic!(
            "cannot run the resource compiler ({e}): {shown}; install mingw-w64 binutils \
             (windres) or run from a Developer PowerShell (rc.exe), or set WINDRES / RC"
        ),
    }
}
