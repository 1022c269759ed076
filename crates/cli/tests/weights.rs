//! `--weights NAME` through the binary: `ANIMESCORE_OFFLINE`, `ANIMESCORE_WEIGHTS_MIRROR` (a
//! loopback server written here) and the backbone check, all failing fast and leaving no file in
//! the weights folder. Nothing here reaches the internet.
#![cfg(feature = "download")]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use animescore_testkit::{Cli, arg, text};

/// Runs the binary with a private weights folder and the given environment.
fn animescore(weights: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"))
        .with_env("ANIMESCORE_WEIGHTS", arg(weights))
        .without_env("ANIMESCORE_OFFLINE")
        .without_env("ANIMESCORE_WEIGHTS_MIRROR");
    env.iter().fold(cli, |cli, (key, value)| cli.with_env(key, value)).run(args)
}

/// Reads a request up to the blank line after its headers.
fn read_request_head(stream: &mut std::net::TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
}

/// Answers every request with the same 200 body (not torchvision's file); counts requests.
fn fake_mirror() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            read_request_head(&mut stream);
            counter.fetch_add(1, Ordering::SeqCst);
            let body = b"not a torchvision file";
            let header = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = stream.write_all(header.as_bytes()).and_then(|_| stream.write_all(body));
        }
    });
    (base, hits)
}

/// Weights are resolved before any image is read, so the image need not exist.
fn image(dir: &Path) -> String {
    dir.join("a.png").to_string_lossy().into_owned()
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true)
}

#[test]
fn offline_without_the_file_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let weights = dir.path().join("weights");
    let img = image(dir.path());
    let out = animescore(
        &weights,
        &[("ANIMESCORE_OFFLINE", "1")],
        &["embed", "--backbone", "resnet18", "--weights", "resnet18:imagenet", &img],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("resnet18-f37072fd.pth"), "{stderr}");
    assert!(stderr.contains("ANIMESCORE_OFFLINE"), "{stderr}");
    assert!(
        stderr.contains("https://download.pytorch.org/models/resnet18-f37072fd.pth"),
        "{stderr}"
    );
    assert!(is_empty(&weights));
}

#[test]
fn the_mirror_replaces_the_host_and_a_wrong_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let weights = dir.path().join("weights");
    let img = image(dir.path());
    let (mirror, hits) = fake_mirror();
    let out = animescore(
        &weights,
        &[("ANIMESCORE_WEIGHTS_MIRROR", &mirror)],
        &["embed", "--backbone", "resnet50", "--weights", "resnet50:imagenet-v1", &img],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{mirror}/resnet50-0676ba61.pth")), "{stderr}");
    assert!(stderr.contains("expected 0676ba61b6795bbe"), "{stderr}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(is_empty(&weights), "nothing kept: {:?}", std::fs::read_dir(&weights).ok());
}

#[test]
fn a_name_for_another_backbone_is_refused_before_any_download() {
    let dir = tempfile::tempdir().expect("tempdir");
    let weights = dir.path().join("weights");
    let img = image(dir.path());
    let (mirror, hits) = fake_mirror();
    let env = [("ANIMESCORE_WEIGHTS_MIRROR", mirror.as_str())];
    let out = animescore(
        &weights,
        &env,
        &["embed", "--backbone", "resnet34", "--weights", "resnet18:imagenet", &img],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("are for backbone resnet18") && stderr.contains("--backbone resnet18"));

    // `train` checks its config the same way (the default backbone is `tiny`).
    let data = dir.path().join("data");
    let run = dir.path().join("run");
    let out = animescore(
        &weights,
        &env,
        &[
            "train",
            "--dataset",
            arg(&data),
            "--out",
            arg(&run),
            "--weights",
            "efficientnet-b0:imagenet",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("are for backbone efficientnet-b0"), "{stderr}");

    let out = animescore(
        &weights,
        &env,
        &["embed", "--backbone", "resnet50", "--weights", "resnet50:imagenet-v3", &img],
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("imagenet (= imagenet-v2), imagenet-v1, imagenet-v2"), "{stderr}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert!(is_empty(&weights));
}

/// Answers every request with a redirect to `location`.
fn redirecting_mirror(location: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            read_request_head(&mut stream);
            let reply =
                format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n");
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    base
}

/// Issue 23: a mirror that redirects to a local file is reported as that, not as "too many
/// redirects", and nothing is read from the file or kept.
#[test]
fn a_redirect_to_a_local_file_is_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let weights = dir.path().join("weights");
    let img = image(dir.path());
    let mirror = redirecting_mirror("file:///etc/passwd");
    let out = animescore(
        &weights,
        &[("ANIMESCORE_WEIGHTS_MIRROR", &mirror)],
        &["embed", "--backbone", "resnet18", "--weights", "resnet18:imagenet", &img],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("redirected to `file:///etc/passwd`, a file: URL"), "{stderr}");
    assert!(!stderr.contains("too many redirects"), "{stderr}");
    assert!(is_empty(&weights), "nothing kept: {:?}", std::fs::read_dir(&weights).ok());
}
