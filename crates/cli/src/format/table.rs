//! Go's `text/tabwriter` as docker configures it (`minwidth 10, tabwidth 1, padding 3`, spaces):
//! tab-separated cells become left-aligned columns; the last cell of a line is not padded.

/// Aligns `text`: every line is split at tabs; each column is as wide as its widest cell plus
/// `padding`, and at least `min_width`.
pub fn tabwrite(text: &str, min_width: usize, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text
        .split_inclusive('\n')
        .map(|l| l.split('\t').collect())
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        // Only tab-terminated cells belong to a column.
        for (i, c) in cells.iter().take(cells.len().saturating_sub(1)).enumerate() {
            let w = (c.chars().count() + padding).max(min_width);
            if widths.len() <= i {
                widths.push(w);
            } else if widths[i] < w {
                widths[i] = w;
            }
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    for cells in &lines {
        let last = cells.len() - 1;
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i < last {
                let pad = widths[i].saturating_sub(c.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
    }
    out
}

/// Docker's table settings.
pub fn docker_tabwrite(text: &str) -> String {
    tabwrite(text, 10, 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_docker_ps() {
        let t = "CONTAINER ID\tIMAGE\tNAMES\n0123456789ab\tbusybox\tweb\n";
        assert_eq!(
            docker_tabwrite(t),
            "CONTAINER ID   IMAGE     NAMES\n0123456789ab   busybox   web\n"
        );
    }

    #[test]
    fn min_width_applies_and_last_cell_unpadded() {
        assert_eq!(docker_tabwrite("a\tb\n"), "a         b\n");
        assert_eq!(docker_tabwrite("only\n"), "only\n");
    }
}
