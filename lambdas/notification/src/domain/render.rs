//! The two emails an order can get, a plain-text and an HTML part each, from the event alone:
//! the confirmation (items and total) and the cancellation (the reason in plain words). Amounts
//! are shown by `Money`'s `Display` (`EUR 39.98`, `JPY 3998`, `KWD 1.250`).

use std::fmt::Write;

use orderflow_events::{CancellationReason, Customer, Money, OrderCancelledEvent, OrderConfirmedEvent};

/// An email ready to send (the sender is the adapter's business).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Why the order was cancelled, as the customer reads it: the event's codes (`OUT_OF_STOCK`...)
/// are for machines and never reach an email. No `_` arm: a new reason must be worded here
/// before the crate compiles.
pub fn reason_in_words(reason: CancellationReason) -> &'static str {
    match reason {
        CancellationReason::OutOfStock => "one of the items is out of stock",
        CancellationReason::UnknownSku => "an item is not sold any more",
        CancellationReason::PaymentDeclined => "the payment was declined",
        CancellationReason::Timeout => "we could not confirm it in time",
    }
}

/// The name to greet, or "there" when the customer gave none.
fn greeting_name(customer: &Customer) -> &str {
    customer.name.as_deref().map(str::trim).filter(|name| !name.is_empty()).unwrap_or("there")
}

/// Renders the order confirmation for the event's customer.
pub fn render_confirmation(event: &OrderConfirmedEvent) -> Email {
    let order = event.data();
    let currency = order.total().currency;
    let name = greeting_name(order.customer());
    let order_id = order.order_id();
    let money = |amount: u64| Money::new(amount, currency).to_string();
    let total = order.total().to_string();

    // `write!` into a String cannot fail; the results are ignored for that reason.
    let mut text = String::new();
    let _ = writeln!(text, "Hello {name},");
    let _ = writeln!(text);
    let _ = writeln!(text, "thank you for your order {order_id}: it is confirmed.");
    let _ = writeln!(text);
    for item in order.items() {
        let line = item.unit_price.amount.saturating_mul(u64::from(item.quantity));
        let _ =
            writeln!(text, "  {} x {} @ {} = {}", item.quantity, item.sku, money(item.unit_price.amount), money(line));
    }
    let _ = writeln!(text);
    let _ = writeln!(text, "Total: {total}");

    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Order confirmation</title></head><body>\
         <p>Hello {},</p><p>thank you for your order <strong>{order_id}</strong>: it is confirmed.</p>\
         <table><thead><tr><th>Item</th><th>Quantity</th><th>Unit price</th><th>Amount</th></tr></thead><tbody>",
        html_escape(name),
    );
    for item in order.items() {
        let line = item.unit_price.amount.saturating_mul(u64::from(item.quantity));
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(&item.sku),
            item.quantity,
            money(item.unit_price.amount),
            money(line)
        );
    }
    let _ = write!(html, "</tbody></table><p>Total: <strong>{total}</strong></p></body></html>");

    Email { to: order.customer().email.clone(), subject: format!("Your order {order_id} is confirmed"), text, html }
}

/// Renders the cancellation notice for the event's customer, the reason in plain words.
pub fn render_cancellation(event: &OrderCancelledEvent) -> Email {
    let order = event.data();
    let name = greeting_name(order.customer());
    let order_id = order.order_id();
    let reason = reason_in_words(order.reason());
    let total = order.total().to_string();

    let mut text = String::new();
    let _ = writeln!(text, "Hello {name},");
    let _ = writeln!(text);
    let _ = writeln!(text, "we are sorry: your order {order_id} has been cancelled because {reason}.");
    let _ = writeln!(text, "You will not be charged for it (order total: {total}).");

    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Order cancelled</title></head><body>\
         <p>Hello {},</p><p>we are sorry: your order <strong>{order_id}</strong> has been cancelled because \
         {}.</p><p>You will not be charged for it (order total: <strong>{total}</strong>).</p></body></html>",
        html_escape(name),
        html_escape(reason),
    );

    Email { to: order.customer().email.clone(), subject: format!("Your order {order_id} is cancelled"), text, html }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use orderflow_consumer::testing::order_placed;
    use orderflow_events::{ORDER_SERVICE_SOURCE, OrderCancelledV1, OrderConfirmedV1};
    use uuid::Uuid;

    use super::*;

    fn confirmed(items: &[(&str, u32, u64)], currency: &str) -> OrderConfirmedEvent {
        let placed = order_placed(items, currency);
        OrderConfirmedEvent::new(
            Uuid::now_v7(),
            ORDER_SERVICE_SOURCE,
            Utc::now(),
            OrderConfirmedV1::for_order(placed.data()),
        )
    }

    fn cancelled(reason: CancellationReason) -> OrderCancelledEvent {
        let placed = order_placed(&[("BOOK-0001", 2, 1999)], "EUR");
        let order = placed.data();
        let data = OrderCancelledV1::new(order.order_id(), reason, order.customer().clone(), order.total()).unwrap();
        OrderCancelledEvent::new(Uuid::now_v7(), ORDER_SERVICE_SOURCE, Utc::now(), data)
    }

    #[test]
    fn shows_money_with_each_currencys_exponent() {
        for (amount, currency, shown) in [
            (3998, "EUR", "EUR 39.98"),
            (5, "USD", "USD 0.05"),
            (3998, "JPY", "JPY 3998"),
            (1250, "KWD", "KWD 1.250"),
            (0, "GBP", "GBP 0.00"),
        ] {
            let email = render_confirmation(&confirmed(&[("BOOK-0001", 1, amount)], currency));
            assert!(email.text.contains(&format!("@ {shown} = {shown}")), "{}", email.text);
            assert!(email.text.contains(&format!("Total: {shown}")), "{}", email.text);
            assert!(email.html.contains(&format!("<p>Total: <strong>{shown}</strong></p>")), "{}", email.html);
        }
    }

    #[test]
    fn a_cancellation_gives_the_reason_in_words_never_the_code() {
        for reason in CancellationReason::ALL {
            let event = cancelled(reason);
            let email = render_cancellation(&event);
            let order_id = event.data().order_id().to_string();
            assert_eq!(email.to, "ada@example.com");
            assert!(email.subject.contains(&order_id) && email.subject.contains("cancelled"), "{}", email.subject);
            for part in [&email.text, &email.html] {
                assert!(part.contains(&order_id), "{part}");
                assert!(part.contains(reason_in_words(reason)), "{part}");
                assert!(part.contains("EUR 39.98"), "total: {part}");
                assert!(!part.contains(reason.as_str()), "the code {reason} leaked: {part}");
                assert!(!part.contains('_'), "no code-like text: {part}");
            }
        }
    }

    #[test]
    fn each_reason_has_its_own_words() {
        let words: std::collections::HashSet<_> = CancellationReason::ALL.into_iter().map(reason_in_words).collect();
        assert_eq!(words.len(), CancellationReason::ALL.len());
        assert_eq!(reason_in_words(CancellationReason::OutOfStock), "one of the items is out of stock");
        assert_eq!(reason_in_words(CancellationReason::UnknownSku), "an item is not sold any more");
        assert_eq!(reason_in_words(CancellationReason::PaymentDeclined), "the payment was declined");
        assert_eq!(reason_in_words(CancellationReason::Timeout), "we could not confirm it in time");
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            html_escape(r#"<b>"Tom" & 'Jerry'</b>"#),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }
}
