//! The fuzz loop: per case an input (a mutated seed, or a generated one),
//! run under `catch_unwind` with its allocations counted. A panic, a peak
//! above the bound or a hang fails the target after saving the input (and
//! a minimized copy) under `<target dir>/tmp/fuzz-failures/` for replay with
//! `HEAPLAB_FUZZ_REPLAY=<file>`.
//!
//! Environment: `HEAPLAB_FUZZ_CASES` (cases per target, default
//! [`DEFAULT_CASES`]), `HEAPLAB_FUZZ_SECONDS` (optional time budget per
//! target: stop there and report the count reached), `HEAPLAB_FUZZ_SEED`.

use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::alloc;
use crate::mutate::{mutate, Pool, Rng};

/// Cases per target when `HEAPLAB_FUZZ_CASES` is unset: the seven targets
/// run in well under a minute in a debug build.
pub const DEFAULT_CASES: u64 = 2_000;

/// A case that makes no progress for this long is a hang.
const HANG: Duration = Duration::from_secs(120);

/// Peak live bytes a case may reach: `base + per_byte × input length`.
/// Linear in the input: a parser that allocates for what it was given
/// stays under it; one that allocates from a number in the input (a count,
/// a length, a size field) does not, since the fuzzer makes those huge.
#[derive(Debug, Clone, Copy)]
pub struct AllocBound {
    pub base: usize,
    pub per_byte: usize,
}

impl AllocBound {
    pub fn for_len(&self, len: usize) -> usize {
        self.base + self.per_byte * len
    }
}

/// The code under test, given one input.
pub type Run = Box<dyn FnMut(&[u8])>;

/// One fuzz target: seeds, what mutations may insert, an optional
/// structure-aware generator, and the code under test.
pub struct Target {
    pub name: &'static str,
    pub seeds: Vec<Vec<u8>>,
    pub dict: &'static [&'static [u8]],
    pub generate: Option<fn(&mut Rng) -> Vec<u8>>,
    pub max_len: usize,
    pub bound: AllocBound,
    pub run: Run,
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

fn failure_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    std::fs::create_dir_all(&dir).expect("create the fuzz failure dir");
    dir
}

/// Runs one case; `Err` says why it failed.
pub fn check_one(target: &mut Target, input: &[u8], dump: &CString) -> Result<usize, String> {
    let bound = target.bound.for_len(input.len());
    alloc::begin_case(input, dump);
    let outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    let used = alloc::end_case();
    if outcome.is_err() {
        return Err("panicked".into());
    }
    if used.peak > bound {
        return Err(format!(
            "peak {} bytes above the bound {bound} for {} input bytes (largest allocation {})",
            used.peak,
            input.len(),
            used.largest
        ));
    }
    Ok(used.peak)
}

/// Fuzzes `target` and panics, naming the saved input, on the first failure.
pub fn fuzz(mut target: Target) {
    let dump = CString::new(
        failure_dir()
            .join(format!("{}-alloc.bin", target.name))
            .to_string_lossy()
            .into_owned(),
    )
    .expect("path without NUL");
    if let Ok(path) = std::env::var("HEAPLAB_FUZZ_REPLAY") {
        return replay(&mut target, &path, &dump);
    }
    let cases = env_u64("HEAPLAB_FUZZ_CASES").unwrap_or(DEFAULT_CASES);
    let budget = env_u64("HEAPLAB_FUZZ_SECONDS").map(Duration::from_secs);
    let seed = env_u64("HEAPLAB_FUZZ_SEED").unwrap_or(0x5EED) ^ name_hash(target.name);
    let mut rng = Rng::new(seed);
    let seeds = std::mem::take(&mut target.seeds);
    let watch = Watchdog::start(target.name);
    let started = Instant::now();
    let (mut done, mut max_ratio, mut slowest) = (0u64, 0f64, Duration::ZERO);
    while done < cases && budget.is_none_or(|b| started.elapsed() < b) {
        let input = next_input(&mut rng, &target, &seeds, done);
        watch.case(&input);
        let t = Instant::now();
        match check_one(&mut target, &input, &dump) {
            Ok(peak) => max_ratio = max_ratio.max(peak as f64 / input.len().max(1) as f64),
            Err(why) => fail(&mut target, &input, &dump, &why),
        }
        slowest = slowest.max(t.elapsed());
        done += 1;
    }
    watch.stop();
    println!(
        "fuzz {}: {done} cases in {:.1} s, no panic, peak within bound \
         (max peak/input {max_ratio:.1} B/B), slowest case {} ms",
        target.name,
        started.elapsed().as_secs_f64(),
        slowest.as_millis()
    );
    if std::env::var_os("HEAPLAB_FUZZ_SECONDS").is_none() {
        assert_eq!(done, cases);
    }
}

