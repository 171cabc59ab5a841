#!/usr/bin/env python3
"""Writes the sample PAS request Bundles and their expected answers.

The expected answers are written by hand in CASES below (with the arithmetic in each
description); this script only assembles the FHIR resources so that every bundle shares the
same, consistent PAS scaffolding. Run from anywhere: python3 sample-bundles/make_samples.py
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = "http://example.org/fhir/"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
RXN = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
HCPCS = {
    "cms": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "bb": "https://bluebutton.cms.gov/resources/codesystem/hcpcs",
    "oid": "urn:oid:2.16.840.1.113883.6.285",
}
CREATED = "2026-11-20T10:15:00-05:00"

DRUGS = {
    # name: (rxnorm, display)
    "trastuzumab": ("224905", "trastuzumab"),
    "pertuzumab": ("1298944", "pertuzumab"),
    "docetaxel": ("72962", "docetaxel"),
    "paclitaxel": ("56946", "paclitaxel"),
    "carboplatin": ("40048", "carboplatin"),
    "capecitabine": ("194000", "capecitabine"),
    "tdxd": ("2267582", "fam-trastuzumab deruxtecan"),
    "neratinib": ("1940643", "neratinib"),
    "tucatinib": ("2361285", "tucatinib"),
    "letrozole": ("72965", "letrozole"),
    "vinorelbine": ("39541", "vinorelbine"),
    "pemetrexed": ("68446", "pemetrexed"),
    "pembrolizumab": ("1547545", "pembrolizumab"),
    "oxaliplatin": ("32592", "oxaliplatin"),
    "kadcyla": ("1371041", "ado-trastuzumab emtansine"),
}
ICD_DISPLAY = {
    "C50.412": "Malignant neoplasm of upper-outer quadrant of left female breast",
    "C50.411": "Malignant neoplasm of upper-outer quadrant of right female breast",
    "C50.911": "Malignant neoplasm of unspecified site of right female breast",
    "C50.912": "Malignant neoplasm of unspecified site of left female breast",
    "C50.919": "Malignant neoplasm of unspecified site of unspecified female breast",
    "C50.811": "Malignant neoplasm of overlapping sites of right female breast",
    "C50.511": "Malignant neoplasm of lower-outer quadrant of right female breast",
    "C50.212": "Malignant neoplasm of upper-inner quadrant of left female breast",
    "C50.111": "Malignant neoplasm of central portion of right female breast",
    "C78.00": "Secondary malignant neoplasm of unspecified lung",
    "C78.01": "Secondary malignant neoplasm of right lung",
    "C78.7": "Secondary malignant neoplasm of liver and intrahepatic bile duct",
    "C79.51": "Secondary malignant neoplasm of bone",
    "C79.31": "Secondary malignant neoplasm of brain",
    "C34.11": "Malignant neoplasm of upper lobe, right bronchus or lung",
    "C07": "Malignant neoplasm of parotid gland",
    "C16.9": "Malignant neoplasm of stomach, unspecified",
    "Z85.3": "Personal history of malignant neoplasm of breast",
    "Z17.31": "Human epidermal growth factor receptor 2 positive status",
    "Z17.0": "Estrogen receptor positive status [ER+]",
    "J84.10": "Pulmonary fibrosis, unspecified",
    "K71.6": "Toxic liver disease with hepatitis, not elsewhere classified",
}


def ref(rtype, rid):
    return {"reference": f"{rtype}/{rid}"}


def cc(system, code, display=None, text=None):
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    out = {"coding": [c]}
    if text:
        out["text"] = text
    return out


def x12(cs, code, display):
    return cc(f"https://codesystem.x12.org/005010/{cs}", code, display)


class Builder:
    """Collects the entries of one request Bundle; ids are unique per sample."""

    def __init__(self, key):
        self.key = key
        self.entries = []
        self.n = 0

    def rid(self, prefix):
        self.n += 1
        return f"{self.key}-{prefix}{self.n}"

    def add(self, res):
        self.entries.append({"fullUrl": BASE + f"{res['resourceType']}/{res['id']}", "resource": res})
        return ref(res["resourceType"], res["id"])


def observation(b, pid, code, when, category="laboratory", **value):
    o = {
        "resourceType": "Observation",
        "id": b.rid("obs"),
        "status": "final",
        "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", category)],
        "code": code,
        "subject": pid,
        "effectiveDateTime": when,
    }
    o.update(value)
    return b.add(o)


def loinc_answer(code, display):
    return cc(LOINC, code, display)


IHC_LA = {"0": "LA6111-4", "1+": "LA11841-6", "2+": "LA11842-4", "3+": "LA11843-2"}


def ihc(b, pid, score, when, as_string=False, loinc="85319-2"):
    disp = {"85319-2": "HER2 [Presence] in Breast cancer specimen by Immune stain",
            "18474-7": "HER2 Ag [Presence] in Tissue by Immune stain"}[loinc]
    if as_string:
        return observation(b, pid, cc(LOINC, loinc, disp), when, valueString=score)
    return observation(b, pid, cc(LOINC, loinc, disp), when, valueCodeableConcept=loinc_answer(IHC_LA[score], score))


def her2_interp(b, pid, result, when):
    la = {"Positive": "LA6576-8", "Negative": "LA6577-6"}[result]
    return observation(b, pid, cc(LOINC, "48676-1", "HER2 [Interpretation] in Tissue"), when,
                       valueCodeableConcept=loinc_answer(la, result))


def ratio_q(v):
    return {"value": v, "unit": "{ratio}", "system": UCUM, "code": "{ratio}"}


def copies_q(v):
    return {"value": v, "unit": "{copies}/{nucleus}", "system": UCUM, "code": "{copies}/{nucleus}"}


RATIO = cc(LOINC, "49683-6", "ERBB2 copy number/Chromosome 17 copy number [Ratio] in Tissue by FISH")
COPIES = cc(LOINC, "74860-8", "ERBB2 gene copy number [#/nucleus] in Tissue by FISH")


def ish_separate(b, pid, ratio, copies, when):
    observation(b, pid, RATIO, when, valueQuantity=ratio_q(ratio))
    observation(b, pid, COPIES, when, valueQuantity=copies_q(copies))


def ish_panel(b, pid, ratio, copies, when):
    observation(b, pid, cc(LOINC, "74885-5", "ERBB2 gene dual probe FISH panel in Tissue"), when,
                component=[{"code": RATIO, "valueQuantity": ratio_q(ratio)},
                           {"code": COPIES, "valueQuantity": copies_q(copies)}])


def weight(b, pid, value, when, unit="kg"):
    q = {"value": value, "unit": "kg" if unit == "kg" else "lb", "system": UCUM, "code": unit}
    return observation(b, pid, cc(LOINC, "29463-7", "Body weight"), when, category="vital-signs", valueQuantity=q)


STATUS = {"stable": ("359746009", "Patient's condition stable (finding)"),
          "worsened": ("271299001", "Patient's condition worsened (finding)"),
          "improved": ("268910001", "Patient's condition improved (finding)"),
          "remission": ("550991000124107", "Malignant neoplasm in full remission (disorder)")}


def disease_status(b, pid, status, when):
    code, disp = STATUS[status]
    return observation(
        b, pid, cc(LOINC, "97509-4", "Cancer disease status"), when, category="survey",
        extension=[{"url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-cancer-disease-status-evidence-type",
                    "valueCodeableConcept": cc(SCT, "363679005", "Imaging (procedure)")}],
        valueCodeableConcept=cc(SCT, code, disp))


def cm(b, pid, m1, when, loinc=False):
    code = cc(LOINC, "21907-1", "Distant metastases.clinical [Class] Cancer") if loinc else \
        cc(SCT, "399387003", "cM category (observable entity)")
    val = cc(SCT, "1229903009", "cM1 category") if m1 else cc(SCT, "1229901006", "cM0 category")
    return observation(b, pid, code, when, category="exam", valueCodeableConcept=val)


def receptor(b, pid, loinc, display, positive, when):
    la = ("LA6576-8", "Positive") if positive else ("LA6577-6", "Negative")
    return observation(b, pid, cc(LOINC, loinc, display), when, valueCodeableConcept=loinc_answer(*la))


def erbb2_variant(b, pid, when):
    return observation(
        b, pid, cc(LOINC, "69548-6", "Genetic variant assessment"), when,
        valueCodeableConcept=loinc_answer("LA9633-4", "Present"),
        component=[
            {"code": cc(LOINC, "48018-6", "Gene studied [ID]"),
             "valueCodeableConcept": cc("http://www.genenames.org/geneId", "HGNC:3430", "ERBB2")},
            {"code": cc(LOINC, "48005-3", "Amino acid change (pHGVS)"),
             "valueCodeableConcept": cc("http://varnomen.hgvs.org", "NP_004439.2:p.(Tyr772_Ala775dup)")},
        ])


def condition(b, pid, icd, onset, category="problem-list-item"):
    return b.add({
        "resourceType": "Condition",
        "id": b.rid("cond"),
        "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
        "verificationStatus": cc("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"),
        "category": [cc("http://terminology.hl7.org/CodeSystem/condition-category", category)],
        "code": cc(ICD, icd, ICD_DISPLAY[icd]),
        "subject": ref("Patient", b.patient_id),
        "onsetDateTime": onset,
    })


def drug_cc(name, text=None):
    code, disp = DRUGS[name]
    return cc(RXN, code, disp, text)


def med_statement(b, pid, name, start, end, status="completed"):
    return b.add({"resourceType": "MedicationStatement", "id": b.rid("medstmt"), "status": status,
                  "medicationCodeableConcept": drug_cc(name), "subject": pid,
                  "effectivePeriod": {"start": start, "end": end}})


def med_admin(b, pid, name, when, dose_mg=None):
    r = {"resourceType": "MedicationAdministration", "id": b.rid("medadmin"), "status": "completed",
         "medicationCodeableConcept": drug_cc(name), "subject": pid, "effectiveDateTime": when}
    if dose_mg:
        r["dosage"] = {"route": cc(SCT, "47625008", "Intravenous route"),
                       "dose": {"value": dose_mg, "unit": "mg", "system": UCUM, "code": "mg"}}
    return b.add(r)


def med_request_hist(b, pid, name, authored, start, end, status="completed"):
    return b.add({"resourceType": "MedicationRequest", "id": b.rid("medreq"), "status": status,
                  "intent": "order", "medicationCodeableConcept": drug_cc(name), "subject": pid,
                  "authoredOn": authored,
                  "dispenseRequest": {"validityPeriod": {"start": start, "end": end}}})


def med_request_active(b, pid, name, authored, start, end, text=None, oral=True):
    return b.add({"resourceType": "MedicationRequest", "id": b.rid("medreq"), "status": "active",
                  "intent": "order", "medicationCodeableConcept": drug_cc(name, text), "subject": pid,
                  "authoredOn": authored, "requester": ref("Practitioner", b.prac_id),
                  "dosageInstruction": [{"text": "as directed",
                                         "route": cc(SCT, "26643006", "Oral route") if oral else cc(SCT, "47625008", "Intravenous route"),
                                         "timing": {"repeat": {"boundsPeriod": {"start": start, "end": end}}}}]})


def procedure(b, pid, code, when=None, period=None):
    r = {"resourceType": "Procedure", "id": b.rid("proc"), "status": "completed", "code": code, "subject": pid}
    if period:
        r["performedPeriod"] = {"start": period[0], "end": period[1]}
    else:
        r["performedDateTime"] = when
    return b.add(r)


def hcpcs_proc(b, pid, code, display, start, end):
    return procedure(b, pid, cc(HCPCS["cms"], code, display), period=(start, end))


LUMPECTOMY = cc(SCT, "392021009", "Lumpectomy of breast (procedure)")
MASTECTOMY = cc(SCT, "69031006", "Excision of breast tissue (procedure)")


def questionnaire(b, pid, answers):
    items = []
    for link, val in answers:
        if isinstance(val, bool):
            ans = {"valueBoolean": val}
        elif isinstance(val, int):
            ans = {"valueInteger": val}
        elif isinstance(val, tuple):
            ans = {"valueCoding": {"code": val[0]}}
        else:
            ans = {"valueString": val}
        items.append({"linkId": link, "answer": [ans]})
    r = {"resourceType": "QuestionnaireResponse", "id": b.rid("qr"),
         "questionnaire": BASE + "Questionnaire/kadcyla", "status": "completed",
         "subject": pid, "authored": "2026-11-19T16:40:00-05:00",
         "author": ref("Practitioner", b.prac_id), "item": items}
    b.add(r)
    return r["id"]


# ---------------------------------------------------------------- scaffolding

PATIENTS = {}


def scaffold(b, p):
    """Patient, Coverage, insurer, requesting Organization, Practitioner, PractitionerRole."""
    b.patient_id = f"{b.key}-patient"
    b.prac_id = f"{b.key}-oncologist"
    b.add({
        "resourceType": "Patient", "id": b.patient_id,
        "meta": {"profile": [PAS + "profile-beneficiary"]},
        "identifier": [{"type": cc("http://terminology.hl7.org/CodeSystem/v2-0203", "MR"),
                        "system": "http://example.org/fhir/sid/mrn", "value": p["mrn"]}],
        "name": [{"family": p["family"], "given": [p["given"]]}],
        "gender": p.get("gender", "female"), "birthDate": p["birth"],
        "address": [{"line": [p.get("street", "100 Calle Luna")], "city": p.get("city", "San Juan"),
                     "state": p.get("state", "PR"), "postalCode": p.get("zip", "00901"), "country": "US"}],
    })
    b.add({
        "resourceType": "Organization", "id": "insurer",
        "meta": {"profile": [PAS + "profile-insurer"]},
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
        "active": True, "type": [x12("98", "PR", "Payer")], "name": "EXAMPLE MEDICARE ADVANTAGE PLAN"})
    b.add({
        "resourceType": "Organization", "id": "cancer-center",
        "meta": {"profile": [PAS + "profile-requestor"]},
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1992999999"}],
        "active": True, "type": [x12("98", "1P", "Provider")], "name": "EXAMPLE COMMUNITY CANCER CENTER",
        "address": [{"line": ["500 Avenida Ejemplo"], "city": "San Juan", "state": "PR", "postalCode": "00907", "country": "US"}]})
    b.add({
        "resourceType": "Practitioner", "id": b.prac_id,
        "meta": {"profile": [PAS + "profile-practitioner"]},
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": p.get("npi", "1003000126")}],
        "name": [{"family": p.get("doc", "Rivera"), "given": ["Ana"], "prefix": ["Dr."]}]})
    b.add({
        "resourceType": "PractitionerRole", "id": f"{b.key}-oncologist-role",
        "meta": {"profile": [PAS + "profile-practitionerrole"]},
        "practitioner": ref("Practitioner", b.prac_id), "organization": ref("Organization", "cancer-center"),
        "code": [cc("http://nucc.org/provider-taxonomy", "207RX0202X", "Medical Oncology Physician")],
        "telecom": [{"system": "phone", "value": "787-555-0142", "use": "work"}]})
    b.add({
        "resourceType": "Coverage", "id": f"{b.key}-coverage",
        "meta": {"profile": [PAS + "profile-coverage"]},
        "identifier": [{"type": cc("http://terminology.hl7.org/CodeSystem/v2-0203", "MB"),
                        "system": "http://example.org/fhir/sid/member-id", "value": p["member"]}],
        "status": "active", "subscriberId": p["member"],
        "beneficiary": ref("Patient", b.patient_id),
        "relationship": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": "self"},
                                    {"system": "https://codesystem.x12.org/005010/1069", "code": "18"}]},
        "payor": [ref("Organization", "insurer")]})


def product(kind, hcpcs_uri="cms"):
    if kind == "J9354":
        return cc(HCPCS[hcpcs_uri], "J9354", "Injection, ado-trastuzumab emtansine, 1 mg")
    if kind == "ndc11":
        return cc("http://hl7.org/fhir/sid/ndc", "50242-0088-01", "Kadcyla 100 mg vial")
    if kind == "ndc10":
        return cc("http://hl7.org/fhir/sid/ndc", "50242-087-01", "Kadcyla 160 mg vial")
    if kind == "na":
        return cc("http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-applicable")
    if kind == "J9306":
        return cc(HCPCS["cms"], "J9306", "Injection, pertuzumab, 1 mg")
    if kind == "96413":
        return cc("http://www.ama-assn.org/go/cpt", "96413", "Chemotherapy administration, intravenous infusion technique; up to 1 hour, single or initial substance/drug")
    if kind == "99214":
        return cc("http://www.ama-assn.org/go/cpt", "99214", "Office or other outpatient visit for the evaluation and management of an established patient")
    raise ValueError(kind)


CERT = {"I": "Initial", "R": "Renewal", "4": "Extension"}


def item(b, seq, prod, start, end, qty, cert="I", auth=None, requested=None, units="mg", pos="11", diag=(1,)):
    ext = [{"url": PAS + "extension-serviceItemRequestType", "valueCodeableConcept": x12("1525", "HS", "Health Services Review")},
           {"url": PAS + "extension-certificationType", "valueCodeableConcept": x12("1322", cert, CERT[cert])},
           {"url": PAS + "extension-itemTraceNumber", "valueIdentifier": {"system": "http://example.org/ITEM_TRACE_NUMBER", "value": f"{b.key}-{seq}"}}]
    if auth:
        ext.append({"url": PAS + "extension-authorizationNumber", "valueString": auth})
    if requested:
        ext.append({"url": PAS + "extension-requestedService", "valueReference": requested})
    it = {"extension": ext, "sequence": seq, "careTeamSequence": [1], "diagnosisSequence": list(diag),
          "category": x12("1365", "1", "Medical Care"), "productOrService": prod,
          "servicedPeriod": {"start": start, "end": end},
          "locationCodeableConcept": cc("https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set", pos)}
    if qty is not None:
        if units == "mg":
            it["quantity"] = {"value": qty, "unit": "mg"}
        else:
            it["quantity"] = {"value": qty, "unit": "units", "system": "https://codesystem.x12.org/005010/673", "code": "FL"}
    return it


def kadcyla_order(b, pid, start, end, dose_mg, rx="1371041"):
    """The MedicationRequest an item's extension-requestedService points to (PAS profile)."""
    coding = [{"system": RXN, "code": rx, "display": "ado-trastuzumab emtansine" if rx == "1371041" else "Kadcyla"}]
    r = {"resourceType": "MedicationRequest", "id": b.rid("kadcyla-order"),
         "meta": {"profile": [PAS + "profile-medicationrequest"]},
         "status": "active", "intent": "order",
         "medicationCodeableConcept": {"coding": coding, "text": "Kadcyla (ado-trastuzumab emtansine) for injection"},
         "subject": pid, "authoredOn": "2026-11-18", "requester": ref("Practitioner", b.prac_id),
         "dosageInstruction": [{"text": f"3.6 mg/kg IV every 21 days ({dose_mg} mg)",
                                "timing": {"repeat": {"boundsPeriod": {"start": start, "end": end}, "frequency": 1, "period": 21, "periodUnit": "d"}},
                                "route": cc(SCT, "47625008", "Intravenous route"),
                                "doseAndRate": [{"doseQuantity": {"value": dose_mg, "unit": "mg", "system": UCUM, "code": "mg"}}]}]}
    return b.add(r)


