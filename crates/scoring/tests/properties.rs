//! Property tests: scores stay in 1..100, are finite, and grow with bookmarks and views.

use animescore_scoring::{Counts, ScoreMethod, Scorer};
use chrono::{Duration, NaiveDate, NaiveDateTime};
use proptest::prelude::*;

fn reference() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 6, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap()
}

fn record() -> impl Strategy<Value = Counts> {
    (0.0..1e9f64, 0.0..1e10f64, 0i64..5_000).prop_map(|(b, v, age)| Counts {
        bookmarks: b.floor(),
        views: v.floor(),
        uploaded: Some(reference() - Duration::hours(age)),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn scores_are_finite_and_within_1_100(
        fit in prop::collection::vec(record(), 1..40),
        probe in prop::collection::vec(record(), 1..20),
        alpha in 0.0..=1.0f64,
    ) {
        for method in [
            ScoreMethod::WeightedLog { alpha },
            ScoreMethod::TimeDecay { alpha, reference: None },
            ScoreMethod::CtrQuantile { lambda: alpha, reference: None },
        ] {
            let scorer = Scorer::fit(method, &fit).unwrap();
            for s in scorer.score_all(&probe).unwrap() {
                prop_assert!(s.is_finite() && (1.0..=100.0).contains(&s), "{method:?}: {s}");
            }
        }
    }

    #[test]
    fn weighted_log_grows_with_bookmarks_and_views(
        fit in prop::collection::vec(record(), 2..40),
        base in record(),
        extra in 0.0..1e6f64,
        alpha in 0.0..=1.0f64,
    ) {
        let scorer = Scorer::fit(ScoreMethod::WeightedLog { alpha }, &fit).unwrap();
        let s0 = scorer.score(&base).unwrap();
        let more_b = Counts { bookmarks: base.bookmarks + extra.floor(), ..base };
        let more_v = Counts { views: base.views + extra.floor(), ..base };
        prop_assert!(scorer.score(&more_b).unwrap() >= s0);
        prop_assert!(scorer.score(&more_v).unwrap() >= s0);
        let ctr = Scorer::fit(ScoreMethod::CtrQuantile { lambda: 0.2, reference: None }, &fit).unwrap();
        prop_assert!(ctr.score(&more_b).unwrap() >= ctr.score(&base).unwrap());
    }

    #[test]
    fn saved_scorer_gives_identical_scores(fit in prop::collection::vec(record(), 1..30)) {
        for name in ["weighted-log", "time-decay", "ctr-quantile", "bookmark-ratio"] {
            let scorer = Scorer::fit(ScoreMethod::from_name(name).unwrap(), &fit).unwrap();
            let loaded = Scorer::from_json(&scorer.to_json().unwrap()).unwrap();
            prop_assert_eq!(scorer.score_all(&fit).unwrap(), loaded.score_all(&fit).unwrap());
        }
    }
}

#[test]
fn bad_counts_and_parameters_are_errors() {
    let ok = Counts::new(1.0, 2.0);
    for bad in [Counts::new(-1.0, 2.0), Counts::new(1.0, f64::NAN), Counts::new(f64::INFINITY, 1.0)]
    {
        assert!(Scorer::fit(ScoreMethod::default(), &[ok, bad]).is_err());
    }
    assert!(Scorer::fit(ScoreMethod::WeightedLog { alpha: 1.5 }, &[ok]).is_err());
    assert!(Scorer::fit(ScoreMethod::default(), &[]).is_err());
    let no_date = Scorer::fit(ScoreMethod::from_name("time-decay").unwrap(), &[ok]);
    assert!(no_date.unwrap_err().to_string().contains("upload date"));
}
