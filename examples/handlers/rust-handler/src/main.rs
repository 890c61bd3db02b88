// src/main.rs
//
// Change from seed 000: the seed answered every connection without reading the
// request and without Content-Length. Closing a socket that still holds unread
// request bytes makes the kernel send a TCP reset instead of a clean close, so
// curl failed with "(56) Recv failure: Connection reset by peer" on ~40% of GETs
// and on every POST with a body. The minimal fix: read the request head (and a
// Content-Length body) before answering, and send Content-Length and
// Connection: close. Still std only, one connection at a time, as in the seed.
use std::os::unix::net::UnixStream;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

fn read_request(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let body_len = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut remaining = body_len.saturating_sub(buf.len() - head_end);
    while remaining > 0 {
        let n = stream.read(&mut chunk[..remaining.min(4096)])?;
        if n == 0 {
            break;
        }
        remaining -= n;
    }
    Ok(())
}

fn main() {
    // Connect to orchestrator
    let socket_path = std::env::var("AETHER_SOCKET").unwrap();
    let mut stream = UnixStream::connect(&socket_path).unwrap();
    stream.write_all(b"READY").unwrap();
    
    // Start server
    let port = std::env::var("AETHER_TRIGGER_PORT").unwrap_or("9000".into());
    let listener = TcpListener::bind(format!("0.0.0.0:{}", port)).unwrap();
    
    for mut stream in listener.incoming().flatten() {
        if read_request(&mut stream).is_err() {
            continue;
        }
        let body = "{\"status\":\"ok\"}";
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            body
        );
        let _ = stream.write_all(response.as_bytes());
    }
}
