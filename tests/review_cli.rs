//! `pas-adapter reviewer add NAME | list | remove NAME`: the token is printed once, alone on
//! the last line of standard output, and only its hash is stored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

fn run(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pas-adapter"))
        .env("PAS_LOG", "warn")
        .arg("reviewer")
        .args(args)
        .args(["--db", db])
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn reviewer_accounts_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("review.db");
    let db = format!("sqlite://{}", path.display());

    let added = run(&db, &["add", "Dr. Rivera"]);
    assert_eq!(added.status.code(), Some(0), "{added:?}");
    let out = stdout(&added);
    let token = out.lines().last().unwrap().to_owned();
    assert!(token.starts_with("pasr_") && token.len() == 69, "{out}");
    assert!(!token.contains(' '));

    // The same name again is refused; list shows names, never tokens.
    let again = run(&db, &["add", "Dr. Rivera"]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    let listed = stdout(&run(&db, &["list"]));
    assert!(listed.starts_with("Dr. Rivera\t"), "{listed}");
    assert!(!listed.contains(&token));

    // The store knows the reviewer by the token, but does not hold the token.
    let store = pas_adapter::store::Store::connect(&db).await.unwrap();
    let reviewer = store.reviewer_by_token(&token).await.unwrap().unwrap();
    assert_eq!(reviewer.name, "Dr. Rivera");
    store.close().await;
    let mut bytes = std::fs::read(&path).unwrap();
    for wal in ["review.db-wal", "review.db-shm"] {
        if let Ok(more) = std::fs::read(dir.path().join(wal)) {
            bytes.extend(more);
        }
    }
    let secret = &token.as_bytes()[5..];
    assert!(
        !bytes.windows(secret.len()).any(|w| w == secret),
        "the token is not stored"
    );

    let removed = run(&db, &["remove", "Dr. Rivera"]);
    assert_eq!(removed.status.code(), Some(0), "{removed:?}");
    assert_eq!(stdout(&run(&db, &["list"])), "");
    let missing = run(&db, &["remove", "Dr. Rivera"]);
    assert_eq!(missing.status.code(), Some(1));
}
