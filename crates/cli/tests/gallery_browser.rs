//! `animescore gallery` in a real browser: headless Chromium opens the page from `file://`
//! (no server, no network), once as is and once with a filter in the URL fragment. Checks:
//! the page script ran without errors, every card is there, the filter hides exactly the
//! cards it should; a screenshot is saved under the target folder. Without Chromium the test
//! prints a SKIP note and passes, unless `ANIMESCORE_REQUIRE_BROWSER=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use animescore_testkit::{Cli, arg, text};
use image::{Rgb, RgbImage};

/// `ANIMESCORE_CHROMIUM`, else `chromium` or `chromium-browser` on the PATH.
fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ANIMESCORE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `url` with a fresh profile and `extra` flags.
fn chromium(browser: &Path, url: &str, extra: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    args.extend(extra.iter().cloned());
    args.push(url.to_string());
    Command::new(browser).args(&args).output().expect("chromium runs")
}

/// The opening tags of the cards in a DOM dump.
fn card_tags(dom: &str) -> Vec<&str> {
    dom.match_indices("<article class=\"card\"")
        .map(|(i, _)| &dom[i..i + dom[i..].find('>').unwrap_or(0)])
        .collect()
}

/// Eight images with scores 10, 20, …, 80; their tiers below.
const TIERS: [&str; 8] = ["worst", "low", "normal", "good", "good", "great", "great", "best"];

fn write_scores(dir: &Path) -> PathBuf {
    let mut csv = String::from(
        "filename,score,ai_probability,sanity_class,sanity_level,top_tags,percentile,tier\n",
    );
    for (i, tier) in TIERS.iter().enumerate() {
        let shade = (30 * i) as u8;
        let img = RgbImage::from_fn(96, 64, |x, _| Rgb([shade, 255 - shade, (x * 2) as u8]));
        img.save(dir.join(format!("img{i}.png"))).unwrap();
        let score = 10.0 * (i + 1) as f64;
        csv.push_str(&format!(
            "img{i},{score},0.{i},0,2,girl:0.9;original:0.6,{},{tier}\n",
            score - 5.0
        ));
    }
    let path = dir.join("scores.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn gallery_page_works_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let scores = write_scores(dir.path());
    let page = dir.path().join("page.html");
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    cli.ok(&["gallery", "--scores", arg(&scores), "--out", arg(&page), "--thumb-size", "128"]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(card_tags(&html).len(), TIERS.len());
    assert_eq!(html.matches("data:image/jpeg;base64,").count(), TIERS.len());
    assert!(!html.contains("http://") && !html.contains("https://"), "the page must not fetch");

    let Some(browser) = find_chromium() else {
        let required = std::env::var("ANIMESCORE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(!required, "ANIMESCORE_REQUIRE_BROWSER=1 but no Chromium was found");
        eprintln!("\n*** SKIP: no chromium / chromium-browser (set ANIMESCORE_CHROMIUM) ***\n");
        return;
    };
    let url = format!("file://{}", page.display());

    // Unfiltered: every card visible, the script ran and saw no error.
    let run = chromium(&browser, &url, &["--dump-dom".into()]);
    let dom = text(&run.stdout);
    let log = text(&run.stderr);
    assert!(dom.contains("data-ready=\"1\""), "the page script did not finish:\n{log}");
    assert!(!dom.contains("data-errors"), "script errors: {dom}");
    // The page logs nothing: any console line is an error or a warning.
    assert!(!log.contains("Uncaught") && !log.contains("CONSOLE"), "console output:\n{log}");
    let cards = card_tags(&dom);
    assert_eq!(cards.len(), TIERS.len());
    assert!(cards.iter().all(|c| !c.contains("hidden")), "{cards:?}");
    assert!(dom.contains("8 of 8 shown"));

    // Filtered by tier and score: great and best, score ≥ 65 → the cards scored 70 and 80.
    let filtered = format!("{url}#tier=great,best&min=65");
    let run = chromium(&browser, &filtered, &["--dump-dom".into()]);
    let dom = text(&run.stdout);
    let cards = card_tags(&dom);
    assert_eq!(cards.len(), TIERS.len());
    let visible: Vec<&&str> = cards.iter().filter(|c| !c.contains("hidden")).collect();
    assert_eq!(visible.len(), 2, "{visible:?}");
    assert!(
        visible.iter().all(|c| c.contains("data-score=\"70\"") || c.contains("data-score=\"80\""))
    );
    assert!(dom.contains("2 of 8 shown"));

    // A screenshot for people to look at.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gallery");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("gallery.png");
    let _ = std::fs::remove_file(&shot);
    let run = chromium(
        &browser,
        &url,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,800".into(),
            "--hide-scrollbars".into(),
        ],
    );
    assert!(shot.is_file(), "no screenshot:\n{}", text(&run.stderr));
    println!("gallery screenshot: {}", shot.display());
}
