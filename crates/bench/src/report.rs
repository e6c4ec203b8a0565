//! One measured point as a JSON object, its readable one-line summary, and
//! the markdown tables of `bench/RESULTS.md` (median of repeated runs).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use crate::run::PointResult;

/// Above this share of one core, the generator may be what limits a run.
pub const GENERATOR_CPU_LIMIT: f64 = 0.70;

/// A point's fields, in insertion order of first set.
pub struct Point(Map<String, Value>);

impl Point {
    pub fn new(label: &str, target: &str, scenario: &str) -> Point {
        let mut m = Map::new();
        m.insert("label".into(), json!(label));
        m.insert("target".into(), json!(target));
        m.insert("scenario".into(), json!(scenario));
        Point(m)
    }

    pub fn set(&mut self, key: &str, value: Value) {
        self.0.insert(key.into(), value);
    }

    pub fn num(&self, key: &str) -> f64 {
        self.0.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
    }

    pub fn json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    /// p50 ... max of a microsecond histogram, in ms.
    pub fn latency(&mut self, h: &Histogram<u64>) {
        let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
        if h.is_empty() {
            return;
        }
        for (key, q) in [
            ("p50_ms", 0.5),
            ("p90_ms", 0.9),
            ("p99_ms", 0.99),
            ("p999_ms", 0.999),
        ] {
            self.set(key, json!(ms(h.value_at_quantile(q))));
        }
        self.set("max_ms", json!(ms(h.max())));
    }

    pub fn load(&mut self, r: &PointResult) {
        let unique = r.recv.unique;
        let secs = r.elapsed.as_secs_f64().max(1e-9);
        self.set("sent", json!(r.send.sent));
        self.set(
            "send_rate",
            json!(r.send.sent as f64 / r.send_window.as_secs_f64().max(1e-9)),
        );
        self.set(
            "send_lag_max_ms",
            json!(r.send.lag_us.max() as f64 / 1000.0),
        );
        self.set(
            "send_lag_p99_ms",
            json!(r.send.lag_us.value_at_quantile(0.99) as f64 / 1000.0),
        );
        self.set("expected", json!(r.expected));
        self.set("deliveries", json!(unique));
        self.set(
            "delivery_ratio",
            json!(if r.expected == 0 {
                1.0
            } else {
                unique as f64 / r.expected as f64
            }),
        );
        self.set("lost", json!(r.expected.saturating_sub(unique)));
        self.set("duplicates", json!(r.recv.duplicates));
        self.set("lagged_events", json!(r.recv.lagged));
        self.set("errors", json!(r.recv.errors));
        self.set("deliveries_per_s", json!(unique as f64 / secs));
        self.latency(&r.recv.latency_histogram());
    }

    /// Server and generator CPU as a share of one core.
    pub fn cpu(&mut self, server: Option<f64>, generator: Option<f64>) {
        self.set("server_cpu", json!(server));
        if let Some(g) = generator {
            self.set("generator_cpu", json!(g));
            self.set("generator_overloaded", json!(g > GENERATOR_CPU_LIMIT));
        }
    }

    /// The readable summary.
    pub fn line(&self) -> String {
        let mut out = format!(
            "{:<14} {:<10} {:<11}",
            self.str("scenario"),
            self.str("label"),
            self.str("target")
        );
        let fields = [
            ("clients", "clients", 0),
            ("nodes", "nodes", 0),
            ("samples", "n", 0),
            ("size", "B", 0),
            ("rate_target", "msg/s", 0),
            ("concurrency", "conc", 0),
            ("deliveries_per_s", "deliv/s", 0),
            ("requests_per_s", "req/s", 0),
            ("p50_ms", "p50", 2),
            ("p90_ms", "p90", 2),
            ("p99_ms", "p99", 2),
            ("p999_ms", "p99.9", 2),
            ("max_ms", "max", 2),
            ("delivery_ratio", "delivered", 5),
            ("lost", "lost", 0),
            ("duplicates", "dup", 0),
            ("send_lag_max_ms", "lag", 1),
            ("server_cpu", "srv-cpu", 2),
            ("server_rss_mib", "srv-MiB", 1),
            ("rss_per_conn_kib", "KiB/conn", 2),
            ("all_back_s", "all-back-s", 3),
            ("errors", "errors", 0),
            ("uploads", "uploads", 0),
            ("file_mib", "MiB", 0),
            ("confab_mib_s", "confab-MiB/s", 1),
            ("sink_mib_s", "sink-MiB/s", 1),
            ("vs_sink", "vs-sink", 2),
            ("rss_start_mib", "rss0-MiB", 1),
            ("rss_max_mib", "rss-max-MiB", 1),
            ("rss_mib_mean", "node-MiB", 1),
            ("rss_mib_max", "node-MiB-max", 1),
            ("generator_cpu", "gen-cpu", 2),
            ("best_rate_p99_50ms", "best-rate@50ms", 0),
            ("best_deliveries_per_s_p99_50ms", "deliv/s@50ms", 0),
            ("best_rate_p99_100ms", "best-rate@100ms", 0),
            ("best_deliveries_per_s_p99_100ms", "deliv/s@100ms", 0),
        ];
        for (key, name, digits) in fields {
            if let Some(v) = self.0.get(key).and_then(Value::as_f64) {
                out.push_str(&format!(" {name}={v:.digits$}"));
            }
        }
        if self.0.get("generator_overloaded") == Some(&Value::Bool(true)) {
            out.push_str("  [generator above 70% of a core: it may be the bottleneck]");
        }
        out
    }

