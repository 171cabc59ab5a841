//! The reviewer page in a real headless Chromium (Debian `chromium` + `chromium-driver`,
//! installed by `scripts/test`), driven over WebDriver: sign in with the reviewer token, see
//! the pended case, open it, deny it with a reason and criteria, see it leave the open list.
//! The case page's screenshot is kept in `docs/screenshots/review-case.png`. The session
//! cookie's attributes and the cross-site form protection are checked from the attacker's
//! side with a plain HTTP client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use pas_adapter::policy::PolicySet;
use pas_adapter::service::{Service, ServiceSettings};
use pas_adapter::store::Store;
use serde_json::{Value, json};
use support::db::Db;

fn pended() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles/15-ihc2-no-ish-a4.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver on a free port, or `None` when it is not installed (outside CI).
async fn chromedriver() -> Option<(Driver, String)> {
    let port = free_port();
    let child = match Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "chromedriver is missing ({error}); scripts/test installs it"
            );
            eprintln!("chromedriver is missing: skipping the browser test");
            return None;
        }
    };
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{url}/status")).await.is_ok() {
            return Some((Driver(child), url));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_denies_a_pended_case_in_the_browser() {
    let Some((_driver, webdriver)) = chromedriver().await else {
        return;
    };
    let db = Db::sqlite();
    let store = Store::connect(&db.uri).await.unwrap();
    let (_, token) = store.add_reviewer("Dr. Lindqvist").await.unwrap();
    let service =
        Service::new(PolicySet::embedded(), ServiceSettings::default()).with_store(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = pas_adapter::http::router(service);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let submitted = http
        .post(format!("{base}/Claim/$submit"))
        .header("content-type", "application/fhir+json")
        .body(pended().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 200);
    let cases: Value = http
        .get(format!("{base}/review/cases"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let case_id = cases["cases"][0]["id"].as_str().unwrap().to_owned();
    let criterion = cases["cases"][0]["items"][0]["missing"][0]
        .as_str()
        .unwrap()
        .to_owned();

    // From the attacker's side: no session is the sign-in page; a forged form is refused.
    let no_session = http
        .post(format!("{base}/review/case/{case_id}/decide"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action_1=A1")
        .send()
        .await
        .unwrap();
    assert_eq!(no_session.status(), 303);
    assert_eq!(no_session.headers()["location"], "/review/sign-in");
    let bad = http
        .post(format!("{base}/review/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=pasr_guess")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(bad.headers().get("set-cookie").is_none());
    let signed_in = http
        .post(format!("{base}/review/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let forged = http
        .post(format!("{base}/review/case/{case_id}/decide"))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=forged&action_1=A1")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let still_open: Value = http
        .get(format!("{base}/review/cases"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(still_open["cases"].as_array().unwrap().len(), 1);

    // The browser.
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--window-size=1280,1500"]}),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&webdriver)
        .await
        .unwrap();
    browser.goto(&format!("{base}/review")).await.unwrap();
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        "/review/sign-in"
    );
    browser
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    browser
        .find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // A click does not wait for the next page: wait for what it shows.
    let link = browser
        .wait()
        .for_element(Locator::Css("a.case-link"))
        .await
        .unwrap();
    assert_eq!(browser.current_url().await.unwrap().path(), "/review");
    assert_eq!(
        link.text().await.unwrap(),
        "http://example.org/PATIENT_EVENT_TRACE_NUMBER|TRN-2026-0015"
    );
    let row = browser
        .find(Locator::Css("#cases tbody tr"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(row.contains("standard"), "{row}");
    assert!(row.contains(&criterion), "{row}");
    link.click().await.unwrap();
    browser
        .wait()
        .for_element(Locator::Id("evidence"))
        .await
        .unwrap();
    assert_eq!(
        browser.current_url().await.unwrap().path(),
        format!("/review/case/{case_id}")
    );
    let evidence = browser
        .find(Locator::Id("evidence"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(evidence.contains("Diagnosis"), "{evidence}");
    assert!(evidence.contains("C50.912"), "{evidence}");
    let history = browser
        .find(Locator::Id("history"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(history.contains("engine"), "{history}");
    let screenshot = browser.screenshot().await.unwrap();
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("review-case.png"), &screenshot).unwrap();

    // A denial without a reason is refused on the page, and the case stays open.
    browser
        .find(Locator::Id("action_1"))
        .await
        .unwrap()
        .select_by_value("A3")
        .await
        .unwrap();
    browser
        .find(Locator::Id("decide"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = browser
        .wait()
        .for_element(Locator::Id("error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("needs a `reason`"), "{error}");

    browser
        .find(Locator::Id("action_1"))
        .await
        .unwrap()
        .select_by_value("A3")
        .await
        .unwrap();
    browser
        .find(Locator::Id("reason_1"))
        .await
        .unwrap()
        .send_keys("HER2 IHC 2+ without ISH; the pathology report was not sent")
        .await
        .unwrap();
    browser
        .find(Locator::Id("criteria_1"))
        .await
        .unwrap()
        .send_keys(&criterion)
        .await
        .unwrap();
    browser
        .find(Locator::Id("decide"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let empty = browser
        .wait()
        .for_element(Locator::Id("empty"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(empty, "No open cases.");
    let notice = browser
        .find(Locator::Id("notice"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(notice.contains("TRN-2026-0015"), "{notice}");
    browser.close().await.unwrap();

    // The decision is the authorization's answer now, with the reviewer's reason.
    let latest = store
        .latest_for_claim(
            "http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER",
            "http://example.org/PATIENT_EVENT_TRACE_NUMBER|TRN-2026-0015",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.version, 2);
    assert_eq!(latest.decision_trace[0]["action"], "A3");
    let note = latest.response["entry"][0]["resource"]["processNote"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        note.contains("Reason: HER2 IHC 2+ without ISH; the pathology report was not sent."),
        "{note}"
    );
}
