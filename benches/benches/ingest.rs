//! Ingest throughput: metadata files per second into a fresh SQLite index, and the metadata
//! parser alone against serde_json building a `Value` tree of the same bytes (what the parser
//! did before its single-pass rewrite, before any field was converted).
//!
//! Dataset: 20 000 synthetic records (`synth`, 16 px images, since only the metadata is read).
//! `ANIMESCORE_BENCH_RECORDS` overrides the count.

use std::time::Duration;

use std::hint::black_box;
use std::path::Path;

use animescore_dataset::{
    IngestOptions, NoProgress, PixivMetadata, SynthOptions, ingest, synthesize,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A gallery-dl record as `--write-metadata` writes it with `tags: original` (tags as objects),
/// with the keys animescore skips (caption, image addresses, series, profile images).
const GALLERY_DL_RECORD: &str = r#"{
    "caption": "<strong>\u65b0\u4f5c</strong><br />\u30b3\u30df\u30c3\u30af\u306e\u8868\u7d19 &amp; <a href=\"https://example.com/x?a=1&amp;b=2\" target=\"_blank\">link</a>",
    "create_date": "2023-05-01T21:00:00+09:00",
    "date": "2023-05-01 12:00:00",
    "height": 1700,
    "id": 108123456,
    "illust_ai_type": 1,
    "illust_book_style": 0,
    "image_urls": {"large": "https://i.pximg.net/c/600x1200_90/img-master/img/2023/05/01/21/00/00/108123456_p0_master1200.jpg", "medium": "https://i.pximg.net/c/540x540_70/img-master/img/2023/05/01/21/00/00/108123456_p0_master1200.jpg", "square_medium": "https://i.pximg.net/c/360x360_70/img-master/img/2023/05/01/21/00/00/108123456_p0_square1200.jpg"},
    "is_bookmarked": false,
    "is_muted": false,
    "meta_pages": [],
    "meta_single_page": {"original_image_url": "https://i.pximg.net/img-original/img/2023/05/01/21/00/00/108123456_p0.png"},
    "page_count": 1,
    "restrict": 0,
    "sanity_level": 2,
    "series": null,
    "tags": [
        {"name": "オリジナル", "translated_name": "original"},
        {"name": "女の子", "translated_name": "girl"},
        {"name": "制服", "translated_name": "uniform"},
        {"name": "青空", "translated_name": "blue sky"},
        {"name": "オリジナル1000users入り", "translated_name": "original 1000+ bookmarks"},
        {"name": "ふつくしい", "translated_name": null}
    ],
    "title": "夏の終わり",
    "tools": ["CLIP STUDIO PAINT", "Photoshop"],
    "total_bookmarks": 1523,
    "total_comments": 12,
    "total_view": 20431,
    "type": "illust",
    "user": {"account": "artist_account", "id": 1234567, "is_followed": false, "name": "画家", "profile_image_urls": {"medium": "https://i.pximg.net/user-profile/img/2020/01/01/00/00/00/123_abc_170.jpg"}},
    "visible": true,
    "width": 1200,
    "x_restrict": 0,
    "num": 0,
    "date_url": "2023-05-01 12:00:00",
    "url": "https://i.pximg.net/img-original/img/2023/05/01/21/00/00/108123456_p0.png",
    "rating": "General",
    "suffix": "",
    "category": "pixiv",
    "subcategory": "artworks",
    "filename": "108123456_p0",
    "extension": "png"
}"#;

fn parse(c: &mut Criterion) {
    let bytes = GALLERY_DL_RECORD.as_bytes();
    assert!(PixivMetadata::parse(Path::new("x.json"), bytes).is_ok());
    let mut group = c.benchmark_group("metadata_parse");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("ours_gallery_dl_record", |b| {
        b.iter(|| PixivMetadata::parse(Path::new("x.json"), black_box(bytes)))
    });
    group.bench_function("serde_json_value_tree_only", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(bytes)))
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let count: usize = std::env::var("ANIMESCORE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("temp dir");
    synthesize(dir.path(), &SynthOptions { count, seed: 1, size: 16 }).expect("synth");
    let db_dir = tempfile::tempdir().expect("temp dir");

    let mut group = c.benchmark_group("ingest");
    group.sample_size(10).measurement_time(Duration::from_secs(40));
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function(format!("fresh_index_{count}_records"), |b| {
        b.iter(|| {
            let db = db_dir.path().join("metadata.sqlite3");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
            let mut opts = IngestOptions::new(dir.path());
            opts.db_path = Some(db);
            let report = ingest(&opts, &NoProgress).expect("ingest");
            assert_eq!(report.added, count);
        })
    });
    group.bench_function(format!("rerun_unchanged_{count}_records"), |b| {
        let mut opts = IngestOptions::new(dir.path());
        opts.db_path = Some(db_dir.path().join("rerun.sqlite3"));
        ingest(&opts, &NoProgress).expect("ingest");
        b.iter(|| {
            let report = ingest(&opts, &NoProgress).expect("ingest");
            assert_eq!(report.unchanged, count);
        })
    });
    group.finish();
}

criterion_group!(benches, parse, bench);
criterion_main!(benches);
