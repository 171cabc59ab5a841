//! Engine cases as data: facts in, the exact answer (review action, authorized quantity)
//! out, one case per rule of decisions.md. Facts are built directly so that these tests pin
//! the engine alone; whole bundles are replayed in `tests/`.

use chrono::NaiveDate;

use super::{Outcome, PolicySet, ReviewAction, Status};
use crate::evidence::{
    Answer, AnswerValue, ClaimFacts, Component, DateSpan, Diagnosis, Facts, ItemFacts,
    MedicationSource, MedicationUse, ObsValue, Observation, Source, UseStatus,
};
use crate::fhir::{Code, CodeSystem};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
}

fn src(name: &str) -> Source {
    Source {
        resource: name.into(),
        path: String::new(),
    }
}

fn loinc(c: &str) -> Code {
    Code::of(CodeSystem::Loinc, c)
}

fn snomed(c: &str) -> Code {
    Code::of(CodeSystem::Snomed, c)
}

/// Builds facts around one Kadcyla item requested 2026-12-01..2027-05-31 on a Claim created
/// 2026-11-20.
struct Case {
    facts: Facts,
}

impl Case {
    fn new() -> Self {
        let item = ItemFacts {
            sequence: 1,
            path: "Bundle.entry[0].resource.item[0]".into(),
            product_codes: vec![Code::of(CodeSystem::Hcpcs, "J9354")],
            certification_type: Some("I".into()),
            authorization_number: None,
            quantity: None,
            served: Some(DateSpan {
                start: Some(d("2026-12-01")),
                end: Some(d("2027-05-31")),
            }),
            concerns: Vec::new(),
        };
        Self {
            facts: Facts {
                claim: ClaimFacts {
                    created: Some(d("2026-11-20")),
                    items: vec![item],
                },
                ..Facts::default()
            },
        }
    }

    fn dx(mut self, code: &str) -> Self {
        self.facts.diagnoses.push(Diagnosis {
            code: Code::of(CodeSystem::Icd10Cm, code),
            date: None,
            source: src(&format!("Condition/{code}")),
        });
        self
    }

    fn obs(mut self, code: Code, value: ObsValue, date: &str) -> Self {
        let n = self.facts.observations.len();
        self.facts.observations.push(Observation {
            codes: vec![code],
            value: Some(value),
            components: Vec::new(),
            date: Some(d(date)),
            source: src(&format!("Observation/o{n}")),
        });
        self
    }

    fn coded(self, code: &str, value: Code) -> Self {
        self.obs(
            loinc(code),
            ObsValue::Coded {
                codes: vec![value],
                text: None,
            },
            "2026-10-01",
        )
    }

    fn qty(self, code: &str, value: f64, unit: &str) -> Self {
        self.obs(
            loinc(code),
            ObsValue::Quantity {
                value,
                unit: Some(unit.into()),
                comparator: None,
            },
            "2026-10-01",
        )
    }

    fn ihc(self, score: &str) -> Self {
        self.obs(loinc("85319-2"), ObsValue::Text(score.into()), "2026-09-01")
    }

    fn her2_positive(self) -> Self {
        self.coded("85319-2", loinc("LA11843-2"))
    }

    fn weight(self, kg: f64) -> Self {
        self.qty("29463-7", kg, "kg")
    }

    fn panel(mut self, ratio: f64, copies: f64) -> Self {
        let n = self.facts.observations.len();
        let comp = |code: &str, v: f64| Component {
            codes: vec![loinc(code)],
            value: Some(ObsValue::Quantity {
                value: v,
                unit: None,
                comparator: None,
            }),
        };
        self.facts.observations.push(Observation {
            codes: vec![loinc("74885-5")],
            value: None,
            components: vec![comp("49683-6", ratio), comp("74860-8", copies)],
            date: Some(d("2026-09-02")),
            source: src(&format!("Observation/panel{n}")),
        });
        self
    }

