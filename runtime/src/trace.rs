//! W3C Trace Context (`traceparent`) carried in message headers, so a trace continues from a
//! publisher through every consumer that publishes in turn.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// The AMQP header that carries the trace context.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// A `traceparent` value: version 00, trace ID, parent span ID and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// 16-byte trace ID (never all zero).
    pub trace_id: [u8; 16],
    /// 8-byte ID of the span that sent the message (never all zero).
    pub span_id: [u8; 8],
    /// Trace flags; bit 0 is `sampled`.
    pub flags: u8,
}

impl TraceContext {
    /// A new trace with a random trace ID and span ID, sampled.
    pub fn new_root() -> Self {
        let bytes = *Uuid::new_v4().as_bytes();
        TraceContext {
            trace_id: bytes,
            span_id: random_span_id(),
            flags: 1,
        }
    }

    /// A new span in the same trace, for a message sent while handling this one.
    pub fn child(&self) -> Self {
        TraceContext {
            trace_id: self.trace_id,
            span_id: random_span_id(),
            flags: self.flags,
        }
    }

    /// The trace ID as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }
}

fn random_span_id() -> [u8; 8] {
    let bytes = Uuid::new_v4().into_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[8..]);
    if id == [0; 8] {
        id[7] = 1;
    }
    id
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.span_id),
            self.flags
        )
    }
}

/// Why a `traceparent` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a W3C traceparent (expected 00-<32 hex>-<16 hex>-<2 hex>, nonzero IDs)")]
pub struct InvalidTraceParent;

impl FromStr for TraceContext {
    type Err = InvalidTraceParent;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.trim().split('-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidTraceParent);
        };
        // Version 00 has exactly four fields; a later version may append more.
        if version != "00" && (version == "ff" || unhex::<1>(version).is_none()) {
            return Err(InvalidTraceParent);
        }
        if version == "00" && parts.next().is_some() {
            return Err(InvalidTraceParent);
        }
        let trace_id = unhex::<16>(trace).ok_or(InvalidTraceParent)?;
        let span_id = unhex::<8>(span).ok_or(InvalidTraceParent)?;
        let [flags] = unhex::<1>(flags).ok_or(InvalidTraceParent)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return Err(InvalidTraceParent);
        }
        Ok(TraceContext {
            trace_id,
            span_id,
            flags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_values() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tc: TraceContext = text.parse().unwrap();
        assert_eq!(tc.to_string(), text);
        assert_eq!(tc.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let child = tc.child();
        assert_eq!(child.trace_id, tc.trace_id);
        assert_ne!(child.span_id, tc.span_id);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-é€f92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            assert_eq!(
                bad.parse::<TraceContext>(),
                Err(InvalidTraceParent),
                "{bad}"
            );
        }
        let root = TraceContext::new_root();
        assert_eq!(root.to_string().parse::<TraceContext>(), Ok(root));
    }
}
