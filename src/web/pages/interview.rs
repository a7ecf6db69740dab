//! The interview's pages: the list of unfinished interviews, one group of questions, the
//! roster, removing a member, the review. Markup only, from values the routes pass in.

use maud::{html, Markup};

/// The front page before the engine is wired: a placeholder.
pub fn home() -> Markup {
    super::plain("Interviews", html! { h1 { "Interviews" } })
}
