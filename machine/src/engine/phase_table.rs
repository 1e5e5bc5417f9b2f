//! `-d stats` by boot phase: a table with a column per phase reached ([`vx86_cpu::phase`]) and one for the whole
//! run, whose first rows are each phase's instructions, host time and guest MIPS, followed by the engine's own
//! counts per phase.

use std::time::Instant;
use vx86_cpu::phase::PhaseSpan;
use vx86_cpu::Cpu;

/// The phases `cpu` went through up to now, `instructions` having retired.
pub fn spans(cpu: &Cpu, instructions: u64) -> Vec<PhaseSpan> {
    cpu.phases.spans(instructions, Instant::now())
}

/// A row of engine counts: one per phase, and the whole run's.
#[derive(Clone, Debug)]
pub struct Row {
    /// What is counted.
    pub name: String,
    /// Per phase.
    pub cells: Vec<u64>,
    /// The whole run.
    pub total: u64,
}

impl Row {
    /// A row of counts whose total is their sum.
    pub fn summed(name: impl Into<String>, cells: Vec<u64>) -> Row {
        let total = cells.iter().sum();
        Row {
            name: name.into(),
            cells,
            total,
        }
    }
}

/// The table: `title`, then the standard rows for `spans`, then `rows`.
pub fn render(title: &str, spans: &[PhaseSpan], rows: &[Row]) -> String {
    let mut header = vec![String::new()];
    header.extend(spans.iter().map(|s| s.phase.name().to_string()));
    header.push("total".to_string());
    let total_instructions: u64 = spans.iter().map(|s| s.instructions).sum();
    let total_secs: f64 = spans.iter().map(|s| s.time.as_secs_f64()).sum();
    let mips = |n: u64, secs: f64| {
        if secs > 0.0 {
            format!("{:.0}", n as f64 / secs / 1e6)
        } else {
            "-".to_string()
        }
    };
    let mut table: Vec<Vec<String>> = vec![header];
    let mut standard = |name: &str, cells: Vec<String>, total: String| {
        let mut row = vec![name.to_string()];
        row.extend(cells);
        row.push(total);
        table.push(row);
    };
    standard(
        "instructions",
        spans.iter().map(|s| s.instructions.to_string()).collect(),
        total_instructions.to_string(),
    );
    standard(
        "seconds",
        spans
            .iter()
            .map(|s| format!("{:.3}", s.time.as_secs_f64()))
            .collect(),
        format!("{total_secs:.3}"),
    );
    standard(
        "guest MIPS",
        spans
            .iter()
            .map(|s| mips(s.instructions, s.time.as_secs_f64()))
            .collect(),
        mips(total_instructions, total_secs),
    );
    for row in rows {
        let mut cells = vec![row.name.clone()];
        cells.extend(row.cells.iter().map(u64::to_string));
        cells.push(row.total.to_string());
        table.push(cells);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| table.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = vec![title.to_string()];
    for row in table {
        let mut line = format!("  {:<w$}", row[0], w = widths[0]);
        for (cell, w) in row.iter().zip(&widths).skip(1) {
            line.push_str(&format!("  {cell:>w$}"));
        }
        out.push(line);
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use vx86_cpu::phase::Phase;

    #[test]
    fn a_row_gets_a_column_per_phase_and_its_total() {
        let spans = [
            PhaseSpan {
                phase: Phase::Decompressor,
                instructions: 3_000_000,
                time: Duration::from_secs(1),
            },
            PhaseSpan {
                phase: Phase::KernelInit,
                instructions: 1_000_000,
                time: Duration::from_secs(1),
            },
        ];
        let text = render("t:", &spans, &[Row::summed("blocks", vec![5, 7])]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "t:");
        assert!(lines[1].contains("decompressor") && lines[1].contains("kernel init"));
        let words = |k: usize| lines[k].split_whitespace().collect::<Vec<_>>();
        assert_eq!(words(2), ["instructions", "3000000", "1000000", "4000000"]);
        assert_eq!(words(4), ["guest", "MIPS", "3", "1", "2"]);
        assert_eq!(words(5), ["blocks", "5", "7", "12"]);
    }
}
