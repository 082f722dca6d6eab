//! Tables as tokenctl prints them: no borders, columns two spaces apart, one line per row,
//! no padding at line ends.

use crate::store::Status;

/// One cell: its text and, for statuses, the colour it takes when colour is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    text: String,
    color: Option<&'static str>,
}

impl Cell {
    /// A status, green, yellow or red when colour is on.
    pub fn status(status: Status) -> Cell {
        Cell {
            text: status.as_str().to_string(),
            color: Some(match status {
                Status::Active => GREEN,
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
const RED: &str = "\x1b[38;5;9m";
const RESET: &str = "\x1b[39m";
/// Space after each column.
const GAP: usize = 2;

#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.header.len());
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines of text; statuses coloured when `color` is on.
    pub fn render(&self, color: bool) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| width(&r[i].text))
                    .chain([width(&self.header[i])])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let header: Vec<Cell> = self.header.iter().map(Cell::from).collect();
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (cell, w) in row.iter().zip(&widths) {
                let padded = format!("{}{}", cell.text, " ".repeat(w - width(&cell.text) + GAP));
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
}

/// Columns a text takes on a terminal.
fn width(text: &str) -> usize {
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
        insta::assert_snapshot!(t.render(false), @r"
    ID  NAME       STATUS
    a1  Zoë's app  active
    b2  x          revoked
    ");
        assert!(t.render(true).contains("\x1b[38;5;9mrevoked  \x1b[39m\n"));
    }
}
