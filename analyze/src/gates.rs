//! `--fail-if-share 'FUNC>5%'` and `--fail-if-growth 'FUNC>2x'`: gates on
//! one function's share of the task samples, alone or against a base
//! capture (`--diff BASE.vmt`), and the table of the largest share changes
//! that the JSON `change` and the report's "Change against the base" show.
//!
//! A function's share is inclusive, as the summary's top functions count
//! it: the samples whose stack holds the function anywhere, once per
//! sample however often it appears, over all the task samples kept by the
//! filters. Functions are matched by their symbolized name, exactly.

use std::collections::HashMap;

use serde::Serialize;

use crate::aggregate::{Aggregates, Group};
use crate::analysis::Analysis;
use crate::escape::visible;
use crate::view::percent;

/// Which functions a gate checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FunctionPattern {
    /// `*`: every function (the gate names the worst ones).
    Any,
    /// The function with exactly this symbolized name.
    Name(String),
}

impl FunctionPattern {
    fn new(s: &str) -> FunctionPattern {
        if s == "*" {
            FunctionPattern::Any
        } else {
            FunctionPattern::Name(s.to_string())
        }
    }

    /// As given: `*` or the name.
    pub fn as_str(&self) -> &str {
        match self {
            FunctionPattern::Any => "*",
            FunctionPattern::Name(n) => n,
        }
    }
}

/// `--fail-if-share 'FUNC>P%'`: fails when FUNC's share of the task
/// samples is above `limit_percent`.
#[derive(Clone, Debug, PartialEq)]
pub struct ShareGate {
    pub function: FunctionPattern,
    /// 0 to 100.
    pub limit_percent: f64,
}

/// `--fail-if-growth 'FUNC>Fx'`: fails when FUNC's share grew more than
/// `factor` times its share in the base.
#[derive(Clone, Debug, PartialEq)]
pub struct GrowthGate {
    pub function: FunctionPattern,
    pub factor: f64,
}

/// `FUNC>LIMIT`: the function (the text before the last `>`, so C++ names
/// with `>` in them work) and the limit's text.
fn split_spec<'a>(s: &'a str, flag: &str, form: &str) -> Result<(&'a str, &'a str), String> {
    let Some((f, limit)) = s.rsplit_once('>') else {
        let why = if s.contains('<') {
            "only upper limits (`>`) are gates"
        } else {
            "no `>`"
        };
        return Err(format!("{flag} `{}`: {why}; {form}", visible(s)));
    };
    if f.is_empty() {
        return Err(format!(
            "{flag} `{}`: no function before `>`; {form}",
            visible(s)
        ));
    }
    Ok((f, limit.trim()))
}

const SHARE_FORM: &str = "use FUNCTION>PERCENT%, e.g. 'io_schedule>5%' or '*>50%'";
const GROWTH_FORM: &str = "use FUNCTION>FACTORx, e.g. 'io_schedule>2x' or '*>1.5x'";

impl ShareGate {
    /// Parses `FUNC>5%` (`*>5%`: any function).
    pub fn parse(s: &str) -> Result<ShareGate, String> {
        let flag = "--fail-if-share";
        let (f, limit) = split_spec(s, flag, SHARE_FORM)?;
        let bad = || {
            format!(
                "{flag} `{}`: the limit is not a percentage; {SHARE_FORM}",
                visible(s)
            )
        };
        let num = limit.strip_suffix('%').ok_or_else(bad)?;
        let v: f64 = num.trim().parse().map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&v) {
            return Err(format!(
                "{flag} `{}`: the limit must be 0% to 100%; {SHARE_FORM}",
                visible(s)
            ));
        }
        Ok(ShareGate {
            function: FunctionPattern::new(f),
            limit_percent: v,
        })
    }

    /// As given, `FUNC>5%`.
    pub fn spec(&self) -> String {
        format!("{}>{}%", self.function.as_str(), self.limit_percent)
    }
}