fn next_input(rng: &mut Rng, target: &Target, seeds: &[Vec<u8>], done: u64) -> Vec<u8> {
    // Every seed runs once unchanged first.
    if let Some(seed) = seeds.get(done as usize) {
        return seed.clone();
    }
    let pool = Pool {
        seeds,
        dict: target.dict,
        max_len: target.max_len,
    };
    match target.generate {
        Some(generate) if rng.chance(3) => {
            let generated = generate(rng);
            if rng.chance(2) {
                mutate(rng, generated, &pool)
            } else {
                generated
            }
        }
        _ => {
            let seed = rng.pick(seeds).clone();
            mutate(rng, seed, &pool)
        }
    }
}

/// Saves the input and a minimized copy, then panics with both paths.
fn fail(target: &mut Target, input: &[u8], dump: &CString, why: &str) -> ! {
    let dir = failure_dir();
    let full = dir.join(format!("{}.bin", target.name));
    std::fs::write(&full, input).expect("save failing input");
    let small = minimize(target, input, dump);
    let min = dir.join(format!("{}-min.bin", target.name));
    std::fs::write(&min, &small).expect("save minimized input");
    panic!(
        "fuzz {}: {why}; input saved to {} ({} bytes), minimized to {} ({} bytes, starting {:?}); \
         replay with HEAPLAB_FUZZ_REPLAY=<file> cargo test --test fuzz {}",
        target.name,
        full.display(),
        input.len(),
        min.display(),
        small.len(),
        String::from_utf8_lossy(&small[..small.len().min(200)]),
        target.name
    );
}

/// Removes chunks (halving their size) while the input still fails.
fn minimize(target: &mut Target, input: &[u8], dump: &CString) -> Vec<u8> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut best = input.to_vec();
    let mut chunk = best.len().div_ceil(2);
    let mut tries = 0;
    while chunk > 0 && tries < 5_000 {
        let mut at = 0;
        while at < best.len() && tries < 5_000 {
            let mut candidate = best.clone();
            candidate.drain(at..(at + chunk).min(best.len()));
            tries += 1;
            if check_one(target, &candidate, dump).is_err() {
                best = candidate;
            } else {
                at += chunk;
            }
        }
        chunk /= 2;
    }
    std::panic::set_hook(hook);
    best
}

fn replay(target: &mut Target, path: &str, dump: &CString) {
    let file = std::path::Path::new(path);
    let is_ours = file
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(target.name));
    if !is_ours {
        return;
    }
    let input = std::fs::read(file).expect("read replay input");
    match check_one(target, &input, dump) {
        Ok(peak) => println!(
            "fuzz {} replay of {path}: passes, peak {peak} bytes for {} input bytes",
            target.name,
            input.len()
        ),
        Err(why) => panic!("fuzz {} replay of {path}: {why}", target.name),
    }
}

fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Aborts the process, saving the input, when one case runs longer than
/// [`HANG`]: an unbounded loop would otherwise stall CI with no trace.
struct Watchdog {
    progress: Arc<AtomicU64>,
    current: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicU64>,
}

impl Watchdog {
    fn start(name: &'static str) -> Self {
        let progress = Arc::new(AtomicU64::new(0));
        let current = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicU64::new(0));
        let (p, c, s) = (progress.clone(), current.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut last = (u64::MAX, Instant::now());
            while s.load(Ordering::Relaxed) == 0 {
                std::thread::sleep(Duration::from_millis(500));
                let now = p.load(Ordering::Relaxed);
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() > HANG {
                    let path = failure_dir().join(format!("{name}-hang.bin"));
                    let input = c.lock().map(|i| i.clone()).unwrap_or_default();
                    let _ = std::fs::write(&path, input);
                    eprintln!(
                        "fuzz {name}: a case hangs; input saved to {}",
                        path.display()
                    );
                    std::process::abort();
                }
            }
        });
        Watchdog {
            progress,
            current,
            stop,
        }
    }

    fn case(&self, input: &[u8]) {
        if let Ok(mut current) = self.current.lock() {
            current.clear();
            current.extend_from_slice(input);
        }
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    fn stop(self) {
        self.stop.store(1, Ordering::Relaxed);
    }
}