def claim(b, idx, diagnoses, items, qr_id=None, ctype="professional", provider_role=False):
    c = {
        "resourceType": "Claim", "id": f"{b.key}-claim",
        "meta": {"profile": [PAS + "profile-claim"]},
        "identifier": [{"system": "http://example.org/PATIENT_EVENT_TRACE_NUMBER", "value": f"TRN-2026-{idx:04d}",
                        "assigner": {"identifier": {"system": "http://example.org/USER_ASSIGNED", "value": "9012345678"}}}],
        "status": "active",
        "type": cc("http://terminology.hl7.org/CodeSystem/claim-type", ctype),
        "use": "preauthorization",
        "patient": ref("Patient", b.patient_id),
        "created": CREATED,
        "insurer": ref("Organization", "insurer"),
        "provider": ref("PractitionerRole", f"{b.key}-oncologist-role") if provider_role else ref("Organization", "cancer-center"),
        "priority": cc("http://terminology.hl7.org/CodeSystem/processpriority", "normal"),
        "careTeam": [{"extension": [{"url": PAS + "extension-careTeamClaimScope", "valueBoolean": True}],
                      "sequence": 1, "provider": ref("PractitionerRole", f"{b.key}-oncologist-role")}],
        "diagnosis": [{"sequence": i + 1, "diagnosisCodeableConcept": cc(ICD, d, ICD_DISPLAY[d])} for i, d in enumerate(diagnoses)],
        "insurance": [{"sequence": 1, "focal": True, "coverage": ref("Coverage", f"{b.key}-coverage")}],
        "item": items,
    }
    if qr_id:
        c["supportingInfo"] = [{
            "extension": [{"url": PAS + "extension-documentInformation", "extension": [
                {"url": "reportTypeCode", "valueCodeableConcept": x12("755", "OZ", "Support Data for Claim")},
                {"url": "transmissionMethod", "valueCodeableConcept": x12("756", "EL", "Electronically Only")},
                {"url": "description", "valueString": "Kadcyla prior authorization questionnaire (MP-RX-FP-48-23)"}]}],
            "sequence": 1,
            "category": cc("http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes", "additionalInformation"),
            "valueReference": ref("QuestionnaireResponse", qr_id)}]
    return c


