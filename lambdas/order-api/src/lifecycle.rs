//! The order lifecycle as a pure state machine: (state, outcome) -> decision. No I/O and no
//! clock, so every order of arrival can be tested exhaustively; the order lifecycle consumer
//! (`lambdas/order-lifecycle`) loads the row, asks [`decide`] and writes what it says.
//!
//! The rules (`docs/contracts/order-lifecycle.md`): `PLACED` -> `CONFIRMED` once stock is
//! reserved and payment authorized; `PLACED` -> `CANCELLED` at the first negative outcome (or
//! the settle timeout); a settled order never changes again, so late outcomes and duplicates
//! are no-ops and the order settles exactly once.

use orderflow_events::{CancellationReason, StockRejectionReason};

use crate::domain::OrderStatus;
use crate::record::{PaymentOutcome, StockOutcome};

/// What the lifecycle knows of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LifecycleState {
    pub status: OrderStatus,
    /// Set exactly when `status` is `CANCELLED`.
    pub reason: Option<CancellationReason>,
    pub stock: Option<StockOutcome>,
    pub payment: Option<PaymentOutcome>,
}

impl LifecycleState {
    /// A freshly placed order: no outcome yet.
    pub const PLACED: LifecycleState =
        LifecycleState { status: OrderStatus::Placed, reason: None, stock: None, payment: None };
}

/// Something that happened to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    StockReserved,
    StockRejected(StockRejectionReason),
    PaymentAuthorized,
    PaymentDeclined,
    /// The settle timer fired (the delayed OrderPlaced arrived); `due` tells whether the
    /// deadline (`placedAt` + the settle timeout) has really passed.
    Deadline {
        due: bool,
    },
}

/// How an order settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Settlement {
    Confirmed,
    Cancelled(CancellationReason),
}

/// Why nothing changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unchanged {
    /// The order has settled; this outcome came too late (or is a redelivery).
    AlreadySettled(OrderStatus),
    /// The same outcome is already recorded.
    Duplicate,
    /// A different outcome of the same kind is already recorded (inventory and billing record
    /// one outcome per order, so this should not happen): the first one stands.
    Contradicts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Record the outcome; the order stays `PLACED`, waiting for the other one.
    Record(LifecycleState),
    /// Record the outcome and settle: the state is `CONFIRMED` or `CANCELLED`, and the
    /// settlement is announced (OrderConfirmed / OrderCancelled) with that same write.
    Settle(LifecycleState, Settlement),
    Unchanged(Unchanged),
    /// The timer fired early: try again later (the message is retried).
    NotYetDue,
}

/// The one transition function.
pub fn decide(state: LifecycleState, outcome: Outcome) -> Decision {
    if state.status.is_settled() {
        return Decision::Unchanged(Unchanged::AlreadySettled(state.status));
    }
    match outcome {
        Outcome::Deadline { due: false } => Decision::NotYetDue,
        Outcome::Deadline { due: true } => cancel(state, CancellationReason::Timeout),
        Outcome::StockReserved => match state.stock {
            Some(StockOutcome::Reserved) => Decision::Unchanged(Unchanged::Duplicate),
            Some(StockOutcome::Rejected) => Decision::Unchanged(Unchanged::Contradicts),
            None => positive(LifecycleState { stock: Some(StockOutcome::Reserved), ..state }),
        },
        Outcome::StockRejected(reason) => match state.stock {
            Some(StockOutcome::Rejected) => Decision::Unchanged(Unchanged::Duplicate),
            Some(StockOutcome::Reserved) => Decision::Unchanged(Unchanged::Contradicts),
            None => cancel(LifecycleState { stock: Some(StockOutcome::Rejected), ..state }, reason.into()),
        },
        Outcome::PaymentAuthorized => match state.payment {
            Some(PaymentOutcome::Authorized) => Decision::Unchanged(Unchanged::Duplicate),
            Some(PaymentOutcome::Declined) => Decision::Unchanged(Unchanged::Contradicts),
            None => positive(LifecycleState { payment: Some(PaymentOutcome::Authorized), ..state }),
        },
        Outcome::PaymentDeclined => match state.payment {
            Some(PaymentOutcome::Declined) => Decision::Unchanged(Unchanged::Duplicate),
            Some(PaymentOutcome::Authorized) => Decision::Unchanged(Unchanged::Contradicts),
            None => cancel(
                LifecycleState { payment: Some(PaymentOutcome::Declined), ..state },
                CancellationReason::PaymentDeclined,
            ),
        },
    }
}

