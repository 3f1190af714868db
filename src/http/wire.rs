//! The error responses hyper writes by itself, given the API's JSON body.
//!
//! A request hyper cannot parse (a target over 64 KiB, a head over the
//! buffer limit, bytes that are not HTTP) never reaches the router: hyper
//! answers 400, 414 or 431 with an empty body and closes the connection.
//! [`JsonErrors`] wraps a connection's stream and, when such a bare
//! response is written, writes the same status with the documented
//! `{"error": {"code", "message"}}` body instead. Every other byte passes
//! through unchanged.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection's stream whose bare error responses get a JSON body.
pub struct JsonErrors<S> {
    inner: S,
    /// The head-size limit, for the 431 message.
    max_head_bytes: usize,
    /// A replacement response still being written, and how much of it is.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> JsonErrors<S> {
    pub fn new(inner: S, max_head_bytes: usize) -> Self {
        JsonErrors {
            inner,
            max_head_bytes,
            pending: None,
        }
    }
}

/// The JSON response to write instead of `buf`, if `buf` is exactly one
/// bare error response: a `4xx` or `5xx` status line and a head saying
/// `content-length: 0`, and nothing after it.
fn replacement(buf: &[u8], max_head_bytes: usize) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(buf).ok()?;
    let head = text.strip_suffix("\r\n\r\n")?;
    if head.contains("\r\n\r\n") {
        return None;
    }
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    if status < 400 {
        return None;
    }
    let mut bare = false;
    let mut date = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            bare = value == "0";
        } else if name.eq_ignore_ascii_case("date") {
            date = Some(value);
        }
    }
    if !bare {
        return None;
    }
    let (code, message) = match status {
        414 => (
            "uri_too_long",
            "the request target is too long for the server; send long inputs in a POST body"
                .to_string(),
        ),
        431 => (
            "headers_too_large",
            format!(
                "the request head is over the limit of {max_head_bytes} bytes or 100 headers; send fewer or shorter headers"
            ),
        ),
        400..=499 => (
            "invalid_request",
            "the request is not valid HTTP/1.1".to_string(),
        ),
        _ => (
            "internal",
            "internal error; the server log has the cause".to_string(),
        ),
    };
    debug_assert!(
        super::ERROR_CODES.contains(&code),
        "undocumented error code `{code}`"
    );
    let body = serde_json::to_string(&super::ErrorBody {
        error: super::error::ErrorDetail { code, message },
    })
    .unwrap_or_default();
    let mut out = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(date) = date {
        out.push_str(&format!("date: {date}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<S: AsyncWrite + Unpin> JsonErrors<S> {
    /// Writes what remains of a replacement; ready once it is all written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n =
                std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_pending(cx))?;
        if let Some(bytes) = replacement(buf, this.max_head_bytes) {
            // The whole bare response counts as written once its
            // replacement is queued; flush and shutdown write the rest.
            this.pending = Some((bytes, 0));
            // Start now; what does not fit waits for the next poll.
            if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then writes each response head in one buffer,
    // which is what `replacement` looks at.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_414_gets_the_json_body_and_keeps_its_date() {
        let bare = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 01:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(replacement(bare, 1024).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(
            head.contains("date: Wed, 02 Dec 2026 01:00:00 GMT"),
            "{head}"
        );
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "uri_too_long");
    }

    #[test]
    fn responses_of_the_api_pass_through() {
        // A success, an error with its body, a head followed by body bytes,
        // and a body chunk are all left alone.
        for bytes in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            b"{\"error\": 1}",
        ] {
            assert_eq!(replacement(bytes, 1024), None, "{}", String::from_utf8_lossy(bytes));
        }
    }
}
