//! Time of the HTML and SVG renderers alone (no Python, no description) on a report of
//! 100,000 distinct two-object cycles: every cycle is its own group, the HTML page's worst
//! case. Best of 5 runs each.
//!
//!     cargo run --release -p refscope-core --example render_time

use refscope_core::report::groups::group_cycles;
use refscope_core::report::html::{self, HtmlOptions};
use refscope_core::report::svg::{self, SvgOptions};
use refscope_core::report::{thin_vec, CycleRecord, ObjectKind, ObjectRecord, Report};
use std::time::Instant;

fn main() {
    let n = 100_000u32;
    let mut report = Report::default();
    for i in 0..n {
        let first = report.objects.len() as u32;
        for t in ["app.Node", "app.Other"] {
            report.objects.push(ObjectRecord {
                address: 0x7f00_0000 + u64::from(first) * 64,
                type_name: t.into(),
                description: format!("{t} object"),
                kind: ObjectKind::Instance,
                size: 56,
                ..Default::default()
            });
        }
        report.cycles.push(CycleRecord {
            objects: thin_vec![first, first + 1],
            labels: thin_vec![format!(".link_{i}").into(), ".back".into()].into(),
            component_size: 2,
        });
    }
    report.analysed_count = 2 * u64::from(n);
    let groups = group_cycles(&report);
    for (name, max_groups) in [("html 1000 groups", 1000usize), ("html all groups", 0)] {
        let mut best = f64::MAX;
        let mut len = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let page = html::render(
                &report,
                &groups,
                &HtmlOptions {
                    max_groups,
                    ..Default::default()
                },
            );
            best = best.min(t.elapsed().as_secs_f64());
            len = page.len();
        }
        println!("{name}: {:.1} ms, {} bytes", best * 1e3, len);
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let _ = svg::render(&report, &groups, &SvgOptions::default());
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("svg 100 groups: {:.2} ms", best * 1e3);
}
