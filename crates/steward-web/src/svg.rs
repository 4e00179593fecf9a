//! Server-rendered SVG bar charts: no script, no chart service. Each chart is an
//! `<svg role="img">` with a `<title>` and `<desc>` (read by screen readers), and the page
//! shows the same figures as a table beside it.

use crate::view::escape;

/// A bar chart: one group of bars per category, one bar per series.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Used for element ids; letters, digits and `-` only.
    pub id: &'static str,
    pub title: String,
    /// What the chart shows, in a sentence (the `<desc>`).
    pub desc: String,
    /// The unit of the values, shown on the axis (`minutes`, `%`).
    pub unit: &'static str,
    pub categories: Vec<String>,
    /// `(series name, one value per category)`.
    pub series: Vec<(String, Vec<f64>)>,
}

/// Series colours, distinguishable and with contrast on white.
const COLOURS: [&str; 4] = ["#1f5fa8", "#b3541e", "#2e7d32", "#6a3d9a"];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 40.0;

impl Chart {
    /// Whether there is anything to draw.
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty()
            || self
                .series
                .iter()
                .all(|(_, values)| values.iter().all(|v| *v == 0.0))
    }

    /// The value as the table and labels show it.
    pub fn format(&self, value: f64) -> String {
        if value.fract() == 0.0 && value.abs() < 1e12 {
            format!("{value:.0}")
        } else {
            let text = format!("{value:.2}");
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
    }

    /// The chart as SVG markup (escaped; safe to place in the page).
    pub fn svg(&self) -> String {
        let max = self
            .series
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .fold(0.0_f64, f64::max);
        let top = nice_ceiling(max);
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let groups = self.categories.len().max(1) as f64;
        let group_w = plot_w / groups;
        let n = self.series.len().max(1) as f64;
        let bar_w = (group_w * 0.7 / n).min(48.0);
        let id = self.id;
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
             role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" class=\"chart\" id=\"{id}\">\
             <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
            escape(&self.title),
            escape(&self.desc)
        );
        // Grid lines and the value axis: 0, ½ and the top.
        for step in 0..=4 {
            let v = top * f64::from(step) / 4.0;
            let y = TOP + plot_h - plot_h * f64::from(step) / 4.0;
            out.push_str(&format!(
                "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d0d4da\" stroke-width=\"1\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\" fill=\"#444\">{}</text>",
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                escape(&self.format(v))
            ));
        }
        out.push_str(&format!(
            "<text x=\"12\" y=\"{:.1}\" font-size=\"11\" fill=\"#444\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
            TOP + plot_h / 2.0,
            TOP + plot_h / 2.0,
            escape(self.unit)
        ));
        for (c, category) in self.categories.iter().enumerate() {
            let gx = LEFT + group_w * c as f64;
            let start = gx + (group_w - bar_w * n) / 2.0;
            for (s, (name, values)) in self.series.iter().enumerate() {
                let v = values.get(c).copied().unwrap_or(0.0);
                let h = if top > 0.0 { plot_h * v / top } else { 0.0 };
                let x = start + bar_w * s as f64;
                let y = TOP + plot_h - h;
                out.push_str(&format!(
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{}: {} {}</title></rect>",
                    (bar_w - 2.0).max(1.0),
                    COLOURS[s % COLOURS.len()],
                    escape(&format!("{category}, {name}")),
                    escape(&self.format(v)),
                    escape(self.unit)
                ));
                if v > 0.0 {
                    out.push_str(&format!(
                        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#222\">{}</text>",
                        x + bar_w / 2.0 - 1.0,
                        y - 3.0,
                        escape(&self.format(v))
                    ));
                }
            }
            out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#222\">{}</text>",
                gx + group_w / 2.0,
                TOP + plot_h + 16.0,
                escape(category)
            ));
        }
        // A legend when there is more than one series.
        if self.series.len() > 1 {
            let mut x = LEFT;
            for (s, (name, _)) in self.series.iter().enumerate() {
                out.push_str(&format!(
                    "<rect x=\"{x:.1}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{}\"/>\
                     <text x=\"{:.1}\" y=\"17\" font-size=\"11\" fill=\"#222\">{}</text>",
                    COLOURS[s % COLOURS.len()],
                    x + 14.0,
                    escape(name)
                ));
                x += 24.0 + 7.0 * name.chars().count() as f64;
            }
        }
        out.push_str(&format!(
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333\" stroke-width=\"1\"/></svg>",
            WIDTH - RIGHT,
            TOP + plot_h,
            TOP + plot_h
        ));
        out
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `max` (1 when `max` is 0).
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * magnitude >= max {
            return m * magnitude;
        }
    }
    10.0 * magnitude
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_carry_title_desc_and_escaped_labels() {
        let chart = Chart {
            id: "t",
            title: "Approval <time>".into(),
            desc: "by level".into(),
            unit: "minutes",
            categories: vec!["Level 1".into(), "Level 2".into()],
            series: vec![("mean".into(), vec![3.0, 12.5])],
        };
        let svg = chart.svg();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<title id=\"t-title\">Approval &lt;time&gt;</title>"));
        assert!(svg.contains("<desc id=\"t-desc\">by level</desc>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains(">12.5<"));
        assert_eq!(chart.format(0.25), "0.25");
        assert_eq!(chart.format(20.0), "20");
        assert!(!chart.is_empty());
        assert_eq!(nice_ceiling(12.5), 20.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }
}
