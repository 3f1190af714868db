//! A deadline for a whole request body. `tower_http`'s body timeout is
//! reset by every piece that arrives, so a client dripping a byte every
//! few seconds could hold a connection (and one of its slots) for as long
//! as it likes; this wrapper fails the body once
//! [`crate::app::Limits::body_deadline`] has passed since the request
//! head arrived, whatever arrived meanwhile. Handlers read bodies through
//! the `Json` extractor, so the failure becomes the documented JSON 408.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};

/// The error a body that missed its deadline fails with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive whole within its deadline")]
pub struct BodyDeadline;

/// `inner`, failing with [`BodyDeadline`] once `deadline` has passed.
pub fn within(inner: Body, deadline: Duration) -> Body {
    Body::new(DeadlineBody {
        inner,
        sleep: Box::pin(tokio::time::sleep(deadline)),
        expired: false,
    })
}

struct DeadlineBody {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.expired {
            return Poll::Ready(None);
        }
        // What has arrived is read first; the deadline only stops waiting.
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(axum::BoxError::from)));
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired = true;
                Poll::Ready(Some(Err(Box::new(BodyDeadline))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.expired || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
