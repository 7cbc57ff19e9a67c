//! One module per page (or family of pages), each a function from the request context and the
//! page's data to a whole document. Pages are written in the template layer ([`crate::html`]):
//! its skeleton, table, pager and form components, maud templates that escape every value.
//! Stable `data-testid` attributes mark what the browser tests read.
//!
//! Adding a page: a module here with its function, a route in `web.rs`, a [`Nav`] entry if
//! it belongs in the menu, labels in `i18n.rs`.
//!
//! [`Nav`]: crate::html::Nav

mod alerts;
mod coverage;
mod expiring;
mod fleet_lists;
mod login;
mod offices;
mod overview;
mod pending;
mod terminal;

use maud::{Markup, html};

use crate::html::{Ctx, page};

pub use alerts::alerts;
pub use coverage::coverage;
pub use expiring::expiring;
pub use fleet_lists::{multi_office, stale};
pub use login::login;
pub use offices::{office, offices};
pub use overview::overview;
pub use pending::pending;
pub use terminal::terminal;

// The CSV writer (`csv.rs`) writes dates and statuses the way the pages do, from here.
pub use crate::display::{Date, Day, status_of};

/// A generic error page: the message is one of the fixed strings, never an internal error.
pub fn error(ctx: &Ctx, message: &str) -> Markup {
    page(ctx, message, None, &html! {})
}
