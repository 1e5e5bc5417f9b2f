//! The engine comparison as a table (stdout), JSON (`--json`) and a grouped bar chart (`--plot`, hand-written SVG),
//! each saying which flavour of the guest ran.

use crate::guest::{Guest, Op};
use crate::runner::{OpFailure, OpResult};
use std::fmt::Write;

/// One engine's column.
pub struct Column {
    /// Engine name (`interp`, `bt`, `kvm`, `qemu`).
    pub engine: String,
    /// Header label (says when kvm is paravirtual, and QEMU's version).
    pub label: String,
    /// Figures per operation.
    pub results: Vec<OpResult>,
    /// Operations the engine could not run.
    pub failures: Vec<OpFailure>,
}

impl Column {
    fn ns(&self, op: &str) -> Option<f64> {
        self.results
            .iter()
            .find(|r| r.name == op)
            .map(|r| r.ns_per_op)
    }
}

/// The operations of `guest` that some column ran (a result or a refusal), in the guest's order.
fn ops_run(guest: Guest, columns: &[Column]) -> Vec<Op> {
    let ran = |name: &str| {
        columns.iter().any(|c| {
            c.results.iter().any(|r| r.name == name) || c.failures.iter().any(|f| f.name == name)
        })
    };
    guest
        .ops()
        .iter()
        .copied()
        .filter(|op| ran(op.name))
        .collect()
}

fn fastest(columns: &[Column], op: &str) -> Option<f64> {
    columns
        .iter()
        .filter_map(|c| c.ns(op))
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))))
}

/// The table: ns per operation for each engine, with the ratio to the fastest engine on that row, under a line
/// naming the guest.
pub fn table(guest: Guest, columns: &[Column]) -> String {
    let width = columns
        .iter()
        .map(|c| c.label.len())
        .max()
        .unwrap_or(0)
        .max(22);
    let mut out = format!(
        "nanobenchmark: {guest}, ns per operation\n{:<12}",
        "operation"
    );
    for c in columns {
        let _ = write!(out, " | {:>width$}", c.label);
    }
    out.push('\n');
    out.push_str(&"-".repeat(12 + columns.len() * (width + 3)));
    out.push('\n');
    for op in ops_run(guest, columns) {
        let _ = write!(out, "{:<12}", op.name);
        let best = fastest(columns, op.name);
        for c in columns {
            let cell = match (c.ns(op.name), best) {
                (Some(ns), Some(b)) => format!("{ns:.1} ns (x{:.1})", ns / b),
                _ => "refused".to_string(),
            };
            let _ = write!(out, " | {cell:>width$}");
        }
        out.push('\n');
    }
    for c in columns {
        for f in &c.failures {
            let _ = writeln!(out, "{}: {} refused: {}", c.engine, f.name, f.why);
        }
    }
    out
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The same figures as JSON: `{"unit", "guest", "guest_bits", "engines": [{"engine", "label", "ops": [...],
/// "refused": [...]}]}`.
pub fn json(guest: Guest, columns: &[Column]) -> String {
    let mut o = format!(
        "{{\n  \"unit\": \"ns per operation\",\n  \"guest\": {},\n  \"guest_bits\": {},\n  \"engines\": [\n",
        json_str(&guest.to_string()),
        guest.bits()
    );
    for (i, c) in columns.iter().enumerate() {
        let _ = write!(
            o,
            "    {{\"engine\": {}, \"label\": {}, \"ops\": [",
            json_str(&c.engine),
            json_str(&c.label)
        );
        for (j, r) in c.results.iter().enumerate() {
            let ratio = fastest(columns, r.name).map_or(1.0, |b| r.ns_per_op / b);
            let _ = write!(
                o,
                "{}\n      {{\"name\": {}, \"ns_per_op\": {:.3}, \"ratio_to_fastest\": {:.3}, \"iterations\": {}, \
                 \"guest_tsc_ticks\": {}, \"wall_ns\": {}}}",
                if j > 0 { "," } else { "" },
                json_str(r.name),
                r.ns_per_op,
                ratio,
                r.iterations,
                r.ticks,
                r.wall_ns
            );
        }
        o.push_str("\n    ], \"refused\": [");
        for (j, f) in c.failures.iter().enumerate() {
            let _ = write!(
                o,
                "{}{{\"name\": {}, \"why\": {}}}",
                if j > 0 { ", " } else { "" },
                json_str(f.name),
                json_str(&f.why)
            );
        }
        o.push_str("]}");
        o.push_str(if i + 1 < columns.len() { ",\n" } else { "\n" });
    }
    o.push_str("  ]\n}\n");
    o
}

/// A grouped bar chart: one group per operation, one bar per engine, on a log scale (the engines differ by orders
/// of magnitude), titled with the guest.
pub fn svg(guest: Guest, columns: &[Column]) -> String {
    let ops = ops_run(guest, columns);
    const COLORS: [&str; 4] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"];
    let (left, top, plot_h, group_w) = (70.0, 40.0, 300.0, 80.0);
    let width = left + group_w * ops.len() as f64 + 20.0;
    let height = top + plot_h + 110.0;
    let values: Vec<f64> = columns
        .iter()
        .flat_map(|c| c.results.iter().map(|r| r.ns_per_op))
        .filter(|v| *v > 0.0)
        .collect();
    let lo = values
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min)
        .max(1e-3)
        .log10()
        .floor();
    let hi = values
        .iter()
        .cloned()
        .fold(1.0, f64::max)
        .log10()
        .ceil()
        .max(lo + 1.0);
    let y = |v: f64| top + plot_h * (1.0 - (v.max(1e-3).log10() - lo) / (hi - lo));
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" \
         font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{left}\" y=\"20\" \
         font-size=\"14\">vx86 engines, {guest}: ns per operation (log scale, lower is faster)</text>\n"
    );
    let mut decade = lo;
    while decade <= hi {
        let v = 10f64.powf(decade);
        let yy = y(v);
        let _ = writeln!(
            o,
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" \
             y=\"{:.1}\" text-anchor=\"end\">{v} ns</text>",
            width - 20.0,
            left - 5.0,
            yy + 4.0
        );
        decade += 1.0;
    }
    let bar_w = (group_w - 16.0) / columns.len().max(1) as f64;
    for (g, op) in ops.iter().enumerate() {
        let x0 = left + group_w * g as f64 + 8.0;
        for (c, col) in columns.iter().enumerate() {
            if let Some(ns) = col.ns(op.name) {
                let yy = y(ns);
                let _ = writeln!(
                    o,
                    "<rect x=\"{:.1}\" y=\"{yy:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} {}: \
                     {ns:.1} ns</title></rect>",
                    x0 + bar_w * c as f64,
                    bar_w - 2.0,
                    top + plot_h - yy,
                    COLORS[c % COLORS.len()],
                    col.engine,
                    op.name
                );
            }
        }
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" transform=\"rotate(-35 {:.1} {:.1})\">{}</text>",
            x0 + group_w / 2.0,
            top + plot_h + 15.0,
            x0 + group_w / 2.0,
            top + plot_h + 15.0,
            op.name
        );
    }
    for (c, col) in columns.iter().enumerate() {
        let ly = top + plot_h + 70.0 + 16.0 * c as f64;
        let _ = writeln!(
            o,
            "<rect x=\"{left}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}\
             </text>",
            ly - 10.0,
            COLORS[c % COLORS.len()],
            left + 18.0,
            ly,
            col.label
        );
    }
    o.push_str("</svg>\n");
    o
}