    fn answer(mut self, link_id: &str, value: AnswerValue) -> Self {
        self.facts.answers.push(Answer {
            link_id: link_id.into(),
            value,
            source: src("QuestionnaireResponse/qr"),
        });
        self
    }

    fn yes(self, link_id: &str) -> Self {
        self.answer(link_id, AnswerValue::Boolean(true))
    }

    fn no(self, link_id: &str) -> Self {
        self.answer(link_id, AnswerValue::Boolean(false))
    }

    fn int(self, link_id: &str, n: i64) -> Self {
        self.answer(link_id, AnswerValue::Integer(n))
    }

    fn code(self, link_id: &str, c: &str) -> Self {
        self.answer(link_id, AnswerValue::Code(c.into()))
    }

    fn med(
        mut self,
        rxnorm: &str,
        kind: MedicationSource,
        status: UseStatus,
        start: &str,
        end: &str,
    ) -> Self {
        let n = self.facts.medications.len();
        self.facts.medications.push(MedicationUse {
            codes: vec![Code::of(CodeSystem::RxNorm, rxnorm)],
            kind,
            status,
            start: (!start.is_empty()).then(|| d(start)),
            end: (!end.is_empty()).then(|| d(end)),
            source: src(&format!("Medication/m{n}")),
        });
        self
    }

    fn history(self, rxnorm: &str, start: &str, end: &str) -> Self {
        self.med(
            rxnorm,
            MedicationSource::Statement,
            UseStatus::History,
            start,
            end,
        )
    }

    fn current(self, rxnorm: &str) -> Self {
        self.med(
            rxnorm,
            MedicationSource::Request,
            UseStatus::Current,
            "2026-11-01",
            "",
        )
    }

    fn kadcyla_given(mut self, times: usize) -> Self {
        for i in 0..times {
            let n = self.facts.medications.len();
            self.facts.medications.push(MedicationUse {
                codes: vec![Code::of(CodeSystem::Hcpcs, "J9354")],
                kind: MedicationSource::Administration,
                status: UseStatus::History,
                start: Some(d("2026-01-01") + chrono::Days::new(21 * i as u64)),
                end: None,
                source: src(&format!("MedicationAdministration/a{n}")),
            });
        }
        self
    }

    fn item(mut self, f: impl FnOnce(&mut ItemFacts)) -> Self {
        if let Some(item) = self.facts.claim.items.first_mut() {
            f(item);
        }
        self
    }

    fn quantity(self, q: f64) -> Self {
        self.item(|i| i.quantity = Some(q))
    }

    fn decide(&self) -> super::Decision {
        let set = PolicySet::embedded();
        set.decide(&self.facts, &self.facts.claim.items[0])
    }

    /// A metastatic HER2+ breast cancer that meets A.i.C.2.
    fn metastatic() -> Self {
        Self::new()
            .dx("C50.911")
            .dx("C78.7")
            .her2_positive()
            .history("224905", "2024-01-10", "2024-12-20")
            .history("56946", "2024-01-10", "2024-04-20")
            .yes("prior-metastatic-therapy")
    }

    /// Early breast cancer after 18 weeks of neoadjuvant docetaxel + trastuzumab with
    /// residual disease: meets A.i.C.1.
    fn early() -> Self {
        Self::new()
            .dx("C50.412")
            .her2_positive()
            .history("72962", "2026-03-02", "2026-06-08")
            .history("224905", "2026-03-02", "2026-07-06")
            .yes("residual-invasive-disease")
            .code("treatment-setting", "adjuvant")
    }
}

fn action(case: &Case) -> ReviewAction {
    case.decide().review_action()
}

fn quantity(case: &Case) -> Option<f64> {
    case.decide()
        .outcome
        .authorization()
        .and_then(|a| a.quantity)
}

