//! A plot as a Vega-Lite v5 spec with its data inline, for notebooks and tools that
//! render Vega-Lite (JupyterLab does, interactively).

use serde_json::{Value, json};

use super::{BALANCE_THRESHOLD, FUNNEL_Z, Mark, PALETTE, Plot, Scale, date_label};

pub fn spec(plot: &Plot) -> Value {
    let named = plot.series.len() > 1;
    let rows = data_rows(plot, named);
    let encoding = encoding(plot, named);
    let mut layers = layers(plot, named, &encoding);
    if let Some(r) = plot.reference {
        let axis = if plot.mark.is_rows() { "x" } else { "y" };
        let dash = if plot.mark == Mark::Balance {
            json!([])
        } else {
            json!([4, 3])
        };
        layers.push(json!({
            "data": {"values": [{"reference": r}]},
            "mark": {"type": "rule", "strokeDash": dash, "color": "#333333"},
            "encoding": {axis: {"field": "reference", "type": "quantitative"}},
        }));
    }
    if plot.mark == Mark::Balance {
        layers.push(json!({
            "data": {"values": [{"threshold": -BALANCE_THRESHOLD}, {"threshold": BALANCE_THRESHOLD}]},
            "mark": {"type": "rule", "strokeDash": [4, 3], "color": "#333333", "opacity": 0.6},
            "encoding": {"x": {"field": "threshold", "type": "quantitative"}},
        }));
    }
    if let Some(v) = plot.x_reference.filter(|_| plot.x_scale != Scale::Category) {
        // On a date axis the rule stands at the date, written as the data's dates are.
        let (at, kind) = match plot.x_scale {
            Scale::Date => (json!(date_label(v, 0.0)), "temporal"),
            _ => (json!(v), "quantitative"),
        };
        layers.push(json!({
            "data": {"values": [{"x_reference": at}]},
            "mark": {"type": "rule", "strokeDash": [4, 3], "color": "#333333"},
            "encoding": {"x": {"field": "x_reference", "type": kind}},
        }));
    }
    let mut spec = json!({
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": 520,
        "height": if plot.mark.is_rows() { 40 * plot.categories.len().max(1) } else { 300 },
        "data": {"values": rows},
        "layer": layers,
        "config": {"font": "system-ui, sans-serif"},
    });
    if let Some(title) = &plot.title {
        spec["title"] = json!(title);
    }
    spec
}

/// The data inline, a row per datum (`named`: with its series' name).
fn data_rows(plot: &Plot, named: bool) -> Vec<Value> {
    plot.data
        .iter()
        .map(|d| {
            let mut row = serde_json::Map::new();
            let x = match plot.x_scale {
                Scale::Category => json!(
                    plot.categories
                        .get(d.x as usize)
                        .cloned()
                        .unwrap_or_default()
                ),
                Scale::Date => json!(date_label(d.x, 0.0)),
                Scale::Number => json!(d.x),
            };
            if plot.mark.is_rows() {
                row.insert("label".into(), x);
            } else {
                row.insert("x".into(), x);
            }
            if let Some(end) = d.x_end {
                row.insert("x_end".into(), json!(end));
            }
            if plot.mark == Mark::Discontinuity {
                row.insert("side".into(), json!(d.label));
            }
            if plot.mark == Mark::Funnel {
                row.insert("label".into(), json!(d.label));
            }
            row.insert("y".into(), json!(d.y));
            if let Some(low) = d.low {
                row.insert("low".into(), json!(low));
            }
            if let Some(high) = d.high {
                row.insert("high".into(), json!(high));
            }
            if let Some(truth) = d.truth {
                row.insert("truth".into(), json!(truth));
            }
            if named {
                row.insert(
                    "series".into(),
                    json!(plot.series.get(d.series).cloned().unwrap_or_default()),
                );
            }
            Value::Object(row)
        })
        .collect()
}

/// The axes and the colour (by series when `named`).
fn encoding(plot: &Plot, named: bool) -> Value {
    let x_type = match plot.x_scale {
        Scale::Category => "nominal",
        Scale::Date => "temporal",
        Scale::Number => "quantitative",
    };
    let mut x = json!({"field": "x", "type": x_type, "title": plot.x_title, "sort": null});
    if plot.x_scale == Scale::Number && plot.mark != Mark::Histogram {
        // As the SVG: the axis spans the data, not zero.
        x["scale"] = json!({"zero": false});
    }
    if plot.x_is_years() {
        x["axis"] = json!({"format": "d", "tickMinStep": 1});
    }
    let y = json!({"field": "y", "type": "quantitative", "title": plot.y_title});
    let mut encoding = json!({"x": x, "y": y});
    if named {
        encoding["color"] = json!({
            "field": "series",
            "type": "nominal",
            "title": plot.series_title,
            "sort": plot.series,
            "scale": {"range": PALETTE},
        });
    } else {
        encoding["color"] = json!({"value": PALETTE[0]});
    }
    encoding
}