def write(name, idx, b, claim_res, expected):
    entries = [{"fullUrl": BASE + f"Claim/{claim_res['id']}", "resource": claim_res}] + b.entries
    bundle = {"resourceType": "Bundle", "id": f"{b.key}-request",
              "meta": {"profile": [PAS + "profile-pas-request-bundle"]},
              "identifier": {"system": "http://example.org/SUBMITTER_TRANSACTION_IDENTIFIER", "value": f"KAD-{idx:04d}"},
              "type": "collection", "timestamp": CREATED, "entry": entries}
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump(bundle, f, indent=2)
        f.write("\n")
    with open(os.path.join(HERE, f"{name}.expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")


def exp(description, *items):
    out = []
    for it in items:
        seq, action = it[0], it[1]
        e = {"sequence": seq, "action": action}
        if len(it) > 2:
            e["quantity"] = it[2]
            e["period"] = {"start": it[3], "end": it[4]}
        out.append(e)
    return {"description": description, "items": out}


# ---------------------------------------------------------------- the cases
# Common facts: Claim.created 2026-11-20. 6-month cap from 2026-12-01 is 2027-05-31
# (181 days: floor(181/21) + 1 = 8 + 1 = 9 administrations).

FULL = ("2026-12-01", "2027-05-31")
Q3 = ("2026-12-01", "2027-02-28")  # 89 days: floor(89/21) + 1 = 4 + 1 = 5 administrations


def person(i, given, family, birth, **kw):
    p = {"mrn": f"MRN{700100 + i}", "member": f"MMA{553200 + i:07d}", "given": given, "family": family, "birth": birth}
    p.update(kw)
    return p


def metastatic_history(b, pid):
    """First-line THP for metastatic disease: trastuzumab + pertuzumab + docetaxel, then maintenance."""
    med_statement(b, pid, "docetaxel", "2025-02-03", "2025-05-19")
    med_statement(b, pid, "trastuzumab", "2025-02-03", "2026-10-05", status="stopped")
    med_statement(b, pid, "pertuzumab", "2025-02-03", "2026-10-05", status="stopped")


def mbc_base(b, pid, her2=("ihc", "3+"), wt=62, hist=True, breast="C50.912", met="C78.00"):
    """Metastatic breast cancer facts shared by several samples (no questionnaire)."""
    condition(b, pid, breast, "2025-01-14")
    condition(b, pid, met, "2025-01-20")
    cm(b, pid, True, "2025-01-20")
    kind = her2[0]
    if kind == "ihc":
        ihc(b, pid, her2[1], "2025-01-16")
    if hist:
        metastatic_history(b, pid)
    disease_status(b, pid, "worsened", "2026-10-02")
    if wt is not None:
        weight(b, pid, wt, "2026-11-18")


MBC_QR = [("request-type", ("initial",)), ("treatment-setting", ("metastatic",)), ("single-agent", True),
          ("prior-metastatic-therapy", True)]


def build_all():
    n = 0

    # 1 -------------------------------------------------------------- early breast A1
    n += 1; b = Builder("ebc-adjuvant"); scaffold(b, person(n, "Maria", "Santiago Ortiz", "1968-03-14")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.412", "2026-03-10")
    ihc(b, pid, "3+", "2026-03-12")
    her2_interp(b, pid, "Positive", "2026-03-12")
    receptor(b, pid, "16112-5", "Estrogen receptor [Interpretation] in Tissue", False, "2026-03-12")
    cm(b, pid, False, "2026-03-20")
    med_statement(b, pid, "docetaxel", "2026-04-06", "2026-08-10")
    med_statement(b, pid, "carboplatin", "2026-04-06", "2026-08-10")
    hcpcs_proc(b, pid, "J9355", "Injection, trastuzumab, excludes biosimilar, 10 mg", "2026-04-06", "2026-08-10")
    procedure(b, pid, LUMPECTOMY, when="2026-09-08")
    weight(b, pid, 68, "2026-11-17")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("adjuvant",)), ("single-agent", True),
                                ("residual-invasive-disease", True)])
    order = kadcyla_order(b, pid, *FULL, 240)
    it = [item(b, 1, product("J9354"), *FULL, 2160, requested=order)]
    write("01-ebc-adjuvant-a1", n, b, claim(b, n, ["C50.412"], it, qr), exp(
        "Early HER2-positive breast cancer (C50.412, IHC 3+ and interpretation Positive, cM0), lumpectomy 2026-09-08 with "
        "residual invasive disease (questionnaire), adjuvant single-agent Kadcyla. Neoadjuvant weeks from the documented "
        "history: docetaxel 2026-04-06..2026-08-10 and trastuzumab (Procedure J9355) 2026-04-06..2026-08-10, span "
        "2026-04-06 -> 2026-08-10 = 126 days = 18 weeks >= 16: A.i.A, A.i.C.1, A.i.C.1.a, A.i.C.1.b met. Limits: 68 kg, "
        "ceil(3.6 x 68 = 244.8) = 245 mg per administration; requested 2026-12-01..2027-05-31 is within the 6-month cap "
        "(2027-05-31); 181 days -> floor(181/21)+1 = 9 administrations; allowed 9 x 245 = 2205 >= requested 2160; 14-cycle "
        "cap: 0 received + 9 <= 14. A1 with the requested quantity 2160 and period.",
        (1, "A1", 2160, *FULL)))

    # 2 -------------------------------------------------------------- early breast, 14-cycle cap cut A6
    n += 1; b = Builder("ebc-cap"); scaffold(b, person(n, "Carmen", "Velez Rosado", "1971-09-02")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.411", "2025-11-04")
    ihc(b, pid, "3+", "2025-11-06")
    cm(b, pid, False, "2025-11-12")
    for d in ["2026-06-15", "2026-07-06", "2026-07-27", "2026-08-17", "2026-09-07", "2026-09-28", "2026-10-19", "2026-11-09"]:
        med_admin(b, pid, "kadcyla", d, 270)
    disease_status(b, pid, "remission", "2026-11-02")
    weight(b, pid, 75, "2026-11-09")
    qr = questionnaire(b, pid, [("request-type", ("continuation",)), ("treatment-setting", ("adjuvant",)), ("single-agent", True),
                                ("cycles-received", 8), ("disease-progression", False), ("unacceptable-toxicity", False)])
    it = [item(b, 1, product("J9354"), *FULL, 2430, cert="R", auth="PA-KAD-2026-06-0412", pos="22")]
    write("02-ebc-cap-cut-a6", n, b, claim(b, n, ["C50.411"], it, qr, ctype="institutional"), exp(
        "Continuation (certificationType R, authorization PA-KAD-2026-06-0412) of adjuvant Kadcyla for early HER2-positive "
        "breast cancer (C50.411, IHC 3+, cM0). Disease status 2026-11-02 full remission (within 6 months, not progression), "
        "no toxicity: B.i met. 8 cycles documented (MedicationAdministration 2026-06-15 .. 2026-11-09 every 21 days; "
        "cycles-received 8 agrees). Request 2026-12-01..2027-05-31 (181 days -> 9 administrations) for 2430 = 9 x 270 "
        "(75 kg: ceil(3.6 x 75 = 270) = 270 per administration, so the dose limit alone allows 2430). B.ii: 8 + 9 = 17 > 14, "
        "cut to the 14 - 8 = 6 remaining cycles: 6 x 270 = 1620, over the requested period capped at 6 months "
        "(2026-12-01..2027-05-31, unchanged). A6 1620.",
        (1, "A6", 1620, *FULL)))

    # 3 -------------------------------------------------------------- early breast, 14 cycles done A3
    n += 1; b = Builder("ebc-done"); scaffold(b, person(n, "Luz", "Marrero Diaz", "1962-12-21")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.212", "2025-06-20")
    ihc(b, pid, "3+", "2025-06-23")
    cm(b, pid, False, "2025-06-30")
    for d in ["2026-01-05", "2026-01-26", "2026-02-16", "2026-03-09", "2026-03-30", "2026-04-20", "2026-05-11",
              "2026-06-01", "2026-06-22", "2026-07-13", "2026-08-03", "2026-08-24", "2026-09-14", "2026-10-05"]:
        med_admin(b, pid, "kadcyla", d, 216)
    disease_status(b, pid, "remission", "2026-10-28")
    weight(b, pid, 60, "2026-10-05")
    qr = questionnaire(b, pid, [("request-type", ("continuation",)), ("treatment-setting", ("adjuvant",)), ("single-agent", True),
                                ("cycles-received", 14), ("disease-progression", False), ("unacceptable-toxicity", False)])
    it = [item(b, 1, product("J9354"), *FULL, 1944, cert="R", auth="PA-KAD-2025-12-0077")]
    write("03-ebc-14-cycles-done-a3", n, b, claim(b, n, ["C50.212"], it, qr), exp(
        "Renewal request for adjuvant Kadcyla in early HER2-positive breast cancer (C50.212, IHC 3+, cM0) after 14 documented "
        "administrations (2026-01-05 .. 2026-10-05, cycles-received 14). B.ii: early breast cancer is approved for 14 cycles "
        "in total and those have been given; disease status is full remission (no recurrence). Positive evidence the "
        "duration is exhausted: A3.",
        (1, "A3")))

    # 4 -------------------------------------------------------------- metastatic FDA A1 (exactly at the limit)
    n += 1; b = Builder("mbc-fda"); scaffold(b, person(n, "Ivelisse", "Cruz Feliciano", "1966-05-30")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.912", "2025-01-14"); condition(b, pid, "C78.00", "2025-01-20")
    cm(b, pid, True, "2025-01-20")
    ihc(b, pid, "3+", "2025-01-16", as_string=True)
    metastatic_history(b, pid)
    disease_status(b, pid, "worsened", "2026-10-02")
    weight(b, pid, 62, "2026-11-18")
    qr = questionnaire(b, pid, MBC_QR)
    order = kadcyla_order(b, pid, *FULL, 224)
    it = [item(b, 1, product("J9354"), *FULL, 2016, requested=order)]
    write("04-mbc-fda-a1", n, b, claim(b, n, ["C50.912", "C78.00"], it, qr), exp(
        "HER2-positive (IHC \"3+\" as a string) metastatic breast cancer (C50.912 + C78.00, cM1) progressing 2026-10-02 "
        "after first-line docetaxel + trastuzumab + pertuzumab for metastatic disease (prior-metastatic-therapy). A.i.A, "
        "A.i.C.2.a (single agent), A.i.C.2.b (trastuzumab and docetaxel documented), A.i.C.2.c met. Limits: 62 kg, "
        "ceil(3.6 x 62 = 223.2) = 224 per administration; 2026-12-01..2027-05-31 = 181 days -> 9 administrations; allowed "
        "9 x 224 = 2016 = requested 2016 (exactly at the limit). A1 with the requested quantity and period.",
        (1, "A1", 2016, *FULL)))

    # 5 -------------------------------------------------------------- metastatic FDA over the limits A6
    n += 1; b = Builder("mbc-over"); scaffold(b, person(n, "Gloria", "Ramos Nieves", "1959-08-11")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C79.51", "2026-08-25")
    ihc(b, pid, "3+", "2024-09-10")
    hcpcs_proc(b, pid, "J9267", "Injection, paclitaxel, 1 mg", "2024-10-07", "2024-12-23")
    hcpcs_proc(b, pid, "J9355", "Injection, trastuzumab, excludes biosimilar, 10 mg", "2024-10-07", "2026-03-02")
    disease_status(b, pid, "worsened", "2026-08-25")
    weight(b, pid, 70, "2026-11-16")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("metastatic",)), ("single-agent", True),
                                ("prior-metastatic-therapy", False), ("recurrence-within-6-months", True), ("recurrent", True)])
    it = [item(b, 1, product("J9354", "bb"), "2026-12-01", "2027-06-30", 3000, units="units")]
    write("05-mbc-fda-over-limit-a6", n, b, claim(b, n, ["Z85.3", "C79.51"], it, qr), exp(
        "Bone recurrence (C79.51) of HER2-positive breast cancer (Z85.3 history, IHC 3+) diagnosed 2026-08-25, within 6 "
        "months of completing adjuvant paclitaxel + trastuzumab (last trastuzumab 2026-03-02); no prior metastatic therapy "
        "(documented false) but A.i.C.2.c is met through recurrence within 6 months; A.i.C.2.a/b met (single agent; "
        "trastuzumab J9355 and paclitaxel J9267 Procedures). HCPCS sent with the Blue Button URI. Request 2026-12-01.."
        "2027-06-30 for 3000 units exceeds both limits: period capped at 2026-12-01 + 6 months - 1 day = 2027-05-31; "
        "181 days -> floor(181/21)+1 = 9 administrations; 70 kg: ceil(3.6 x 70 = 252) = 252 per administration; allowed "
        "9 x 252 = 2268 < 3000. A6 2268 for 2026-12-01..2027-05-31.",
        (1, "A6", 2268, *FULL)))

    # 6 -------------------------------------------------------------- metastatic, weight in pounds A6
    n += 1; b = Builder("mbc-lb"); scaffold(b, person(n, "Nilda", "Torres Acevedo", "1970-01-25")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.811", "2025-04-02"); condition(b, pid, "C78.7", "2025-04-09")
    ihc(b, pid, "3+", "2025-04-04")
    med_request_hist(b, pid, "paclitaxel", "2025-04-21", "2025-04-21", "2025-07-07")
    med_request_hist(b, pid, "trastuzumab", "2025-04-21", "2025-04-21", "2026-10-12", status="stopped")
    disease_status(b, pid, "worsened", "2026-10-20")
    weight(b, pid, 154, "2026-11-13", unit="[lb_av]")
    qr = questionnaire(b, pid, MBC_QR)
    it = [item(b, 1, product("J9354", "oid"), "2026-12-07", "2027-03-07", 1300)]
    write("06-mbc-weight-pounds-a6", n, b, claim(b, n, ["C50.811", "C78.7"], it, qr), exp(
        "HER2-positive metastatic breast cancer (C50.811 + liver C78.7, IHC 3+) after first-line paclitaxel + trastuzumab "
        "(MedicationRequests completed/stopped) for metastatic disease: A.i.C.2 met. HCPCS with the urn:oid URI. Weight "
        "154 [lb_av] = 154 x 0.45359237 = 69.853 kg; 3.6 x 69.853 = 251.47 -> 252 per administration. Request "
        "2026-12-07..2027-03-07 (within the cap 2027-06-06): 90 days -> floor(90/21)+1 = 4+1 = 5 administrations; allowed "
        "5 x 252 = 1260 < requested 1300. A6 1260 over the requested period.",
        (1, "A6", 1260, "2026-12-07", "2027-03-07")))

    # 7 -------------------------------------------------------------- NCCN third line, HR+ with letrozole A1
    n += 1; b = Builder("mbc-nccn3"); scaffold(b, person(n, "Wanda", "Ortiz Colon", "1957-07-07")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.919", "2023-09-01"); condition(b, pid, "C79.51", "2023-09-15"); condition(b, pid, "C78.7", "2025-01-10")
    condition(b, pid, "Z17.0", "2023-09-05", category="encounter-diagnosis")
    receptor(b, pid, "16112-5", "Estrogen receptor [Interpretation] in Tissue", True, "2023-09-05")
    ish_separate(b, pid, 3.1, 7.8, "2023-09-08")
    med_statement(b, pid, "paclitaxel", "2023-10-02", "2024-01-15")
    med_statement(b, pid, "trastuzumab", "2023-10-02", "2024-12-16")
    med_statement(b, pid, "pertuzumab", "2023-10-02", "2024-12-16")
    med_statement(b, pid, "tdxd", "2025-01-20", "2026-10-19", status="stopped")
    disease_status(b, pid, "worsened", "2026-10-19")
    med_request_active(b, pid, "letrozole", "2026-10-26", "2026-10-26", "2027-10-25")
    weight(b, pid, 80, "2026-11-16")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("metastatic",)), ("single-agent", True),
                                ("prior-metastatic-therapy", True), ("line-of-therapy", 3), ("recurrent", True)])
    it = [item(b, 1, product("J9354"), *FULL, 2500)]
    write("07-mbc-nccn-third-line-letrozole-a1", n, b, claim(b, n, ["C50.919", "C79.51", "C78.7", "Z17.0"], it, qr), exp(
        "ER-positive, HER2-positive (dual-probe ISH ratio 3.1, 7.8 copies: positive) metastatic breast cancer, third line "
        "after THP and fam-trastuzumab deruxtecan (stopped 2026-10-19 for progression). A.i.C.3.a.i (third line) and "
        "A.i.C.3.b.ii (HR-positive with endocrine therapy) met; A.i.C.2 also met (trastuzumab + paclitaxel, prior metastatic "
        "therapy). Active letrozole is endocrine therapy, allowed alongside (not a D.i combination). 80 kg: "
        "ceil(3.6 x 80 = 288) = 288 per administration; 181 days -> 9 administrations; allowed 2592 >= requested 2500. "
        "A1 2500 for 2026-12-01..2027-05-31.",
        (1, "A1", 2500, *FULL)))

    # 8 -------------------------------------------------------------- NCCN second line, not a T-DXd candidate A1
    n += 1; b = Builder("mbc-nccn2"); scaffold(b, person(n, "Rosa", "Figueroa Lugo", "1964-02-17")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.511", "2025-05-05"); condition(b, pid, "C78.01", "2025-05-12")
    condition(b, pid, "J84.10", "2024-02-01")
    ihc(b, pid, "3+", "2025-05-07")
    receptor(b, pid, "16112-5", "Estrogen receptor [Interpretation] in Tissue", False, "2025-05-07")
    med_statement(b, pid, "vinorelbine", "2025-06-02", "2025-11-17")
    med_statement(b, pid, "trastuzumab", "2025-06-02", "2026-10-26", status="stopped")
    disease_status(b, pid, "worsened", "2026-10-26")
    weight(b, pid, 55, "2026-11-12")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("metastatic",)), ("single-agent", True),
                                ("line-of-therapy", 2), ("tdxd-candidate", False)])
    it = [item(b, 1, product("ndc10"), *FULL, 1782)]
    write("08-mbc-nccn-second-line-a1", n, b, claim(b, n, ["C50.511", "C78.01"], it, qr), exp(
        "HER2-positive (IHC 3+), ER-negative metastatic breast cancer (C50.511 + C78.01) progressing on first-line "
        "trastuzumab + vinorelbine; interstitial lung disease (J84.10), so not a candidate for fam-trastuzumab deruxtecan. "
        "A.i.C.3.a.ii (second line, not a T-DXd candidate) and A.i.C.3.b.i (HR-negative) met. A.i.C.2 is undetermined (no "
        "taxane documented) but one met path certifies. Requested by NDC 50242-087-01 (10-digit), quantity in mg. 55 kg: "
        "ceil(3.6 x 55 = 198) = 198; 181 days -> 9 administrations; allowed 1782 = requested. A1 1782 for 2026-12-01..2027-05-31.",
        (1, "A1", 1782, *FULL)))

    # 9 -------------------------------------------------------------- brain metastases with neratinib A1
    n += 1; b = Builder("brain-nera"); scaffold(b, person(n, "Yolanda", "Pagan Rivera", "1969-10-03")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.911", "2024-03-11"); condition(b, pid, "C79.31", "2025-08-04")
    ihc(b, pid, "3+", "2024-03-13"); her2_interp(b, pid, "Positive", "2024-03-13")
    med_statement(b, pid, "docetaxel", "2024-04-01", "2024-07-15")
    med_statement(b, pid, "trastuzumab", "2024-04-01", "2026-09-21", status="stopped")
    med_statement(b, pid, "pertuzumab", "2024-04-01", "2026-09-21", status="stopped")
    procedure(b, pid, cc(SCT, "441799006", "Stereotactic radiosurgery (procedure)"), when="2025-08-25")
    disease_status(b, pid, "stable", "2026-11-04")
    med_request_active(b, pid, "neratinib", "2026-11-18", "2026-12-01", "2027-02-28")
    weight(b, pid, 64, "2026-11-18")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("metastatic",)), ("single-agent", False),
                                ("combination-agent", "neratinib"), ("brain-mets-recurrent-stable-systemic", True)])
    it = [item(b, 1, product("J9354"), *Q3, 1155)]
    write("09-brain-mets-neratinib-a1", n, b, claim(b, n, ["C79.31", "C50.911"], it, qr), exp(
        "Brain metastases (C79.31, radiosurgery 2025-08-25) relapsed in 2026, HER2-positive breast cancer (IHC 3+, Positive) "
        "with stable systemic disease (97509-4 stable 2026-11-04), Kadcyla with neratinib (active MedicationRequest, "
        "combination-agent neratinib). A.ii, A.ii.A (neratinib partner allowed on the brain path) and A.ii.C met; the "
        "breast paths fail on combination but the met brain path certifies. 64 kg: ceil(3.6 x 64 = 230.4) = 231; "
        "2026-12-01..2027-02-28 = 89 days -> floor(89/21)+1 = 5 administrations; allowed 1155 = requested. A1 1155.",
        (1, "A1", 1155, *Q3)))

    # 10 ------------------------------------------------------------- brain metastases with tucatinib A3
    n += 1; b = Builder("brain-tuca"); scaffold(b, person(n, "Migdalia", "Soto Vega", "1972-04-19")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.912", "2024-06-03"); condition(b, pid, "C79.31", "2026-10-14")
    ihc(b, pid, "3+", "2024-06-05")
    med_statement(b, pid, "paclitaxel", "2024-07-01", "2024-09-16")
    med_statement(b, pid, "trastuzumab", "2024-07-01", "2026-10-05", status="stopped")
    disease_status(b, pid, "stable", "2026-11-02")
    med_request_active(b, pid, "tucatinib", "2026-11-18", "2026-12-01", "2027-05-31", text="tucatinib 300 mg tablet")
    weight(b, pid, 66, "2026-11-18")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("metastatic",)), ("single-agent", False),
                                ("combination-agent", "tucatinib"), ("brain-mets-asymptomatic-initial", True)])
    it = [item(b, 1, product("J9354"), *FULL, 2142)]
    write("10-brain-mets-tucatinib-a3", n, b, claim(b, n, ["C79.31", "C50.912"], it, qr), exp(
        "Asymptomatic brain metastases of HER2-positive breast cancer, Kadcyla planned with tucatinib (active "
        "MedicationRequest RxNorm 2361285 'tucatinib', questionnaire single-agent false, combination-agent tucatinib). "
        "Tucatinib is a targeted agent (D.i); the only partner A.ii.A allows is neratinib. Documented combination: A3.",
        (1, "A3")))

    # 11 ------------------------------------------------------------- NSCLC ERBB2 A1
    n += 1; b = Builder("nsclc"); scaffold(b, person(n, "Hector", "Alvarado Ruiz", "1958-11-29", gender="male")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C34.11", "2025-12-08"); condition(b, pid, "C79.51", "2025-12-15")
    cm(b, pid, True, "2025-12-15", loinc=True)
    erbb2_variant(b, pid, "2025-12-22")
    med_statement(b, pid, "carboplatin", "2026-01-12", "2026-04-06")
    med_statement(b, pid, "pemetrexed", "2026-01-12", "2026-09-28", status="stopped")
    med_statement(b, pid, "pembrolizumab", "2026-01-12", "2026-09-28", status="stopped")
    disease_status(b, pid, "worsened", "2026-10-13")
    weight(b, pid, 58, "2026-11-17")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("metastatic",)), ("single-agent", True),
                                ("subsequent-therapy", True)])
    it = [item(b, 1, product("J9354"), *Q3, 1000)]
    write("11-nsclc-erbb2-a1", n, b, claim(b, n, ["C34.11", "C79.51"], it, qr), exp(
        "Metastatic NSCLC (C34.11 + bone C79.51, cM1) with an ERBB2 exon 20 variant present (69548-6 LA9633-4, gene "
        "HGNC:3430), progressing after carboplatin + pemetrexed + pembrolizumab: A.iii, A.iii.A (single agent), A.iii.B "
        "(subsequent therapy) met. 58 kg: ceil(3.6 x 58 = 208.8) = 209; 2026-12-01..2027-02-28 = 89 days -> 5 "
        "administrations; allowed 1045 >= requested 1000. A1 1000 for the requested period.",
        (1, "A1", 1000, *Q3)))

    # 12 ------------------------------------------------------------- salivary A1
    n += 1; b = Builder("salivary"); scaffold(b, person(n, "Jose", "Medina Ayala", "1955-06-09", gender="male")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C07", "2024-02-12"); condition(b, pid, "C78.01", "2026-06-22")
    ihc(b, pid, "3+", "2024-02-15", loinc="18474-7")
    her2_interp(b, pid, "Positive", "2024-02-15")
    for d in ["2026-07-06", "2026-07-27", "2026-08-17", "2026-09-07", "2026-09-28"]:
        med_admin(b, pid, "trastuzumab", d)
        med_admin(b, pid, "docetaxel", d)
    disease_status(b, pid, "worsened", "2026-11-03")
    weight(b, pid, 72, "2026-11-16")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("recurrent", True), ("single-agent", True), ("prior-anti-her2", True)])
    it = [item(b, 1, product("J9354", "oid"), *FULL, 2340)]
    write("12-salivary-a1", n, b, claim(b, n, ["C07", "C78.01"], it, qr), exp(
        "Recurrent HER2-positive (IHC 3+ by 18474-7, Positive) parotid carcinoma (C07) with lung metastases, progressing "
        "after trastuzumab + docetaxel (MedicationAdministrations 2026-07..09): A.iv, A.iv.A (prior anti-HER2), A.iv.B "
        "(single agent) met. HCPCS with the urn:oid URI. 72 kg: ceil(3.6 x 72 = 259.2) = 260; 181 days -> 9 "
        "administrations; allowed 2340 = requested. A1 2340 for 2026-12-01..2027-05-31.",
        (1, "A1", 2340, *FULL)))

    # 13 ------------------------------------------------------------- HER2-negative A3
    n += 1; b = Builder("her2neg"); scaffold(b, person(n, "Elba", "Quinones Mora", "1963-03-03")); pid = ref("Patient", b.patient_id)
    mbc_base(b, pid, her2=("ihc", "1+"), wt=68, breast="C50.911", met="C78.7")
    qr = questionnaire(b, pid, MBC_QR)
    it = [item(b, 1, product("J9354"), *FULL, 2205)]
    write("13-her2-negative-ihc1-a3", n, b, claim(b, n, ["C50.911", "C78.7"], it, qr), exp(
        "Metastatic breast cancer with HER2 IHC 1+ as the only HER2 test: negative by the policy's Definitions, so A.i "
        "(HER2-positive) is documented as not met; no other path fits a breast diagnosis. A3.",
        (1, "A3")))

    # 14 ------------------------------------------------------------- IHC 2+ resolved by ISH ratio >= 2.0 A1 (NDC)
    n += 1; b = Builder("ihc2-ishpos"); scaffold(b, person(n, "Iris", "Benitez Cintron", "1967-12-12")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.511", "2025-03-03"); condition(b, pid, "C79.51", "2025-03-10")
    cm(b, pid, True, "2025-03-10")
    ihc(b, pid, "2+", "2025-03-05")
    ish_panel(b, pid, 2.4, 5.1, "2025-03-09")
    for d in ["2025-04-07", "2025-04-28", "2025-05-19", "2025-06-09", "2025-06-30", "2025-07-21"]:
        med_admin(b, pid, "paclitaxel", d)
        med_admin(b, pid, "trastuzumab", d)
    disease_status(b, pid, "worsened", "2026-10-27")
    weight(b, pid, 66.5, "2026-11-18")
    qr = questionnaire(b, pid, MBC_QR)
    it = [item(b, 1, product("ndc11"), *FULL, 2160)]
    write("14-ihc2-ish-positive-a1", n, b, claim(b, n, ["C50.511", "C79.51"], it, qr), exp(
        "IHC 2+ (equivocal) resolved by a dual-probe ISH panel 74885-5: ratio 2.4 >= 2.0 with 5.1 copies -> ISH positive "
        "(A.i.B). Metastatic (C79.51, cM1), prior paclitaxel + trastuzumab for metastatic disease: A.i.C.2 met. Requested by "
        "11-digit NDC 50242-0088-01, quantity in mg. 66.5 kg: ceil(3.6 x 66.5 = 239.4) = 240; 181 days -> 9 "
        "administrations; allowed 2160 = requested. A1 2160 for 2026-12-01..2027-05-31.",
        (1, "A1", 2160, *FULL)))

    # 15 ------------------------------------------------------------- IHC 2+ without ISH A4
    n += 1; b = Builder("ihc2-noish"); scaffold(b, person(n, "Sonia", "Lebron Pacheco", "1961-01-08")); pid = ref("Patient", b.patient_id)
    mbc_base(b, pid, her2=("ihc", "2+"), wt=62)
    qr = questionnaire(b, pid, MBC_QR)
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("15-ihc2-no-ish-a4", n, b, claim(b, n, ["C50.912", "C78.00"], it, qr), exp(
        "Metastatic breast cancer otherwise meeting A.i.C.2, but the only HER2 test is IHC 2+ (equivocal) with no ISH: "
        "HER2 status cannot be settled. A4, asking for the ISH / pathology report.",
        (1, "A4")))

    # 16 ------------------------------------------------------------- ISH equivocal A4
    n += 1; b = Builder("ish-equiv"); scaffold(b, person(n, "Marta", "Irizarry Bonilla", "1965-09-27")); pid = ref("Patient", b.patient_id)
    mbc_base(b, pid, her2=("ihc", "2+"), wt=62)
    ish_separate(b, pid, 1.7, 4.6, "2025-01-22")
    qr = questionnaire(b, pid, MBC_QR)
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("16-ish-equivocal-a4", n, b, claim(b, n, ["C50.912", "C78.00"], it, qr), exp(
        "IHC 2+ and dual-probe ISH ratio 1.7 (< 2.0) with 4.6 copies/cell (>= 4.0 and < 6.0): equivocal by the Definitions; "
        "no positive test and no negative resolution. A4.",
        (1, "A4")))

    # 17 ------------------------------------------------------------- Z17.31 only A4
    n += 1; b = Builder("z1731"); scaffold(b, person(n, "Aida", "Cartagena Roman", "1960-10-10")); pid = ref("Patient", b.patient_id)
    mbc_base(b, pid, her2=("none",), wt=62)
    condition(b, pid, "Z17.31", "2025-01-16", category="encounter-diagnosis")
    qr = questionnaire(b, pid, MBC_QR)
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("17-z1731-only-a4", n, b, claim(b, n, ["C50.912", "C78.00", "Z17.31"], it, qr), exp(
        "Metastatic breast cancer with HER2 positivity documented only by the diagnosis code Z17.31, no IHC/ISH result: "
        "a code is not test documentation (contract 4). A4 asking for the pathology report.",
        (1, "A4")))

    # 18 ------------------------------------------------------------- neoadjuvant A3
    n += 1; b = Builder("neoadj"); scaffold(b, person(n, "Brenda", "Maldonado Reyes", "1978-02-14")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.412", "2026-10-28")
    ihc(b, pid, "3+", "2026-10-30")
    cm(b, pid, False, "2026-11-06")
    weight(b, pid, 70, "2026-11-16")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("neoadjuvant",)), ("single-agent", True)])
    it = [item(b, 1, product("J9354"), *FULL, 2268)]
    write("18-neoadjuvant-a3", n, b, claim(b, n, ["C50.412"], it, qr), exp(
        "Newly diagnosed early HER2-positive breast cancer (IHC 3+, cM0, no surgery), Kadcyla requested in the neoadjuvant "
        "setting (treatment-setting neoadjuvant). The policy approves early breast cancer only as adjuvant treatment "
        "(A.i.C.1.b) and NCCN does not recommend neoadjuvant use: A3.",
        (1, "A3")))

    # 19 ------------------------------------------------------------- pertuzumab on a second item A3 + A4
    n += 1; b = Builder("pertuz"); scaffold(b, person(n, "Daisy", "Galarza Ocasio", "1969-05-05")); pid = ref("Patient", b.patient_id)
    mbc_base(b, pid, wt=62)
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("metastatic",)), ("single-agent", False),
                                ("combination-agent", "pertuzumab"), ("prior-metastatic-therapy", True)])
    it = [item(b, 1, product("J9354"), *FULL, 2016), item(b, 2, product("J9306"), *FULL, 3780)]
    write("19-combination-pertuzumab-item-a3", n, b, claim(b, n, ["C50.912", "C78.00"], it, qr), exp(
        "Two items for 2026-12-01..2027-05-31: Kadcyla (item 1) and pertuzumab J9306 (item 2, 9 x 420 mg). Item 1: the "
        "other Claim item is a targeted biologic overlapping the Kadcyla period (also combination-agent pertuzumab): D.i "
        "combination, A3. Item 2 is not a Kadcyla item: no automated policy applies, A4 for manual review.",
        (1, "A3"), (2, "A4")))

    # 20 ------------------------------------------------------------- capecitabine (structured only) A3
    n += 1; b = Builder("capecit"); scaffold(b, person(n, "Norma", "Vazquez Padilla", "1962-08-30")); pid = ref("Patient", b.patient_id)
    mbc_base(b, pid, wt=62)
    med_request_active(b, pid, "capecitabine", "2026-11-15", "2026-12-01", "2027-05-31")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("metastatic",)), ("prior-metastatic-therapy", True)])
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("20-combination-capecitabine-a3", n, b, claim(b, n, ["C50.912", "C78.00"], it, qr), exp(
        "Metastatic HER2-positive breast cancer otherwise meeting A.i.C.2, with an active capecitabine MedicationRequest "
        "for 2026-12-01..2027-05-31, overlapping the Kadcyla period. The questionnaire leaves single-agent unanswered; the "
        "structured evidence shows chemotherapy in combination (D.i): A3.",
        (1, "A3")))

    # 21 ------------------------------------------------------------- gastric A3
    n += 1; b = Builder("gastric"); scaffold(b, person(n, "Ramon", "Colon Serrano", "1956-12-01", gender="male")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C16.9", "2025-07-07"); condition(b, pid, "C78.7", "2025-07-14")
    ihc(b, pid, "3+", "2025-07-09", loinc="18474-7")
    med_statement(b, pid, "oxaliplatin", "2025-08-04", "2026-01-19")
    med_statement(b, pid, "capecitabine", "2025-08-04", "2026-01-19")
    med_statement(b, pid, "trastuzumab", "2025-08-04", "2026-10-12", status="stopped")
    disease_status(b, pid, "worsened", "2026-10-20")
    weight(b, pid, 77, "2026-11-17")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("single-agent", True), ("prior-trastuzumab", True)])
    it = [item(b, 1, product("J9354"), *FULL, 2502)]
    write("21-gastric-other-dx-a3", n, b, claim(b, n, ["C16.9", "C78.7"], it, qr), exp(
        "HER2-positive (IHC 3+) metastatic gastric adenocarcinoma (C16.9 + C78.7). Not an indication of section A (breast, "
        "brain metastases of breast cancer, NSCLC, salivary): D.ii all other indications, A3.",
        (1, "A3")))

    # 22 ------------------------------------------------------------- missing body weight A4
    n += 1; b = Builder("noweight"); scaffold(b, person(n, "Ana", "Rodriguez Baez", "1966-04-04")); pid = ref("Patient", b.patient_id)
    mbc_base(b, pid, wt=None)
    qr = questionnaire(b, pid, MBC_QR)
    it = [item(b, 1, product("J9354"), *FULL, 2000)]
    write("22-missing-weight-a4", n, b, claim(b, n, ["C50.912", "C78.00"], it, qr), exp(
        "Metastatic HER2-positive breast cancer meeting A.i.C.2, 2000 mg requested, but no body weight in the bundle: the "
        "3.6 mg/kg dose limit cannot be checked. A4 asking for a current weight.",
        (1, "A4")))

    # 23-26 ------------------------------------------------------------ continuations (metastatic)
    def continuation(key, idx, name, status_list, qr_extra, cert, hcpcs_uri, tox=False):
        b = Builder(key); scaffold(b, person(idx, *name)); pid = ref("Patient", b.patient_id)
        condition(b, pid, "C50.911", "2025-02-10"); condition(b, pid, "C79.51", "2025-02-17")
        cm(b, pid, True, "2025-02-17")
        ihc(b, pid, "3+", "2025-02-12")
        med_statement(b, pid, "paclitaxel", "2025-03-03", "2025-06-16")
        med_statement(b, pid, "trastuzumab", "2025-03-03", "2026-05-18", status="stopped")
        for d in ["2026-06-08", "2026-06-29", "2026-07-20", "2026-08-10", "2026-08-31", "2026-09-21", "2026-10-12", "2026-11-02"]:
            med_admin(b, pid, "kadcyla", d, 234)
        for st, when in status_list:
            disease_status(b, pid, st, when)
        if tox:
            condition(b, pid, "K71.6", "2026-11-09")
        weight(b, pid, 65, "2026-11-02")
        qr = questionnaire(b, pid, [("request-type", ("continuation",)), ("treatment-setting", ("metastatic",)), ("single-agent", True)] + qr_extra)
        it = [item(b, 1, product("J9354", hcpcs_uri), *FULL, 2106, cert=cert, auth=f"PA-KAD-2026-06-{idx:04d}")]
        return b, claim(b, idx, ["C50.911", "C79.51"], it, qr)

    n += 1
    b, c = continuation("cont-stable", n, ("Lourdes", "Negron Alicea", "1960-06-16"), [("stable", "2026-11-05")],
                        [("disease-progression", False), ("unacceptable-toxicity", False)], "R", "bb")
    write("23-continuation-stable-a1", n, b, c, exp(
        "Renewal (certificationType R, prior authorization) of Kadcyla for HER2-positive metastatic breast cancer on "
        "treatment since 2026-06-08; disease status stable 2026-11-05 (within the 6 months before 2026-11-20), no "
        "progression or toxicity: B.i met; metastatic, so no 14-cycle cap (B.iii). HCPCS with the Blue Button URI. 65 kg: "
        "ceil(3.6 x 65 = 234) = 234; 181 days -> 9 administrations; allowed 2106 = requested. A1 2106 for 2026-12-01..2027-05-31.",
        (1, "A1", 2106, *FULL)))

    n += 1
    b, c = continuation("cont-prog", n, ("Evelyn", "Rosario Matos", "1963-11-21"),
                        [("stable", "2026-08-12"), ("worsened", "2026-11-09")], [("disease-progression", True)], "4", "cms")
    write("24-continuation-progression-a3", n, b, c, exp(
        "Extension (certificationType 4) of Kadcyla for metastatic breast cancer; the latest disease status, 2026-11-09, is "
        "worsened (progression on the current regimen; disease-progression true). B.i not met: A3.",
        (1, "A3")))

    n += 1
    b, c = continuation("cont-nostatus", n, ("Zoraida", "Berrios Cotto", "1958-01-31"), [("stable", "2026-04-10")],
                        [], "R", "cms")
    write("25-continuation-no-recent-status-a4", n, b, c, exp(
        "Renewal of Kadcyla for metastatic breast cancer; the only disease status is 2026-04-10, more than 6 months before "
        "the Claim's created date 2026-11-20 (window starts 2026-05-20), and no disease-progression answer. Response since "
        "then is undocumented: A4 asking for a current oncology note and imaging (B.i.A, B.i.B).",
        (1, "A4")))

    n += 1
    b, c = continuation("cont-tox", n, ("Haydee", "Burgos Quiles", "1961-07-12"), [("stable", "2026-10-30")],
                        [("disease-progression", False), ("unacceptable-toxicity", True)], "R", "oid", tox=True)
    write("26-continuation-toxicity-a3", n, b, c, exp(
        "Renewal of Kadcyla for metastatic breast cancer with stable disease 2026-10-30 but unacceptable toxicity on the "
        "current regimen (questionnaire unacceptable-toxicity true; drug-induced hepatitis K71.6 2026-11-09). B.i requires "
        "no unacceptable toxicity: A3.",
        (1, "A3")))

    # 27 ------------------------------------------------------------- contradiction A4
    n += 1; b = Builder("contra"); scaffold(b, person(n, "Olga", "Sepulveda Ramos", "1964-09-09")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.912", "2025-01-14"); condition(b, pid, "C78.00", "2025-01-20")
    cm(b, pid, True, "2025-01-20")
    ihc(b, pid, "3+", "2025-01-16")
    for d in ["2025-02-03", "2025-02-24", "2025-03-17", "2025-04-07"]:
        med_admin(b, pid, "paclitaxel", d)
        med_admin(b, pid, "trastuzumab", d)
    disease_status(b, pid, "worsened", "2026-10-02")
    weight(b, pid, 62, "2026-11-18")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("metastatic",)), ("single-agent", True),
                                ("prior-metastatic-therapy", True), ("prior-taxane", False)])
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("27-contradiction-taxane-a4", n, b, claim(b, n, ["C50.912", "C78.00"], it, qr), exp(
        "Metastatic HER2-positive breast cancer; four paclitaxel MedicationAdministrations (2025-02-03 .. 2025-04-07) "
        "document a prior taxane, but the questionnaire answers prior-taxane false. Structured evidence contradicts an "
        "answer on A.i.C.2.b: pended (A4) naming both. No other path is met (line-of-therapy not given for A.i.C.3).",
        (1, "A4")))

    # 28 ------------------------------------------------------------- non-Kadcyla item beside a Kadcyla item
    n += 1; b = Builder("beside"); scaffold(b, person(n, "Teresa", "Montalvo Rios", "1967-03-23")); pid = ref("Patient", b.patient_id)
    mbc_base(b, pid, wt=77, breast="C50.911", met="C78.7")
    qr = questionnaire(b, pid, MBC_QR)
    it = [item(b, 1, product("J9354"), *FULL, 2430), item(b, 2, product("96413"), *FULL, 9, units="units")]
    write("28-kadcyla-plus-infusion-item", n, b, claim(b, n, ["C50.911", "C78.7"], it, qr, provider_role=True), exp(
        "Item 1 Kadcyla for HER2-positive metastatic breast cancer after THP: A.i.C.2 met; 77 kg: ceil(3.6 x 77 = 277.2) "
        "= 278; 181 days -> 9 administrations; allowed 2502 >= requested 2430: A1 2430 for 2026-12-01..2027-05-31. Item 2 "
        "CPT 96413 (chemotherapy infusion, 9 visits) is outside this policy: A4, no automated policy applies.",
        (1, "A1", 2430, *FULL), (2, "A4")))

    # 29 ------------------------------------------------------------- multi-item, Kadcyla through requestedService only
    n += 1; b = Builder("multi"); scaffold(b, person(n, "Gladys", "Vargas Ithier", "1962-05-18")); pid = ref("Patient", b.patient_id)
    mbc_base(b, pid, wt=60, breast="C50.911", met="C79.51")
    qr = questionnaire(b, pid, MBC_QR)
    order = kadcyla_order(b, pid, *Q3, 216, rx="1371046")
    it = [item(b, 1, product("na"), *Q3, 1080, requested=order),
          item(b, 2, product("96413"), *Q3, 5, units="units"),
          item(b, 3, product("99214"), *Q3, 5, units="units")]
    write("29-multi-item-requested-service", n, b, claim(b, n, ["C50.911", "C79.51"], it, qr), exp(
        "Three items for 2026-12-01..2027-02-28. Item 1 has productOrService data-absent-reason not-applicable and is a "
        "Kadcyla item through extension-requestedService -> MedicationRequest RxNorm 1371046 (Kadcyla brand). HER2-positive "
        "metastatic breast cancer after THP: A.i.C.2 met; 60 kg: ceil(3.6 x 60 = 216) = 216; 89 days -> floor(89/21)+1 = "
        "5 administrations; allowed 1080 = requested: A1 1080. Items 2 (CPT 96413) and 3 (CPT 99214) are outside the "
        "policy: A4.",
        (1, "A1", 1080, *Q3), (2, "A4"), (3, "A4")))

    # 30 ------------------------------------------------------------- metastatic, no therapy history A4
    n += 1; b = Builder("nohist"); scaffold(b, person(n, "Virginia", "Aponte Lozada", "1965-02-22")); pid = ref("Patient", b.patient_id)
    mbc_base(b, pid, wt=63, hist=False, breast="C50.911", met="C78.01")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("metastatic",)), ("single-agent", True)])
    it = [item(b, 1, product("J9354"), *FULL, 2000)]
    write("30-mbc-no-therapy-history-a4", n, b, claim(b, n, ["C50.911", "C78.01"], it, qr), exp(
        "HER2-positive (IHC 3+) metastatic breast cancer (C50.911 + C78.01, cM1), single agent, 63 kg, but no therapy "
        "history at all: no trastuzumab or taxane documented or answered (A.i.C.2.b), nothing on prior metastatic "
        "therapy or early recurrence (A.i.C.2.c), no line of therapy (A.i.C.3.a). Nothing fails on evidence; the "
        "candidate paths cannot be settled: A4 asking for the treatment history.",
        (1, "A4")))

    # 31 ------------------------------------------------------------- early breast from questionnaire answers A1
    n += 1; b = Builder("ebc-qr"); scaffold(b, person(n, "Mildred", "Cordero Nazario", "1974-08-08")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.111", "2026-02-16")
    ihc(b, pid, "3+", "2026-02-18")
    cm(b, pid, False, "2026-02-25", loinc=True)
    procedure(b, pid, MASTECTOMY, when="2026-09-21")
    weight(b, pid, 80.5, "2026-11-19")
    qr = questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("adjuvant",)), ("single-agent", True),
                                ("residual-invasive-disease", True), ("neoadjuvant-weeks", 18), ("prior-trastuzumab", True),
                                ("prior-taxane", True)])
    it = [item(b, 1, product("ndc10"), "2026-12-03", "2027-03-31", 1700, pos="22")]
    write("31-ebc-adjuvant-questionnaire-a1", n, b, claim(b, n, ["C50.111"], it, qr, ctype="institutional"), exp(
        "Early HER2-positive breast cancer (C50.111, IHC 3+, cM0 by LOINC 21907-1), mastectomy 2026-09-21 with residual "
        "invasive disease; the EHR sent no drug history, so the questionnaire fills it: 18 weeks of neoadjuvant taxane + "
        "trastuzumab (neoadjuvant-weeks 18 >= 16, prior-taxane and prior-trastuzumab true), adjuvant, single agent: "
        "A.i.C.1.a/b met. Requested by 10-digit NDC on an institutional claim, 2026-12-03..2027-03-31 (within the cap "
        "2027-06-02): 118 days -> floor(118/21)+1 = 5+1 = 6 administrations; 80.5 kg: ceil(3.6 x 80.5 = 289.8) = 290; "
        "allowed 6 x 290 = 1740 >= requested 1700; 14-cycle cap: 6 <= 14. A1 1700 for the requested period.",
        (1, "A1", 1700, "2026-12-03", "2027-03-31")))

    return n


