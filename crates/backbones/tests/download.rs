//! Downloads of pretrained weights against a loopback HTTP server written here (std
//! `TcpListener`, one thread per connection): a good file is fetched once, verified and then
//! found offline; a wrong hash, a truncated body, a 404 and a stalled server fail fast and leave
//! nothing in the weights folder; concurrent downloads of one file all succeed.
#![cfg(feature = "download")]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use animescore_backbones::{
    BackboneError, Checksum, DownloadProgress, NoDownloadProgress, WeightsSource,
};
use sha2::{Digest, Sha256};

/// What the server answers for a path.
#[derive(Clone)]
enum Reply {
    /// 200 with the whole body.
    Body(Vec<u8>),
    /// Announces `announced` bytes, sends `body`, closes.
    Truncated { body: Vec<u8>, announced: usize },
    /// Announces `announced` bytes, sends `first`, then goes silent.
    StallBody { first: Vec<u8>, announced: usize },
    /// Never answers.
    StallHeaders,
    /// Announces `announced` bytes, then sends one byte every `every`.
    Trickle { announced: usize, every: Duration },
    /// Sends `body` in pieces of `piece` bytes every `every` (no length announced when
    /// `announce` is false: the body ends when the connection closes).
    Paced { body: Vec<u8>, piece: usize, every: Duration, announce: bool },
    /// Announces `announced` bytes (far more than any file), sends a little, closes.
    Claims { announced: u64 },
}

struct Server {
    base: String,
    /// Requests per path.
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Server {
    fn start(routes: Vec<(&str, Reply)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let routes: Arc<HashMap<String, Reply>> =
            Arc::new(routes.into_iter().map(|(p, r)| (p.to_string(), r)).collect());
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (routes, counter) = (routes.clone(), counter.clone());
                std::thread::spawn(move || answer(stream, &routes, &counter));
            }
        });
        Self { base, hits }
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().expect("lock").get(path).copied().unwrap_or(0)
    }
}

fn answer(
    mut stream: TcpStream,
    routes: &HashMap<String, Reply>,
    hits: &Mutex<HashMap<String, usize>>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    *hits.lock().expect("lock").entry(path.clone()).or_default() += 1;
    let header = |len: usize| {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
    };
    // Write errors only mean the client gave up, which some tests intend.
    let _ = match routes.get(&path) {
        None => stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        Some(Reply::Body(body)) => {
            stream.write_all(header(body.len()).as_bytes()).and_then(|_| stream.write_all(body))
        }
        Some(Reply::Truncated { body, announced }) => {
            stream.write_all(header(*announced).as_bytes()).and_then(|_| stream.write_all(body))
        }
        Some(Reply::StallBody { first, announced }) => {
            let sent = stream
                .write_all(header(*announced).as_bytes())
                .and_then(|_| stream.write_all(first))
                .and_then(|_| stream.flush());
            std::thread::sleep(Duration::from_secs(30));
            sent
        }
        Some(Reply::StallHeaders) => {
            std::thread::sleep(Duration::from_secs(30));
            Ok(())
        }
        Some(Reply::Trickle { announced, every }) => {
            let mut sent = stream.write_all(header(*announced).as_bytes());
            for _ in 0..*announced {
                std::thread::sleep(*every);
                sent = sent.and_then(|_| stream.write_all(b"x")).and_then(|_| stream.flush());
                if sent.is_err() {
                    break;
                }
            }
            sent
        }
        Some(Reply::Paced { body, piece, every, announce }) => {
            let head = match announce {
                true => header(body.len()),
                false => "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_string(),
            };
            let mut sent = stream.write_all(head.as_bytes());
            for chunk in body.chunks(*piece) {
                sent = sent.and_then(|_| stream.write_all(chunk)).and_then(|_| stream.flush());
                if sent.is_err() {
                    break;
                }
                std::thread::sleep(*every);
            }
            sent
        }
        Some(Reply::Claims { announced }) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&[0u8; 4096]))
        }
    };
}

