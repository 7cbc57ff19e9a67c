//! `/login`: the login form, with the page to return to and, after a failed attempt, the
//! error.

use maud::{Markup, html};

use crate::html::{Ctx, page, post_form};

/// `next` is the (already checked, local) path to go to after logging in; `error` a fixed
/// message; `no_users` says that nobody can log in because no user is configured.
pub fn login(ctx: &Ctx, next: &str, error: Option<&str>, no_users: bool) -> Markup {
    let tr = ctx.tr();
    let content = html! {
        @if let Some(e) = error {
            p class="error" role="alert" data-testid="login-error" { (e) }
        }
        @if no_users {
            p class="note" { (tr.login_no_users) }
        }
        (post_form(ctx, "login", "/login", &html! {
            input type="hidden" name="next" value=(next);
            label {
                (tr.username) " "
                input type="text" name="username" autocomplete="username" required maxlength="256";
            }
            label {
                (tr.password) " "
                input type="password" name="password" autocomplete="current-password" required
                    maxlength="1024";
            }
            button type="submit" data-testid="login-submit" { (tr.login) }
        }))
    };
    page(ctx, tr.login, None, &content)
}
