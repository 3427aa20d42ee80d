//! The confirmation email: a plain-text and an HTML part, from the event alone. Amounts are
//! shown by `Money`'s `Display` (`EUR 39.98`, `JPY 3998`, `KWD 1.250`).

use std::fmt::Write;

use orderflow_events::{Money, OrderPlacedEvent};

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

/// Renders the order confirmation for the event's customer.
pub fn render(event: &OrderPlacedEvent) -> Email {
    let order = event.data();
    let currency = order.currency();
    let greeting_name = order.customer().name.as_deref().map(str::trim).filter(|name| !name.is_empty());
    let order_id = order.order_id();
    let money = |amount: u64| Money::new(amount, currency).to_string();
    let total = order.total().to_string();

    // `write!` into a String cannot fail; the results are ignored for that reason.
    let mut text = String::new();
    let _ = writeln!(text, "Hello {},", greeting_name.unwrap_or("there"));
    let _ = writeln!(text);
    let _ = writeln!(text, "thank you for your order {order_id}.");
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
         <p>Hello {},</p><p>thank you for your order <strong>{order_id}</strong>.</p>\
         <table><thead><tr><th>Item</th><th>Quantity</th><th>Unit price</th><th>Amount</th></tr></thead><tbody>",
        html_escape(greeting_name.unwrap_or("there")),
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

#[cfg(test)]
mod tests {
    use orderflow_consumer::testing::order_placed;

    use super::*;

    #[test]
    fn shows_money_with_each_currencys_exponent() {
        for (amount, currency, shown) in [
            (3998, "EUR", "EUR 39.98"),
            (5, "USD", "USD 0.05"),
            (3998, "JPY", "JPY 3998"),
            (1250, "KWD", "KWD 1.250"),
            (0, "GBP", "GBP 0.00"),
        ] {
            let email = render(&order_placed(&[("BOOK-0001", 1, amount)], currency));
            assert!(email.text.contains(&format!("@ {shown} = {shown}")), "{}", email.text);
            assert!(email.text.contains(&format!("Total: {shown}")), "{}", email.text);
            assert!(email.html.contains(&format!("<p>Total: <strong>{shown}</strong></p>")), "{}", email.html);
        }
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            html_escape(r#"<b>"Tom" & 'Jerry'</b>"#),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }
}
