//! `pas-adapter replay --repeat N`: the comparison table, then one timing line whose FORMAT is
//! checked here (never its numbers: performance is measured in benchmarks, not asserted).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pas-adapter"));
    command.env("PAS_LOG", "warn");
    command
}

fn sample(name: &str) -> String {
    format!("{}/sample-bundles/{name}.json", env!("CARGO_MANIFEST_DIR"))
}

/// `<count> bundles in <seconds> s: <rate> bundles/s, p50 <x> us, p99 <y> us`, as numbers.
fn parse_timing(line: &str) -> Option<(u64, f64, f64, f64, f64)> {
    let (count, rest) = line.split_once(" bundles in ")?;
    let (seconds, rest) = rest.split_once(" s: ")?;
    let (rate, rest) = rest.split_once(" bundles/s, p50 ")?;
    let (p50, rest) = rest.split_once(" us, p99 ")?;
    let p99 = rest.strip_suffix(" us")?;
    Some((
        count.parse().ok()?,
        seconds.parse().ok()?,
        rate.parse().ok()?,
        p50.parse().ok()?,
        p99.parse().ok()?,
    ))
}

#[test]
fn repeat_ends_with_one_timing_line() {
    let output = bin()
        .args(["replay", "--repeat", "3"])
        .arg(sample("04-mbc-fda-a1"))
        .arg(sample("15-ihc2-no-ish-a4"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    let last = lines.last().copied().unwrap_or("");
    let (count, seconds, rate, p50, p99) =
        parse_timing(last).unwrap_or_else(|| panic!("not a timing line: `{last}`"));
    // 2 bundles x 3 rounds; the figures are only checked to be coherent, not fast.
    assert_eq!(count, 6);
    assert!(seconds >= 0.0 && rate >= 0.0 && p50 >= 0.0);
    assert!(p99 >= p50, "{last}");
    // The comparison of the first round comes before it, as in a plain replay.
    assert!(
        stdout.contains("2 bundles, 2 answers: 2 agree, 0 differ"),
        "{stdout}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains(" bundles/s, ")).count(),
        1
    );
}

#[test]
fn repeat_is_in_process_only_and_at_least_once() {
    let with_server = bin()
        .args(["replay", "--repeat", "2", "--server", "http://127.0.0.1:9"])
        .arg(sample("04-mbc-fda-a1"))
        .output()
        .unwrap();
    assert_eq!(with_server.status.code(), Some(2));
    let zero = bin()
        .args(["replay", "--repeat", "0"])
        .arg(sample("04-mbc-fda-a1"))
        .output()
        .unwrap();
    assert_eq!(zero.status.code(), Some(2));
}

#[test]
fn the_timing_line_parser_reads_the_documented_format() {
    assert_eq!(
        parse_timing("6 bundles in 0.002 s: 3000.0 bundles/s, p50 310.5 us, p99 900.0 us"),
        Some((6, 0.002, 3000.0, 310.5, 900.0))
    );
    assert_eq!(parse_timing("6 bundles, 6 answers"), None);
}
