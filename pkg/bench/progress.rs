//! Progress bars for the long set-up steps (registering and connecting thousands of users), on
//! stderr, so that the table on stdout stays clean. Drawn only when stderr is a terminal.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `total` steps of `what`.
pub fn bar(what: &str, total: usize) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) =
        ProgressStyle::with_template("bench: {msg:<18} [{bar:30}] {pos}/{len} {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}
