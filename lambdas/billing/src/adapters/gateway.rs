//! The shipped payment gateway: a deterministic simulation.

use async_trait::async_trait;

use crate::domain::{ChargeRequest, ChargeResult, PaymentStatus};
use crate::ports::{GatewayError, PaymentGateway};

/// Default `PAYMENT_DECLINE_ABOVE`, in minor units.
pub const DEFAULT_DECLINE_ABOVE: u64 = 100_000;

/// The decline reason of a total above the limit (`declineReason`).
pub const AMOUNT_OVER_LIMIT: &str = "AMOUNT_OVER_LIMIT";

/// A deterministic simulation, so that the whole flow can run (and be tested end to end)
/// without a payment provider. Its rules:
///
/// 1. an order whose total is above `decline_above` minor units (`PAYMENT_DECLINE_ABOVE`,
///    default 100000, whatever the currency) is DECLINED with reason `AMOUNT_OVER_LIMIT`;
/// 2. any other order is CAPTURED;
/// 3. the reference is derived from the idempotency key only (`sim_ch_<key>` when captured,
///    `sim_dc_<key>` when declined, the key's dashes dropped), so the same key always gets the
///    same result and reference, as with a real gateway's idempotency keys.
///
/// It never fails: the result is a pure function of the request. The limit is given by the
/// caller (`processor_from_env` reads it), so the gateway itself never looks at the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulatedGateway {
    decline_above: u64,
}

impl Default for SimulatedGateway {
    fn default() -> Self {
        SimulatedGateway::new(DEFAULT_DECLINE_ABOVE)
    }
}

impl SimulatedGateway {
    pub fn new(decline_above: u64) -> Self {
        SimulatedGateway { decline_above }
    }

    pub fn decline_above(&self) -> u64 {
        self.decline_above
    }
}

#[async_trait]
impl PaymentGateway for SimulatedGateway {
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeResult, GatewayError> {
        let key: String = request.idempotency_key.chars().filter(|c| *c != '-').collect();
        Ok(if request.amount.amount > self.decline_above {
            ChargeResult {
                status: PaymentStatus::Declined,
                reference: format!("sim_dc_{key}"),
                decline_reason: Some(AMOUNT_OVER_LIMIT.to_owned()),
            }
        } else {
            ChargeResult { status: PaymentStatus::Captured, reference: format!("sim_ch_{key}"), decline_reason: None }
        })
    }
}

#[cfg(test)]
mod tests {
    use orderflow_events::Money;
    use uuid::Uuid;

    use super::*;

    fn request(key: &str, amount: u64) -> ChargeRequest {
        ChargeRequest {
            idempotency_key: key.to_owned(),
            order_id: Uuid::nil(),
            amount: Money::new(amount, "EUR".parse().unwrap()),
        }
    }

    #[tokio::test]
    async fn declines_above_the_limit_and_is_deterministic() {
        let gateway = SimulatedGateway::new(1000);
        let at_limit = gateway.charge(&request("a-b", 1000)).await.unwrap();
        assert_eq!(at_limit.status, PaymentStatus::Captured);
        assert_eq!(at_limit.reference, "sim_ch_ab");
        let above = gateway.charge(&request("c", 1001)).await.unwrap();
        assert_eq!(above.status, PaymentStatus::Declined);
        assert_eq!(above.decline_reason.as_deref(), Some("AMOUNT_OVER_LIMIT"));
        assert_eq!(gateway.charge(&request("a-b", 1000)).await.unwrap(), at_limit);
    }

    #[test]
    fn the_default_limit_is_the_documented_one() {
        assert_eq!(SimulatedGateway::default().decline_above(), 100_000);
    }
}
