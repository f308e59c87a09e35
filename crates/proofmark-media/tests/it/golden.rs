//! Every file of the golden set must hash exactly as imagehash does.
//!
//! The committed `testdata/phash/golden.tsv` covers `../shared/images`; `scripts/test.sh` also runs
//! `scripts/phash_golden.py` (imagehash in a virtualenv) into a temporary folder with the derived variants
//! (JPEG q95/75/50, palette, RGBA, alpha gradient, 16-bit grey, grey, tiny, uniform) and points
//! `PROOFMARK_PHASH_GOLDEN` at it.
use std::path::{Path, PathBuf};

use proofmark_media::{decode_luma, phash_with_margin, PHash};

/// Below this relative distance from the median a DCT coefficient's bit is decided by rounding alone.
const TIE: f64 = 1e-9;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Returns (files checked, mismatches, mismatches that are exact median ties).
fn check_golden(dir: &Path, shared: &Path) -> (usize, Vec<String>, Vec<String>) {
    let table = std::fs::read_to_string(dir.join("golden.tsv")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut ties = Vec::new();
    for line in table.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (file, expected) = line.split_once('\t').unwrap();
        let path = match file.strip_prefix("shared:") {
            Some(name) => shared.join(name),
            None => dir.join(file),
        };
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let img = decode_luma(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (got, margin) = phash_with_margin(&img);
        let expected: PHash = expected.parse().unwrap();
        if got != expected {
            let line = format!(
                "{file}: imagehash {expected}, proofmark {got} ({} bits, margin {margin:.1e})",
                got.distance(expected)
            );
            if margin < TIE && got.distance(expected) == 1 {
                ties.push(line)
            } else {
                wrong.push(line)
            }
        }
        checked += 1;
    }
    (checked, wrong, ties)
}

#[test]
fn shared_images_match_imagehash() {
    let (checked, wrong, ties) = check_golden(&repo().join("testdata/phash"), &repo().join("../shared/images"));
    assert!(checked >= 10, "{checked}");
    assert!(wrong.is_empty() && ties.is_empty(), "differ:\n{}\n{}", wrong.join("\n"), ties.join("\n"));
}

#[test]
fn derived_variants_match_imagehash() {
    let Some(dir) = std::env::var_os("PROOFMARK_PHASH_GOLDEN") else {
        if std::env::var_os("CI").is_some() || std::env::var_os("PROOFMARK_REQUIRE_CHECKERS").is_some() {
            panic!("PROOFMARK_PHASH_GOLDEN is not set: run the tests with scripts/test.sh");
        }
        eprintln!("SKIPPED derived_variants_match_imagehash: PROOFMARK_PHASH_GOLDEN not set (scripts/test.sh sets it)");
        return;
    };
    let (checked, wrong, ties) = check_golden(Path::new(&dir), &repo().join("../shared/images"));
    assert!(checked >= 100, "{checked}");
    assert!(wrong.is_empty(), "{} of {checked} differ:\n{}", wrong.len(), wrong.join("\n"));
    // Known gap (issue 4 stays open until it is closed): a coefficient that ties the median exactly gets its
    // bit from floating-point rounding, and matching imagehash there needs scipy's pocketfft DCT, operation
    // for operation. Those files are listed, not hidden; any other difference fails above.
    println!("{checked} files: {} identical, {} differ by one median-tie bit:", checked - ties.len(), ties.len());
    for t in &ties {
        println!("  {t}");
    }
    assert!(ties.len() <= 2, "more median ties than the known one: {}", ties.join("\n"));
}