    fn str(&self, key: &str) -> &str {
        self.0.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

/// Columns shown per scenario in RESULTS.md.
fn columns(scenario: &str) -> &'static [&'static str] {
    match scenario {
        "fanout" | "rooms" | "dm" => &[
            "clients",
            "size",
            "rate_target",
            "deliveries_per_s",
            "p50_ms",
            "p99_ms",
            "p999_ms",
            "max_ms",
            "delivery_ratio",
            "server_cpu",
            "server_rss_mib",
            "generator_cpu",
        ],
        "fanout-sweep" | "rooms-sweep" | "dm-sweep" => &[
            "clients",
            "size",
            "best_rate_p99_50ms",
            "best_deliveries_per_s_p99_50ms",
            "best_rate_p99_100ms",
            "best_deliveries_per_s_p99_100ms",
        ],
        "idle" => &["clients", "rss_per_conn_kib", "server_rss_mib", "connect_s"],
        "history" => &[
            "messages_in_channel",
            "concurrency",
            "requests_per_s",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "errors",
        ],
        "storm" => &["clients", "all_back_s", "p50_ms", "p99_ms", "errors"],
        _ => &[],
    }
}

/// Fields that tell repeats of the same point apart from different points.
const KEY: &[&str] = &[
    "scenario",
    "label",
    "target",
    "clients",
    "size",
    "senders",
    "rooms",
    "rate_target",
    "concurrency",
    "messages_in_channel",
];

/// One field of a row's key: numbers sort as numbers (200 before 1000).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Missing,
    /// Thousandths, so that rates like 2500.5 keep their order.
    Num(i64),
    Text(String),
}

/// A point as read back from JSON.
type Read = Map<String, Value>;

fn key_of(m: &Read) -> Vec<Part> {
    KEY.iter()
        .map(|k| match m.get(*k) {
            None | Some(Value::Null) => Part::Missing,
            Some(Value::Number(n)) => {
                Part::Num((n.as_f64().unwrap_or(0.0) * 1000.0).round() as i64)
            }
            Some(Value::String(s)) => Part::Text(s.clone()),
            Some(v) => Part::Text(v.to_string()),
        })
        .collect()
}

/// Markdown tables from JSON-lines files: one table per scenario, one row per
/// distinct point, each number the median of its repeats.
pub fn markdown(files: &[PathBuf]) -> Result<String> {
    let mut groups: BTreeMap<String, BTreeMap<Vec<Part>, Vec<Read>>> = BTreeMap::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Value::Object(m) =
                serde_json::from_str(line).with_context(|| format!("in {}", f.display()))?
            else {
                continue;
            };
            let scenario = m
                .get("scenario")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            let key = key_of(&m);
            groups
                .entry(scenario)
                .or_default()
                .entry(key)
                .or_default()
                .push(m);
        }
    }
    let mut out = String::new();
    for (scenario, rows) in groups {
        let cols = columns(&scenario);
        out.push_str(&format!(
            "\n### {scenario}\n\n| server | {} | runs |\n|---|{}---|\n",
            cols.join(" | "),
            "---|".repeat(cols.len())
        ));
        for runs in rows.values() {
            let label = runs[0].get("label").and_then(Value::as_str).unwrap_or("?");
            let target = runs[0].get("target").and_then(Value::as_str).unwrap_or("?");
            let cells: Vec<String> = cols
                .iter()
                .map(|c| {
                    let mut v: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| r.get(*c).and_then(Value::as_f64))
                        .collect();
                    v.sort_by(f64::total_cmp);
                    match v.get(v.len() / 2) {
                        None => "–".to_owned(),
                        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
                        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
                        Some(x) => format!("{x:.3}"),
                    }
                })
                .collect();
            let who = if label == target {
                label.to_owned()
            } else {
                format!("{label} ({target})")
            };
            out.push_str(&format!(
                "| {who} | {} | {} |\n",
                cells.join(" | "),
                runs.len()
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sort_numerically_and_show_the_median_of_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("points.jsonl");
        let mut lines = Vec::new();
        for clients in [1000, 200, 5000] {
            for all_back in [3.0, 1.0, 2.0] {
                lines.push(
                    json!({"scenario": "storm", "label": "confab", "target": "confab-tls",
                           "clients": clients, "all_back_s": all_back * clients as f64})
                    .to_string(),
                );
            }
        }
        std::fs::write(&file, lines.join("\n")).unwrap();
        let md = markdown(&[file]).unwrap();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| confab")).collect();
        assert_eq!(
            rows,
            [
                "| confab (confab-tls) | 200 | 400 | – | – | – | 3 |",
                "| confab (confab-tls) | 1000 | 2000 | – | – | – | 3 |",
                "| confab (confab-tls) | 5000 | 10000 | – | – | – | 3 |",
            ],
            "{md}"
        );
    }
}