impl GrowthGate {
    /// Parses `FUNC>2x` (`*>2x`: any function).
    pub fn parse(s: &str) -> Result<GrowthGate, String> {
        let flag = "--fail-if-growth";
        let (f, limit) = split_spec(s, flag, GROWTH_FORM)?;
        let bad = || {
            format!(
                "{flag} `{}`: the limit is not a factor; {GROWTH_FORM}",
                visible(s)
            )
        };
        let num = limit.strip_suffix(['x', 'X']).ok_or_else(bad)?;
        let v: f64 = num.trim().parse().map_err(|_| bad())?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!(
                "{flag} `{}`: the factor must be a finite number, 0 or more; {GROWTH_FORM}",
                visible(s)
            ));
        }
        Ok(GrowthGate {
            function: FunctionPattern::new(f),
            factor: v,
        })
    }

    /// As given, `FUNC>2x`.
    pub fn spec(&self) -> String {
        format!("{}>{}x", self.function.as_str(), self.factor)
    }
}

/// Samples per function name, inclusive: once per sample whose stack
/// holds the function, however often.
pub fn inclusive_counts(a: &Analysis, g: &Group) -> HashMap<String, u64> {
    let mut m: HashMap<String, u64> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    for (s, n) in &g.stacks {
        names.clear();
        names.extend(
            a.stack(*s)
                .frames
                .iter()
                .map(|f| a.func(a.frame(*f).func).name.as_str()),
        );
        names.sort_unstable();
        names.dedup();
        for name in &names {
            *m.entry((*name).to_string()).or_default() += n;
        }
    }
    m
}

/// A function's share, now and (for growth) in the base.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct FunctionShare {
    pub function: String,
    /// Task samples with the function anywhere in the stack.
    pub samples: u64,
    /// Of all task samples, 0 when there are none.
    pub share_percent: f64,
    /// Growth gates only: the same in the base.
    pub base_samples: Option<u64>,
    pub base_share_percent: Option<f64>,
    /// Growth gates only: `share_percent / base_share_percent`; `null`
    /// when the function has no samples in the base (growth from 0 is
    /// infinite: it fails when the function has samples now).
    pub growth: Option<f64>,
    pub failed: bool,
}

/// Which option a gate comes from.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    /// `--fail-if-share`.
    Share,
    /// `--fail-if-growth`.
    Growth,
}

/// One `--fail-if-share` or `--fail-if-growth` gate and its result.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct FunctionGateResult {
    pub kind: GateKind,
    /// As given, e.g. `io_schedule>5%`.
    pub spec: String,
    /// The function, or `*`.
    pub function: String,
    /// Percent for a share gate, a factor for a growth gate.
    pub limit: f64,
    pub failed: bool,
    /// The function checked; for `*`, the failing functions, worst first
    /// (at most [`WORST`]), or the one closest to the limit when none fails.
    pub checked: Vec<FunctionShare>,
}

/// Functions a `*` gate lists.
pub const WORST: usize = 10;

/// The shares of one capture: counts by name and the total.
struct Shares {
    counts: HashMap<String, u64>,
    total: u64,
}

impl Shares {
    fn new(a: &Analysis, agg: &Aggregates) -> Shares {
        Shares {
            counts: inclusive_counts(a, &agg.total),
            total: agg.total.samples,
        }
    }

    fn of(&self, f: &str) -> (u64, f64) {
        let n = self.counts.get(f).copied().unwrap_or(0);
        (n, percent(n, self.total).unwrap_or(0.0))
    }
}

/// Orders measures worst first by `key` (None: infinite), then by name.
fn worst_first(v: &mut [FunctionShare], key: impl Fn(&FunctionShare) -> f64) {
    v.sort_by(|x, y| {
        key(y)
            .total_cmp(&key(x))
            .then_with(|| x.function.cmp(&y.function))
    });
}

/// The checked list of a gate: the one function, or for `*` the failing
/// ones worst first (or the worst when none fails).
fn pick(mut all: Vec<FunctionShare>, key: impl Fn(&FunctionShare) -> f64) -> Vec<FunctionShare> {
    worst_first(&mut all, key);
    let failing = all.iter().take_while(|m| m.failed).count();
    all.truncate(failing.clamp(1, WORST));
    all
}

