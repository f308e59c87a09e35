//! Every file of the golden set must hash exactly as imagehash does.
//!
//! The committed `testdata/phash/golden.tsv` covers `../shared/images`; `scripts/test.sh` also runs
//! `scripts/phash_golden.py` (imagehash in a virtualenv) into a temporary folder with the derived variants
//! (JPEG q95/75/50, CMYK JPEG with and without the Adobe marker, palette, RGBA, alpha gradient, 16-bit grey,
//! grey, tiny, uniform) and points
//! `PROOFMARK_PHASH_GOLDEN` at it.
use std::path::{Path, PathBuf};

use proofmark_media::mark::phash_decoded;
use proofmark_media::{decode_image, decode_luma, phash, phash_with_margin, PHash};

/// Files in the golden set `scripts/phash_golden.py` writes (quoted in docs/imaging.md).
const GOLDEN_FILES: usize = 228;

/// Below this relative distance from the median a DCT coefficient's bit is decided by rounding alone; such
/// files are reported apart (they once were the only differences, before the DCT followed scipy exactly).
const TIE: f64 = 1e-9;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Returns (files checked, mismatches, mismatches that are exact median ties).
fn check_golden(dir: &Path, shared: &Path) -> (usize, Vec<String>, Vec<String>) {
    let table = std::fs::read_to_string(dir.join("golden.tsv")).unwrap();
    // The script states how many files it wrote; every one of them is checked, none skipped.
    let declared: Option<usize> =
        table.lines().find_map(|l| l.strip_prefix("# files\t")).map(|n| n.trim().parse().unwrap());
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
        // `phash(bytes)` reduces JPEGs while decoding them: it must agree with decoding first.
        let streamed = phash(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        if streamed != got {
            wrong.push(format!("{file}: phash(bytes) gave {streamed}, decode_luma + phash_with_margin {got}"));
        }
        // The sign pipeline decodes once (colour, for the watermark) and hashes that: it must agree too.
        let (colour, _) = decode_image(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let once = phash_decoded(&bytes, &colour).unwrap_or_else(|e| panic!("{file}: {e}"));
        if once != got {
            wrong.push(format!("{file}: phash_decoded gave {once}, decode_luma {got}"));
        }
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
    if let Some(n) = declared {
        assert_eq!(checked, n, "every file the script wrote is checked");
    }
    (checked, wrong, ties)
}

/// The folder `scripts/phash_golden.py` wrote (PROOFMARK_PHASH_GOLDEN). Required in CI and under
/// scripts/test.sh; elsewhere the test says it skipped.
fn golden_dir(test: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("PROOFMARK_PHASH_GOLDEN") else {
        if std::env::var_os("CI").is_some() || std::env::var_os("PROOFMARK_REQUIRE_CHECKERS").is_some() {
            panic!("PROOFMARK_PHASH_GOLDEN is not set: run the tests with scripts/test.sh");
        }
        eprintln!("SKIPPED {test}: PROOFMARK_PHASH_GOLDEN not set (scripts/test.sh sets it)");
        return None;
    };
    Some(PathBuf::from(dir))
}

#[test]
fn shared_images_match_imagehash() {
    let (checked, wrong, ties) = check_golden(&repo().join("testdata/phash"), &repo().join("../shared/images"));
    assert!(checked >= 10, "{checked}");
    assert!(wrong.is_empty() && ties.is_empty(), "differ:\n{}\n{}", wrong.join("\n"), ties.join("\n"));
}

#[test]
fn derived_variants_match_imagehash() {
    let Some(dir) = golden_dir("derived_variants_match_imagehash") else { return };
    let (checked, wrong, ties) = check_golden(Path::new(&dir), &repo().join("../shared/images"));
    let table = std::fs::read_to_string(Path::new(&dir).join("golden.tsv")).unwrap();
    assert!(table.contains("\n# files\t"), "scripts/phash_golden.py states the number of files it wrote");
    // The golden set is fixed: the script's variants of ../shared/images. A different count means files were
    // added or lost, and docs/imaging.md, which quotes this number, must follow.
    assert_eq!(checked, GOLDEN_FILES, "the golden set has {GOLDEN_FILES} files");
    // The count docs/imaging.md and docs/benchmarks.md quote is this line, which scripts/test.sh prints.
    let line =
        format!("pHash golden vectors: {checked} files checked, {} differ from imagehash", wrong.len() + ties.len());
    std::fs::write(Path::new(&dir).join("checked.txt"), format!("{line}\n")).unwrap();
    assert!(wrong.is_empty() && ties.is_empty(), "differ:\n{}\n{}", wrong.join("\n"), ties.join("\n"));
}

/// CMYK JPEGs decode to Pillow's RGB pixel for pixel (with and without the Adobe marker: Pillow assumes
/// Adobe's inverted samples either way).
#[test]
fn cmyk_jpegs_decode_to_pillows_rgb() {
    let Some(dir) = golden_dir("cmyk_jpegs_decode_to_pillows_rgb") else { return };
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".jpg").filter(|s| s.contains(".cmyk")) else { continue };
        let (got, format) = proofmark_media::decode_image(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(format, proofmark_media::Format::Jpeg);
        let (want, _) =
            proofmark_media::decode_image(&std::fs::read(Path::new(&dir).join(format!("{stem}.rgb.png"))).unwrap())
                .unwrap();
        assert_eq!((got.width, got.height, got.channels), (want.width, want.height, 3), "{name}");
        let differ = got.pixels.iter().zip(&want.pixels).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "{name}: {differ} samples differ from Pillow's RGB");
        checked += 1;
    }
    assert!(checked >= 20, "{checked}");
}

/// The DCT-II agrees with scipy.fftpack.dct to the last bit on 1,003 vectors (scripts/phash_golden.py).
#[test]
fn dct_matches_scipy_bit_for_bit() {
    let Some(dir) = golden_dir("dct_matches_scipy_bit_for_bit") else { return };
    let table = std::fs::read_to_string(Path::new(&dir).join("dct.tsv")).unwrap();
    let dct = proofmark_media::dct::Dct32::new();
    let parse = |s: &str| -> Vec<f64> { s.split(' ').map(hexf).collect() };
    let mut checked = 0;
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let (input, expected) = line.split_once('\t').unwrap();
        let x: [f64; 32] = parse(input).try_into().unwrap();
        let got = dct.forward(&x);
        let want = parse(expected);
        for k in 0..32 {
            assert_eq!(
                got[k].to_bits(),
                want[k].to_bits(),
                "input {input}, coefficient {k}: {} vs {}",
                got[k],
                want[k]
            );
        }
        checked += 1;
    }
    assert!(checked >= 1000, "{checked}");
}

/// Python's `float.hex()` format (`-0x1.8p+3`, `0x0.0p+0`).
fn hexf(s: &str) -> f64 {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let s = s.strip_prefix("0x").unwrap();
    let (mant, exp) = s.split_once('p').unwrap();
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let mut v = u64::from_str_radix(int, 16).unwrap() as f64;
    for (i, c) in frac.chars().enumerate() {
        v += f64::from(c.to_digit(16).unwrap()) / 16f64.powi(i as i32 + 1);
    }
    let v = v * 2f64.powi(exp.parse::<i32>().unwrap());
    if neg {
        -v
    } else {
        v
    }
}
