//! Ingest end to end on a synthetic dataset with bad files mixed in.

use std::path::Path;

use animescore_dataset::{
    CharacterTable, Database, IngestOptions, NoProgress, PixivMetadata, ingest,
};
use animescore_testkit::{DatasetSpec, aliases_of, metadata_of, synthetic_files};

fn base_of(json: &Path) -> String {
    let name = json.file_name().unwrap().to_string_lossy().to_string();
    let stem = name.strip_suffix(".json").unwrap();
    stem.rsplit_once('.').map(|(b, _)| b.to_string()).unwrap_or(stem.to_string())
}

#[test]
fn good_records_exact_bad_ones_reported_and_reruns_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let root = &synthetic_files(dir.path(), DatasetSpec::new(40, 3, 24));
    let good = metadata_of(root);
    assert_eq!(good.len(), 40);

    // Bad inputs, each with a reason we expect to see.
    let shard = root.join("99");
    std::fs::create_dir_all(&shard).unwrap();
    let png = std::fs::read(
        std::fs::read_dir(good[0].parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "png"))
            .unwrap(),
    )
    .unwrap();
    let bad: [(&str, &[u8], &str); 4] = [
        ("99000001_p0", b"{\"id\": 99000001, \"total_view\": ", "invalid JSON"),
        ("99000002_p0", b"{\"id\": 99000002, \"total_view\": \"many\"}", "total_view"),
        ("99000003_p0", b"{\"id\": 99000003, \"title\": \"\xff\xfe\"}", "UTF-8"),
        ("99000004_p0", b"{\"id\": 99000004, \"tags\": [1, 2]}", "tags[0]"),
    ];
    for (base, bytes, _) in &bad {
        std::fs::write(shard.join(format!("{base}.jpg.json")), bytes).unwrap();
        std::fs::write(shard.join(format!("{base}.png")), &png).unwrap();
    }
    std::fs::write(shard.join("99000005_p0.png.json"), b"{\"id\": 99000005}").unwrap();
    std::fs::write(shard.join("99000006_p0.png"), &png).unwrap();

    let opts = IngestOptions::new(root);
    let report = ingest(&opts, &NoProgress).unwrap();
    assert_eq!((report.added, report.updated, report.unchanged), (40, 0, 0), "{report:?}");
    assert_eq!(report.skipped(), 6, "{:#?}", report.problems);
    for (base, _, why) in &bad {
        let p = report.problems.iter().find(|p| p.path.to_string_lossy().contains(base)).unwrap();
        assert!(p.reason.contains(why), "{base}: {}", p.reason);
    }
    assert!(report.problems.iter().any(|p| p.reason == "metadata without image"));
    assert!(report.problems.iter().any(|p| p.reason == "image without metadata"));

    // Every good record is stored exactly as its file says.
    let db = Database::open_read_only(&opts.db_path()).unwrap();
    let records = db.records().unwrap();
    assert_eq!(records.len(), 40);
    for json in &good {
        let meta = PixivMetadata::parse(json, &std::fs::read(json).unwrap()).unwrap();
        let rec = records.iter().find(|r| r.filename == base_of(json)).unwrap();
        assert_eq!(rec.id, meta.id);
        assert_eq!(rec.bookmarks, meta.total_bookmarks);
        assert_eq!(rec.views, meta.total_view);
        assert_eq!(rec.date, meta.date);
        assert_eq!(rec.sanity_level, meta.sanity_level);
        assert_eq!(rec.tags, meta.tags.iter().map(|t| t.name.clone()).collect::<Vec<_>>());
        assert_eq!(rec.ai_flag, meta.is_ai());
        assert!(rec.resolve_image(root).unwrap().is_file());
    }
    drop(db);

    // Re-run: nothing changes.
    let again = ingest(&opts, &NoProgress).unwrap();
    assert_eq!((again.added, again.updated, again.unchanged), (0, 0, 40));

    // Rewriting a file with the same bytes (new mtime) is still unchanged; changing it updates.
    std::fs::write(&good[1], std::fs::read(&good[1]).unwrap()).unwrap();
    let text = std::fs::read_to_string(&good[2]).unwrap();
    let changed = text.replace("\"total_bookmarks\": ", "\"total_bookmarks\": 1");
    std::fs::write(&good[2], changed).unwrap();
    let third = ingest(&opts, &NoProgress).unwrap();
    assert_eq!((third.added, third.updated, third.unchanged), (0, 1, 39), "{third:?}");
    let db = Database::open_read_only(&opts.db_path()).unwrap();
    let meta = PixivMetadata::parse(&good[2], &std::fs::read(&good[2]).unwrap()).unwrap();
    let rec = db.records().unwrap().into_iter().find(|r| r.filename == base_of(&good[2])).unwrap();
    assert_eq!(rec.bookmarks, meta.total_bookmarks);
}

