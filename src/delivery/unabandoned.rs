//! A future that outlives its caller: what a request starts, the request's end does not stop.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

/// A future polled by whoever awaits it that, if dropped before it is done, finishes as a task of
/// its own: a delivery handed over by a request outlives the request.
pub(super) struct Unabandoned<F: Future + Send + 'static>(Option<Pin<Box<F>>>)
where
    F::Output: Send;

impl<F: Future + Send + 'static> Unabandoned<F>
where
    F::Output: Send,
{
    pub(super) fn new(future: F) -> Self {
        Unabandoned(Some(Box::pin(future)))
    }
}

impl<F: Future + Send + 'static> Future for Unabandoned<F>
where
    F::Output: Send,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let future = self.0.as_mut().expect("polled after it finished");
        let output = std::task::ready!(future.as_mut().poll(cx));
        self.0 = None;
        Poll::Ready(output)
    }
}

impl<F: Future + Send + 'static> Drop for Unabandoned<F>
where
    F::Output: Send,
{
    fn drop(&mut self) {
        // Without a runtime (it is shutting down) the delivery stops here, as a spawned task
        // would; a row already stored is resumed at the next start.
        if let (Some(future), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(future);
        }
    }
}
