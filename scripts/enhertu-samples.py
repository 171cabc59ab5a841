#!/usr/bin/env python3
"""Writes the Enhertu (MP-RX-FP-52-23) sample request bundles and their expectations.

Each sample is a clinical story told from decisions-enhertu.md: the resources it documents and
the answer the contract gives, worked out by hand in `description` (never read back from the
engine). Run from the repository root: `python3 scripts/enhertu-samples.py`; it rewrites
sample-bundles/49-* to 79-* (the Enhertu samples; 01-31 are Kadcyla, 32-48 the encoding
samples) and leaves every other sample alone.
"""
import json
import os

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
RXN = "http://www.nlm.nih.gov/research/umls/rxnorm"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ENHERTU_Q = "http://example.org/payer/Questionnaire/enhertu"
KADCYLA_Q = "http://example.org/fhir/Questionnaire/kadcyla"
CREATED = "2026-11-20T10:15:00-05:00"
OUT = "sample-bundles"

DRUGS = {
    "J9358": "Injection, fam-trastuzumab deruxtecan-nxki, 1 mg",
    "J9354": "Injection, ado-trastuzumab emtansine, 1 mg",
}
RX = {
    "224905": "trastuzumab", "1298944": "pertuzumab", "56946": "paclitaxel", "72962": "docetaxel",
    "194000": "capecitabine", "40048": "carboplatin", "68446": "pemetrexed", "72965": "letrozole",
    "1371041": "ado-trastuzumab emtansine", "4492": "fluorouracil", "32592": "oxaliplatin",
}