#[test]
fn character_aliases_fill_tag_character_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let root = &synthetic_files(dir.path(), DatasetSpec::new(30, 3, 24));
    let mut opts = IngestOptions::new(root);
    ingest(&opts, &NoProgress).unwrap();
    let db = Database::open_read_only(&opts.db_path()).unwrap();
    assert!(db.records().unwrap().iter().all(|r| r.tag_character == animescore_dataset::ORIGINAL));
    drop(db);

    opts.characters = Some(aliases_of(root));
    let report = ingest(&opts, &NoProgress).unwrap();
    assert!(report.characters_refreshed > 0);
    let table = CharacterTable::load(&aliases_of(root)).unwrap();
    let db = Database::open_read_only(&opts.db_path()).unwrap();
    for r in db.records().unwrap() {
        assert_eq!(r.tag_character, table.tag_character(r.tags.iter().map(String::as_str)));
    }
    drop(db);
    // A later run without the flag keeps using the stored table for new files.
    opts.characters = None;
    synthetic_files(dir.path(), DatasetSpec::new(45, 3, 24));
    let report = ingest(&opts, &NoProgress).unwrap();
    assert_eq!(report.added, 15);
    let db = Database::open_read_only(&opts.db_path()).unwrap();
    for r in db.records().unwrap() {
        assert_eq!(r.tag_character, table.tag_character(r.tags.iter().map(String::as_str)));
    }
}

#[test]
fn original_python_tool_database_is_read_and_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.sqlite3");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE illusts(filename TEXT PRIMARY KEY, id INTEGER, title TEXT, type TEXT, restrict INTEGER,
          user_name TEXT, user_account TEXT, tags TEXT, create_date TIMESTAMP, page_count INTEGER,
          width INTEGER, height INTEGER, sanity_level INTEGER, x_restrict INTEGER, total_view INTEGER,
          total_bookmarks INTEGER, is_bookmarked BOOLEAN, visible BOOLEAN, is_muted BOOLEAN,
          illust_ai_type INTEGER, illust_book_style INTEGER, num INTEGER, date TIMESTAMP, rating TEXT,
          suffix TEXT, category TEXT, subcategory TEXT, url TEXT, date_url TEXT, extension TEXT,
          tag_character TEXT DEFAULT 'オリジナル');
         INSERT INTO illusts (filename, id, tags, total_view, total_bookmarks, illust_ai_type, sanity_level, date)
           VALUES ('123_p0', 123, 'オリジナル,NovelAI', 100, 10, 1, 4, '2023-01-02 03:04:05'),
                  ('124_p0', 124, 'オリジナル', 50, 5, 0, 2, '2023-01-03 00:00:00');",
    )
    .unwrap();
    drop(conn);

    // Read-only: no migration, still readable.
    let ro = Database::open_read_only(&path).unwrap();
    let recs = ro.records().unwrap();
    assert_eq!(recs.len(), 2);
    assert!(recs[0].ai_flag && !recs[1].ai_flag);
    assert_eq!(recs[0].tags, ["オリジナル", "NovelAI"]);
    assert_eq!(recs[0].date.unwrap().to_string(), "2023-01-02 03:04:05");
    drop(ro);

    // Read-write: migrated in place, rows kept.
    let db = Database::open(&path).unwrap();
    assert_eq!(db.count().unwrap(), 2);
    assert_eq!(db.records().unwrap(), recs);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(v, animescore_dataset::SCHEMA_VERSION);
    let flag: i64 = conn
        .query_row("SELECT ai_flag FROM illusts WHERE filename = '123_p0'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(flag, 1);
}