/// A positive outcome recorded: confirmed if it was the second one.
fn positive(state: LifecycleState) -> Decision {
    if state.stock == Some(StockOutcome::Reserved) && state.payment == Some(PaymentOutcome::Authorized) {
        Decision::Settle(LifecycleState { status: OrderStatus::Confirmed, ..state }, Settlement::Confirmed)
    } else {
        Decision::Record(state)
    }
}

fn cancel(state: LifecycleState, reason: CancellationReason) -> Decision {
    Decision::Settle(
        LifecycleState { status: OrderStatus::Cancelled, reason: Some(reason), ..state },
        Settlement::Cancelled(reason),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const REJECTED_OUT_OF_STOCK: Outcome = Outcome::StockRejected(StockRejectionReason::OutOfStock);
    const REJECTED_UNKNOWN_SKU: Outcome = Outcome::StockRejected(StockRejectionReason::UnknownSku);
    const DUE: Outcome = Outcome::Deadline { due: true };

    /// Runs `outcomes` in order from a placed order; returns the final state and every
    /// settlement on the way (there must be at most one).
    fn run(outcomes: &[Outcome]) -> (LifecycleState, Vec<Settlement>) {
        let mut state = LifecycleState::PLACED;
        let mut settlements = Vec::new();
        for outcome in outcomes {
            match decide(state, *outcome) {
                Decision::Record(next) => state = next,
                Decision::Settle(next, settlement) => {
                    assert!(!state.status.is_settled(), "settled twice");
                    state = next;
                    settlements.push(settlement);
                }
                Decision::Unchanged(_) | Decision::NotYetDue => {}
            }
        }
        (state, settlements)
    }

    /// Every permutation of `items`.
    fn permutations(items: &[Outcome]) -> Vec<Vec<Outcome>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut all = Vec::new();
        for index in 0..items.len() {
            let mut rest = items.to_vec();
            let first = rest.remove(index);
            for mut tail in permutations(&rest) {
                tail.insert(0, first);
                all.push(tail);
            }
        }
        all
    }

    /// The expected end of a set of outcomes arriving in `order`: the first negative wins,
    /// else confirmed when both positives came before any timeout, else a due timeout cancels.
    fn expected(order: &[Outcome]) -> Option<Settlement> {
        let (mut stock, mut payment) = (false, false);
        for outcome in order {
            match outcome {
                Outcome::StockRejected(reason) => return Some(Settlement::Cancelled((*reason).into())),
                Outcome::PaymentDeclined => return Some(Settlement::Cancelled(CancellationReason::PaymentDeclined)),
                Outcome::StockReserved => stock = true,
                Outcome::PaymentAuthorized => payment = true,
                Outcome::Deadline { due: true } => return Some(Settlement::Cancelled(CancellationReason::Timeout)),
                Outcome::Deadline { due: false } => {}
            }
            if stock && payment {
                return Some(Settlement::Confirmed);
            }
        }
        None
    }

    #[test]
    fn every_order_of_arrival_of_both_outcomes_and_the_timeout_settles_once_as_expected() {
        let stock_outcomes = [Outcome::StockReserved, REJECTED_OUT_OF_STOCK, REJECTED_UNKNOWN_SKU];
        let payment_outcomes = [Outcome::PaymentAuthorized, Outcome::PaymentDeclined];
        let mut cases = 0;
        for stock in stock_outcomes {
            for payment in payment_outcomes {
                for with_timeout in [false, true] {
                    let mut outcomes = vec![stock, payment];
                    if with_timeout {
                        outcomes.push(DUE);
                    }
                    for order in permutations(&outcomes) {
                        let (state, settlements) = run(&order);
                        let want = expected(&order);
                        assert_eq!(settlements.first().copied(), want, "{order:?}");
                        assert_eq!(settlements.len(), 1, "settled exactly once: {order:?}");
                        match want {
                            Some(Settlement::Confirmed) => assert_eq!(state.status, OrderStatus::Confirmed),
                            Some(Settlement::Cancelled(reason)) => {
                                assert_eq!((state.status, state.reason), (OrderStatus::Cancelled, Some(reason)))
                            }
                            None => unreachable!("two outcomes always settle"),
                        }
                        cases += 1;
                    }
                }
            }
        }
        // 6 pairs × (2 orders + 6 orders with the timeout).
        assert_eq!(cases, 48);
    }

    #[test]
    fn duplicates_of_each_outcome_change_nothing_and_settle_once() {
        let all = [
            Outcome::StockReserved,
            REJECTED_OUT_OF_STOCK,
            REJECTED_UNKNOWN_SKU,
            Outcome::PaymentAuthorized,
            Outcome::PaymentDeclined,
            DUE,
        ];
        for stock in [Outcome::StockReserved, REJECTED_OUT_OF_STOCK, REJECTED_UNKNOWN_SKU] {
            for payment in [Outcome::PaymentAuthorized, Outcome::PaymentDeclined] {
                for order in permutations(&[stock, payment]) {
                    // Every outcome delivered twice in a row, then everything once more.
                    let mut doubled: Vec<Outcome> = order.iter().flat_map(|o| [*o, *o]).collect();
                    let (settled, _) = run(&order);
                    doubled.extend(all);
                    let (state, settlements) = run(&doubled);
                    assert_eq!(settlements.len(), 1, "{doubled:?}");
                    assert_eq!(state, settled, "duplicates and late outcomes change nothing: {doubled:?}");
                }
            }
        }
        // A duplicate while still placed is recognised as one.
        let reserved = LifecycleState { stock: Some(StockOutcome::Reserved), ..LifecycleState::PLACED };
        assert_eq!(decide(reserved, Outcome::StockReserved), Decision::Unchanged(Unchanged::Duplicate));
        let authorized = LifecycleState { payment: Some(PaymentOutcome::Authorized), ..LifecycleState::PLACED };
        assert_eq!(decide(authorized, Outcome::PaymentAuthorized), Decision::Unchanged(Unchanged::Duplicate));
    }

    #[test]
    fn the_first_negative_outcome_wins() {
        let (state, settlements) = run(&[Outcome::PaymentDeclined, REJECTED_OUT_OF_STOCK]);
        assert_eq!(settlements, [Settlement::Cancelled(CancellationReason::PaymentDeclined)]);
        assert_eq!(state.reason, Some(CancellationReason::PaymentDeclined));
        assert_eq!(state.stock, None, "the late rejection is not recorded");
        let (state, _) = run(&[REJECTED_UNKNOWN_SKU, Outcome::PaymentDeclined]);
        assert_eq!(state.reason, Some(CancellationReason::UnknownSku));
        let (state, _) = run(&[Outcome::StockReserved, Outcome::PaymentDeclined, Outcome::PaymentAuthorized]);
        assert_eq!((state.status, state.reason), (OrderStatus::Cancelled, Some(CancellationReason::PaymentDeclined)));
    }

    #[test]
    fn one_positive_outcome_waits_for_the_other() {
        assert_eq!(
            decide(LifecycleState::PLACED, Outcome::StockReserved),
            Decision::Record(LifecycleState { stock: Some(StockOutcome::Reserved), ..LifecycleState::PLACED })
        );
        assert_eq!(
            decide(LifecycleState::PLACED, Outcome::PaymentAuthorized),
            Decision::Record(LifecycleState { payment: Some(PaymentOutcome::Authorized), ..LifecycleState::PLACED })
        );
    }

    #[test]
    fn the_timeout_cancels_only_a_placed_order_and_only_when_due() {
        assert_eq!(decide(LifecycleState::PLACED, Outcome::Deadline { due: false }), Decision::NotYetDue);
        let reserved = LifecycleState { stock: Some(StockOutcome::Reserved), ..LifecycleState::PLACED };
        assert_eq!(
            decide(reserved, DUE),
            Decision::Settle(
                LifecycleState {
                    status: OrderStatus::Cancelled,
                    reason: Some(CancellationReason::Timeout),
                    ..reserved
                },
                Settlement::Cancelled(CancellationReason::Timeout)
            )
        );
        let (confirmed, _) = run(&[Outcome::StockReserved, Outcome::PaymentAuthorized]);
        for deadline in [DUE, Outcome::Deadline { due: false }] {
            assert_eq!(
                decide(confirmed, deadline),
                Decision::Unchanged(Unchanged::AlreadySettled(OrderStatus::Confirmed)),
                "a settled order has no deadline, early or not"
            );
        }
        // Outcomes after a timeout change nothing.
        let (state, settlements) = run(&[DUE, Outcome::StockReserved, Outcome::PaymentAuthorized]);
        assert_eq!(settlements, [Settlement::Cancelled(CancellationReason::Timeout)]);
        assert_eq!((state.stock, state.payment), (None, None));
    }

    #[test]
    fn a_contradicting_outcome_leaves_the_first_standing() {
        let reserved = LifecycleState { stock: Some(StockOutcome::Reserved), ..LifecycleState::PLACED };
        assert_eq!(decide(reserved, REJECTED_OUT_OF_STOCK), Decision::Unchanged(Unchanged::Contradicts));
        let authorized = LifecycleState { payment: Some(PaymentOutcome::Authorized), ..LifecycleState::PLACED };
        assert_eq!(decide(authorized, Outcome::PaymentDeclined), Decision::Unchanged(Unchanged::Contradicts));
    }
}
