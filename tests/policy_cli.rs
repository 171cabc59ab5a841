//! `pas-adapter policy check` and `policy test`, run as an analyst runs them.

use std::path::Path;
use std::process::Command;

fn pas() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn policy_check_accepts_both_shipped_files() -> anyhow::Result<()> {
    let out = pas()
        .arg("policy")
        .arg("check")
        .arg(root().join("profiles/MP-RX-FP-48-23.toml"))
        .arg(root().join("profiles/MP-RX-FP-52-23.toml"))
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("ok: policy MP-RX-FP-48-23"), "{stdout}");
    assert!(stdout.contains("ok: policy MP-RX-FP-52-23"), "{stdout}");
    Ok(())
}

/// A criterion that reads a question the file does not publish is refused with the file, the
/// line and column of the criterion, and the missing name.
#[test]
fn policy_check_names_file_line_and_missing_question() -> anyhow::Result<()> {
    let text = std::fs::read_to_string(root().join("profiles/MP-RX-FP-52-23.toml"))?;
    let broken = text.replacen(
        "link_id = \"ild-grade\"\ntype",
        "link_id = \"ild-grade-renamed\"\ntype",
        1,
    );
    assert_ne!(broken, text);
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("enhertu.toml");
    std::fs::write(&file, &broken)?;
    let out = pas().arg("policy").arg("check").arg(&file).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // The first criterion reading `ild-grade` is `ild_grade_2_answered`.
    let at = text
        .find("id = \"ild_grade_2_answered\"")
        .and_then(|i| text[..i].rfind("[[criteria]]"))
        .map_or(0, |i| text[..i].matches('\n').count() + 1);
    assert_eq!(
        stdout.trim(),
        format!(
            "{}:{at}:1: policy `MP-RX-FP-52-23`: criterion `ild_grade_2_answered` reads unknown question `ild-grade`",
            file.display()
        )
    );
    Ok(())
}

#[test]
fn policy_test_runs_the_cases_kept_as_data() -> anyhow::Result<()> {
    let out = pas()
        .current_dir(root())
        .args(["policy", "test", "--profiles", "profiles"])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    Ok(())
}
