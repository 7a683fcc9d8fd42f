//! `bluegreen-guard review`: one AdmissionReview read, decided offline, answered as an
//! AdmissionReview, with the verdict that sets the exit code.

use bluegreen_guard::offline::{self, Verdict};
use serde_json::Value;

fn review(body: &[u8]) -> Result<(Verdict, Value), String> {
    let mut answer = Vec::new();
    offline::run(body, &mut answer, &[], None)
        .map(|verdict| {
            (
                verdict,
                serde_json::from_slice(&answer).expect("the answer is JSON"),
            )
        })
        .map_err(|err| err.to_string())
}

#[test]
fn the_answer_echoes_the_request_and_matches_the_verdict() {
    let body = include_bytes!("data/deployment-create.json");
    let request: Value = serde_json::from_slice(body).unwrap();
    let (verdict, answer) = review(body).unwrap();
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(answer["response"]["uid"], request["request"]["uid"]);
    assert_eq!(
        verdict == Verdict::Allowed,
        answer["response"]["allowed"] == true,
        "{answer}"
    );
}

#[test]
fn a_body_that_is_not_json_is_an_error_naming_what_to_send() {
    assert_eq!(
        review(b"not json").unwrap_err(),
        "the request body is not JSON (expected ident at line 1 column 2); send an admission.k8s.io/v1 AdmissionReview"
    );
}