#[test]
fn metastatic_fda_path_certifies_the_request() {
    let decision = Case::metastatic().decide();
    assert_eq!(
        decision.review_action(),
        ReviewAction::Certified,
        "{decision:#?}"
    );
    let auth = decision.outcome.authorization().cloned();
    assert_eq!(
        auth.map(|a| (a.period.start, a.period.end)),
        Some((d("2026-12-01"), d("2027-05-31")))
    );
    assert!(
        decision
            .criteria
            .iter()
            .any(|c| c.id == "A.i.C.2.b" && c.status == Status::Met)
    );
}

#[test]
fn dose_over_limit_is_modified_to_the_allowed_quantity() {
    // 70 kg: ceil(3.6 x 70) = 252 mg x 9 administrations = 2268 mg.
    let case = Case::metastatic().weight(70.0).quantity(3000.0);
    assert_eq!(action(&case), ReviewAction::Modified);
    assert_eq!(quantity(&case), Some(2268.0));
    let within = Case::metastatic().weight(70.0).quantity(2268.0);
    assert_eq!(action(&within), ReviewAction::Certified);
    assert_eq!(quantity(&within), Some(2268.0));
}

#[test]
fn weight_in_pounds_is_converted() {
    // 154 lb = 69.85 kg: ceil(251.47) = 252 mg x 9 = 2268.
    let case = Case::metastatic()
        .qty("29463-7", 154.0, "[lb_av]")
        .quantity(5000.0);
    assert_eq!(quantity(&case), Some(2268.0));
}

#[test]
fn quantity_without_weight_pends() {
    assert_eq!(
        action(&Case::metastatic().quantity(2000.0)),
        ReviewAction::Pended
    );
}

#[test]
fn her2_negative_is_denied() {
    let case = Case::new()
        .dx("C50.911")
        .dx("C78.7")
        .ihc("1+")
        .yes("prior-metastatic-therapy");
    assert_eq!(action(&case), ReviewAction::NotCertified);
}

#[test]
fn her2_equivocal_or_absent_pends() {
    let base = || {
        Case::new()
            .dx("C50.911")
            .dx("C78.7")
            .history("224905", "2024-01-10", "2024-12-20")
            .history("56946", "2024-01-10", "2024-04-20")
            .yes("prior-metastatic-therapy")
    };
    assert_eq!(action(&base().ihc("2+")), ReviewAction::Pended);
    assert_eq!(action(&base().dx("Z17.31")), ReviewAction::Pended);
    assert_eq!(action(&base().panel(1.8, 4.5)), ReviewAction::Pended);
    assert_eq!(
        action(&base().ihc("2+").panel(2.0, 3.0)),
        ReviewAction::Certified
    );
    assert_eq!(
        action(&base().ihc("2+").panel(1.5, 3.0)),
        ReviewAction::NotCertified
    );
    assert_eq!(action(&base().panel(1.2, 6.0)), ReviewAction::Certified);
}

#[test]
fn early_breast_path_certifies_after_16_weeks() {
    let decision = Case::early().decide();
    assert_eq!(
        decision.review_action(),
        ReviewAction::Certified,
        "{decision:#?}"
    );
}

#[test]
fn early_breast_under_16_weeks_is_denied_and_unknown_residual_pends() {
    let short = Case::new()
        .dx("C50.412")
        .her2_positive()
        .history("72962", "2026-03-02", "2026-04-06")
        .history("224905", "2026-03-02", "2026-05-04")
        .yes("residual-invasive-disease");
    assert_eq!(action(&short), ReviewAction::NotCertified);
    let unknown = Case::new()
        .dx("C50.412")
        .her2_positive()
        .history("72962", "2026-03-02", "2026-06-08")
        .history("224905", "2026-03-02", "2026-07-06");
    assert_eq!(action(&unknown), ReviewAction::Pended);
}

