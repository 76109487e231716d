//! Reading a connection in pieces, so that what a connection keeps is small.
//!
//! hyper reads a connection into a buffer that lives as long as the connection. While reads keep
//! filling it, it doubles the next read, up to [`super::READ_BUFFER_MAX`]: a 90 KB body made each
//! connection keep 64–128 KB from then on, idle or waiting for its delivery. Served through
//! [`InPieces`], no read takes more than [`READ_PIECE`], so hyper's next read stays at twice
//! that, and a connection's buffer stays at about 16 KB (`tests/memory.rs` counts what a waiting
//! POST keeps). A head longer than a piece still arrives whole, over several reads; the price is
//! more reads for a large body, a few per cent of a POST's CPU (BENCHMARKS.md, session 11).

use std::{
    io,
    pin::Pin,
    task::{ready, Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// The most one read takes: hyper's first buffer size.
const READ_PIECE: usize = 8 * 1024;

/// A connection read at most [`READ_PIECE`] bytes at a time; writes go through as they are.
pub struct InPieces(pub TcpStream);

impl AsyncRead for InPieces {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let stream = &mut self.get_mut().0;
        if buf.remaining() <= READ_PIECE {
            return Pin::new(stream).poll_read(cx, buf);
        }
        let mut piece = ReadBuf::new(buf.initialize_unfilled_to(READ_PIECE));
        ready!(Pin::new(stream).poll_read(cx, &mut piece))?;
        let read = piece.filled().len();
        buf.advance(read);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for InPieces {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