class Sample:
    def __init__(self, key, birth="1968-04-12"):
        self.key = key
        self.birth = birth
        self.entries = []
        self.diagnoses = []
        self.items = []
        self.n = 0
        self.qrs = []

    def rid(self, kind):
        self.n += 1
        return f"{self.key}-{kind}{self.n}"

    def add(self, resource):
        self.entries.append({
            "fullUrl": f"http://example.org/fhir/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
        })
        return resource

    def subject(self):
        return {"reference": f"Patient/{self.key}-patient"}

    def dx(self, code, display, onset=None, claim=True):
        """A Condition, and a Claim.diagnosis for it."""
        cond = {"resourceType": "Condition", "id": self.rid("cond"),
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis"}]}],
                "code": {"coding": [{"system": ICD, "code": code, "display": display}]},
                "subject": self.subject()}
        if onset:
            cond["onsetDateTime"] = onset
        self.add(cond)
        if claim:
            self.diagnoses.append((code, display))

    def obs(self, system, code, display, date, value=None, quantity=None, components=None, category="laboratory"):
        o = {"resourceType": "Observation", "id": self.rid("obs"), "status": "final",
             "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
             "code": {"coding": [{"system": system, "code": code, "display": display}]},
             "subject": self.subject(), "effectiveDateTime": date}
        if value:
            vsys, vcode, vdisplay = value
            o["valueCodeableConcept"] = {"coding": [{"system": vsys, "code": vcode, "display": vdisplay}]}
        if quantity:
            v, unit = quantity
            o["valueQuantity"] = {"value": v, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
        if components:
            o["component"] = components
        self.add(o)

    def ihc(self, score, date="2025-09-10"):
        la = {"0": "LA6111-4", "1+": "LA11841-6", "2+": "LA11842-4", "3+": "LA11843-2"}[score]
        self.obs(LOINC, "85319-2", "HER2 [Presence] in Breast cancer specimen by Immune stain", date, (LOINC, la, score))

    def ish_dual(self, ratio, copies, date="2025-09-20"):
        self.obs(LOINC, "49683-6", "HER2/CEP17 ratio", date, quantity=(ratio, "{ratio}"))
        self.obs(LOINC, "74860-8", "HER2 copies per nucleus", date, quantity=(copies, "{copies}/{nucleus}"))

    def interpretation(self, word, date="2025-09-10"):
        la = {"Negative": "LA6577-6", "Positive": "LA6576-8"}[word]
        self.obs(LOINC, "48676-1", "HER2 [Interpretation] in Tissue", date, (LOINC, la, word))

    def receptor(self, which, result, date="2025-09-10"):
        code, display = {"ER": ("16112-5", "Estrogen receptor [Interpretation] in Tissue"),
                         "PR": ("16113-3", "Progesterone receptor [Interpretation] in Tissue")}[which]
        la = {"Negative": "LA6577-6", "Positive": "LA6576-8"}[result]
        self.obs(LOINC, code, display, date, (LOINC, la, result))

    def cm(self, m, date="2025-03-10"):
        v = {"cM1": ("1229903009", "cM1 category"), "cM0": ("1229901006", "cM0 category")}[m]
        self.obs(SCT, "399387003", "cM category (observable entity)", date, (SCT, v[0], v[1]), category="exam")

    def weight(self, value, unit="kg", date="2026-11-09"):
        self.obs(LOINC, "29463-7", "Body weight", date, quantity=(value, unit), category="vital-signs")

    def erbb2(self, present, date="2025-08-01"):
        v = ("LA9633-4", "Present") if present else ("LA9634-2", "Absent")
        self.obs(LOINC, "69548-6", "Genetic variant assessment", date, (LOINC, v[0], v[1]),
                 components=[{"code": {"coding": [{"system": LOINC, "code": "48018-6", "display": "Gene studied [ID]"}]},
                              "valueCodeableConcept": {"coding": [{"system": "http://www.genenames.org/geneId", "code": "HGNC:3430", "display": "ERBB2"}]}}])

    def status(self, code, display, date):
        self.obs(LOINC, "97509-4", "Cancer disease status", date, (SCT, code, display), category="survey")

    def statement(self, rx, start, end, status="completed"):
        self.add({"resourceType": "MedicationStatement", "id": self.rid("medstmt"), "status": status,
                  "medicationCodeableConcept": {"coding": [{"system": RXN, "code": rx, "display": RX[rx]}]},
                  "subject": self.subject(), "effectivePeriod": {"start": start, "end": end}})

    def request(self, rx, start, end, status="active"):
        self.add({"resourceType": "MedicationRequest", "id": self.rid("medreq"), "status": status, "intent": "order",
                  "medicationCodeableConcept": {"coding": [{"system": RXN, "code": rx, "display": RX[rx]}]},
                  "subject": self.subject(), "authoredOn": start,
                  "dispenseRequest": {"validityPeriod": {"start": start, "end": end}}})

    def answers(self, questionnaire, **answers):
        items = []
        for link, value in answers.items():
            link = link.replace("_", "-")
            if isinstance(value, bool):
                ans = {"valueBoolean": value}
            elif isinstance(value, int):
                ans = {"valueInteger": value}
            else:
                ans = {"valueCoding": {"code": value}}
            items.append({"linkId": link, "answer": [ans]})
        qr = {"resourceType": "QuestionnaireResponse", "id": self.rid("qr"), "status": "completed",
              "subject": self.subject(), "authored": "2026-11-19T16:40:00-05:00",
              "author": {"reference": f"Practitioner/{self.key}-oncologist"}, "item": items}
        if questionnaire:
            qr["questionnaire"] = questionnaire
        self.add(qr)
        self.qrs.append(qr["id"])

    def item(self, hcpcs="J9358", start="2026-12-01", end="2027-05-31", quantity=None, cert="I", auth=None):
        self.items.append((hcpcs, start, end, quantity, cert, auth))

    def bundle(self):
        k = self.key
        items = []
        for seq, (hcpcs, start, end, quantity, cert, auth) in enumerate(self.items, 1):
            ext = [
                {"url": PAS + "extension-serviceItemRequestType", "valueCodeableConcept": {"coding": [
                    {"system": "https://codesystem.x12.org/005010/1525", "code": "HS", "display": "Health Services Review"}]}},
                {"url": PAS + "extension-itemTraceNumber", "valueIdentifier": {"system": "http://example.org/ITEM_TRACE_NUMBER", "value": f"{k}-{seq}"}},
            ]
            if cert:
                ext.insert(1, {"url": PAS + "extension-certificationType", "valueCodeableConcept": {"coding": [
                    {"system": "https://codesystem.x12.org/005010/1322", "code": cert}]}})
            if auth:
                ext.append({"url": PAS + "extension-authorizationNumber", "valueString": auth})
            item = {"extension": ext, "sequence": seq, "careTeamSequence": [1],
                    "diagnosisSequence": list(range(1, len(self.diagnoses) + 1)) or None,
                    "category": {"coding": [{"system": "https://codesystem.x12.org/005010/1365", "code": "1", "display": "Medical Care"}]},
                    "productOrService": {"coding": [{"system": HCPCS, "code": hcpcs, "display": DRUGS[hcpcs]}]},
                    "servicedPeriod": {"start": start, "end": end},
                    "locationCodeableConcept": {"coding": [{"system": "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set", "code": "22"}]}}
            if item["diagnosisSequence"] is None:
                del item["diagnosisSequence"]
            if quantity is not None:
                item["quantity"] = {"value": quantity, "unit": "mg"}
            items.append(item)
        claim = {
            "resourceType": "Claim", "id": f"{k}-claim",
            "meta": {"profile": [PAS + "profile-claim"]},
            "identifier": [{"system": "http://example.org/PATIENT_EVENT_TRACE_NUMBER", "value": f"TRN-{k}",
                            "assigner": {"identifier": {"system": "http://example.org/USER_ASSIGNED", "value": "9012345678"}}}],
            "status": "active",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}]},
            "use": "preauthorization", "patient": self.subject(), "created": CREATED,
            "insurer": {"reference": "Organization/insurer"}, "provider": {"reference": "Organization/cancer-center"},
            "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
            "careTeam": [{"extension": [{"url": PAS + "extension-careTeamClaimScope", "valueBoolean": True}],
                          "sequence": 1, "provider": {"reference": f"PractitionerRole/{k}-oncologist-role"}}],
            "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": f"Coverage/{k}-coverage"}}],
            "item": items,
        }
        if self.diagnoses:
            claim["diagnosis"] = [{"sequence": i, "diagnosisCodeableConcept": {"coding": [{"system": ICD, "code": c, "display": d}]}}
                                  for i, (c, d) in enumerate(self.diagnoses, 1)]
        if self.qrs:
            claim["supportingInfo"] = [{
                "sequence": i,
                "category": {"coding": [{"system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes", "code": "additionalInformation"}]},
                "valueReference": {"reference": f"QuestionnaireResponse/{qr}"}} for i, qr in enumerate(self.qrs, 1)]
        patient = {"resourceType": "Patient", "id": f"{k}-patient", "meta": {"profile": [PAS + "profile-beneficiary"]},
                   "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                                   "system": "http://example.org/fhir/sid/mrn", "value": f"MRN-{k}"}],
                   "name": [{"family": "Example", "given": [k]}], "gender": "female"}
        if self.birth:
            patient["birthDate"] = self.birth
        fixed = [
            patient,
            {"resourceType": "Organization", "id": "insurer", "meta": {"profile": [PAS + "profile-insurer"]},
             "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}], "active": True,
             "type": [{"coding": [{"system": "https://codesystem.x12.org/005010/98", "code": "PR", "display": "Payer"}]}],
             "name": "EXAMPLE MEDICARE ADVANTAGE PLAN"},
            {"resourceType": "Organization", "id": "cancer-center", "meta": {"profile": [PAS + "profile-requestor"]},
             "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1992999999"}], "active": True,
             "type": [{"coding": [{"system": "https://codesystem.x12.org/005010/98", "code": "1P", "display": "Provider"}]}],
             "name": "EXAMPLE COMMUNITY CANCER CENTER",
             "address": [{"line": ["500 Avenida Ejemplo"], "city": "San Juan", "state": "PR", "postalCode": "00907", "country": "US"}]},
            {"resourceType": "Practitioner", "id": f"{k}-oncologist", "meta": {"profile": [PAS + "profile-practitioner"]},
             "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1003000126"}],
             "name": [{"family": "Rivera", "given": ["Ana"], "prefix": ["Dr."]}]},
            {"resourceType": "PractitionerRole", "id": f"{k}-oncologist-role", "meta": {"profile": [PAS + "profile-practitionerrole"]},
             "practitioner": {"reference": f"Practitioner/{k}-oncologist"}, "organization": {"reference": "Organization/cancer-center"},
             "code": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "207RX0202X", "display": "Medical Oncology Physician"}]}]},
            {"resourceType": "Coverage", "id": f"{k}-coverage", "meta": {"profile": [PAS + "profile-coverage"]},
             "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB"}]},
                             "system": "http://example.org/fhir/sid/member-id", "value": f"M-{k}"}],
             "status": "active", "subscriberId": f"M-{k}", "beneficiary": self.subject(),
             "relationship": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": "self"}]},
             "payor": [{"reference": "Organization/insurer"}]},
        ]
        entries = [{"fullUrl": f"http://example.org/fhir/Claim/{k}-claim", "resource": claim}]
        entries += [{"fullUrl": f"http://example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r} for r in fixed]
        entries += self.entries
        return {"resourceType": "Bundle", "id": f"{k}-request", "meta": {"profile": [PAS + "profile-pas-request-bundle"]},
                "identifier": {"system": "http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER", "value": k.upper()},
                "type": "collection", "timestamp": CREATED, "entry": entries}


SAMPLES = []


def sample(name, description, expected):
    def register(build):
        SAMPLES.append((name, description, expected, build))
        return build
    return register


FULL = {"start": "2026-12-01", "end": "2027-05-31"}


def her2pos_mbc(s, weight=90):
    """HER2-positive breast cancer with liver metastases after trastuzumab + pertuzumab."""
    s.dx("C50.911", "Malignant neoplasm of unspecified site of right female breast", "2023-05-02")
    s.dx("C78.7", "Secondary malignant neoplasm of liver", "2025-03-10")
    s.ihc("3+")
    s.statement("224905", "2023-06-01", "2024-06-01")
    s.statement("1298944", "2023-06-01", "2024-06-01")
    if weight:
        s.weight(weight)


@sample("49-enhertu-her2pos-mbc-a1",
        "HER2-positive (IHC 3+) breast cancer (C50.911) with liver metastases (C78.7), 58 years old. Trastuzumab and pertuzumab 2023-06..2024-06 (anti-HER2 history, A.i.D); prior-metastatic-therapy = true (A.i.D.1); single agent, no concurrent drug. A.i met. 90 kg: 5.4 x 90 = 486 mg exactly (binary floating point would give 487), 2026-12-01..2027-05-31 is 181 days -> 9 administrations -> 4374 allowed; 4374 requested. A1.",
        [{"sequence": 1, "action": "A1", "quantity": 4374, "period": FULL}])
def _(s):
    her2pos_mbc(s, 90)
    s.answers(ENHERTU_Q, prior_metastatic_therapy=True, single_agent=True)
    s.item(quantity=4374)


@sample("50-enhertu-her2pos-over-limit-a6",
        "As 32 (A.i met: IHC 3+, liver metastases, trastuzumab/pertuzumab history, prior metastatic therapy answered true) but 70 kg and 4000 mg requested. ceil(5.4 x 70 = 378) = 378 per administration x 9 administrations (181 days) = 3402 < 4000: A6 for 3402 over 2026-12-01..2027-05-31.",
        [{"sequence": 1, "action": "A6", "quantity": 3402, "period": FULL}])
def _(s):
    her2pos_mbc(s, 70)
    s.answers(ENHERTU_Q, prior_metastatic_therapy=True)
    s.item(quantity=4000)


@sample("51-enhertu-her2low-ihc1-hr-negative-a1",
        "HER2-low (IHC 1+) breast cancer (C50.412) with lung metastases (C78.01, onset 2025-03-10), ER and PR negative (HR-negative: A.ii.E met), capecitabine 2025-05-01..2025-12-31 started after the metastasis onset (chemotherapy in the metastatic setting, A.ii.D.1), 52 years old, no concurrent drug. A.i fails (IHC 1+ is not HER2-positive), A.ii met. 60 kg: 5.4 x 60 = 324 x 9 = 2916 requested. A1.",
        [{"sequence": 1, "action": "A1", "quantity": 2916, "period": FULL}])
def _(s):
    s.birth = "1974-02-20"
    s.dx("C50.412", "Malignant neoplasm of upper-outer quadrant of left female breast", "2022-01-15")
    s.dx("C78.01", "Secondary malignant neoplasm of right lung", "2025-03-10")
    s.ihc("1+")
    s.receptor("ER", "Negative")
    s.receptor("PR", "Negative")
    s.statement("194000", "2025-05-01", "2025-12-31")
    s.weight(60)
    s.item(quantity=2916)


@sample("52-enhertu-her2low-ihc2-ish-negative-endocrine-pounds-a1",
        "HER2-low by IHC 2+ with a negative dual-probe ISH (ratio 1.4, 3.1 copies/cell) in metastatic breast cancer (C50.811 + cM1), ER positive (HR-positive) with letrozole 2024-01-10..2025-06-30 (endocrine therapy before: A.ii.E met), prior-chemotherapy-metastatic = true (A.ii.D.1). A.i fails (ISH negative resolves the IHC 2+), A.ii met. 154 [lb_av] = 69.85322498 kg exactly; 5.4 x 69.85322498 = 377.2074... -> 378 per administration x 9 = 3402 requested. A1.",
        [{"sequence": 1, "action": "A1", "quantity": 3402, "period": FULL}])
def _(s):
    s.dx("C50.811", "Malignant neoplasm of overlapping sites of right female breast", "2021-09-01")
    s.cm("cM1")
    s.ihc("2+")
    s.ish_dual(1.4, 3.1)
    s.receptor("ER", "Positive")
    s.receptor("PR", "Negative")
    s.statement("72965", "2024-01-10", "2025-06-30")
    s.weight(154, "[lb_av]")
    s.answers(ENHERTU_Q, treatment_setting="metastatic", prior_chemotherapy_metastatic=True, single_agent=True)
    s.item(quantity=3402)


@sample("53-enhertu-her2low-hr-positive-no-endocrine-a3",
        "HER2-low (IHC 1+) metastatic breast cancer (C50.911 + C79.51 bone), ER positive, prior-chemotherapy-metastatic = true, but prior-endocrine-therapy = false and endocrine-therapy-ineligible = false with no endocrine history: A.ii.E documented failed. A.i.C fails (IHC 1+). Every candidate path failed: A3.",
        [{"sequence": 1, "action": "A3"}])
def _(s):
    s.dx("C50.911", "Malignant neoplasm of unspecified site of right female breast", "2022-01-15")
    s.dx("C79.51", "Secondary malignant neoplasm of bone", "2025-02-01")
    s.ihc("1+")
    s.receptor("ER", "Positive")
    s.weight(70)
    s.answers(ENHERTU_Q, prior_chemotherapy_metastatic=True, prior_endocrine_therapy=False,
              endocrine_therapy_ineligible=False)
    s.item(quantity=3402)


@sample("54-enhertu-her2-zero-a3",
        "Metastatic breast cancer (C50.911 + C78.7) with IHC 0 (HER2-0/ultralow, D.ii), prior chemotherapy in the metastatic setting answered true. A.i.C fails (no positive test), A.ii.C fails (every IHC result is 0). A3.",
        [{"sequence": 1, "action": "A3"}])
def _(s):
    s.dx("C50.911", "Malignant neoplasm of unspecified site of right female breast", "2022-01-15")
    s.dx("C78.7", "Secondary malignant neoplasm of liver", "2025-03-10")
    s.ihc("0")
    s.weight(70)
    s.answers(ENHERTU_Q, prior_chemotherapy_metastatic=True)
    s.item(quantity=3402)


@sample("55-enhertu-interpretation-negative-only-a4",
        "Metastatic breast cancer (C50.911 + C78.7) whose only HER2 result is the report's overall interpretation 48676-1 Negative: it fails HER2-positive (A.i.C) but cannot tell HER2-low from HER2-0, so A.ii.C is missing; chemotherapy for metastatic disease and HR-negative status are documented. A.ii is open: A4 asking for the IHC score.",
        [{"sequence": 1, "action": "A4"}])
def _(s):
    s.dx("C50.911", "Malignant neoplasm of unspecified site of right female breast", "2022-01-15")
    s.dx("C78.7", "Secondary malignant neoplasm of liver", "2025-03-10")
    s.interpretation("Negative")
    s.receptor("ER", "Negative")
    s.receptor("PR", "Negative")
    s.weight(70)
    s.answers(ENHERTU_Q, prior_chemotherapy_metastatic=True)
    s.item(quantity=3402)


@sample("56-enhertu-ihc2-without-ish-a4",
        "Metastatic breast cancer (C50.911 + C78.7), IHC 2+ with no ISH: HER2-positive (A.i.C) and HER2-low (A.ii.C) are both unsettled; trastuzumab history and prior metastatic therapy answered. A4 asking for the ISH result.",
        [{"sequence": 1, "action": "A4"}])
def _(s):
    s.dx("C50.911", "Malignant neoplasm of unspecified site of right female breast", "2022-01-15")
    s.dx("C78.7", "Secondary malignant neoplasm of liver", "2025-03-10")
    s.ihc("2+")
    s.statement("224905", "2023-06-01", "2024-06-01")
    s.weight(70)
    s.answers(ENHERTU_Q, prior_metastatic_therapy=True, prior_chemotherapy_metastatic=True)
    s.item(quantity=3402)


@sample("57-enhertu-under-18-a3",
        "HER2-positive (IHC 3+) metastatic breast cancer with trastuzumab/pertuzumab history and prior metastatic therapy, but born 2010-03-01: 16 years old on 2026-12-01, A.i.A fails; A.ii fails on HER2-low (a positive test) and age. A3.",
        [{"sequence": 1, "action": "A3"}])
def _(s):
    s.birth = "2010-03-01"
    her2pos_mbc(s, 55)
    s.answers(ENHERTU_Q, prior_metastatic_therapy=True)
    s.item(quantity=2682)


@sample("58-enhertu-no-birth-date-a4",
        "As 32 (A.i otherwise met: IHC 3+, liver metastases, anti-HER2 history, prior metastatic therapy) but the Patient carries no birthDate: age (A.i.A) is missing. A4.",
        [{"sequence": 1, "action": "A4"}])
def _(s):
    s.birth = None
    her2pos_mbc(s, 90)
    s.answers(ENHERTU_Q, prior_metastatic_therapy=True)
    s.item(quantity=4374)


@sample("59-enhertu-gastric-a1",
        "HER2-positive (IHC 3+) adenocarcinoma of the cardia (C16.0) with liver metastases (C78.7), trastuzumab 2025-01-05..2025-09-30 with oxaliplatin (prior trastuzumab-based regimen, A.iii.D), 61 years old, single agent. A.iii met, gastric dose 6.4 mg/kg: 70 kg -> 448 per administration x 9 = 4032 requested. A1.",
        [{"sequence": 1, "action": "A1", "quantity": 4032, "period": FULL}])
def _(s):
    s.birth = "1965-07-30"
    s.dx("C16.0", "Malignant neoplasm of cardia", "2024-11-20")
    s.dx("C78.7", "Secondary malignant neoplasm of liver", "2025-10-15")
    s.ihc("3+")
    s.statement("224905", "2025-01-05", "2025-09-30")
    s.statement("32592", "2025-01-05", "2025-09-30")
    s.weight(70)
    s.answers(ENHERTU_Q, single_agent=True)
    s.item(quantity=4032)


@sample("60-enhertu-gastric-ratio-below-2-a3",
        "Metastatic gastric cancer (C16.2 + C78.6) with IHC 2+ and a dual-probe ISH ratio 1.8 with 6.5 copies/cell: under the gastric definition ISH is positive only at a ratio of 2.0 or more, so this ISH is negative and resolves the IHC 2+: A.iii.C fails (the breast rules would have called it positive). Trastuzumab history. A3.",
        [{"sequence": 1, "action": "A3"}])
def _(s):
    s.dx("C16.2", "Malignant neoplasm of body of stomach", "2024-11-20")
    s.dx("C78.6", "Secondary malignant neoplasm of retroperitoneum and peritoneum", "2025-10-15")
    s.ihc("2+")
    s.ish_dual(1.8, 6.5)
    s.statement("224905", "2025-01-05", "2025-09-30")
    s.weight(70)
    s.item(quantity=4032)


@sample("61-enhertu-esophagus-histology-unanswered-a4",
        "HER2-positive (IHC 3+) tumor of the lower third of the esophagus (C15.5) with liver metastases and trastuzumab history: an esophageal code alone does not show a junction adenocarcinoma and gastric-gej-adenocarcinoma is not answered, so A.iii.E is missing. A4.",
        [{"sequence": 1, "action": "A4"}])
def _(s):
    s.dx("C15.5", "Malignant neoplasm of lower third of esophagus", "2024-11-20")
    s.dx("C78.7", "Secondary malignant neoplasm of liver", "2025-10-15")
    s.ihc("3+")
    s.statement("224905", "2025-01-05", "2025-09-30")
    s.weight(70)
    s.item(quantity=4032)


@sample("62-enhertu-junction-locally-advanced-long-period-a6",
        "HER2-positive (IHC 3+) junction adenocarcinoma coded to the lower esophagus (C15.5, gastric-gej-adenocarcinoma = true), locally advanced (locally-advanced = true, A.iii.B), prior-trastuzumab = true. A.iii met at 6.4 mg/kg. Requested 2026-12-01..2027-08-31 and 5000 mg: capped at 6 months (2027-05-31, 181 days, 9 administrations) and 9 x 448 (70 kg) = 4032. A6.",
        [{"sequence": 1, "action": "A6", "quantity": 4032, "period": FULL}])
def _(s):
    s.dx("C15.5", "Malignant neoplasm of lower third of esophagus", "2024-11-20")
    s.ihc("3+")
    s.weight(70)
    s.answers(ENHERTU_Q, gastric_gej_adenocarcinoma=True, locally_advanced=True, prior_trastuzumab=True,
              single_agent=True)
    s.item(end="2027-08-31", quantity=5000)


@sample("63-enhertu-nsclc-erbb2-a1",
        "Non-small cell lung cancer (C34.11) with bone metastases (C79.51), ERBB2 mutation present (69548-6, HGNC:3430, LA9633-4), carboplatin + pemetrexed 2025-04-01..2025-10-01 (prior systemic therapy, A.iv.D), 63 years old, single agent. A.iv met at 5.4 mg/kg: 80 kg -> 432 x 9 = 3888 requested. A1.",
        [{"sequence": 1, "action": "A1", "quantity": 3888, "period": FULL}])
def _(s):
    s.birth = "1963-10-02"
    s.dx("C34.11", "Malignant neoplasm of upper lobe, right bronchus or lung", "2025-03-01")
    s.dx("C79.51", "Secondary malignant neoplasm of bone", "2025-03-01")
    s.erbb2(True)
    s.request("40048", "2025-04-01", "2025-10-01", status="completed")
    s.request("68446", "2025-04-01", "2025-10-01", status="completed")
    s.weight(80)
    s.item(quantity=3888)


@sample("64-enhertu-nsclc-erbb2-absent-a3",
        "Metastatic NSCLC (C34.90 + C79.31) with ERBB2 mutation absent (LA9634-2) and an IHC 3+ result, which plays no part in A.iv: A.iv.C fails. Prior carboplatin. A3.",
        [{"sequence": 1, "action": "A3"}])
def _(s):
    s.dx("C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus or lung", "2025-03-01")
    s.dx("C79.31", "Secondary malignant neoplasm of brain", "2025-03-01")
    s.erbb2(False)
    s.ihc("3+")
    s.request("40048", "2025-04-01", "2025-10-01", status="completed")
    s.weight(80)
    s.item(quantity=3888)


@sample("65-enhertu-neoadjuvant-a3",
        "HER2-positive (IHC 3+) breast cancer (C50.211) with treatment-setting = neoadjuvant: early-stage use, exclusion D.iii, decided first. A3.",
        [{"sequence": 1, "action": "A3"}])
def _(s):
    s.dx("C50.211", "Malignant neoplasm of upper-inner quadrant of right female breast", "2026-10-01")
    s.ihc("3+")
    s.weight(70)
    s.answers(ENHERTU_Q, treatment_setting="neoadjuvant")
    s.item(quantity=3402)


@sample("66-enhertu-combination-pertuzumab-a3",
        "HER2-positive metastatic breast cancer (as 32) with an active pertuzumab MedicationRequest 2026-11-15..2027-03-31 overlapping the requested period and single-agent unanswered: combination (D.i). A3.",
        [{"sequence": 1, "action": "A3"}])
def _(s):
    her2pos_mbc(s, 70)
    s.request("1298944", "2026-11-15", "2027-03-31")
    s.answers(ENHERTU_Q, prior_metastatic_therapy=True)
    s.item(quantity=3402)


@sample("67-enhertu-single-agent-contradiction-a4",
        "HER2-positive metastatic breast cancer (as 32) answered single-agent = true while an active capecitabine MedicationRequest overlaps the requested period: the answer contradicts the record, which pends (not D.i). A4.",
        [{"sequence": 1, "action": "A4"}])
def _(s):
    her2pos_mbc(s, 70)
    s.request("194000", "2026-11-15", "2027-03-31")
    s.answers(ENHERTU_Q, prior_metastatic_therapy=True, single_agent=True)
    s.item(quantity=3402)


@sample("68-enhertu-no-weight-a4",
        "A.i met as in 32 (IHC 3+, liver metastases, anti-HER2 history, prior metastatic therapy), 3402 mg requested, but no body weight is documented: the dose cannot be checked. A4.",
        [{"sequence": 1, "action": "A4"}])
def _(s):
    her2pos_mbc(s, None)
    s.answers(ENHERTU_Q, prior_metastatic_therapy=True)
    s.item(quantity=3402)


@sample("69-enhertu-stage-missing-a4",
        "HER2-positive (IHC 3+) breast cancer (C50.911) with trastuzumab history and recurrence within 6 months answered true, but no metastasis evidence, no staging observation, no setting or unresectable answer: the stage (A.i.B) is missing, not failed. A4.",
        [{"sequence": 1, "action": "A4"}])
def _(s):
    s.dx("C50.911", "Malignant neoplasm of unspecified site of right female breast", "2023-05-02")
    s.ihc("3+")
    s.statement("224905", "2023-06-01", "2024-06-01")
    s.weight(70)
    s.answers(ENHERTU_Q, recurrence_within_6_months=True)
    s.item(quantity=3402)


@sample("70-enhertu-colorectal-a3",
        "HER2-amplified colorectal cancer (C18.7) with liver metastases: a HER2-expressing solid tumor outside section A (D.iv / D.v), no diagnosis family of a path. A3.",
        [{"sequence": 1, "action": "A3"}])
def _(s):
    s.dx("C18.7", "Malignant neoplasm of sigmoid colon", "2024-02-01")
    s.dx("C78.7", "Secondary malignant neoplasm of liver", "2025-03-10")
    s.ihc("3+")
    s.weight(70)
    s.item(quantity=3402)


@sample("71-enhertu-metastasis-only-a4",
        "Only a metastasis (C78.7) and the chemotherapy encounter code (Z51.11) are documented: no primary site, so no path can be chosen and none excluded. A4.",
        [{"sequence": 1, "action": "A4"}])
def _(s):
    s.dx("C78.7", "Secondary malignant neoplasm of liver", "2025-03-10")
    s.dx("Z51.11", "Encounter for antineoplastic chemotherapy", "2026-11-01")
    s.ihc("3+")
    s.weight(70)
    s.item(quantity=3402)


def continuation(s, status=("359746009", "Stable (qualifier value)", "2026-10-15")):
    s.dx("C50.911", "Malignant neoplasm of unspecified site of right female breast", "2023-05-02")
    s.dx("C78.7", "Secondary malignant neoplasm of liver", "2025-03-10")
    s.ihc("3+")
    if status:
        s.status(*status)
    s.weight(70)


@sample("72-enhertu-continuation-stable-a1",
        "Renewal (certificationType R, authorization PA-ENH-2026-05-0101) for HER2-positive metastatic breast cancer: disease status stable on 2026-10-15 (within 6 months of 2026-11-20, B.i.A-B met), ild-grade 0 and unacceptable-toxicity = false (B.i.C met). Breast dose 5.4 mg/kg, 70 kg -> 378 x 9 = 3402 requested. A1.",
        [{"sequence": 1, "action": "A1", "quantity": 3402, "period": FULL}])
def _(s):
    continuation(s)
    s.answers(ENHERTU_Q, ild_grade=0, unacceptable_toxicity=False)
    s.item(quantity=3402, cert="R", auth="PA-ENH-2026-05-0101")


@sample("73-enhertu-continuation-ild-grade-2-a3",
        "Renewal for HER2-positive metastatic breast cancer, disease stable on 2026-10-15, unacceptable-toxicity answered false but ild-grade = 2: Grade 2 ILD/pneumonitis is always unacceptable (B.i.C fails). A3.",
        [{"sequence": 1, "action": "A3"}])
def _(s):
    continuation(s)
    s.answers(ENHERTU_Q, ild_grade=2, unacceptable_toxicity=False)
    s.item(quantity=3402, cert="R", auth="PA-ENH-2026-05-0102")


@sample("74-enhertu-continuation-progression-a3",
        "Continuation (request-type = continuation) for HER2-positive metastatic breast cancer; the most recent disease status in the last 6 months is worsened (271299001, 2026-11-05): B.i.A-B fails. A3.",
        [{"sequence": 1, "action": "A3"}])
def _(s):
    continuation(s, ("271299001", "Worsened (qualifier value)", "2026-11-05"))
    s.answers(ENHERTU_Q, request_type="continuation", ild_grade=0, unacceptable_toxicity=False)
    s.item(quantity=3402, cert=None)


@sample("75-enhertu-continuation-no-recent-status-a4",
        "Renewal for HER2-positive metastatic breast cancer whose only disease status is from 2026-03-01, before the 6-month window (2026-05-20..2026-11-20), and disease-progression is not answered: B.i.A-B missing; toxicity answered none. A4.",
        [{"sequence": 1, "action": "A4"}])
def _(s):
    continuation(s, ("359746009", "Stable (qualifier value)", "2026-03-01"))
    s.answers(ENHERTU_Q, ild_grade=0, unacceptable_toxicity=False)
    s.item(quantity=3402, cert="R", auth="PA-ENH-2026-05-0103")


@sample("76-enhertu-continuation-gastric-a6",
        "Renewal (certificationType R with authorization PA-ENH-2026-05-0104) for HER2-positive gastric cancer (C16.9, IHC 3+): disease-progression = false, ild-grade = 1 and unacceptable toxicity not answered (B.i.C met). The dose follows the gastric family: 6.4 mg/kg x 70 kg = 448 x 9 = 4032 allowed, 5000 requested. A6 4032.",
        [{"sequence": 1, "action": "A6", "quantity": 4032, "period": FULL}])
def _(s):
    s.dx("C16.9", "Malignant neoplasm of stomach, unspecified", "2024-11-20")
    s.ihc("3+")
    s.weight(70)
    s.answers(ENHERTU_Q, disease_progression=False, ild_grade=1)
    s.item(quantity=5000, cert="R", auth="PA-ENH-2026-05-0104")


@sample("77-kadcyla-enhertu-overlapping-items",
        "One Claim with a Kadcyla item (J9354) and an Enhertu item (J9358), both 2026-12-01..2027-05-31, for HER2-positive (IHC 3+) metastatic breast cancer with trastuzumab and paclitaxel history, prior metastatic therapy answered in a response naming no Questionnaire. Each item is decided by its own policy and each is the other's combination partner over the overlapping period: Kadcyla D.i (Enhertu is a targeted biologic) and Enhertu D.i (Kadcyla is an anti-HER2 drug). Item 1 A3, item 2 A3.",
        [{"sequence": 1, "action": "A3"}, {"sequence": 2, "action": "A3"}])
def _(s):
    s.dx("C50.911", "Malignant neoplasm of unspecified site of right female breast", "2023-05-02")
    s.dx("C78.7", "Secondary malignant neoplasm of liver", "2025-03-10")
    s.ihc("3+")
    s.statement("224905", "2023-06-01", "2024-06-01")
    s.statement("56946", "2023-06-01", "2023-09-01")
    s.weight(70)
    s.answers(None, prior_metastatic_therapy=True, treatment_setting="metastatic")
    s.item(hcpcs="J9354", quantity=2268)
    s.item(hcpcs="J9358", quantity=3402)


@sample("78-kadcyla-then-enhertu-separate-questionnaires",
        "One Claim with a Kadcyla item for 2026-11-23..2026-11-30 (one administration: 3.6 x 70 = 252) and an Enhertu item for 2026-12-01..2027-05-31: the periods do not overlap, so neither is the other's partner. HER2-positive (IHC 3+) breast cancer with liver metastases, trastuzumab + paclitaxel history. The Kadcyla response (Questionnaire kadcyla) answers prior-metastatic-therapy = true and single-agent = true (Kadcyla A.i.C.2 met: A1 252); the Enhertu response (Questionnaire enhertu) answers prior-anti-her2 = true and recurrence-within-6-months = true with prior-metastatic-therapy = false, which the Kadcyla item never reads (A.i.D.2 met: A1 3402 at 5.4 x 70 = 378 x 9).",
        [{"sequence": 1, "action": "A1", "quantity": 252, "period": {"start": "2026-11-23", "end": "2026-11-30"}},
         {"sequence": 2, "action": "A1", "quantity": 3402, "period": FULL}])
def _(s):
    s.dx("C50.911", "Malignant neoplasm of unspecified site of right female breast", "2023-05-02")
    s.dx("C78.7", "Secondary malignant neoplasm of liver", "2025-03-10")
    s.ihc("3+")
    s.statement("224905", "2023-06-01", "2024-06-01")
    s.statement("56946", "2023-06-01", "2023-09-01")
    s.weight(70)
    s.answers(KADCYLA_Q, prior_metastatic_therapy=True, single_agent=True, treatment_setting="metastatic")
    s.answers(ENHERTU_Q, prior_anti_her2=True, recurrence_within_6_months=True, prior_metastatic_therapy=False,
              single_agent=True)
    s.item(hcpcs="J9354", start="2026-11-23", end="2026-11-30", quantity=252)
    s.item(hcpcs="J9358", quantity=3402)


@sample("79-enhertu-continuation-no-diagnosis-a4",
        "Renewal (certificationType R, authorization PA-ENH-2026-05-0105) of Enhertu with a stable disease status on 2026-10-15 and no toxicity (ild-grade 0, unacceptable-toxicity = false), IHC 3+ on file, but no diagnosis at all on the Claim or in the Bundle: the indication of section A (B indication) is not documented, which is absence of evidence, not a documented failure. A4 asking for the diagnosis.",
        [{"sequence": 1, "action": "A4"}])
def _(s):
    s.ihc("3+")
    s.status("359746009", "Stable (qualifier value)", "2026-10-15")
    s.weight(70)
    s.answers(ENHERTU_Q, ild_grade=0, unacceptable_toxicity=False)
    s.item(quantity=3402, cert="R", auth="PA-ENH-2026-05-0105")


def main():
    for name, description, expected, build in SAMPLES:
        key = "enh" + name.split("-")[0]
        s = Sample(key)
        build(s)
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(s.bundle(), f, indent=2)
            f.write("\n")
        with open(os.path.join(OUT, f"{name}.expected.json"), "w") as f:
            json.dump({"description": description, "items": expected}, f, indent=2)
            f.write("\n")
    print(f"wrote {len(SAMPLES)} samples")


if __name__ == "__main__":
    main()