#[test]
fn early_breast_fourteen_cycles() {
    assert_eq!(
        action(&Case::early().int("cycles-received", 14)),
        ReviewAction::NotCertified
    );
    // 12 given: 2 left of the 9 the period allows; 60 kg: 216 mg x 2 = 432.
    let cut = Case::early()
        .int("cycles-received", 12)
        .weight(60.0)
        .quantity(1944.0);
    assert_eq!(action(&cut), ReviewAction::Modified);
    assert_eq!(quantity(&cut), Some(432.0));
    // Documented administrations count too.
    assert_eq!(
        action(&Case::early().kadcyla_given(14)),
        ReviewAction::NotCertified
    );
    // An answer below the documented count contradicts it.
    assert_eq!(
        action(&Case::early().kadcyla_given(5).int("cycles-received", 3)),
        ReviewAction::Pended
    );
}

#[test]
fn neoadjuvant_use_is_denied() {
    let neoadjuvant = Case::new()
        .dx("C50.412")
        .her2_positive()
        .code("treatment-setting", "neoadjuvant");
    assert_eq!(action(&neoadjuvant), ReviewAction::NotCertified);
    // Two answers that disagree pend instead.
    assert_eq!(
        action(&Case::early().code("treatment-setting", "neoadjuvant")),
        ReviewAction::Pended
    );
}

#[test]
fn combination_is_denied_endocrine_allowed() {
    assert_eq!(
        action(&Case::metastatic().current("1298944")),
        ReviewAction::NotCertified
    );
    assert_eq!(
        action(&Case::metastatic().current("194000")),
        ReviewAction::NotCertified
    );
    assert_eq!(
        action(&Case::metastatic().current("2361285")),
        ReviewAction::NotCertified
    );
    assert_eq!(
        action(&Case::metastatic().current("72965")),
        ReviewAction::Certified
    );
    // A contradiction between a single-agent answer and a documented partner pends.
    assert_eq!(
        action(&Case::metastatic().current("1298944").yes("single-agent")),
        ReviewAction::Pended
    );
}

#[test]
fn nccn_lines_of_therapy() {
    let base = || Case::new().dx("C50.911").dx("C79.51").her2_positive();
    assert_eq!(
        action(&base().int("line-of-therapy", 3)),
        ReviewAction::Certified
    );
    assert_eq!(
        action(&base().int("line-of-therapy", 2).no("tdxd-candidate")),
        ReviewAction::Certified
    );
    assert_eq!(
        action(&base().int("line-of-therapy", 2).yes("tdxd-candidate")),
        ReviewAction::Pended
    );
}

#[test]
fn brain_metastases_with_neratinib() {
    let base = || {
        Case::new()
            .dx("C50.911")
            .dx("C79.31")
            .her2_positive()
            .current("1940643")
    };
    assert_eq!(
        action(&base().yes("brain-mets-asymptomatic-initial")),
        ReviewAction::Certified
    );
    assert_eq!(action(&base()), ReviewAction::Pended);
    assert_eq!(
        action(
            &base()
                .no("brain-mets-asymptomatic-initial")
                .no("brain-mets-recurrent-stable-systemic")
        ),
        ReviewAction::NotCertified
    );
    // Neratinib without brain metastases: only A.ii allows it.
    let no_brain = Case::metastatic().current("1940643");
    assert_eq!(action(&no_brain), ReviewAction::NotCertified);
    // Brain metastases with no breast primary documented: missing, not failed.
    let no_primary = Case::new()
        .dx("C79.31")
        .her2_positive()
        .yes("brain-mets-asymptomatic-initial");
    assert_eq!(action(&no_primary), ReviewAction::Pended);
    // Tucatinib is never allowed.
    let tucatinib = Case::new()
        .dx("C50.911")
        .dx("C79.31")
        .her2_positive()
        .current("2361285")
        .yes("brain-mets-asymptomatic-initial");
    assert_eq!(action(&tucatinib), ReviewAction::NotCertified);
}