/// The mark's layers.
fn layers(plot: &Plot, named: bool, encoding: &Value) -> Vec<Value> {
    match plot.mark {
        Mark::Line => {
            let line = json!({"mark": {"type": "line", "point": plot.data.len() <= 60}, "encoding": encoding});
            if !plot
                .data
                .iter()
                .any(|d| d.low.is_some() && d.high.is_some())
            {
                return vec![line];
            }
            // The band (`low` to `high`) behind the line, from the rows that have one.
            let mut band = encoding.clone();
            band["y"] = json!({"field": "low", "type": "quantitative", "title": plot.y_title});
            band["y2"] = json!({"field": "high"});
            vec![
                json!({"mark": {"type": "area", "opacity": 0.15}, "transform": [{"filter": "isValid(datum.low) && isValid(datum.high)"}], "encoding": band}),
                line,
            ]
        }
        Mark::Scatter => vec![
            json!({"mark": {"type": "point", "filled": true, "opacity": 0.7}, "encoding": encoding}),
        ],
        Mark::Discontinuity => {
            let series = |s: usize| json!(plot.series.get(s).cloned().unwrap_or_default());
            let mut line = encoding.clone();
            line["detail"] = json!({"field": "side"});
            vec![
                json!({"mark": {"type": "point", "filled": true}, "transform": [{"filter": {"field": "series", "equal": series(0)}}], "encoding": encoding}),
                json!({"mark": "line", "transform": [{"filter": {"field": "series", "equal": series(1)}}], "encoding": line}),
            ]
        }
        Mark::Bar => {
            let mut bars = encoding.clone();
            if named {
                bars["xOffset"] = json!({"field": "series", "sort": plot.series});
            }
            vec![json!({"mark": "bar", "encoding": bars})]
        }
        Mark::Histogram => {
            let mut bars = encoding.clone();
            bars["x"] = json!({"field": "x", "type": "quantitative", "title": plot.x_title, "bin": "binned"});
            bars["x2"] = json!({"field": "x_end"});
            vec![json!({"mark": "bar", "encoding": bars})]
        }
        Mark::Interval => {
            let mut rule = encoding.clone();
            rule["y"] = json!({"field": "low", "type": "quantitative", "title": plot.y_title});
            rule["y2"] = json!({"field": "high"});
            let mut layers = vec![
                json!({"mark": "rule", "encoding": rule}),
                json!({"mark": {"type": "point", "filled": true, "size": 50}, "encoding": encoding}),
            ];
            if plot.has_truth() {
                let mut truth = encoding.clone();
                truth["y"] = json!({"field": "truth", "type": "quantitative"});
                truth["color"] = json!({"value": "#333333"});
                layers.push(json!({
                    "mark": {"type": "point", "shape": "diamond", "filled": false, "size": 60},
                    "transform": [{"filter": "isValid(datum.truth)"}],
                    "encoding": truth,
                }));
            }
            layers
        }
        Mark::Forest => {
            let label = json!({"field": "label", "type": "nominal", "title": null, "sort": plot.categories});
            let scale = if plot.log_scale {
                json!({"type": "log", "zero": false})
            } else {
                json!({"zero": false})
            };
            let value = json!({"field": "low", "type": "quantitative", "title": plot.x_title, "scale": scale});
            vec![
                json!({"mark": "rule", "encoding": {"y": label, "x": value, "x2": {"field": "high"}, "color": encoding["color"]}}),
                json!({"mark": {"type": "square", "filled": true, "size": 60}, "encoding": {"y": label, "x": {"field": "y", "type": "quantitative"}, "color": encoding["color"]}}),
            ]
        }
        Mark::Funnel => {
            // The region's two edges, from the pooled estimate at se = 0 to the deepest.
            let centre = plot.x_reference.unwrap_or(0.0);
            let depth = plot.data.iter().map(|d| d.y).fold(0.0_f64, f64::max) * 1.05;
            let edges = json!([
                {"x": centre - FUNNEL_Z * depth, "y": depth, "edge": "low"},
                {"x": centre, "y": 0.0, "edge": "low"},
                {"x": centre, "y": 0.0, "edge": "high"},
                {"x": centre + FUNNEL_Z * depth, "y": depth, "edge": "high"},
            ]);
            let y = json!({"field": "y", "type": "quantitative", "title": plot.y_title, "scale": {"reverse": true}});
            let x = json!({"field": "x", "type": "quantitative", "title": plot.x_title, "scale": {"zero": false}});
            vec![
                json!({"data": {"values": edges}, "mark": {"type": "line", "color": "#999999"}, "encoding": {"x": x, "y": y, "detail": {"field": "edge"}}}),
                json!({"mark": {"type": "point", "filled": true}, "encoding": {"x": x, "y": y, "tooltip": {"field": "label"}, "color": encoding["color"]}}),
            ]
        }
        Mark::Balance => {
            let label = json!({"field": "label", "type": "nominal", "title": null, "sort": plot.categories});
            vec![json!({
                "mark": {"type": "point", "filled": true, "size": 60},
                "encoding": {"y": label, "x": {"field": "y", "type": "quantitative", "title": plot.x_title}, "color": encoding["color"]},
            })]
        }
    }
}
