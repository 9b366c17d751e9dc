//! Fewer, larger writes for an HTTP/2 connection.
//!
//! hyper runs each HTTP/2 stream's body on its own task, and every frame a stream queues wakes the
//! connection's task, which tokio then runs next and which flushes at once. When one event goes
//! out to the 200 streams of a connection, that is a `writev` per frame (the feed benchmark
//! counted 0.8 per delivery). This adapter answers the first flush after new writes with a yield:
//! the connection's task goes to the back of the run queue, the other streams queue their frames
//! meanwhile, and the next flush writes them all in one go. hyper has no setting for this.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use hyper::rt::{Read, ReadBufCursor, Write};

/// Above this many buffered bytes a write waits for the socket instead of buffering more.
const LIMIT: usize = 64 * 1024;

pub(super) struct Coalesce<T> {
    inner: T,
    buf: Vec<u8>,
    /// How much of `buf` the socket took already.
    sent: usize,
    /// The current flush has yielded once already.
    yielded: bool,
}

impl<T> Coalesce<T> {
    pub(super) fn new(inner: T) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            sent: 0,
            yielded: false,
        }
    }
}

impl<T: Write + Unpin> Coalesce<T> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(rest) = self.buf.get(self.sent..).filter(|r| !r.is_empty()) {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.buf.clear();
        self.sent = 0;
        // A burst may have grown the buffer; an idle connection should not keep it.
        if self.buf.capacity() > LIMIT {
            self.buf.shrink_to(LIMIT);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: Read + Unpin> Read for Coalesce<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Coalesce<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.buf.len() >= LIMIT {
            ready!(this.drain(cx))?;
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.buf.len() > this.sent && !this.yielded {
            // Woken by itself, a task is queued behind the tasks already waiting (tokio).
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        ready!(this.drain(cx))?;
        this.yielded = false;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        task::Wake,
    };

    use super::*;

    /// A socket that takes at most `per_write` bytes a call and records each call.
    #[derive(Default)]
    struct Socket {
        writes: Vec<Vec<u8>>,
        per_write: usize,
    }

    impl Write for Socket {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = data.len().min(self.per_write);
            self.get_mut().writes.push(data[..n].to_vec());
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    #[allow(clippy::similar_names, clippy::cast_possible_truncation)]
    fn frames_queued_around_a_yield_leave_in_one_write() {
        let wakes = Arc::new(Wakes::default());
        let waker = std::task::Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut io = Coalesce::new(Socket {
            per_write: usize::MAX,
            ..Socket::default()
        });
        let mut io = Pin::new(&mut io);

        assert!(io.as_mut().poll_write(&mut cx, b"frame 1;").is_ready());
        // The first flush yields (and wakes itself), writing nothing yet.
        assert!(io.as_mut().poll_flush(&mut cx).is_pending());
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
        assert!(io.inner.writes.is_empty());
        // Other streams queue their frames meanwhile; the next flush sends them all at once.
        assert!(io.as_mut().poll_write(&mut cx, b"frame 2;").is_ready());
        assert!(io.as_mut().poll_write(&mut cx, b"frame 3;").is_ready());
        assert!(io.as_mut().poll_flush(&mut cx).is_ready());
        assert_eq!(io.inner.writes, [b"frame 1;frame 2;frame 3;".to_vec()]);
        // Nothing buffered: a flush goes straight through.
        assert!(io.as_mut().poll_flush(&mut cx).is_ready());
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn partial_writes_and_a_full_buffer_lose_nothing() {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut io = Coalesce::new(Socket {
            per_write: 1000,
            ..Socket::default()
        });
        let mut io = Pin::new(&mut io);
        let data: Vec<u8> = (0..3 * LIMIT)
            .map(|i| u8::try_from(i % 251).unwrap_or_default())
            .collect();
        for chunk in data.chunks(LIMIT / 3) {
            assert!(io.as_mut().poll_write(&mut cx, chunk).is_ready());
        }
        assert!(io.as_mut().poll_shutdown(&mut cx).is_ready());
        assert_eq!(io.inner.writes.concat(), data);
        assert!(io.buf.is_empty());
    }
}
