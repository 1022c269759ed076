//! `animescore gallery` in a real browser: headless Chromium opens the page from `file://`
//! (no server, no network). A small page (thumbnails embedded) is opened as is and with a
//! filter in the URL fragment; a 20,000-card page (thumbnails in a folder beside it) is
//! opened as is and filtered by tier. Checks: the page script ran without errors or console
//! output (a Content-Security-Policy refusal would be one), every thumbnail loaded, the
//! shown-count and the filter count are right, only the cards on screen are in the DOM, the
//! page's own bytes stay under 400 per card; the time to first render is printed, and
//! screenshots are saved under the target folder. Without Chromium the browser part prints
//! a SKIP note and passes, unless `ANIMESCORE_REQUIRE_BROWSER=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use animescore_gallery::MAX_PAGE_BYTES_PER_CARD;
use animescore_testkit::{Cli, arg, text};
use image::{Rgb, RgbImage};

/// `ANIMESCORE_CHROMIUM`, else `chromium` or `chromium-browser` on the PATH; `None` (and a
/// SKIP note) without one, unless `ANIMESCORE_REQUIRE_BROWSER=1`.
fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ANIMESCORE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let required = std::env::var("ANIMESCORE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(!required, "ANIMESCORE_REQUIRE_BROWSER=1 but no Chromium was found");
        eprintln!("\n*** SKIP: no chromium / chromium-browser (set ANIMESCORE_CHROMIUM) ***\n");
    }
    found
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

/// The DOM after the page's script (a 1280×1600 window), checked for a finished script, no error and no console
/// output (the page logs nothing: any console line is an error or a warning).
fn dump_dom(browser: &Path, url: &str) -> String {
    // Tall enough for every card of the small page (only the rows on screen are built).
    let window = "--window-size=1280,1600".to_string();
    let run = chromium(browser, url, &["--dump-dom".into(), window]);
    let dom = text(&run.stdout);
    let log = text(&run.stderr);
    assert!(dom.contains("data-ready=\"1\""), "the page script did not finish:\n{log}");
    assert!(!dom.contains("data-errors"), "script errors: {}", attribute(&dom, "data-errors"));
    assert!(!dom.contains("data-thumb-errors"), "thumbnails that did not load");
    assert!(!log.contains("Uncaught") && !log.contains("CONSOLE"), "console output:\n{log}");
    dom
}

/// The value of the first `NAME="…"` attribute in a DOM dump.
fn attribute<'a>(dom: &'a str, name: &str) -> &'a str {
    let key = format!("{name}=\"");
    let Some(start) = dom.find(&key).map(|i| i + key.len()) else { return "" };
    &dom[start..start + dom[start..].find('"').unwrap_or(0)]
}

/// The opening tags of the cards the page has built.
fn card_tags(dom: &str) -> Vec<&str> {
    dom.match_indices("<article class=\"card\"")
        .map(|(i, _)| &dom[i..i + dom[i..].find('>').unwrap_or(0)])
        .collect()
}

/// The card data block of a page, parsed.
fn card_data(html: &str) -> serde_json::Value {
    let start = html.find("id=\"card-data\">").unwrap() + "id=\"card-data\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

/// A screenshot of `url` at 1280×800 under the target folder.
fn screenshot(browser: &Path, url: &str, name: &str) {
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gallery");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join(name);
    let _ = std::fs::remove_file(&shot);
    let run = chromium(
        browser,
        url,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,800".into(),
            "--hide-scrollbars".into(),
        ],
    );
    assert!(shot.is_file(), "no screenshot:\n{}", text(&run.stderr));
    println!("gallery screenshot: {}", shot.display());
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
    let data = card_data(&html);
    assert_eq!(data["cards"].as_array().unwrap().len(), TIERS.len());
    assert_eq!(html.matches("data:image/jpeg;base64,").count(), TIERS.len(), "embedded");
    assert!(!dir.path().join("page-thumbs").exists(), "few cards: no thumbnail folder");
    assert!(!html.contains("http://") && !html.contains("https://"), "the page must not fetch");
    assert!(!html.contains("unsafe-inline"), "inline code runs only by its hash");

    let Some(browser) = find_chromium() else { return };
    let url = format!("file://{}", page.display());

    // Unfiltered: every card built, the script ran and saw no error.
    let dom = dump_dom(&browser, &url);
    let cards = card_tags(&dom);
    assert_eq!(cards.len(), TIERS.len());
    assert!(dom.contains("8 of 8 shown"));
    assert_eq!(dom.matches("<img ").count(), TIERS.len(), "one thumbnail per card");

    // Filtered by tier and score: great and best, score ≥ 65 → the cards scored 70 and 80.
    let dom = dump_dom(&browser, &format!("{url}#tier=great,best&min=65"));
    let cards = card_tags(&dom);
    assert_eq!(cards.len(), 2, "{cards:?}");
    assert!(
        cards.iter().all(|c| c.contains("data-score=\"70\"") || c.contains("data-score=\"80\""))
    );
    assert!(dom.contains("2 of 8 shown"));
    screenshot(&browser, &url, "gallery.png");
}

