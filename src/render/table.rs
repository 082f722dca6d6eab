//! Tables as tokenctl prints them: no borders, columns two spaces apart, one line per row,
//! no padding at line ends.
//!
//! On a terminal narrower than the table, the columns that may give way do, and nothing
//! is ever split across lines: a text column is cut with `…`, a list column (scopes,
//! flags) keeps whole items and says how many it left out (`cases:read +2`). The full
//! values are in `--json` and `show`.

use crate::store::Status;

/// One cell: its text and, for statuses, the colour it takes when colour is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    text: String,
    color: Option<&'static str>,
}

impl Cell {
    /// A status, green (active), cyan (rotating), magenta (suspended), yellow or red when
    /// colour is on.
    pub fn status(status: Status) -> Cell {
        Cell {
            text: status.as_str().to_string(),
            color: Some(match status {
                Status::Active => GREEN,
                Status::Rotating => CYAN,
                Status::Suspended => MAGENTA,
                Status::Expired => YELLOW,
                Status::Revoked => RED,
            }),
        }
    }
}

impl<T: ToString> From<T> for Cell {
    fn from(value: T) -> Cell {
        Cell {
            text: value.to_string(),
            color: None,
        }
    }
}

// The 256-colour codes that terminals show as bright green, yellow and red.
const GREEN: &str = "\x1b[38;5;10m";
const YELLOW: &str = "\x1b[38;5;11m";
const CYAN: &str = "\x1b[38;5;14m";
const MAGENTA: &str = "\x1b[38;5;13m";
const RED: &str = "\x1b[38;5;9m";
const RESET: &str = "\x1b[39m";
/// Space after each column.
const GAP: usize = 2;

/// How a column gives way when the table is too wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Never narrower than its widest cell (ids, times, counts, statuses).
    Keep,
    /// Cut with `…`, down to a few characters.
    Cut,
    /// Space-separated items: whole items, then `+N` for the ones left out.
    Items,
}

/// The narrowest a cut column gets.
const CUT_MIN: usize = 6;

#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    fits: Vec<Fit>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            fits: vec![Fit::Keep; header.len()],
            rows: Vec::new(),
        }
    }

    /// Lets column `column` give way as `fit` says when the table is too wide.
    pub fn fit(mut self, column: usize, fit: Fit) -> Table {
        self.fits[column] = fit;
        self
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.header.len());
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines of text, at most `width` columns wide where the columns that
    /// may give way allow it; statuses coloured when `color` is on.
    pub fn render(&self, color: bool, width: Option<usize>) -> String {
        let widths = self.widths(width);
        let header: Vec<Cell> = self.header.iter().map(Cell::from).collect();
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for ((cell, &w), fit) in row.iter().zip(&widths).zip(&self.fits) {
                let text = fitted(&cell.text, w, *fit);
                let padded = format!("{text}{}", " ".repeat(w - display_width(&text) + GAP));
                match cell.color.filter(|_| color) {
                    Some(c) => line.push_str(&format!("{c}{padded}{RESET}")),
                    None => line.push_str(&padded),
                }
            }
            out.push_str(line.trim_end_matches(' '));
            out.push('\n');
        }
        out
    }

    /// Each column's width: its widest cell, then narrower, widest first, while the line
    /// is longer than `width` and a column may give way.
    fn widths(&self, width: Option<usize>) -> Vec<usize> {
        let cells = |i: usize| self.rows.iter().map(move |r| r[i].text.as_str());
        let mut widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                cells(i)
                    .map(display_width)
                    .chain([display_width(&self.header[i])])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let Some(width) = width else {
            return widths;
        };
        let mins: Vec<usize> = (0..widths.len())
            .map(|i| {
                let header = display_width(&self.header[i]);
                let least = match self.fits[i] {
                    Fit::Keep => widths[i],
                    Fit::Cut => CUT_MIN,
                    Fit::Items => cells(i)
                        .map(|c| display_width(&fitted(c, 0, Fit::Items)))
                        .max()
                        .unwrap_or(0),
                };
                least.max(header).min(widths[i])
            })
            .collect();
        let line = |w: &[usize]| w.iter().sum::<usize>() + GAP * (w.len().saturating_sub(1));
        while line(&widths) > width {
            let Some(i) = (0..widths.len())
                .filter(|&i| widths[i] > mins[i])
                .max_by_key(|&i| (widths[i], std::cmp::Reverse(i)))
            else {
                break;
            };
            widths[i] -= 1;
        }
        widths
    }
}