#[test]
fn nsclc_with_erbb2_mutation() {
    let variant = |present: &str| {
        let mut case = Case::new()
            .dx("C34.11")
            .yes("recurrent")
            .yes("subsequent-therapy");
        case.facts.observations.push(Observation {
            codes: vec![loinc("69548-6")],
            value: Some(ObsValue::Coded {
                codes: vec![loinc(present)],
                text: None,
            }),
            components: vec![Component {
                codes: vec![loinc("48018-6")],
                value: Some(ObsValue::Coded {
                    codes: vec![Code::new("http://www.genenames.org/geneId", "HGNC:3430")],
                    text: None,
                }),
            }],
            date: Some(d("2026-08-01")),
            source: src("Observation/variant"),
        });
        case
    };
    assert_eq!(action(&variant("LA9633-4")), ReviewAction::Certified);
    assert_eq!(action(&variant("LA9634-2")), ReviewAction::NotCertified);
    assert_eq!(
        action(
            &Case::new()
                .dx("C34.2")
                .yes("recurrent")
                .yes("subsequent-therapy")
        ),
        ReviewAction::Pended
    );
}

#[test]
fn salivary_gland() {
    let case = Case::new()
        .dx("C08.0")
        .her2_positive()
        .yes("recurrent")
        .history("224905", "2025-01-01", "2025-06-01");
    assert_eq!(action(&case), ReviewAction::Certified);
}

#[test]
fn other_diagnosis_is_denied_and_no_diagnosis_pends() {
    assert_eq!(
        action(&Case::new().dx("C16.9").her2_positive()),
        ReviewAction::NotCertified
    );
    assert_eq!(
        action(&Case::new().dx("Z51.11").her2_positive()),
        ReviewAction::Pended
    );
}

#[test]
fn continuation_rules() {
    let base = || {
        Case::metastatic().item(|i| {
            i.certification_type = Some("R".into());
            i.authorization_number = Some("PA-1".into());
        })
    };
    fn status(value: &'static str, date: &'static str) -> impl Fn(Case) -> Case {
        move |c: Case| {
            c.obs(
                loinc("97509-4"),
                ObsValue::Coded {
                    codes: vec![snomed(value)],
                    text: None,
                },
                date,
            )
        }
    }
    assert_eq!(
        action(&status("359746009", "2026-10-15")(base())),
        ReviewAction::Certified
    );
    assert_eq!(
        action(&status("271299001", "2026-10-15")(base())),
        ReviewAction::NotCertified
    );
    assert_eq!(
        action(&status("359746009", "2026-03-01")(base())),
        ReviewAction::Pended
    );
    assert_eq!(action(&base()), ReviewAction::Pended);
    assert_eq!(
        action(&status("359746009", "2026-10-15")(base()).yes("unacceptable-toxicity")),
        ReviewAction::NotCertified
    );
    assert_eq!(
        action(&status("359746009", "2026-10-15")(base()).yes("disease-progression")),
        ReviewAction::Pended
    );
}

#[test]
fn every_decision_names_the_policy_and_criteria() {
    let decision = Case::metastatic().decide();
    let policy = decision.policy.clone().map(|p| (p.id, p.revision));
    assert_eq!(policy, Some(("MP-RX-FP-48-23".into(), "2025-10-17".into())));
    assert!(!decision.summary.is_empty());
    if let Outcome::Pended { documents } = Case::new().dx("C50.911").dx("C78.7").decide().outcome {
        assert!(
            documents.iter().any(|d| d.contains("HER2")),
            "{documents:?}"
        );
    } else {
        panic!("expected a pend");
    }
}

#[test]
fn items_outside_every_policy_are_pended() {
    let case =
        Case::metastatic().item(|i| i.product_codes = vec![Code::of(CodeSystem::Hcpcs, "J9355")]);
    let decision = case.decide();
    assert_eq!(decision.review_action(), ReviewAction::Pended);
    assert!(decision.policy.is_none());
}