/// The tier of a score in the large gallery (seven bands of equal width).
fn tier_of(score: f64) -> &'static str {
    const NAMES: [&str; 7] = ["worst", "low", "normal", "good", "great", "best", "masterpiece"];
    NAMES[((score - 1.0) / 99.0 * 7.0).clamp(0.0, 6.0) as usize]
}

/// `n` cards over 50 small images (each shown by many cards: the thumbnails are still made
/// once per card, but decoding a 24×16 picture costs next to nothing); returns the page and
/// the number of `great` cards.
fn large_gallery(dir: &Path, n: usize) -> (PathBuf, usize) {
    for k in 0..50u8 {
        let img = RgbImage::from_fn(24, 16, |x, y| Rgb([k * 5, (x * 10) as u8, (y * 15) as u8]));
        img.save(dir.join(format!("img{k}.png"))).unwrap();
    }
    let mut csv = String::from("path,filename,score,ai_probability,sanity_level,top_tags,tier\n");
    let mut great = 0;
    for i in 0..n {
        let score = 1.0 + (i * 7919 % 9901) as f64 / 100.0;
        let tier = tier_of(score);
        great += usize::from(tier == "great");
        csv.push_str(&format!(
            "img{}.png,card{i:06},{score:.2},0.{},2,girl:0.91;smile:0.62;long_hair:0.55,{tier}\n",
            i % 50,
            i % 10
        ));
    }
    let scores = dir.join("scores.csv");
    std::fs::write(&scores, csv).unwrap();
    let page = dir.join("large.html");
    let cli = Cli::new(env!("CARGO_BIN_EXE_animescore"));
    let start = Instant::now();
    let out = cli.ok(&["gallery", "--scores", arg(&scores), "--out", arg(&page)]);
    let seconds = start.elapsed().as_secs_f64();
    println!("{out}gallery of {n} cards written in {seconds:.1} s");
    (page, great)
}

/// A gallery of `n` cards: thumbnails in the folder beside the page, the page's own bytes
/// under the limit per card, and in Chromium every card counted, only those on screen built,
/// the tier filter's count right. Returns the time to first render in ms (None: no browser).
fn check_large_gallery(n: usize) -> Option<u64> {
    let dir = tempfile::tempdir().unwrap();
    let (page, great) = large_gallery(dir.path(), n);
    let html = std::fs::read_to_string(&page).unwrap();
    let per_card = html.len() / n;
    println!("page: {} bytes, {per_card} bytes per card", html.len());
    assert!(per_card <= MAX_PAGE_BYTES_PER_CARD, "{per_card} bytes per card");
    assert!(!html.contains("data:image"), "thumbnails of a large gallery are not embedded");
    let thumbs = dir.path().join("large-thumbs");
    let files: usize = std::fs::read_dir(&thumbs)
        .unwrap()
        .filter_map(|e| e.ok().filter(|e| e.path().is_dir()))
        .map(|e| std::fs::read_dir(e.path()).unwrap().count())
        .sum();
    assert_eq!(files, n, "one thumbnail per card");

    let browser = find_chromium()?;
    let url = format!("file://{}", page.display());
    let dom = dump_dom(&browser, &url);
    assert!(dom.contains(&format!("{n} of {n} shown")), "shown-count");
    let built = card_tags(&dom).len();
    assert!(built > 0 && built < 200, "{built} cards built: only those on screen should be");
    let first_render: u64 = attribute(&dom, "data-first-render").parse().unwrap();
    println!("{n} cards: first render after {first_render} ms (from navigation start)");

    let dom = dump_dom(&browser, &format!("{url}#tier=great"));
    assert!(dom.contains(&format!("{great} of {n} shown")), "tier filter: {great} expected");
    assert!(card_tags(&dom).iter().all(|c| c.contains("data-tier=\"great\"")));
    screenshot(&browser, &url, &format!("gallery-{n}.png"));
    Some(first_render)
}

#[test]
fn a_gallery_of_20000_cards_opens_and_filters_in_chromium() {
    // The time is printed, not asserted (no timed tests); docs/benchmarks.md has the
    // measurements. That only the cards on screen are built is what keeps it short.
    check_large_gallery(20_000);
}

/// The benchmark of docs/benchmarks.md: `cargo test -p animescore-cli --test gallery_browser
/// -- --ignored --nocapture`.
#[test]
#[ignore = "writes 100,000 thumbnails: about a minute on 2 cores"]
fn a_gallery_of_100000_cards_opens_in_chromium() {
    check_large_gallery(100_000);
}
