//! Throws away the JetStream streams of earlier test and benchmark runs (`t_…`), as the test
//! databases are: at the start of the next run, so a failed run's streams can still be inspected.
//! They must go: a stream's `max_bytes` is reserved on the server whether used or not, and after a
//! few dozen runs nats-server refuses new streams ("insufficient storage resources").
//!
//! Plain NATS protocol over a std socket (request, reply on an inbox): xtask stays without an async
//! runtime and client library, which keeps `cargo xtask` quick to build.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    time::Duration,
};

/// Deletes every stream whose name starts with `t_` on the server at `addr` (`host:port`).
/// Returns how many were deleted; failures only print a note (a stale stream is not fatal).
pub fn sweep_test_streams(addr: &str) -> usize {
    match sweep(addr) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("xtask: could not clean up old test streams on {addr}: {e}");
            0
        }
    }
}

fn sweep(addr: &str) -> std::io::Result<usize> {
    let mut conn = Conn::open(addr)?;
    let mut names = Vec::new();
    loop {
        let reply = conn.request(
            "$JS.API.STREAM.NAMES",
            &format!("{{\"offset\":{}}}", names.len()),
        )?;
        let page = string_array(&reply, "\"streams\":");
        let total = number(&reply, "\"total\":").unwrap_or(0);
        if page.is_empty() {
            break;
        }
        names.extend(page);
        if names.len() >= total {
            break;
        }
    }
    let mut deleted = 0;
    for name in names.iter().filter(|n| n.starts_with("t_")) {
        let reply = conn.request(&format!("$JS.API.STREAM.DELETE.{name}"), "")?;
        if reply.contains("\"success\":true") {
            deleted += 1;
        }
    }
    Ok(deleted)
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let writer = stream.try_clone()?;
        let mut conn = Self {
            reader: BufReader::new(stream),
            writer,
        };
        conn.line()?; // INFO
        conn.writer.write_all(
            b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB _INBOX.xtask 1\r\n",
        )?;
        Ok(conn)
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end().to_owned())
    }

    /// Publishes `payload` to `subject` and returns the first reply.
    fn request(&mut self, subject: &str, payload: &str) -> std::io::Result<String> {
        self.writer.write_all(
            format!(
                "PUB {subject} _INBOX.xtask {}\r\n{payload}\r\n",
                payload.len()
            )
            .as_bytes(),
        )?;
        loop {
            let line = self.line()?;
            if line == "PING" {
                self.writer.write_all(b"PONG\r\n")?;
            } else if let Some(rest) = line.strip_prefix("MSG ") {
                let size: usize = rest
                    .rsplit(' ')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or(std::io::ErrorKind::InvalidData)?;
                let mut body = vec![0; size + 2];
                self.reader.read_exact(&mut body)?;
                body.truncate(size);
                return String::from_utf8(body).map_err(|_| std::io::ErrorKind::InvalidData.into());
            } else if line.starts_with("-ERR") {
                return Err(std::io::Error::other(line));
            }
        }
    }
}

/// The strings of the JSON array after `key` (stream names hold no quotes or escapes).
fn string_array(json: &str, key: &str) -> Vec<String> {
    let Some(start) = json.find(key).map(|i| i + key.len()) else {
        return Vec::new();
    };
    let rest = json[start..].trim_start();
    let Some(body) = rest.strip_prefix('[').and_then(|r| r.split(']').next()) else {
        return Vec::new();
    };
    body.split(',')
        .map(|s| s.trim().trim_matches('"').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn number(json: &str, key: &str) -> Option<usize> {
    let start = json.find(key)? + key.len();
    json[start..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_names_reply() {
        let reply = r#"{"type":"io.nats.jetstream.api.v1.stream_names_response","total":3,"offset":0,"limit":1024,"streams":["t_a_events","gewebe_events","t_b_dlq"]}"#;
        assert_eq!(
            super::string_array(reply, "\"streams\":"),
            ["t_a_events", "gewebe_events", "t_b_dlq"]
        );
        assert_eq!(super::number(reply, "\"total\":"), Some(3));
        assert!(super::string_array(r#"{"streams":null}"#, "\"streams\":").is_empty());
    }
}
