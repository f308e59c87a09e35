//! `proofmark-lab watermark`: the SPEC §3.3 robustness benchmark. Marks every image of a folder plus
//! synthesised 12-megapixel photos, applies the attack suite (real encoders, Pillow's resampler), and prints
//! per attack the exact-payload recovery rate, the mean raw bit accuracy before error correction, and the
//! minimum PSNR(Y); with `--baseline-python`, the same images and attacks through Python
//! `invisible-watermark`'s `dwtDctSvd` beside ours. Then the embed/extract time on a 12-MP photo (one core,
//! decode/encode excluded) and the false accepts of the extractor on ≥ 1,000 unmarked images.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use proofmark_media::attack::{self, combined_attacks, single_attacks, Attack, Side};
use proofmark_media::image::{decode_image, encode_image, Encoding, Image};
use proofmark_media::watermark::{self, WatermarkKey};
use rayon::prelude::*;

#[derive(Debug, clap::Args)]
pub struct WatermarkBenchArgs {
    /// Folder of test images (JPEG, PNG, GIF, WebP).
    #[arg(long, default_value = "../shared/images", value_name = "DIR")]
    images: PathBuf,
    /// 12-megapixel photos to synthesise from the folder's images (upscaled, with sensor-like noise).
    #[arg(long, default_value_t = 2)]
    large: usize,
    /// Unmarked images the extractor is run on, to count false accepts.
    #[arg(long, default_value_t = 1000)]
    false_positive_images: usize,
    /// Timing runs on the 12-MP photo (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Python interpreter with `invisible-watermark` installed: also run its `dwtDctSvd` baseline.
    #[arg(long, value_name = "PYTHON")]
    baseline_python: Option<PathBuf>,
    /// The baseline's driver script.
    #[arg(long, default_value = "scripts/iwm_baseline.py", value_name = "FILE")]
    baseline_script: PathBuf,
    /// A smoke run for the tests: four attacks (PNG, JPEG 75, resize 0.5×, one combination) instead of the
    /// whole suite. Its figures are not the benchmark's: `scripts/bench-watermark.sh` runs the full table.
    #[arg(long)]
    quick: bool,
}

struct Subject {
    name: String,
    original: Image,
    marked: Image,
    psnr: f64,
    payload: [u8; 16],
}

#[derive(Default, Clone)]
struct Row {
    exact: usize,
    total: usize,
    bit_accuracy_sum: f64,
    failures: Vec<String>,
}

fn payload_for(i: usize) -> [u8; 16] {
    let mut x = 0x243F_6A88_85A3_08D3u64 ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    std::array::from_fn(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 32) as u8
    })
}

/// A deterministic xorshift for noise and random variants.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        // Sum of four uniforms: close enough to a normal for sensor noise.
        (0..4).map(|_| self.unit()).sum::<f64>() - 2.0
    }
}

/// A 4000×3000 "camera photo": the source upscaled, plus luma and chroma noise like a phone sensor's.
fn large_photo(src: &Image, seed: u64) -> Image {
    let mut img = attack::resize(&src.to_rgb(), 4000, 3000);
    let mut rng = Rng(seed | 1);
    for px in img.pixels.chunks_exact_mut(3) {
        let luma = rng.gauss() * 2.5 * 1.7;
        for v in px.iter_mut() {
            let n = luma + rng.gauss() * 1.2 * 1.7;
            *v = (f64::from(*v) + n).round().clamp(0.0, 255.0) as u8;
        }
    }
    img
}

fn load_images(dir: &Path) -> Result<Vec<(String, Image)>> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the image folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        if let Ok((img, _)) = decode_image(&bytes) {
            out.push((path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), img));
        }
    }
    if out.is_empty() {
        bail!("no decodable images in {}", dir.display());
    }
    Ok(out)
}

