//! The listening socket: how many connections wait to be accepted, and how each is set up.

use std::net::SocketAddr;

use poem::{
    http::uri::Scheme,
    listener::{Acceptor, TcpAcceptor},
    web::{LocalAddr, RemoteAddr},
};
use tokio::net::{TcpSocket, TcpStream};

/// Accepts TCP connections with Nagle's algorithm off. Chat frames are small and answer a
/// request: held back until the previous segment is acknowledged, an ack or a push could wait
/// for the peer's delayed ACK (tens of milliseconds) for nothing.
pub(super) struct NoDelayAcceptor(TcpAcceptor);

impl NoDelayAcceptor {
    /// Listens on `addr` with room for `backlog` connections waiting to be accepted.
    ///
    /// Not poem's `TcpListener::bind`: like the standard library's, it asks for a backlog of 128.
    /// In a reconnect storm thousands of clients connect within a second; past the 128th the
    /// kernel drops their handshakes, and each client tries again only after a second (then
    /// three), while the server's cores sit idle. Most of a storm's wait was spent there.
    pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<Self> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // As the standard library does: a restarted server may bind while the old connections
        // of its port are still in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(backlog)?;
        TcpAcceptor::from_tokio(listener).map(Self)
    }
}

impl Acceptor for NoDelayAcceptor {
    type Io = TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> std::io::Result<(TcpStream, LocalAddr, RemoteAddr, Scheme)> {
        let accepted = self.0.accept().await?;
        if let Err(err) = accepted.0.set_nodelay(true) {
            tracing::debug!(error = %err, "could not turn Nagle's algorithm off");
        }
        Ok(accepted)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::future::join_all;

    use super::*;

    /// More clients than the usual backlog of 128 connect at once while the server is not
    /// accepting (as when it is busy): the kernel completes every handshake instead of dropping
    /// those past the 128th, whose clients would retry only a second later.
    #[tokio::test]
    async fn connections_beyond_128_wait_in_the_backlog_instead_of_being_dropped() {
        const CLIENTS: usize = 600;
        let acceptor = NoDelayAcceptor::bind("127.0.0.1:0".parse().unwrap(), 1024).unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        let connecting = (0..CLIENTS)
            .map(|_| tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)));
        let connected = join_all(connecting)
            .await
            .into_iter()
            .filter(|attempt| matches!(attempt, Ok(Ok(_))))
            .count();
        assert_eq!(connected, CLIENTS);
        drop(acceptor);
    }
}