/// Evaluates the gates on `a` (and, for growth, against `base`). A growth
/// gate without a base fails with nothing checked.
pub fn evaluate(
    share: &[ShareGate],
    growth: &[GrowthGate],
    a: &Analysis,
    agg: &Aggregates,
    base: Option<(&Analysis, &Aggregates)>,
) -> Vec<FunctionGateResult> {
    if share.is_empty() && growth.is_empty() {
        return Vec::new();
    }
    let now = Shares::new(a, agg);
    let names = |p: &FunctionPattern| -> Vec<String> {
        match p {
            FunctionPattern::Name(n) => vec![n.clone()],
            FunctionPattern::Any => now.counts.keys().cloned().collect(),
        }
    };
    let mut out = Vec::new();
    for g in share {
        let all: Vec<FunctionShare> = names(&g.function)
            .into_iter()
            .map(|f| {
                let (samples, share_percent) = now.of(&f);
                FunctionShare {
                    function: f,
                    samples,
                    share_percent,
                    base_samples: None,
                    base_share_percent: None,
                    growth: None,
                    failed: share_percent > g.limit_percent,
                }
            })
            .collect();
        let checked = pick(all, |m| m.share_percent);
        out.push(FunctionGateResult {
            kind: GateKind::Share,
            spec: g.spec(),
            function: g.function.as_str().to_string(),
            limit: g.limit_percent,
            failed: checked.iter().any(|m| m.failed),
            checked,
        });
    }
    let then = base.map(|(b, bagg)| Shares::new(b, bagg));
    for g in growth {
        let Some(then) = &then else {
            out.push(FunctionGateResult {
                kind: GateKind::Growth,
                spec: g.spec(),
                function: g.function.as_str().to_string(),
                limit: g.factor,
                failed: true,
                checked: Vec::new(),
            });
            continue;
        };
        let all: Vec<FunctionShare> = names(&g.function)
            .into_iter()
            .map(|f| {
                let (samples, share_percent) = now.of(&f);
                let (bn, bp) = then.of(&f);
                let growth = (bn > 0 && bp > 0.0).then(|| share_percent / bp);
                let failed = match growth {
                    Some(x) => x > g.factor,
                    // From 0: infinite, when there is anything now.
                    None => samples > 0,
                };
                FunctionShare {
                    function: f,
                    samples,
                    share_percent,
                    base_samples: Some(bn),
                    base_share_percent: Some(bp),
                    growth,
                    failed,
                }
            })
            .collect();
        let checked = pick(all, |m| match m.growth {
            Some(x) => x,
            None if m.samples > 0 => f64::INFINITY,
            None => 0.0,
        });
        out.push(FunctionGateResult {
            kind: GateKind::Growth,
            spec: g.spec(),
            function: g.function.as_str().to_string(),
            limit: g.factor,
            failed: checked.iter().any(|m| m.failed),
            checked,
        });
    }
    out
}

/// Functions named on a gate's line (the JSON has up to [`WORST`]).
const LINE_FUNCTIONS: usize = 5;

/// What a gate measured, in one line (escaped): the failing functions
/// when it failed, else what it checked.
pub fn describe(r: &FunctionGateResult) -> String {
    let what = |m: &FunctionShare| -> String {
        let f = visible(&m.function);
        match r.kind {
            GateKind::Share => format!(
                "{f} has {:.2}% of the task samples ({} samples)",
                m.share_percent, m.samples
            ),
            GateKind::Growth => match m.growth {
                Some(x) => format!(
                    "{f} grew {x:.2}x ({:.2}% in the base, {:.2}% now)",
                    m.base_share_percent.unwrap_or(0.0),
                    m.share_percent
                ),
                None => format!(
                    "{f} is absent from the base and has {:.2}% now (growth from 0: infinite)",
                    m.share_percent
                ),
            },
        }
    };
    let (flag, limit) = match r.kind {
        GateKind::Share => ("--fail-if-share", format!("{}%", r.limit)),
        GateKind::Growth => ("--fail-if-growth", format!("{}x", r.limit)),
    };
    let all: Vec<&FunctionShare> = r.checked.iter().filter(|m| m.failed || !r.failed).collect();
    let mut shown: Vec<String> = all.iter().take(LINE_FUNCTIONS).map(|m| what(m)).collect();
    if all.len() > LINE_FUNCTIONS {
        shown.push(format!("{} more", all.len() - LINE_FUNCTIONS));
    }
    let body = if shown.is_empty() && r.kind == GateKind::Growth && r.failed {
        "no base to compare with (give --diff BASE.vmt)".to_string()
    } else if shown.is_empty() {
        "no task samples".to_string()
    } else {
        shown.join("; ")
    };
    let verdict = if r.failed { "above" } else { "within" };
    format!(
        "{flag} '{}': {body}; {verdict} the limit {limit}",
        visible(&r.spec)
    )
}