# ---------------------------------------------------------------- issue 10: encodings and section 7
# Each case below is one class of encoding real EHRs send (issue 10) or one rule of decisions.md
# section 7; the expected answer names the criteria and the evidence the note must cite.


def expn(description, *items):
    """Like exp(), each item ending with the list of phrases its note must contain."""
    out = exp(description, *[it[:-1] for it in items])
    for e, it in zip(out["items"], items):
        e["note"] = it[-1]
    return out


def statement_coded(b, pid, concept, start, end, status="completed", subject=True):
    r = {"resourceType": "MedicationStatement", "id": b.rid("medstmt"), "status": status,
         "medicationCodeableConcept": concept, "effectivePeriod": {"start": start, "end": end}}
    if subject:
        r["subject"] = pid
    return b.add(r)


def medication(b, codings, text=None):
    code = {"coding": codings}
    if text:
        code["text"] = text
    return b.add({"resourceType": "Medication", "id": b.rid("med"), "code": code})


def admin_of(b, pid, med_ref, when):
    return b.add({"resourceType": "MedicationAdministration", "id": b.rid("medadmin"), "status": "completed",
                  "medicationReference": med_ref, "subject": pid, "effectiveDateTime": when})


def variant_with_gene(b, pid, when, gene_value):
    """69548-6 Present whose gene studied (48018-6) is written as the sender wrote it."""
    comp = {"code": cc(LOINC, "48018-6", "Gene studied [ID]")}
    comp.update(gene_value)
    return observation(b, pid, cc(LOINC, "69548-6", "Genetic variant assessment"), when,
                       valueCodeableConcept=loinc_answer("LA9633-4", "Present"), component=[comp])


