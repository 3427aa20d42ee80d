//! The shipped payment gateway: a deterministic simulation.

use async_trait::async_trait;
use orderflow_events::{DeclineReason, Money};
use uuid::Uuid;

use crate::domain::Authorization;
use crate::ports::{GatewayError, PaymentGateway};

/// Default `PAYMENT_DECLINE_ABOVE`, in minor units.
pub const DEFAULT_DECLINE_ABOVE: u64 = 100_000;

/// A deterministic simulation, so that the whole flow can run (and be tested end to end)
/// without a payment provider. Its rules:
///
/// 1. an authorization of a total above `decline_above` minor units (`PAYMENT_DECLINE_ABOVE`,
///    default 100000, whatever the currency) is declined with reason `LIMIT_EXCEEDED`;
/// 2. any other is authorized, with the id `sim_auth_<order id without dashes>`: derived from
///    the order only, so a retried authorization gets the same id, as a real gateway's
///    idempotency key would give;
/// 3. capture and void always succeed (each is idempotent).
///
/// It never fails: every answer is a pure function of the request. The limit is given by the
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

    /// The authorization id the simulation gives `order_id`.
    pub fn authorization_id(order_id: Uuid) -> String {
        format!("sim_auth_{}", order_id.simple())
    }
}

#[async_trait]
impl PaymentGateway for SimulatedGateway {
    async fn authorize(&self, order_id: Uuid, amount: Money) -> Result<Authorization, GatewayError> {
        Ok(if amount.amount > self.decline_above {
            Authorization::Declined { reason: DeclineReason::limit_exceeded() }
        } else {
            Authorization::Authorized { authorization_id: SimulatedGateway::authorization_id(order_id) }
        })
    }

    async fn capture(&self, _authorization_id: &str) -> Result<(), GatewayError> {
        Ok(())
    }

    async fn void(&self, _authorization_id: &str) -> Result<(), GatewayError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(amount: u64) -> Money {
        Money::new(amount, "EUR".parse().unwrap())
    }

    #[tokio::test]
    async fn declines_above_the_limit_and_is_deterministic() {
        let gateway = SimulatedGateway::new(1000);
        let order_id = Uuid::now_v7();
        let at_limit = gateway.authorize(order_id, eur(1000)).await.unwrap();
        assert_eq!(at_limit, Authorization::Authorized { authorization_id: format!("sim_auth_{}", order_id.simple()) });
        assert_eq!(gateway.authorize(order_id, eur(1000)).await.unwrap(), at_limit, "a retry gets the same id");
        let above = gateway.authorize(Uuid::now_v7(), eur(1001)).await.unwrap();
        assert_eq!(above, Authorization::Declined { reason: DeclineReason::new("LIMIT_EXCEEDED").unwrap() });
    }

    #[tokio::test]
    async fn capture_and_void_succeed() {
        let gateway = SimulatedGateway::default();
        gateway.capture("sim_auth_x").await.unwrap();
        gateway.void("sim_auth_x").await.unwrap();
    }

    #[test]
    fn the_default_limit_is_the_documented_one() {
        assert_eq!(SimulatedGateway::default().decline_above(), 100_000);
    }
}