pub fn run(args: &WatermarkBenchArgs) -> Result<bool> {
    let key = WatermarkKey::from_bytes(*b"proofmark-benchmark-key-32-bytes");
    let mut sources = load_images(&args.images)?;
    let small = sources.len();
    let photos: Vec<(String, Image)> = (0..args.large)
        .map(|i| {
            let (name, src) = &sources[i % small];
            (format!("12MP({name})"), large_photo(src, 77 + i as u64))
        })
        .collect();
    sources.extend(photos);
    eprintln!("marking {} images ({} of 12 MP)…", sources.len(), args.large);
    let subjects: Vec<Subject> = sources
        .par_iter()
        .enumerate()
        .map(|(i, (name, img))| -> Result<Subject> {
            let payload = payload_for(i);
            let (marked, stats) = watermark::embed(img, &key, &payload).with_context(|| name.clone())?;
            Ok(Subject { name: name.clone(), original: img.clone(), marked, psnr: stats.psnr_y, payload })
        })
        .collect::<Result<_>>()?;
    let mut attacks: Vec<(bool, Attack)> = vec![(false, Attack::Png)];
    attacks.extend(single_attacks().into_iter().filter(|a| *a != Attack::Png).map(|a| (false, a)));
    attacks.extend(combined_attacks().into_iter().map(|a| (true, a)));
    if args.quick {
        let keep = ["jpeg75", "resize0.5x", "crop-centre-10%+resize0.5x+jpeg75"];
        attacks.retain(|(_, a)| *a == Attack::Png || keep.contains(&a.name().as_str()));
    }

    eprintln!("attacking and extracting ({} attacks)…", attacks.len());
    let jobs: Vec<(usize, usize)> = (0..attacks.len()).flat_map(|a| (0..subjects.len()).map(move |s| (a, s))).collect();
    let results: Vec<(usize, usize, bool, f64)> = jobs
        .par_iter()
        .map(|&(a, s)| -> Result<(usize, usize, bool, f64)> {
            let sub = &subjects[s];
            let attacked = attacks[a].1.apply(&sub.marked)?;
            let d = watermark::extract(&attacked, &key);
            if d.payload.is_some_and(|p| p != sub.payload) {
                bail!("WRONG PAYLOAD on {} after {}", sub.name, attacks[a].1.name());
            }
            Ok((a, s, d.payload == Some(sub.payload), d.raw_bit_accuracy(&key, &sub.payload)))
        })
        .collect::<Result<_>>()?;
    let mut rows = vec![Row::default(); attacks.len()];
    for (a, s, ok, acc) in results {
        let r = &mut rows[a];
        r.total += 1;
        r.bit_accuracy_sum += acc;
        if ok {
            r.exact += 1;
        } else {
            r.failures.push(subjects[s].name.clone());
        }
    }

    let baseline = match &args.baseline_python {
        Some(py) => Some(run_baseline(py, &args.baseline_script, &subjects, &attacks)?),
        None => None,
    };

    // The table.
    let min_psnr = subjects.iter().map(|s| s.psnr).fold(f64::INFINITY, f64::min);
    println!(
        "Watermark robustness: {} images ({} from {}, {} synthesised 12-MP photos), 128-bit payloads",
        subjects.len(),
        small,
        args.images.display(),
        args.large
    );
    print!("{:<44} {:>16} {:>10}", "attack", "ours exact", "ours bits");
    if baseline.is_some() {
        print!(" {:>16} {:>10}", "dwtDctSvd exact", "bits");
    }
    println!("  failures (ours)");
    let (mut single_ok, mut single_n, mut combo_ok, mut combo_n) = (0, 0, 0, 0);
    for (i, ((combo, attack), row)) in attacks.iter().zip(&rows).enumerate() {
        let name = if i == 0 { "none (PNG round trip)".to_owned() } else { attack.name() };
        print!(
            "{:<44} {:>6}/{:<3} {:>5.1}% {:>9.2}%",
            name,
            row.exact,
            row.total,
            100.0 * row.exact as f64 / row.total as f64,
            100.0 * row.bit_accuracy_sum / row.total as f64
        );
        if let Some(b) = &baseline {
            let br = &b.rows[i];
            print!(
                " {:>6}/{:<3} {:>5.1}% {:>9.2}%",
                br.exact,
                br.total,
                100.0 * br.exact as f64 / br.total.max(1) as f64,
                100.0 * br.bit_accuracy_sum / br.total.max(1) as f64
            );
        }
        println!("  {}", row.failures.join(" "));
        if *combo {
            combo_ok += row.exact;
            combo_n += row.total;
        } else {
            single_ok += row.exact;
            single_n += row.total;
        }
    }
    println!(
        "exact payload: single attacks {:.1}% ({}/{}), combinations {:.1}% ({}/{})",
        100.0 * single_ok as f64 / single_n as f64,
        single_ok,
        single_n,
        100.0 * combo_ok as f64 / combo_n as f64,
        combo_ok,
        combo_n
    );
    print!("minimum PSNR(Y): ours {min_psnr:.2} dB (goal ≥ 40)");
    if let Some(b) = &baseline {
        print!(", dwtDctSvd {:.2} dB (on Y; it marks the U chroma channel)", b.min_psnr);
    }
    println!();

    // Speed on a 12-MP photo, one core.
    if let Some(big) = subjects.iter().find(|s| s.original.width * s.original.height >= 12_000_000) {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
        let (embed_ms, extract_ms) = pool.install(|| {
            let mut e = Vec::new();
            let mut x = Vec::new();
            for _ in 0..args.runs.max(1) {
                let t = Instant::now();
                let _ = watermark::embed(&big.original, &key, &big.payload);
                e.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let _ = watermark::extract(&big.marked, &key);
                x.push(t.elapsed().as_secs_f64() * 1e3);
            }
            (median(&mut e), median(&mut x))
        });
        print!(
            "12-MP photo ({}x{}), one core, decode/encode excluded: embed {embed_ms:.0} ms (goal ≤ 300), extract {extract_ms:.0} ms (goal ≤ 200)",
            big.original.width, big.original.height
        );
        if let Some(b) = baseline.as_ref().and_then(|b| b.large_ms) {
            print!("; dwtDctSvd embed {:.0} ms, extract {:.0} ms", b.0, b.1);
        }
        println!();
    }

    // False accepts.
    let unmarked = unmarked_variants(&sources, args.false_positive_images);
    let accepted: usize = unmarked
        .par_iter()
        .map(|(src, attack)| -> Result<usize> {
            let img = attack.apply(&sources[*src].1)?;
            Ok(usize::from(watermark::extract(&img, &key).payload.is_some()))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .sum();
    let synthetic = args.false_positive_images.saturating_sub(unmarked.len());
    let synthetic_accepts: usize = (0..synthetic)
        .into_par_iter()
        .map(|i| usize::from(watermark::extract(&synthetic_image(i as u64), &key).payload.is_some()))
        .sum();
    println!(
        "false accepts on unmarked images: {} of {} ({} variants of the test images, {} synthetic)",
        accepted + synthetic_accepts,
        unmarked.len() + synthetic,
        unmarked.len(),
        synthetic
    );
    Ok(true)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Unmarked variants: every attack of the suite, plus random crops, scales and re-encodings, on every test
/// image, up to about 70 % of `total` (the rest are synthetic images).
fn unmarked_variants(sources: &[(String, Image)], total: usize) -> Vec<(usize, Attack)> {
    let mut out = Vec::new();
    let mut rng = Rng(0x5EED);
    let base: Vec<Attack> = single_attacks().into_iter().chain(combined_attacks()).collect();
    let want = total * 7 / 10;
    let mut i = 0;
    while out.len() < want && !sources.is_empty() {
        let src = i % sources.len();
        // Keep the 12-MP photos to a few variants: they are slow to attack.
        let big = sources[src].1.width * sources[src].1.height > 4_000_000;
        if i < sources.len() * base.len() {
            if !big || i % 8 == 0 {
                out.push((src, base[(i / sources.len()) % base.len()].clone()));
            }
        } else if !big {
            let side = [Side::Left, Side::Right, Side::Top, Side::Bottom, Side::Centre][rng.next() as usize % 5];
            let crop = 0.02 + 0.3 * rng.unit();
            let scale = 0.3 + 0.9 * rng.unit();
            let q = 40 + (rng.next() % 56) as u8;
            out.push((
                src,
                Attack::Chain(vec![Attack::Crop(side, crop), Attack::Resize(scale, scale), Attack::Jpeg(q)]),
            ));
        }
        i += 1;
        if i > 100 * total {
            break;
        }
    }
    out
}

/// Noise, gradients, stripes, checkerboards and flat fields, of various sizes.
fn synthetic_image(i: u64) -> Image {
    let mut rng = Rng(0xABCD_0000 + i * 7919);
    let w = 96 + (rng.next() % 900) as usize;
    let h = 96 + (rng.next() % 700) as usize;
    let kind = i % 5;
    let mut img = Image::new(w, h, 3);
    let period = 2 + (rng.next() % 40) as usize;
    let level = (rng.next() % 256) as f64;
    for y in 0..h {
        for x in 0..w {
            let v = match kind {
                0 => rng.unit() * 255.0,
                1 => (x as f64 / w as f64) * 200.0 + (y as f64 / h as f64) * 55.0,
                2 => {
                    if (x / period).is_multiple_of(2) {
                        40.0
                    } else {
                        210.0
                    }
                }
                3 => {
                    if (x / period + y / period).is_multiple_of(2) {
                        20.0
                    } else {
                        230.0
                    }
                }
                _ => level + rng.gauss() * 3.0,
            };
            let p = (y * w + x) * 3;
            for c in 0..3 {
                img.pixels[p + c] = (v + 10.0 * c as f64).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    img
}

struct Baseline {
    rows: Vec<Row>,
    min_psnr: f64,
    large_ms: Option<(f64, f64)>,
}

/// The Python baseline on the same originals and the same attacked pixels: the script marks the originals,
/// this process attacks its output with the suite above, the script decodes every attacked file.
fn run_baseline(python: &Path, script: &Path, subjects: &[Subject], attacks: &[(bool, Attack)]) -> Result<Baseline> {
    let dir = tempfile::tempdir()?;
    let (orig, marked, attacked) = (dir.path().join("orig"), dir.path().join("marked"), dir.path().join("attacked"));
    for d in [&orig, &marked, &attacked] {
        std::fs::create_dir(d)?;
    }
    for (i, s) in subjects.iter().enumerate() {
        std::fs::write(orig.join(format!("{i:03}.png")), encode_image(&s.original.to_rgb(), Encoding::Png)?)?;
    }
    let payload_hex = "7072006f6f666d61726b2d62656e6368";
    eprintln!("baseline: marking with invisible-watermark dwtDctSvd…");
    let out = Command::new(python)
        .arg(script)
        .args(["embed", &orig.to_string_lossy(), &marked.to_string_lossy(), payload_hex])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!("the baseline script failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let embed_times: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let mut min_psnr = f64::INFINITY;
    let mut marked_imgs = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        let bytes = std::fs::read(marked.join(format!("{i:03}.png")))?;
        let (m, _) = decode_image(&bytes)?;
        let y0 = s.original.luma_f32();
        min_psnr = min_psnr.min(watermark::psnr_y(&y0, &m));
        marked_imgs.push(m);
    }
    eprintln!("baseline: attacking…");
    let jobs: Vec<(usize, usize)> = (0..attacks.len()).flat_map(|a| (0..subjects.len()).map(move |s| (a, s))).collect();
    jobs.par_iter().try_for_each(|&(a, s)| -> Result<()> {
        let img = attacks[a].1.apply(&marked_imgs[s])?;
        std::fs::write(attacked.join(format!("{a:03}_{s:03}.png")), encode_image(&img, Encoding::Png)?)?;
        Ok(())
    })?;
    eprintln!("baseline: decoding {} files…", jobs.len());
    let out = Command::new(python)
        .arg(script)
        .args(["decode", &attacked.to_string_lossy(), payload_hex])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!("the baseline script failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut rows = vec![Row::default(); attacks.len()];
    let mut decode_large = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("baseline output: {line}"))?;
        let file = v["file"].as_str().unwrap_or_default();
        let (a, s) = file
            .trim_end_matches(".png")
            .split_once('_')
            .and_then(|(a, s)| Some((a.parse::<usize>().ok()?, s.parse::<usize>().ok()?)))
            .with_context(|| format!("baseline output names {file}"))?;
        let acc = v["accuracy"].as_f64().unwrap_or(0.5);
        let r = &mut rows[a];
        r.total += 1;
        r.bit_accuracy_sum += acc;
        if acc >= 1.0 {
            r.exact += 1;
        }
        if a == 0 && subjects[s].original.width * subjects[s].original.height >= 12_000_000 {
            decode_large.push(v["ms"].as_f64().unwrap_or(0.0));
        }
    }
    let large_embed: Vec<f64> = embed_times
        .iter()
        .filter(|v| {
            v["file"]
                .as_str()
                .and_then(|f| f.trim_end_matches(".png").parse::<usize>().ok())
                .is_some_and(|i| subjects.get(i).is_some_and(|s| s.original.width * s.original.height >= 12_000_000))
        })
        .filter_map(|v| v["ms"].as_f64())
        .collect();
    let large_ms = (!large_embed.is_empty() && !decode_large.is_empty()).then(|| {
        (
            large_embed.iter().sum::<f64>() / large_embed.len() as f64,
            decode_large.iter().sum::<f64>() / decode_large.len() as f64,
        )
    });
    Ok(Baseline { rows, min_psnr, large_ms })
}
