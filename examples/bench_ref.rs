//! The benchmark's physical-limit reference: answers every HTTP/1.1
//! request with the same bytes as bench/apps/hello.py, without Python, so
//! the report shows how much per-request cost is Python's and how much is
//! the server's. `bench_ref PORT`; one thread, keep-alive, pipelining.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut filled = 0;
                let mut out = Vec::with_capacity(4096);
                loop {
                    let Ok(n) = stream.read(&mut buf[filled..]).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    filled += n;
                    let mut start = 0;
                    let mut close = false;
                    while let Some(end) =
                        buf[start..filled].windows(4).position(|w| w == b"\r\n\r\n")
                    {
                        let head = &buf[start..start + end];
                        close |= head
                            .windows(17)
                            .any(|w| w.eq_ignore_ascii_case(b"connection: close"));
                        out.extend_from_slice(RESPONSE);
                        start += end + 4;
                    }
                    buf.copy_within(start..filled, 0);
                    filled -= start;
                    if stream.write_all(&out).await.is_err() || close {
                        return;
                    }
                    out.clear();
                    if filled == buf.len() {
                        return;
                    }
                }
            });
        }
    })
}
