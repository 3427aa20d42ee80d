//! The local stack's fault injector (`localstack/README.md`, "Faults on purpose"), driven over
//! its HTTP control API on the LocalStack gateway: rules that make chosen AWS operations fail
//! the way AWS fails them, add latency, or kill the calling function mid-invocation, plus the
//! gateway's count of every request it served.
//!
//! Rules are global to the LocalStack instance, so a suite that injects faults runs alone
//! (scripts/e2e) and clears them when it ends, on failure too ([`FaultGuard`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::endpoint;

/// One rule, as the control API takes it. Unset fields match anything.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Rule {
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<String>>,
    /// A substring of the request's table name, topic ARN, queue URL or SES source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The function whose process makes the call (exact name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// The AWS error to answer with (e.g. `ThrottlingException`, `TransactionConflict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// At most this many injections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Kill the calling function's execution environment instead of serving the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kill: Option<bool>,
}

impl Rule {
    /// `error` on every call of `service` made by `caller`, with this probability.
    pub fn error(service: &str, error: &str, caller: &str, probability: f64) -> Rule {
        Rule {
            service: service.into(),
            caller: Some(caller.into()),
            error: Some(error.into()),
            probability: Some(probability),
            ..Rule::default()
        }
    }

    pub fn operations(mut self, operations: &[&str]) -> Rule {
        self.operations = Some(operations.iter().map(|o| (*o).to_owned()).collect());
        self
    }

    pub fn resource(mut self, resource: &str) -> Rule {
        self.resource = Some(resource.into());
        self
    }

    pub fn body_contains(mut self, needle: &str) -> Rule {
        self.body_contains = Some(needle.into());
        self
    }

    pub fn count(mut self, count: u64) -> Rule {
        self.count = Some(count);
        self
    }

    /// Kills `caller` at its first matching request of `service`.
    pub fn kill(service: &str, caller: &str) -> Rule {
        Rule { service: service.into(), caller: Some(caller.into()), kill: Some(true), ..Rule::default() }
    }
}

/// A rule as the injector reports it: what it is, how often it matched and fired.
#[derive(Debug, Clone, Deserialize)]
pub struct RuleReport {
    pub id: String,
    #[serde(flatten)]
    pub rule: Rule,
    pub matched: u64,
    pub injected: u64,
}

/// Requests the gateway served for one service, operation and caller.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestCount {
    pub service: String,
    pub operation: String,
    pub caller: Option<String>,
    pub count: u64,
}

/// A client of the control API.
#[derive(Debug, Clone)]
pub struct Faults {
    http: reqwest::Client,
    base: String,
}

impl Faults {
    pub fn new(http: reqwest::Client) -> Faults {
        Faults { http, base: format!("{}/_orderflow", endpoint()) }
    }

    async fn call(&self, request: reqwest::RequestBuilder, what: &str) -> Value {
        let response = request.send().await.unwrap_or_else(|error| panic!("{what}: {error}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{what}: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{what}: not JSON ({error}): {text}"))
    }

    /// Adds rules; returns their ids.
    pub async fn add(&self, rules: &[Rule]) -> Vec<String> {
        let body = json!({ "rules": rules });
        let answer = self.call(self.http.post(format!("{}/faults", self.base)).json(&body), "add fault rules").await;
        serde_json::from_value(answer["ids"].clone()).expect("ids")
    }

    pub async fn rules(&self) -> Vec<RuleReport> {
        let answer = self.call(self.http.get(format!("{}/faults", self.base)), "list fault rules").await;
        serde_json::from_value(answer["rules"].clone()).expect("rules")
    }

    pub async fn clear(&self) {
        self.call(self.http.delete(format!("{}/faults", self.base)), "clear fault rules").await;
    }

    pub async fn requests(&self) -> Vec<RequestCount> {
        let answer = self.call(self.http.get(format!("{}/requests", self.base)), "request counts").await;
        serde_json::from_value(answer["requests"].clone()).expect("requests")
    }

    /// Injections so far per service (rules live and removed alike).
    pub async fn injected_per_service(&self) -> BTreeMap<String, u64> {
        let answer = self.call(self.http.get(format!("{}/requests", self.base)), "request counts").await;
        serde_json::from_value(answer["faults_injected"].clone()).unwrap_or_default()
    }

    /// Clears every rule when dropped, so a failing test leaves no fault behind for the next.
    pub fn guard(&self) -> FaultGuard {
        FaultGuard { base: self.base.clone() }
    }
}

/// Clears the injector's rules on drop, also when the test panics.
pub struct FaultGuard {
    base: String,
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let url = format!("{}/faults", self.base);
        // Drop may run inside the test's runtime, which must not be blocked on: a thread of its
        // own with a runtime of its own makes the one call.
        let cleared = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let response = reqwest::Client::new().delete(url).send().await?;
                Ok::<bool, Box<dyn std::error::Error + Send + Sync>>(response.status().is_success())
            })
        })
        .join();
        if !matches!(cleared, Ok(Ok(true))) {
            eprintln!("faults: could not clear the fault rules: {cleared:?}");
        }
    }
}