def nsclc_base(b, pid):
    condition(b, pid, "C34.11", "2025-12-08"); condition(b, pid, "C79.51", "2025-12-15")
    cm(b, pid, True, "2025-12-15", loinc=True)
    med_statement(b, pid, "carboplatin", "2026-01-12", "2026-04-06")
    med_statement(b, pid, "pemetrexed", "2026-01-12", "2026-09-28", status="stopped")
    disease_status(b, pid, "worsened", "2026-10-13")
    weight(b, pid, 58, "2026-11-17")
    return questionnaire(b, pid, [("request-type", ("initial",)), ("treatment-setting", ("metastatic",)),
                                  ("single-agent", True), ("subsequent-therapy", True)])


def mbc_core(b, pid, wt=62, her2=True, history=True):
    """Metastatic HER2+ breast cancer without therapy history (each case adds its own)."""
    condition(b, pid, "C50.912", "2025-01-14"); condition(b, pid, "C78.00", "2025-01-20")
    cm(b, pid, True, "2025-01-20")
    if her2:
        ihc(b, pid, "3+", "2025-01-16")
    if history:
        metastatic_history(b, pid)
    disease_status(b, pid, "worsened", "2026-10-02")
    if wt is not None:
        weight(b, pid, wt, "2026-11-18")


