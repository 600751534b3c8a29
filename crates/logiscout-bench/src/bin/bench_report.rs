//! `bench_report`: turns the benchmark measurement files into the generated tables of
//! `docs/benchmarks.md` and the chart `docs/hot-path.svg`. It measures nothing.
//!
//! ```sh
//! cargo run --release -p logiscout-bench --bin bench_report            # update docs/benchmarks.md + svg
//! cargo run --release -p logiscout-bench --bin bench_report -- --print # print the sections, write nothing
//! cargo run --release -p logiscout-bench --bin bench_report -- --check # also exit 1 if a target is missed
//! ```
//!
//! Reads `<target>/criterion/<group>/<function>/new/estimates.json` and
//! `<target>/bench-results/{e2e,http,python,rss}.json` (`<target>` = `--target-dir`, else
//! `$CARGO_TARGET_DIR`, else `<workspace>/target`). Writes only the text between
//! `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` in the docs file (every marker must be there,
//! or it stops and lists the missing ones), and `hot-path.svg` next to it (or `--svg <path>`).
//!
//! Exit status: 0 done; 1 `--check` and a target was missed; 2 usage error, missing markers or I/O error.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use logiscout_bench::report::{self, Machine, Status};

const USAGE: &str = "\
usage: bench_report [--docs <path>] [--target-dir <path>] [--svg <path>] [--print] [--check]

  --docs <path>        markdown file with <!-- generated:NAME --> markers (default <workspace>/docs/benchmarks.md)
  --target-dir <path>  directory holding criterion/ and bench-results/ (default $CARGO_TARGET_DIR or <workspace>/target)
  --svg <path>         where to write the hot-path chart (default hot-path.svg next to the docs file)
  --print              print every section (with its markers) to stdout; write nothing
  --check              exit 1 if any target is missed (targets not measured do not fail)";

struct Args {
    docs: PathBuf,
    target_dir: PathBuf,
    svg: Option<PathBuf>,
    print: bool,
    check: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        docs: logiscout_bench::workspace_root().join("docs/benchmarks.md"),
        target_dir: report::default_target_dir(),
        svg: None,
        print: false,
        check: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{flag} needs a path"))
        };
        match a.as_str() {
            "--docs" => args.docs = value("--docs")?,
            "--target-dir" => args.target_dir = value("--target-dir")?,
            "--svg" => args.svg = Some(value("--svg")?),
            "--print" => args.print = true,
            "--check" => args.check = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_report: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let inputs = report::load_inputs(&args.target_dir);
    for p in inputs.problems() {
        eprintln!("bench_report: warning: {p}");
    }
    let machine = Machine::read(inputs.newest());
    let (sections, targets) = report::render_all(&machine, &inputs);
    let svg = report::render_svg(&machine, &inputs.criterion);

    if args.print {
        for (name, body) in &sections {
            println!(
                "{}\n\n{}\n\n{}\n",
                report::open_marker(name),
                body.trim_end(),
                report::close_marker(name)
            );
        }
    } else {
        let doc = match std::fs::read_to_string(&args.docs) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("bench_report: cannot read {}: {e}", args.docs.display());
                return ExitCode::from(2);
            }
        };
        let updated = match report::replace_sections(&doc, &sections) {
            Ok(u) => u,
            Err(e) => {
                eprintln!(
                    "bench_report: {}: {e}\n(add the markers, or use --print to see the sections)",
                    args.docs.display()
                );
                return ExitCode::from(2);
            }
        };
        if updated != doc {
            if let Err(e) = std::fs::write(&args.docs, updated) {
                eprintln!("bench_report: cannot write {}: {e}", args.docs.display());
                return ExitCode::from(2);
            }
        }
        eprintln!("bench_report: updated {}", args.docs.display());
        let svg_path = args.svg.clone().unwrap_or_else(|| {
            args.docs
                .parent()
                .map(|d| d.join("hot-path.svg"))
                .unwrap_or_else(|| PathBuf::from("hot-path.svg"))
        });
        match &svg {
            Some(svg) => {
                if let Err(e) = std::fs::write(&svg_path, svg) {
                    eprintln!("bench_report: cannot write {}: {e}", svg_path.display());
                    return ExitCode::from(2);
                }
                eprintln!("bench_report: wrote {}", svg_path.display());
            }
            None => eprintln!(
                "bench_report: {} not written: hot_path_1_thread not measured (run `{}`)",
                svg_path.display(),
                report::CMD_CRITERION
            ),
        }
    }

    let mut missed = 0;
    for t in &targets {
        let (verdict, measured) = match t.status {
            Status::Met => ("met         ", t.measured.as_str()),
            Status::Missed => ("MISSED      ", t.measured.as_str()),
            Status::NotMeasured => ("not measured", ""),
        };
        missed += usize::from(t.status == Status::Missed);
        eprintln!("  {verdict}  {}  {measured}", t.name);
    }
    if args.check && missed > 0 {
        eprintln!("bench_report: {missed} target(s) missed");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