/// `text` in at most `width` columns, as `fit` allows (a `Keep` column is never narrower
/// than its text; an `Items` cell keeps at least its first item).
fn fitted(text: &str, width: usize, fit: Fit) -> String {
    if display_width(text) <= width {
        return text.to_string();
    }
    match fit {
        Fit::Keep => text.to_string(),
        Fit::Cut => {
            let mut out = String::new();
            let mut used = 0;
            for c in text.chars() {
                let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                if used + w + 1 > width {
                    break;
                }
                out.push(c);
                used += w;
            }
            out.push('…');
            out
        }
        Fit::Items => {
            let items: Vec<&str> = text.split(' ').collect();
            let mut kept = 1;
            while kept < items.len() {
                let candidate = with_rest(&items, kept + 1);
                if display_width(&candidate) > width {
                    break;
                }
                kept += 1;
            }
            with_rest(&items, kept)
        }
    }
}

/// The first `kept` items, then `+N` for the others.
fn with_rest(items: &[&str], kept: usize) -> String {
    let mut out = items[..kept].join(" ");
    if kept < items.len() {
        out.push_str(&format!(" +{}", items.len() - kept));
    }
    out
}

/// Columns a text takes on a terminal.
fn display_width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_two_spaces_apart_and_no_trailing_space() {
        let mut t = Table::new(&["ID", "NAME", "STATUS"]);
        t.row(vec![
            "a1".into(),
            "Zoë's app".into(),
            Cell::status(Status::Active),
        ]);
        t.row(vec!["b2".into(), "x".into(), Cell::status(Status::Revoked)]);
        insta::assert_snapshot!(t.render(false, None), @r"
    ID  NAME       STATUS
    a1  Zoë's app  active
    b2  x          revoked
    ");
        assert!(
            t.render(true, None)
                .contains("\x1b[38;5;9mrevoked  \x1b[39m\n")
        );
    }

    #[test]
    fn narrow_terminals_cut_names_and_keep_whole_items() {
        let mut t = Table::new(&["ID", "NAME", "SCOPES", "STATUS"])
            .fit(1, Fit::Cut)
            .fit(2, Fit::Items);
        t.row(vec![
            "k3j9x0a1".into(),
            "Nightly import of the case files from the old system".into(),
            "cases:write documents:read invoices:read".into(),
            Cell::status(Status::Active),
        ]);
        t.row(vec![
            "p0a8s2kd".into(),
            "Zoë".into(),
            "contacts:write".into(),
            Cell::status(Status::Expired),
        ]);
        let at_42 = t.render(false, Some(42));
        insta::assert_snapshot!(at_42, @r"
        ID        NAME     SCOPES          STATUS
        k3j9x0a1  Nightl…  cases:write +2  active
        p0a8s2kd  Zoë      contacts:write  expired
        ");
        assert!(at_42.lines().all(|l| display_width(l) <= 42), "{at_42}");
        // Wide enough: nothing changes.
        assert_eq!(t.render(false, Some(200)), t.render(false, None));
        // Too narrow for what may not give way: the ids, statuses and whole first items
        // stay, and the line is as short as they allow.
        let at_10 = t.render(false, Some(10));
        assert!(
            at_10.contains("k3j9x0a1") && at_10.contains("cases:write +2"),
            "{at_10}"
        );
    }
}
