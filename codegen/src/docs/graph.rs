//! The producers → events → consumers graph, rendered to SVG without a layout engine: three
//! columns (producing services, event versions, consuming services) and a curve per edge.

use std::collections::BTreeSet;
use std::fmt::Write;

use handlebars::html_escape as escape;

use super::Summary;

const ROW: usize = 30;
const BOX: usize = 22;
const SERVICE_X: [usize; 2] = [10, 690];
const SERVICE_W: usize = 220;
const EVENT_X: usize = 320;
const EVENT_W: usize = 290;
const WIDTH: usize = 920;

/// The graph of `events` as an SVG document. Nodes link to their pages, `root` being the
/// relative path from the page that shows the graph to the site root (`""`, `"../"`).
pub fn svg(events: &[Summary], root: &str) -> String {
    let producers: BTreeSet<&str> = events.iter().map(|e| e.producer.as_str()).collect();
    let consumers: BTreeSet<&str> = events
        .iter()
        .flat_map(|e| e.consumers.iter().map(String::as_str))
        .collect();
    let producers: Vec<&str> = producers.into_iter().collect();
    let consumers: Vec<&str> = consumers.into_iter().collect();
    let rows = events
        .len()
        .max(producers.len())
        .max(consumers.len())
        .max(1);
    let height = rows * ROW + 40;
    let centre = |i: usize, n: usize| -> usize {
        // Spread a column of `n` over the height.
        30 + (2 * i + 1) * (rows * ROW) / (2 * n.max(1))
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"graph\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"Producers, events and consumers\">\n\
         <text x=\"{}\" y=\"18\" class=\"col\">producers</text>\
         <text x=\"{EVENT_X}\" y=\"18\" class=\"col\">events</text>\
         <text x=\"{}\" y=\"18\" class=\"col\">consumers</text>\n",
        SERVICE_X[0], SERVICE_X[1]
    );
    let index = |list: &[&str], name: &str| list.iter().position(|n| *n == name).unwrap_or(0);
    for (i, e) in events.iter().enumerate() {
        let y = centre(i, events.len());
        let py = centre(index(&producers, &e.producer), producers.len());
        edge(&mut out, SERVICE_X[0] + SERVICE_W, py, EVENT_X, y);
        for c in &e.consumers {
            let cy = centre(index(&consumers, c), consumers.len());
            edge(&mut out, EVENT_X + EVENT_W, y, SERVICE_X[1], cy);
        }
    }
    for (i, p) in producers.iter().enumerate() {
        let href = format!("{root}services/{p}.html");
        node(
            &mut out,
            &href,
            SERVICE_X[0],
            centre(i, producers.len()),
            SERVICE_W,
            p,
            "service",
        );
    }
    for (i, e) in events.iter().enumerate() {
        let href = format!("{root}{}.html", e.page);
        let class = if e.deprecated {
            "event deprecated"
        } else {
            "event"
        };
        let label = format!("{} · {}", e.message_type, e.routing_key);
        node(
            &mut out,
            &href,
            EVENT_X,
            centre(i, events.len()),
            EVENT_W,
            &label,
            class,
        );
    }
    for (i, c) in consumers.iter().enumerate() {
        let href = format!("{root}services/{c}.html");
        node(
            &mut out,
            &href,
            SERVICE_X[1],
            centre(i, consumers.len()),
            SERVICE_W,
            c,
            "service",
        );
    }
    out.push_str("</svg>\n");
    out
}

fn edge(out: &mut String, x1: usize, y1: usize, x2: usize, y2: usize) {
    let mid = (x1 + x2) / 2;
    let _ = writeln!(
        out,
        "<path class=\"edge\" d=\"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}\"/>"
    );
}

fn node(out: &mut String, href: &str, x: usize, y: usize, w: usize, label: &str, class: &str) {
    // Long labels are cut to the box; the full text is in the tooltip.
    let max = w / 7;
    let shown: String = if label.chars().count() > max {
        label
            .chars()
            .take(max.saturating_sub(1))
            .chain(['…'])
            .collect()
    } else {
        label.to_owned()
    };
    let _ = writeln!(
        out,
        "<a href=\"{}\"><g class=\"{class}\"><title>{}</title>\
         <rect x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{BOX}\" rx=\"4\"/>\
         <text x=\"{}\" y=\"{}\">{}</text></g></a>",
        escape(href),
        escape(label),
        y - BOX / 2,
        x + 6,
        y + 5,
        escape(&shown)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, producer: &str, consumers: &[&str]) -> Summary {
        Summary {
            message_type: format!("{name}.v1"),
            name: name.into(),
            version: 1,
            page: format!("events/{name}/v1"),
            routing_key: "a.b".into(),
            exchange: "x".into(),
            catalog_exchange: "x".into(),
            producer: producer.into(),
            consumers: consumers.iter().map(|c| c.to_string()).collect(),
            deprecated: false,
            latest: true,
            search: String::new(),
        }
    }

    #[test]
    fn one_node_per_service_and_event_and_one_edge_per_hop() {
        let events = [
            event("A", "p", &["c1", "c2"]),
            event("B", "p", &["c2"]),
            event("<C>", "q", &[]),
        ];
        let svg = svg(&events, "../");
        assert_eq!(svg.matches("class=\"service\"").count(), 4, "p, q, c1, c2");
        assert_eq!(svg.matches("class=\"event\"").count(), 3);
        assert_eq!(svg.matches("class=\"edge\"").count(), 3 + 3);
        assert!(svg.contains("href=\"../events/A/v1.html\""));
        assert!(svg.contains("&lt;C&gt;.v1") && !svg.contains("<C>"));
    }
}
