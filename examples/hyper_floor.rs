//! The floor of `tokenctl serve`'s HTTP stack, for `bench/serve.sh` (`HYPER_FLOOR=1`):
//! tokio and hyper set up as `serve` sets them up (serve's own one-thread runtime and
//! HTTP/1 options, TCP_NODELAY, mimalloc), answering every request with an empty 200 and
//! doing nothing else: no routing, no token, no cache, no usage, no connection watchdog.
//! What `serve` costs above this is tokenctl's; what this costs above nginx `return 200;`
//! is the stack's.
//!
//!   cargo run --release --example hyper_floor -- 127.0.0.1:8099

use std::convert::Infallible;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let Some(address) = std::env::args().nth(1) else {
        eprintln!("usage: hyper_floor ADDRESS:PORT");
        std::process::exit(2);
    };
    Ok(tokenctl::serve::runtime(1)?.block_on(serve(&address))?)
}

async fn serve(address: &str) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let http = tokenctl::serve::http_builder();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(
            TokioIo::new(stream),
            service_fn(|_request| async {
                let mut answer = Response::new(Empty::<Bytes>::new());
                *answer.status_mut() = StatusCode::OK;
                Ok::<_, Infallible>(answer)
            }),
        );
        tokio::spawn(conn);
    }
}
