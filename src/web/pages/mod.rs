//! The pages of `hearth serve`, as compile-time maud templates: the shell every page shares,
//! pairing, refusals, and (in their own files) the interview's pages.
//!
//! Owns markup only: the routes decide what to show and pass plain values in. Every page is a
//! form that works without scripts; the embedded script only saves answers sooner. Text the
//! user or the definition wrote is escaped by maud.

pub mod interview;

use maud::{html, Markup, DOCTYPE};

/// The page shell: language and direction, the style sheet and script, a skip link, the title.
pub fn shell(title: &str, lang: &str, dir: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang) dir=(dir) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hearth" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// A page in English (pairing and refusals come before any definition's language).
pub fn plain(title: &str, body: Markup) -> Markup {
    shell(title, "en", "ltr", body)
}

/// The pairing page: the code form, with a message after a wrong code.
pub fn pair(token: &str, message: Option<&str>) -> Markup {
    plain(
        "Pair this device",
        html! {
            h1 { "Pair this device" }
            p { "Type the six-digit code shown on the laptop running " code { "hearth serve" } "." }
            @if let Some(m) = message {
                div.error-summary role="alert" tabindex="-1" {
                    h2 { "This device is not paired yet" }
                    p { a href="#code" { (m) } }
                }
            }
            form method="post" action={ "/pair/" (token) } {
                div.field {
                    label for="code" { "Code" }
                    input #code name="code" type="text" inputmode="numeric" autocomplete="one-time-code"
                        pattern="[0-9]{6}" maxlength="6" required autofocus
                        aria-describedby=[message.map(|_| "code-error")];
                    @if let Some(m) = message { p #code-error .error-message { (m) } }
                }
                button type="submit" { "Pair" }
            }
        },
    )
}

/// A page that only says something (a refused request, a dead link, a message).
pub fn notice(title: &str, message: &str, link: Option<(&str, &str)>) -> Markup {
    plain(
        title,
        html! {
            h1 { (title) }
            p { (message) }
            @if let Some((href, text)) = link { p { a href=(href) { (text) } } }
        },
    )
}

/// What an unpaired device sees on any page but pairing.
pub fn not_paired() -> Markup {
    notice(
        "This device is not paired",
        "Open the pairing link shown on the laptop running hearth serve, then type its code. \
         (A device that was paired before the server restarted, or that the laptop revoked, pairs again.)",
        None,
    )
}
