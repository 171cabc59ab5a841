//! The policy tests kept as data (`profiles/tests/*.toml`) run with the built-in policies:
//! each case's answer, policy, quantity, period and named criteria, as `pas-adapter policy
//! test` runs them.

use std::path::Path;

use pas_adapter::policy::PolicySet;
use pas_adapter::policy_tests;
use pas_adapter::service::{Service, ServiceSettings};

#[tokio::test]
async fn every_policy_case_passes() -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/tests");
    let service = Service::new(PolicySet::embedded(), ServiceSettings::default());
    let results = policy_tests::run_dir(&service, &dir).await?;
    assert!(results.len() >= 20, "only {} cases", results.len());
    let failures: Vec<String> = results
        .iter()
        .filter(|r| !r.passed())
        .map(|r| format!("{}: {}", r.file.display(), r.failures.join("; ")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// A case that wants a different answer fails, naming the item and both answers: the runner
/// cannot pass a case it does not check.
#[tokio::test]
async fn a_wrong_expectation_fails_with_both_answers() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir()?;
    let request = root.join("sample-bundles/54-enhertu-her2-zero-a3.json");
    std::fs::write(
        dir.path().join("wrong.toml"),
        format!(
            "description = \"IHC 0 wrongly expected certified\"\nrequest = {:?}\n\n[[items]]\nsequence = 1\naction = \"A1\"\nmet = [\"A.ii.C\"]\n",
            request.display().to_string()
        ),
    )?;
    let service = Service::new(PolicySet::embedded(), ServiceSettings::default());
    let results = policy_tests::run_dir(&service, dir.path()).await?;
    let failures: Vec<&str> = results
        .iter()
        .flat_map(|r| r.failures.iter().map(String::as_str))
        .collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(
        failures[0].starts_with("item 1: answer A3, wanted A1"),
        "{failures:?}"
    );
    assert_eq!(
        failures[1],
        "item 1: criterion A.ii.C not named as met (named: not met)"
    );
    Ok(())
}
