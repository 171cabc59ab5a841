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

/// A third drug policy deploys as a file: a folder holding the two shipped files and a new
/// one (here the Enhertu criteria for a made-up product J9999) decides J9999 items by the new
/// policy with `--profiles`, with no Rust change.
#[test]
fn a_third_policy_is_a_new_file_in_the_profiles_folder() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for name in ["MP-RX-FP-48-23.toml", "MP-RX-FP-52-23.toml"] {
        std::fs::copy(root().join("profiles").join(name), dir.path().join(name))?;
    }
    let enhertu = std::fs::read_to_string(root().join("profiles/MP-RX-FP-52-23.toml"))?;
    let third = enhertu
        .replacen("id = \"MP-RX-FP-52-23\"", "id = \"MP-TEST-99\"", 1)
        .replacen(
            "questionnaire = \"enhertu\"",
            "questionnaire = \"test-drug\"",
            1,
        )
        .replacen("drug = \"enhertu\"", "drug = \"test_drug\"", 1)
        + "\n[value_sets.test_drug]\ndescription = \"A made-up drug\"\ninclude = [{ system = \"hcpcs\", codes = [\"J9999\"] }]\n";
    std::fs::write(dir.path().join("MP-TEST-99.toml"), third)?;
    let bundle =
        std::fs::read_to_string(root().join("sample-bundles/49-enhertu-her2pos-mbc-a1.json"))?
            .replace("\"J9358\"", "\"J9999\"");
    let request = dir.path().join("request.json");
    std::fs::write(&request, bundle)?;

    let check = pas()
        .arg("policy")
        .arg("check")
        .arg(dir.path().join("MP-TEST-99.toml"))
        .output()?;
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let out = pas()
        .arg("--profiles")
        .arg(dir.path())
        .arg("evaluate")
        .arg(&request)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Policy MP-TEST-99"), "{stdout}");
    assert!(stdout.contains("Certified"), "{stdout}");
    // The built-in policies know no J9999: the same request pends.
    let builtin = pas().arg("evaluate").arg(&request).output()?;
    let stdout = String::from_utf8_lossy(&builtin.stdout);
    assert!(stdout.contains("no automated policy applies"), "{stdout}");
    Ok(())
}