MBC_A1 = "62 kg: ceil(3.6 x 62 = 223.2) = 224 per administration; 181 days -> 9 administrations; allowed 2016"


def build_encodings(n):
    # 32 ------------------------------------------------------------- history as RxNorm products
    n += 1; b = Builder("rx-products"); scaffold(b, person(n, "Rosa", "Ibarra Colon", "1963-06-02")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, history=False)
    statement_coded(b, pid, cc(RXN, "583214", "PACLitaxel 100 MG Injection"), "2025-02-03", "2025-05-19")
    statement_coded(b, pid, cc(RXN, "101306", "Herceptin"), "2025-02-03", "2026-10-05", status="stopped")
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("32-history-as-rxnorm-products-a1", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "Metastatic HER2-positive breast cancer after first-line therapy, the EHR coding the history as RxNorm "
        "products: paclitaxel as the clinical drug 583214 'PACLitaxel 100 MG Injection' and trastuzumab as the brand "
        "Herceptin (101306). Both map to their ingredients (drug-products.toml), so prior taxane and prior trastuzumab "
        "are documented (A.i.C.2.b) and prior metastatic therapy is answered: A.i.C.2 met. " + MBC_A1 + " = requested: A1.",
        (1, "A1", 2016, *FULL, ["A.i.C.2 (met)", "A.i.C.2.b (met)", "MedicationStatement/rx-products-medstmt"])))

    # 33 ------------------------------------------------------------- Medication with only NDC / local code
    n += 1; b = Builder("med-local"); scaffold(b, person(n, "Carmen", "Lugo Pagan", "1961-01-30")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, history=False)
    taxol = medication(b, [{"system": "http://hl7.org/fhir/sid/ndc", "code": "99999-0101-01",
                            "display": "PACLitaxel 6 MG/ML Injectable Solution"}])
    herceptin = medication(b, [{"system": "urn:oid:2.16.840.1.113883.3.7777.1", "code": "ONC-TRZ-SC",
                                "display": "Trastuzumab/hyaluronidase SC 600 mg"},
                               {"system": RXN, "code": "2119714",
                                "display": "5 ML hyaluronidase-oysk 2000 UNT/ML / trastuzumab 120 MG/ML Injection"}])
    for d in ["2025-02-03", "2025-02-24", "2025-03-17", "2025-04-07"]:
        admin_of(b, pid, taxol, d)
        admin_of(b, pid, herceptin, d)
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("33-medication-ndc-or-local-code-a1", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "Metastatic HER2-positive breast cancer; the infusions reference Medication resources: one carries only an NDC "
        "the plan's map does not list, displayed 'PACLitaxel 6 MG/ML Injectable Solution' (matched by name: paclitaxel), "
        "the other a local code plus the RxNorm clinical drug 2119714 (trastuzumab with hyaluronidase). Prior taxane and "
        "trastuzumab documented: A.i.C.2 met. " + MBC_A1 + " = requested: A1; the note says paclitaxel matched by name.",
        (1, "A1", 2016, *FULL, ["A.i.C.2 (met)", "paclitaxel matched by name in `PACLitaxel 6 MG/ML Injectable Solution`"])))

    # 34 ------------------------------------------------------------- HGNC https, bare number
    n += 1; b = Builder("hgnc-https"); scaffold(b, person(n, "Ernesto", "Vidal Soto", "1957-04-12", gender="male")); pid = ref("Patient", b.patient_id)
    qr = nsclc_base(b, pid)
    variant_with_gene(b, pid, "2025-12-22", {"valueCodeableConcept": {"coding": [
        {"system": "https://www.genenames.org/", "code": "3430"}]}})
    it = [item(b, 1, product("J9354"), *Q3, 1000)]
    write("34-erbb2-hgnc-https-number-a1", n, b, claim(b, n, ["C34.11", "C79.51"], it, qr), expn(
        "Metastatic NSCLC with an ERBB2 variant present; the gene studied is written https://www.genenames.org/ with "
        "the bare HGNC number 3430, which is HGNC:3430 (ERBB2). Subsequent therapy after carboplatin/pemetrexed: A.iii "
        "met. 58 kg: ceil(208.8) = 209 x 5 administrations (89 days) = 1045 >= 1000: A1.",
        (1, "A1", 1000, *Q3, ["A.iii (met)", "ERBB2 variant present"])))

    # 35 ------------------------------------------------------------- gene named by its symbol only
    n += 1; b = Builder("gene-symbol"); scaffold(b, person(n, "Julio", "Matos Reyes", "1955-09-03", gender="male")); pid = ref("Patient", b.patient_id)
    qr = nsclc_base(b, pid)
    variant_with_gene(b, pid, "2025-12-22", {"valueCodeableConcept": {"coding": [
        {"system": "http://www.genenames.org", "display": "ERBB2"}]}})
    it = [item(b, 1, product("J9354"), *Q3, 1000)]
    write("35-erbb2-gene-symbol-a1", n, b, claim(b, n, ["C34.11", "C79.51"], it, qr), expn(
        "Metastatic NSCLC with an ERBB2 variant present; the lab names the gene studied by its symbol only (a "
        "genenames.org coding with display ERBB2 and no code). ERBB2 is the gene: A.iii met, A1 as in 34.",
        (1, "A1", 1000, *Q3, ["A.iii (met)", "ERBB2 variant present"])))

    # 36 ------------------------------------------------------------- ISH ratio as valueRatio in a panel
    n += 1; b = Builder("ish-ratio"); scaffold(b, person(n, "Iris", "Nieves Cruz", "1966-12-19")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, her2=False)
    ihc(b, pid, "2+", "2025-01-16")
    observation(b, pid, cc(LOINC, "74885-5", "ERBB2 gene dual probe FISH panel in Tissue"), "2025-01-18",
                component=[{"code": RATIO, "valueRatio": {"numerator": {"value": 4.6}, "denominator": {"value": 2.0}}},
                           {"code": COPIES, "valueQuantity": {"value": 4.6}}])
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("36-ish-ratio-as-value-ratio-a1", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "IHC 2+ (equivocal) resolved by a dual-probe FISH panel whose HER2/CEP17 ratio is sent as valueRatio "
        "4.6 / 2.0 = 2.3 (>= 2.0: positive) beside 4.6 HER2 copies per nucleus as a Quantity without unit. HER2-positive "
        "metastatic breast cancer after THP: A.i.C.2 met. " + MBC_A1 + ": A1.",
        (1, "A1", 2016, *FULL, ["A.i (met)", "dual-probe ISH ratio 2.3 with 4.6 HER2 copies/cell"])))

    # 37 ------------------------------------------------------------- ratio as a string, copies without unit
    n += 1; b = Builder("ish-string"); scaffold(b, person(n, "Luz", "Ocasio Diaz", "1969-07-07")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, her2=False)
    ihc(b, pid, "2+", "2025-01-16")
    observation(b, pid, RATIO, "2025-01-18", valueString="2.3")
    observation(b, pid, COPIES, "2025-01-18", valueQuantity={"value": 4.1})
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("37-ish-ratio-as-string-a1", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "IHC 2+ with separate ISH observations: the ratio as valueString '2.3' and 4.1 copies per nucleus without a "
        "unit, same date. Ratio 2.3 >= 2.0: ISH positive, A.i met; A.i.C.2 met. " + MBC_A1 + ": A1.",
        (1, "A1", 2016, *FULL, ["A.i (met)", "dual-probe ISH ratio 2.3 with 4.1 HER2 copies/cell"])))

    # 38 ------------------------------------------------------------- ratio 1e308 in a panel with 3 copies
    n += 1; b = Builder("ratio-huge"); scaffold(b, person(n, "Nilda", "Rosario Vega", "1964-02-14")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, her2=False)
    ihc(b, pid, "2+", "2025-01-16")
    observation(b, pid, cc(LOINC, "74885-5", "ERBB2 gene dual probe FISH panel in Tissue"), "2025-01-18",
                component=[{"code": RATIO, "valueQuantity": {"value": 1e308}},
                           {"code": COPIES, "valueQuantity": copies_q(3.0)}])
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("38-ish-ratio-1e308-a4", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "IHC 2+ (equivocal) and a dual-probe panel whose ratio is 1e308: no laboratory writes that, so the ratio is not "
        "classified (section 7), and its 3.0 copies are not a single-probe result either (the panel is dual-probe): "
        "read alone they would call the IHC resolved negative and deny. HER2 stays equivocal: A4 asking for the ISH "
        "report; the note names the value set aside.",
        (1, "A4", ["A.i (missing)", "HER2/CEP17 ratio 1e308 is outside 0-100: not classified"])))

    # 39 ------------------------------------------------------------- single-probe copies of -3 only
    n += 1; b = Builder("copies-neg"); scaffold(b, person(n, "Wanda", "Cintron Mejias", "1970-10-10")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, her2=False)
    observation(b, pid, COPIES, "2025-01-18", valueQuantity=copies_q(-3))
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("39-ish-copies-negative-a4", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "The only HER2 evidence is a single-probe result of -3 HER2 copies per nucleus: not a count, not classified "
        "(section 7; read as < 4.0 it would deny as HER2-negative). No HER2 result: A4.",
        (1, "A4", ["A.i (missing)", "copy number per nucleus -3 is outside 0-100: not classified"])))

    # 40 ------------------------------------------------------------- partial dates
    n += 1; b = Builder("partial"); scaffold(b, person(n, "Elba", "Figueroa Nunez", "1962-11-25")); pid = ref("Patient", b.patient_id)
    condition(b, pid, "C50.912", "2025-01"); condition(b, pid, "C78.00", "2025-01")
    cm(b, pid, True, "2025-01")
    ihc(b, pid, "3+", "2025-01")
    med_statement(b, pid, "docetaxel", "2025-02", "2025-05")
    med_statement(b, pid, "trastuzumab", "2025-02", "2026-10", status="stopped")
    med_statement(b, pid, "pertuzumab", "2025-02", "2026-10", status="stopped")
    disease_status(b, pid, "worsened", "2026-10-02")
    weight(b, pid, 62, "2026-11-18")
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("40-partial-dates-a1", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "Metastatic HER2-positive breast cancer whose history carries month-only dates (diagnosis 2025-01, THP "
        "2025-02..2025-05 and 2025-02..2026-10): a start is read as the month's first day, an end as its last, so "
        "docetaxel and trastuzumab both lie before the requested start: A.i.C.2 met. " + MBC_A1 + ": A1.",
        (1, "A1", 2016, *FULL, ["A.i.C.2 (met)", "A.i.C.2.b (met)"])))

    # 41 ------------------------------------------------------------- sloppy but readable
    n += 1; b = Builder("sloppy"); scaffold(b, person(n, "Aida", "Marrero Toro", "1960-05-05")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, her2=False, history=False)
    b.add({"resourceType": "Observation", "id": "sloppy-ihc", "code": cc(LOINC, "85319-2", "HER2 [Presence] in Breast cancer specimen by Immune stain"),
           "subject": pid, "effectiveDateTime": "2025-01-16", "valueCodeableConcept": loinc_answer("LA11843-2", "3+")})
    statement_coded(b, pid, drug_cc("docetaxel"), "2025-02-03", "2025-05-19", subject=False)
    statement_coded(b, pid, drug_cc("trastuzumab"), "2025-02-03", "2026-10-05", status="stopped", subject=False)
    b.add({"resourceType": "Observation", "id": "sloppy-er", "status": "final", "code": "16112-5",
           "subject": pid, "valueString": "positive"})
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("41-sloppy-resources-a1", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "Metastatic breast cancer documented sloppily: the HER2 IHC 3+ Observation has no status, the docetaxel and "
        "trastuzumab MedicationStatements have no subject; all are read (a missing subject counts as the Claim's "
        "patient). An estrogen-receptor Observation whose code is a bare string cannot be read: it is set aside and "
        "named, and the request is still decided (hormone receptors settle nothing on A.i.C.2). " + MBC_A1 + ": A1.",
        (1, "A1", 2016, *FULL, ["A.i (met)", "A.i.C.2.b (met)", "Observation/sloppy-er at `Bundle.entry", "it cannot be read"])))

    # 42 ------------------------------------------------------------- the only HER2 result unreadable
    n += 1; b = Builder("unreadable"); scaffold(b, person(n, "Gloria", "Pabon Rivera", "1967-08-16")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, her2=False)
    b.add({"resourceType": "Observation", "id": "unreadable-ihc", "status": "final", "code": "85319-2",
           "subject": pid, "effectiveDateTime": "2025-01-16", "valueString": "3+"})
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("42-unreadable-her2-a4", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "The only HER2 result is an Observation whose code is a bare string ('85319-2'), not a CodeableConcept: it "
        "cannot be read, so it is set aside and named, and HER2 status (A.i) is missing rather than the request "
        "being refused: A4 asking for the HER2 report.",
        (1, "A4", ["A.i (missing)", "Observation/unreadable-ihc", "it cannot be read"])))

    # 43 ------------------------------------------------------------- evidence of another patient
    n += 1; b = Builder("foreign"); scaffold(b, person(n, "Marta", "Quinones Ayala", "1965-03-03")); pid = ref("Patient", b.patient_id)
    other = b.add({"resourceType": "Patient", "id": "other-patient", "name": [{"family": "Otero", "given": ["Ana"]}],
                   "gender": "female", "birthDate": "1959-09-09"})
    mbc_core(b, other, wt=62)
    it = [item(b, 1, product("J9354"), *FULL, 2016)]
    write("43-evidence-of-another-patient-a4", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "The Claim is for Marta Quinones Ayala, but every Observation and therapy record in the Bundle (the HER2 IHC "
        "3+, cM1, the THP history, the disease status, the weight) is about another Patient, Ana Otero. They are "
        "ignored and named (section 7); the Claim's own diagnoses remain, and nothing documents HER2 status for this "
        "patient: A4.",
        (1, "A4", ["A.i (missing)", "it is about another patient (Patient/other-patient)"])))

    # 44 ------------------------------------------------------------- 10,000 kg
    n += 1; b = Builder("heavy"); scaffold(b, person(n, "Sonia", "Velez Oquendo", "1968-01-21")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, wt=10000)
    it = [item(b, 1, product("J9354"), *FULL, 300000)]
    write("44-weight-10000-kg-a4", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "A.i.C.2 is met, but the only body weight is 10,000 kg with 300,000 mg requested. No patient weighs that: it "
        "is not a weight (section 7), the dose cannot be checked: A4 for a body weight.",
        (1, "A4", ["A.i.C.2 (met)", "body weight 10000 kg is outside 0.5-500 kg: not a weight"])))

    # 45 ------------------------------------------------------------- quantity in grams
    n += 1; b = Builder("grams"); scaffold(b, person(n, "Celia", "Arroyo Benitez", "1963-04-04")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, wt=62)
    it = [item(b, 1, product("J9354"), *FULL, None)]
    it[0]["quantity"] = {"value": 300, "unit": "g", "system": UCUM, "code": "g"}
    write("45-quantity-300-g-a6", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "A.i.C.2 met; the quantity is 300 g, which is 300,000 mg (J9354 units), not 300 units. " + MBC_A1 +
        " < 300,000: modified to 2016 mg (A6) over the requested period.",
        (1, "A6", 2016, *FULL, ["A.i.C.2 (met)", "requested 300000 units exceed",
                                  "the quantity 300 `g` is read as 300000 mg (J9354 units)"])))

    # 46 ------------------------------------------------------------- quantity in mL
    n += 1; b = Builder("ml"); scaffold(b, person(n, "Norma", "Burgos Cruz", "1966-06-06")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, wt=62)
    it = [item(b, 1, product("J9354"), *FULL, None)]
    it[0]["quantity"] = {"value": 100, "unit": "mL", "system": UCUM, "code": "mL"}
    write("46-quantity-in-ml-a4", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "A.i.C.2 met, but the quantity is 100 mL: a volume says nothing about the mg of drug without the concentration "
        "after reconstitution, so the dose cannot be checked (section 7): A4 naming the unit.",
        (1, "A4", ["`mL` is neither mg nor units of the drug", "item[0].quantity"])))

    # 47 ------------------------------------------------------------- period in the year 1
    n += 1; b = Builder("year1"); scaffold(b, person(n, "Ada", "Crespo Lebron", "1962-12-12")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, wt=62)
    it = [item(b, 1, product("J9354"), "0001-01-01", "0001-06-30", 2016)]
    write("47-period-in-year-1-a4", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "A.i.C.2 met, but the requested period starts 0001-01-01, far more than 30 days before Claim.created "
        "(2026-11-20): no automated answer on such a period; pended for a reviewer (A4).",
        (1, "A4", ["more than 30 days before the request", "servicedPeriod.start"])))

    # 48 ------------------------------------------------------------- period in 9999
    n += 1; b = Builder("y9999"); scaffold(b, person(n, "Eva", "Lozada Pinto", "1964-08-08")); pid = ref("Patient", b.patient_id)
    mbc_core(b, pid, wt=62)
    it = [item(b, 1, product("J9354"), "9999-12-01", "9999-12-31", 2016)]
    write("48-period-in-year-9999-a4", n, b, claim(b, n, ["C50.912", "C78.00"], it,
          questionnaire(b, pid, MBC_QR)), expn(
        "A.i.C.2 met, but the requested period starts 9999-12-01, more than a year after Claim.created: pended for a "
        "reviewer (A4).",
        (1, "A4", ["more than 12 months after the request", "servicedPeriod.start"])))

    return n


if __name__ == "__main__":
    total = build_encodings(build_all())
    print(f"wrote {total} samples")