#[test]
fn garbage_database_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.sqlite3");
    let garbage = b"this is not a database, it is a text file of some length ....".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let err = Database::open(&path).unwrap_err();
    assert!(matches!(err, animescore_dataset::DatasetError::CorruptDatabase { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn locked_database_waits_then_says_so() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.sqlite3");
    drop(Database::open(&path).unwrap());
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO illusts (filename) VALUES ('held_p0');")
        .unwrap();

    let started = Instant::now();
    let mut db = Database::open_with_timeout(&path, Duration::from_millis(300)).unwrap();
    let row = animescore_dataset::IllustRow {
        filename: "1_p0".into(),
        meta: PixivMetadata::default(),
        tag_character: animescore_dataset::ORIGINAL.into(),
        image_path: None,
        metadata_path: "1_p0.json".into(),
        source_size: 0,
        source_mtime_ns: 0,
        source_ctime_ns: 0,
        source_inode: 0,
        source_hash: String::new(),
    };
    let err = db.upsert(std::slice::from_ref(&row)).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(250), "gave up without waiting");
    assert!(matches!(err, animescore_dataset::DatasetError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked by another process"));

    // Once the other writer commits, the same write goes through.
    holder.execute_batch("COMMIT;").unwrap();
    db.upsert(std::slice::from_ref(&row)).unwrap();
    assert_eq!(db.count().unwrap(), 2);
}

#[test]
fn locked_new_index_waits_then_says_so() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.sqlite3");
    // Another process creates the file and holds its write lock before any table exists.
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE; CREATE TABLE other (x);").unwrap();
    let started = Instant::now();
    let err = Database::open_with_timeout(&path, Duration::from_millis(300)).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(250), "gave up without waiting");
    assert!(matches!(err, animescore_dataset::DatasetError::Locked { .. }), "{err}");
    holder.execute_batch("COMMIT;").unwrap();
    let db = Database::open_with_timeout(&path, Duration::from_millis(300)).unwrap();
    assert_eq!(db.count().unwrap(), 0);
}

#[test]
fn counting_tags_reads_only_the_chosen_rows_and_matches_the_records() {
    use animescore_dataset::{TagCounter, TagFilter};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.sqlite3");
    let mut db = Database::open(&path).unwrap();
    let row = |name: &str, tags: &[&str]| {
        let tags = tags
            .iter()
            .map(|t| animescore_dataset::Tag { name: t.to_string(), translated_name: None })
            .collect();
        let meta = PixivMetadata { tags, ..Default::default() };
        animescore_dataset::IllustRow {
            filename: name.into(),
            meta,
            tag_character: animescore_dataset::ORIGINAL.into(),
            image_path: None,
            metadata_path: format!("{name}.json"),
            source_size: 0,
            source_mtime_ns: 0,
            source_ctime_ns: 0,
            source_inode: 0,
            source_hash: String::new(),
        }
    };
    // A quote and a backslash are escaped in the stored JSON: those tags cannot be borrowed.
    db.upsert(&[
        row("1_p0", &["a", "say \"hi\"", "a"]),
        row("2_p0", &["b", "c\\d"]),
        row("3_p0", &["a", "left out"]),
    ])
    .unwrap();
    // A legacy row (the original tool's schema): comma-joined text only.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("INSERT INTO illusts (filename, tags) VALUES ('4_p0', 'b,,e')", [])
        .unwrap();

    let chosen = |name: &str| name != "3_p0";
    let mut counted = TagCounter::default();
    db.for_each_tag_list(chosen, |tags| counted.add(tags)).unwrap();
    let mut expected = TagCounter::default();
    db.for_each_record(TagFilter::All, |r| {
        if chosen(&r.filename) {
            expected.add(r.tags.iter().map(String::as_str));
        }
        Ok(())
    })
    .unwrap();
    let vocabulary = counted.vocabulary(10, 1);
    assert_eq!(vocabulary, expected.vocabulary(10, 1));
    assert_eq!(vocabulary.tags, ["a", "b", "c\\d", "e", "say \"hi\""]);
    assert_eq!(counted.vocabulary(10, 2).tags, ["a", "b"], "a twice in one row, b in two rows");
}