/// The size cap of the test files: well above their 300 KB.
const LIMIT: u64 = 1 << 20;

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// 300 KB of not-quite-random bytes: several reads, several progress steps.
fn payload() -> Vec<u8> {
    (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn source(dir: &Path, mirror: &str) -> WeightsSource {
    WeightsSource {
        dir: Some(dir.to_path_buf()),
        mirror: mirror.to_string(),
        offline: false,
        connect_timeout: Duration::from_secs(2),
        stall_timeout: Duration::from_millis(300),
        deadline: Duration::from_secs(20),
        min_bytes_per_second: 0,
        rate_window: Duration::from_secs(1),
    }
}

/// Every file in `dir`, hidden ones (temporary downloads) included.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[derive(Default)]
struct Recorder {
    announced: AtomicU64,
    received: AtomicU64,
    finished: AtomicUsize,
}

impl DownloadProgress for Recorder {
    fn start(&self, _url: &str, bytes: Option<u64>) {
        self.announced.store(bytes.unwrap_or(0), Ordering::SeqCst);
    }
    fn advance(&self, bytes: u64) {
        self.received.fetch_add(bytes, Ordering::SeqCst);
    }
    fn finish(&self) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_good_file_is_downloaded_once_verified_and_then_found_offline() {
    let body = payload();
    let server = Server::start(vec![("/net-1234abcd.pth", Reply::Body(body.clone()))]);
    let dir = tempfile::tempdir().expect("tempdir");
    let hex = sha256_hex(&body);
    let progress = Recorder::default();

    let path = source(dir.path(), &server.base)
        .fetch("net-1234abcd.pth", Checksum::Sha256(&hex), LIMIT, &progress)
        .expect("download");
    assert_eq!(path, dir.path().join("net-1234abcd.pth"));
    assert_eq!(std::fs::read(&path).expect("read"), body);
    assert_eq!(listing(dir.path()), vec!["net-1234abcd.pth"], "no temporary file left");
    assert_eq!(progress.announced.load(Ordering::SeqCst), body.len() as u64);
    assert_eq!(progress.received.load(Ordering::SeqCst), body.len() as u64);
    assert_eq!(progress.finished.load(Ordering::SeqCst), 1);

    // Offline, with a mirror nobody listens on: the cached file is verified and used.
    let mut offline = source(dir.path(), "http://127.0.0.1:9");
    offline.offline = true;
    let again = offline
        .fetch("net-1234abcd.pth", Checksum::Sha256(&hex), LIMIT, &NoDownloadProgress)
        .expect("cached");
    assert_eq!(again, path);
    // A prefix checksum (what torch.hub checks) accepts the same file.
    offline
        .fetch("net-1234abcd.pth", Checksum::Sha256Prefix(&hex[..8]), LIMIT, &NoDownloadProgress)
        .expect("prefix");
    assert_eq!(server.hits("/net-1234abcd.pth"), 1, "downloaded exactly once");
}

#[test]
fn a_wrong_hash_is_rejected_and_nothing_is_kept() {
    let server = Server::start(vec![("/net-1234abcd.pth", Reply::Body(payload()))]);
    let dir = tempfile::tempdir().expect("tempdir");
    let other = sha256_hex(b"something else");
    let err = source(dir.path(), &server.base)
        .fetch("net-1234abcd.pth", Checksum::Sha256(&other), LIMIT, &NoDownloadProgress)
        .expect_err("wrong hash");
    match &err {
        BackboneError::Checksum { expected, actual, .. } => {
            assert_eq!(expected, &other);
            assert_eq!(actual, &sha256_hex(&payload()));
        }
        other => panic!("{other:?}"),
    }
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    // The same with a prefix check.
    let err = source(dir.path(), &server.base)
        .fetch("net-1234abcd.pth", Checksum::Sha256Prefix("00000000"), LIMIT, &NoDownloadProgress)
        .expect_err("wrong prefix");
    assert!(matches!(err, BackboneError::Checksum { .. }), "{err:?}");
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn a_truncated_body_is_rejected_and_nothing_is_kept() {
    let body = payload();
    let half = body[..body.len() / 2].to_vec();
    let server = Server::start(vec![(
        "/net-1234abcd.pth",
        Reply::Truncated { body: half, announced: body.len() },
    )]);
    let dir = tempfile::tempdir().expect("tempdir");
    let err = source(dir.path(), &server.base)
        .fetch("net-1234abcd.pth", Checksum::Sha256(&sha256_hex(&body)), LIMIT, &NoDownloadProgress)
        .expect_err("truncated");
    assert!(matches!(err, BackboneError::Download { .. }), "{err:?}");
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn a_missing_file_is_a_download_error_naming_the_url() {
    let server = Server::start(vec![]);
    let dir = tempfile::tempdir().expect("tempdir");
    let err = source(dir.path(), &server.base)
        .fetch("net-1234abcd.pth", Checksum::Sha256Prefix("1234abcd"), LIMIT, &NoDownloadProgress)
        .expect_err("404");
    let text = err.to_string();
    assert!(matches!(err, BackboneError::Download { .. }), "{err:?}");
    assert!(text.contains("404") && text.contains("/net-1234abcd.pth"), "{text}");
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn a_stalled_server_times_out_quickly() {
    let body = payload();
    let server = Server::start(vec![
        ("/body.pth", Reply::StallBody { first: body[..1000].to_vec(), announced: body.len() }),
        ("/headers.pth", Reply::StallHeaders),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    for file in ["body.pth", "headers.pth"] {
        let started = Instant::now();
        let err = source(dir.path(), &server.base)
            .fetch(file, Checksum::Sha256Prefix("1234abcd"), LIMIT, &NoDownloadProgress)
            .expect_err("stalled");
        assert!(matches!(err, BackboneError::Download { .. }), "{file}: {err:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{file}: {:?}", started.elapsed());
        assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    }
}

#[test]
fn concurrent_downloads_of_one_file_all_succeed() {
    let body = payload();
    let server = Server::start(vec![("/net-1234abcd.pth", Reply::Body(body.clone()))]);
    let dir = tempfile::tempdir().expect("tempdir");
    let hex = sha256_hex(&body);
    let source = source(dir.path(), &server.base);
    let paths: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    source.fetch(
                        "net-1234abcd.pth",
                        Checksum::Sha256(&hex),
                        LIMIT,
                        &NoDownloadProgress,
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread").expect("download")).collect()
    });
    assert!(paths.iter().all(|p| p == &dir.path().join("net-1234abcd.pth")));
    assert_eq!(std::fs::read(&paths[0]).expect("read"), body);
    assert_eq!(listing(dir.path()), vec!["net-1234abcd.pth"]);
}

#[test]
fn a_damaged_cached_file_is_deleted_then_downloaded_again_or_reported_offline() {
    let body = payload();
    let server = Server::start(vec![("/net-1234abcd.pth", Reply::Body(body.clone()))]);
    let dir = tempfile::tempdir().expect("tempdir");
    let hex = sha256_hex(&body);
    let cached = dir.path().join("net-1234abcd.pth");

    std::fs::write(&cached, &body[..1000]).expect("write");
    let mut offline = source(dir.path(), &server.base);
    offline.offline = true;
    let err = offline
        .fetch("net-1234abcd.pth", Checksum::Sha256(&hex), LIMIT, &NoDownloadProgress)
        .expect_err("damaged");
    assert!(matches!(err, BackboneError::Checksum { .. }), "{err:?}");
    assert!(!cached.exists(), "the damaged file is not left to be found again");
    assert_eq!(server.hits("/net-1234abcd.pth"), 0, "offline touches no network");

    std::fs::write(&cached, b"garbage").expect("write");
    let path = source(dir.path(), &server.base)
        .fetch("net-1234abcd.pth", Checksum::Sha256(&hex), LIMIT, &NoDownloadProgress)
        .expect("downloaded again");
    assert_eq!(std::fs::read(path).expect("read"), body);
    assert_eq!(server.hits("/net-1234abcd.pth"), 1);
}

#[test]
fn offline_without_a_cached_file_is_a_clear_error() {
    let server = Server::start(vec![("/net-1234abcd.pth", Reply::Body(payload()))]);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut offline = source(dir.path(), &server.base);
    offline.offline = true;
    let err = offline
        .fetch("net-1234abcd.pth", Checksum::Sha256Prefix("1234abcd"), LIMIT, &NoDownloadProgress)
        .expect_err("offline");
    let text = err.to_string();
    assert!(matches!(err, BackboneError::NotCached { .. }), "{err:?}");
    assert!(text.contains("ANIMESCORE_OFFLINE") && text.contains("net-1234abcd.pth"), "{text}");
    assert_eq!(server.hits("/net-1234abcd.pth"), 0);
}

#[test]
fn a_name_is_fetched_from_the_mirror_under_torchvisions_file_name_and_verified() {
    // Not torchvision's bytes: the table's real SHA-256 must reject them.
    let server = Server::start(vec![("/resnet18-f37072fd.pth", Reply::Body(payload()))]);
    let dir = tempfile::tempdir().expect("tempdir");
    let mirror = format!("{}/", server.base);
    let err = source(dir.path(), &mirror)
        .resolve("resnet18:imagenet", &NoDownloadProgress)
        .expect_err("fake");
    match &err {
        BackboneError::Checksum { origin, expected, .. } => {
            assert!(origin.ends_with("/resnet18-f37072fd.pth"), "{origin}");
            assert!(!origin.contains("//resnet18"), "trailing slash of the mirror: {origin}");
            assert!(expected.starts_with("f37072fd47e89c5e"), "{expected}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.hits("/resnet18-f37072fd.pth"), 1);
    assert!(listing(dir.path()).is_empty());

    // A path or a file in the weights folder is not a name and never hits the network.
    std::fs::write(dir.path().join("mine.pth"), b"x").expect("write");
    let found = source(dir.path(), &mirror).resolve("mine.pth", &NoDownloadProgress).expect("file");
    assert_eq!(found, dir.path().join("mine.pth"));
}

/// Issue 23: every download is bounded in time and size, and a planted huge file in the
/// weights folder is not hashed.
#[test]
fn trickling_slow_oversized_and_unannounced_downloads_fail_in_bounded_time() {
    let body = payload();
    let server = Server::start(vec![
        ("/trickle.pth", Reply::Trickle { announced: 1000, every: Duration::from_millis(100) }),
        (
            "/slow.pth",
            Reply::Paced {
                body: body.clone(),
                piece: 20_000,
                every: Duration::from_millis(100),
                announce: true,
            },
        ),
        ("/claims.pth", Reply::Claims { announced: 100_000_000_000 }),
        (
            "/unannounced.pth",
            Reply::Paced {
                body: vec![7u8; 3 * LIMIT as usize],
                piece: 1 << 16,
                every: Duration::ZERO,
                announce: false,
            },
        ),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let bounded = WeightsSource {
        deadline: Duration::from_secs(1),
        min_bytes_per_second: 1000,
        rate_window: Duration::from_millis(500),
        stall_timeout: Duration::from_secs(5),
        ..source(dir.path(), &server.base)
    };
    for (file, needle) in [
        ("trickle.pth", "below the minimum"),
        ("slow.pth", "not finished after"),
        ("claims.pth", "announces 100000000000 bytes"),
        ("unannounced.pth", "more than the 1048576 bytes"),
    ] {
        let started = Instant::now();
        let err = bounded
            .fetch(file, Checksum::Sha256Prefix("1234abcd"), LIMIT, &NoDownloadProgress)
            .expect_err(file);
        let text = err.to_string();
        assert!(matches!(err, BackboneError::Download { .. }), "{file}: {err:?}");
        assert!(text.contains(needle), "{file}: {text}");
        assert!(started.elapsed() < Duration::from_secs(4), "{file}: {:?}", started.elapsed());
        assert!(listing(dir.path()).is_empty(), "{file}: {:?}", listing(dir.path()));
    }
    // The slow file arrives within a longer deadline: the bound is the limit, not the rate.
    let patient = WeightsSource { deadline: Duration::from_secs(20), ..bounded };
    let hex = sha256_hex(&body);
    let path = patient
        .fetch("slow.pth", Checksum::Sha256(&hex), LIMIT, &NoDownloadProgress)
        .expect("slow but steady");
    assert_eq!(std::fs::read(path).expect("read"), body);
}

#[test]
fn a_planted_huge_file_is_deleted_without_being_hashed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let planted = dir.path().join("net-1234abcd.pth");
    // 20 GiB that take no disk: a sparse file.
    std::fs::File::create(&planted).expect("create").set_len(20 << 30).expect("set_len");
    let mut offline = source(dir.path(), "http://127.0.0.1:9");
    offline.offline = true;
    let started = Instant::now();
    let err = offline
        .fetch("net-1234abcd.pth", Checksum::Sha256Prefix("1234abcd"), LIMIT, &NoDownloadProgress)
        .expect_err("too large");
    assert!(started.elapsed() < Duration::from_secs(2), "hashed: {:?}", started.elapsed());
    assert!(err.to_string().contains("not computed"), "{err}");
    assert!(!planted.exists());
}