/// The stderr line of a failed gate, or none when it passed.
pub fn failure_line(r: &FunctionGateResult, exit: i32) -> Option<String> {
    r.failed
        .then(|| format!("{}: failing (exit {exit})", describe(r)))
}

/// The gates' results and the change against the base, for the JSON
/// summary and the report.
#[derive(Clone, Debug, Default)]
pub struct Checks {
    pub function_gates: Vec<FunctionGateResult>,
    pub change: Option<Change>,
}

/// A function's share in the base and now.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ShareDelta {
    pub function: String,
    pub base_samples: u64,
    pub samples: u64,
    pub base_share_percent: f64,
    pub share_percent: f64,
    /// `share_percent - base_share_percent`, in percentage points.
    pub delta_points: f64,
}

/// The change against the base (`--diff BASE.vmt`): the functions whose
/// inclusive share changed most.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Change {
    /// The base capture, as given.
    pub base: String,
    pub base_task_samples: u64,
    pub task_samples: u64,
    /// Largest |delta| first, then by name; at most `top`.
    pub deltas: Vec<ShareDelta>,
}

/// The `top` functions whose share changed most between `base` and `a`.
pub fn change(
    base_path: &str,
    base: (&Analysis, &Aggregates),
    a: &Analysis,
    agg: &Aggregates,
    top: usize,
) -> Change {
    let then = Shares::new(base.0, base.1);
    let now = Shares::new(a, agg);
    let mut names: Vec<&String> = then.counts.keys().chain(now.counts.keys()).collect();
    names.sort();
    names.dedup();
    let mut deltas: Vec<ShareDelta> = names
        .into_iter()
        .map(|f| {
            let (bn, bp) = then.of(f);
            let (n, p) = now.of(f);
            ShareDelta {
                function: f.clone(),
                base_samples: bn,
                samples: n,
                base_share_percent: bp,
                share_percent: p,
                delta_points: p - bp,
            }
        })
        .collect();
    deltas.sort_by(|x, y| {
        y.delta_points
            .abs()
            .total_cmp(&x.delta_points.abs())
            .then_with(|| x.function.cmp(&y.function))
    });
    deltas.truncate(top);
    Change {
        base: base_path.to_string(),
        base_task_samples: then.total,
        task_samples: now.total,
        deltas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let g = ShareGate::parse("std::vector<int>::push_back>5.5%").unwrap();
        assert_eq!(
            g.function,
            FunctionPattern::Name("std::vector<int>::push_back".into())
        );
        assert_eq!(g.limit_percent, 5.5);
        assert_eq!(
            ShareGate::parse("*>5%").unwrap().function,
            FunctionPattern::Any
        );
        assert_eq!(GrowthGate::parse("f>2x").unwrap().factor, 2.0);
        for bad in ["f>5", ">5%", "f>x%", "f<5%", "f>101%", "f>-1%"] {
            assert!(ShareGate::parse(bad).is_err(), "{bad}");
        }
        for bad in ["f>2", ">2x", "f>x", "f<2x", "f>infx", "f>-1x"] {
            assert!(GrowthGate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_escape_control_characters_and_name_the_base() {
        let m = FunctionShare {
            function: "evil\x1b[2J\nname".into(),
            samples: 3,
            share_percent: 30.0,
            base_samples: Some(1),
            base_share_percent: Some(10.0),
            growth: Some(3.0),
            failed: true,
        };
        let r = FunctionGateResult {
            kind: GateKind::Growth,
            spec: "evil\x1b[2J\nname>2x".into(),
            function: "evil\x1b[2J\nname".into(),
            limit: 2.0,
            failed: true,
            checked: vec![m],
        };
        let line = failure_line(&r, 3).unwrap();
        assert!(!line.contains('\x1b') && !line.contains('\n'), "{line:?}");
        assert!(
            line.contains("grew 3.00x (10.00% in the base, 30.00% now)"),
            "{line}"
        );
        assert!(
            line.ends_with("above the limit 2x: failing (exit 3)"),
            "{line}"
        );
        let pass = FunctionGateResult {
            failed: false,
            checked: Vec::new(),
            ..r
        };
        assert_eq!(failure_line(&pass, 3), None);
    }
}
