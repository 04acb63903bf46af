//! Reading and writing table files: encodings, byte-order marks, globs and atomic writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use polars::io::csv::read::schema_inference;
use polars::prelude::*;
use spel_grammar::{Diagnostic, Span, did_you_mean};

use crate::errors::polars_error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Cp1252,
}

pub struct ReadOptions {
    pub delimiter: u8,
    pub encoding: Encoding,
    pub null_values: Vec<String>,
    /// Add a `source_file` column naming each row's file.
    pub source_file: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Csv,
    Parquet,
    NdJson,
}

fn format_of(path: &str, span: Span) -> Result<Format, Diagnostic> {
    let lower = path.to_lowercase();
    if lower.ends_with(".csv") || lower.ends_with(".tsv") || lower.ends_with(".txt") {
        Ok(Format::Csv)
    } else if lower.ends_with(".parquet") || lower.ends_with(".pq") {
        Ok(Format::Parquet)
    } else if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
        Ok(Format::NdJson)
    } else {
        Err(Diagnostic::new(
            "spel::read::format",
            format!("cannot tell the format of `{path}` from its name"),
        )
        .at(span)
        .with_help("spel reads .csv (also .tsv, .txt), .parquet and .ndjson/.jsonl files"))
    }
}

/// Reads one file, or every file a glob matches (stacked, columns aligned by name),
/// with notes for the user on files whose columns differ.
pub fn read(
    path: &Path,
    base: Option<&Path>,
    options: &ReadOptions,
    span: Span,
) -> Result<(LazyFrame, Vec<String>), Diagnostic> {
    let path_text = path.to_string_lossy();
    if !path_text.contains(['*', '?', '[']) {
        let lf = read_one(path, base, options, span)?;
        return Ok((with_source(lf, path, options), Vec::new()));
    }
    let path = path_text.as_ref();
    let matches = glob::glob(path).map_err(|e| {
        Diagnostic::new(
            "spel::read::glob",
            format!("`{path}` is not a valid pattern: {e}"),
        )
        .at(span)
    })?;
    let mut files: Vec<PathBuf> = matches.filter_map(Result::ok).collect();
    files.sort();
    if files.is_empty() {
        return Err(Diagnostic::new(
            "spel::read::no_match",
            format!("no file matches `{}`", shown(Path::new(path), base)),
        )
        .at(span));
    }
    let frames = files
        .iter()
        .map(|f| read_one(f, base, options, span).map(|lf| with_source(lf, f, options)))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> = files.iter().map(|f| file_name(f)).collect();
    stack(frames, &names, span)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The table with a `source_file` column first, when asked for.
fn with_source(lf: LazyFrame, path: &Path, options: &ReadOptions) -> LazyFrame {
    if !options.source_file {
        return lf;
    }
    lf.select([lit(file_name(path)).alias("source_file"), all().as_expr()])
}

/// "a.csv, b.csv and 3 more".
fn some_files(names: &[&str]) -> String {
    match names {
        [one] => one.to_string(),
        [a, b] => format!("{a} and {b}"),
        [a, b, rest @ ..] => format!("{a}, {b} and {} more", rest.len()),
        [] => String::new(),
    }
}

/// Stacks tables, filling columns a file lacks with missing values, and says so.
fn stack(
    frames: Vec<LazyFrame>,
    names: &[String],
    span: Span,
) -> Result<(LazyFrame, Vec<String>), Diagnostic> {
    let mut schemas = Vec::new();
    for lf in &frames {
        schemas.push(
            lf.clone()
                .collect_schema()
                .map_err(|e| polars_error(e).at(span))?,
        );
    }
    let mut all: Vec<(PlSmallStr, DataType)> = Vec::new();
    for schema in &schemas {
        for (name, dtype) in schema.iter() {
            if !all.iter().any(|(n, _)| n == name) {
                all.push((name.clone(), dtype.clone()));
            }
        }
    }
    // One note for columns some files lack and one for columns whose type differs,
    // each naming the first few: enough to act on without a wall of text.
    let mut missing = Vec::new();
    let mut retyped = Vec::new();
    for (name, dtype) in &all {
        let lacking: Vec<&str> = schemas
            .iter()
            .zip(names)
            .filter(|(s, _)| s.get(name).is_none())
            .map(|(_, n)| n.as_str())
            .collect();
        if !lacking.is_empty() {
            let twin = all
                .iter()
                .find(|(other, _)| other != name && other.to_lowercase() == name.to_lowercase())
                .map(|(other, _)| format!(", `{other}` elsewhere"))
                .unwrap_or_default();
            missing.push(format!("`{name}` (not in {}{twin})", some_files(&lacking)));
        }
        let other: Vec<&str> = schemas
            .iter()
            .zip(names)
            .filter(|(s, _)| s.get(name).is_some_and(|d| d != dtype))
            .map(|(_, n)| n.as_str())
            .collect();
        if !other.is_empty() {
            retyped.push(format!(
                "`{name}` (read as {dtype}; another type in {})",
                some_files(&other)
            ));
        }
    }
    let listed = |items: &[String]| {
        let shown: Vec<&str> = items.iter().take(4).map(String::as_str).collect();
        let more = items.len().saturating_sub(4);
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let mut notes = Vec::new();
    if !missing.is_empty() {
        notes.push(format!(
            "the {} files' columns differ: {} {} missing where a file lacks {}: {}",
            names.len(),
            missing.len(),
            if missing.len() == 1 {
                "column is"
            } else {
                "columns are"
            },
            if missing.len() == 1 { "it" } else { "them" },
            listed(&missing)
        ));
    }
    if !retyped.is_empty() {
        notes.push(format!(
            "{} {} a different type in some files: {}",
            retyped.len(),
            if retyped.len() == 1 {
                "column has"
            } else {
                "columns have"
            },
            listed(&retyped)
        ));
    }
    let aligned: Vec<LazyFrame> = frames
        .into_iter()
        .zip(&schemas)
        .map(|(lf, schema)| {
            let columns: Vec<Expr> = all
                .iter()
                .map(|(name, dtype)| match schema.get(name) {
                    Some(own) if own == dtype => col(name.clone()),
                    Some(_) => col(name.clone()).cast(dtype.clone()),
                    None => lit(NULL).cast(dtype.clone()).alias(name.clone()),
                })
                .collect();
            lf.select(columns)
        })
        .collect();
    let stacked = concat(aligned, UnionArgs::default()).map_err(|e| polars_error(e).at(span))?;
    Ok((stacked, notes))
}

fn read_one(
    path: &Path,
    base: Option<&Path>,
    options: &ReadOptions,
    span: Span,
) -> Result<LazyFrame, Diagnostic> {
    let shown = shown(path, base);
    let format = format_of(&shown, span)?;
    let metadata = std::fs::metadata(path).map_err(|e| open_error(path, base, e, span))?;
    if metadata.is_dir() {
        return Err(Diagnostic::new(
            "spel::read::directory",
            format!("`{shown}` is a folder, not a file"),
        )
        .at(span));
    }
    if metadata.len() == 0 {
        return Err(
            Diagnostic::new("spel::read::empty", format!("`{shown}` is empty"))
                .at(span)
                .with_help("the file has no header and no rows; check it was written completely"),
        );
    }
    let plpath = PlRefPath::new(path.to_string_lossy().as_ref());
    match format {
        Format::Csv => read_csv(path, &shown, options, span),
        Format::Parquet => LazyFrame::scan_parquet(plpath, ScanArgsParquet::default())
            .and_then(|mut lf| lf.collect_schema().map(|_| lf))
            .map_err(|e| unreadable(&shown, e, span)),
        Format::NdJson => LazyJsonLineReader::new(plpath)
            .finish()
            .and_then(|mut lf| lf.collect_schema().map(|_| lf))
            .map_err(|e| unreadable(&shown, e, span)),
    }
}

/// CSV is decoded here, not by polars: spel must check the encoding and say clearly
/// when a file is not UTF-8, and polars reads UTF-8 only. Every step goes by blocks or
/// batches and stops at the next one when the user interrupts.
fn read_csv(
    path: &Path,
    shown: &str,
    options: &ReadOptions,
    span: Span,
) -> Result<LazyFrame, Diagnostic> {
    let bytes = read_bytes(path).map_err(|e| open_error(path, None, e, span))?;
    let text: Vec<u8> = match options.encoding {
        Encoding::Utf8 => {
            let mut body = bytes;
            if body.starts_with(b"\xEF\xBB\xBF") {
                body.drain(..3);
            }
            if let Some(at) = first_invalid_utf8(&body) {
                let line = body[..at].iter().filter(|&&b| b == b'\n').count() + 1;
                return Err(Diagnostic::new(
                    "spel::read::encoding",
                    format!(
                        "`{shown}` is not valid UTF-8: byte 0x{:02X} on line {line}",
                        body[at]
                    ),
                )
                .at(span)
                .with_help("NHS files are often Windows-1252; add `, encoding = \"cp1252\"`"));
            }
            body
        }
        Encoding::Cp1252 => decode_cp1252(bytes),
    };
    let null_values = (!options.null_values.is_empty()).then(|| {
        NullValues::AllColumns(
            options
                .null_values
                .iter()
                .map(|s| s.as_str().into())
                .collect(),
        )
    });
    let delimiter = options.delimiter;
    let parse = |bytes: Vec<u8>, overwrite: Option<SchemaRef>| {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(None)
            .with_schema_overwrite(overwrite)
            .map_parse_options(|o| {
                o.with_separator(delimiter)
                    .with_null_values(null_values.clone())
            })
            .into_reader_with_file_handle(std::io::Cursor::new(bytes))
            .finish()
    };
    parse_by_blocks(&text, PARSE_BLOCK, parse)
        .map(DataFrame::lazy)
        .map_err(|e| unreadable(shown, e, span))
}

/// Parsed between looks at the interrupt flag: about a tenth of a second of parsing.
const PARSE_BLOCK: usize = 1 << 22;

/// Parses a CSV text block by block, each with the header, stopping between blocks when
/// the user interrupts. Each block infers its own column types; they are then unified
/// as polars unifies the types it sees in one file (integers and decimals make decimals,
/// anything else mixed makes text; a block with only missing values says nothing), and a
/// block is cast or, where its values must become text, parsed again.
fn parse_by_blocks(
    text: &[u8],
    block_size: usize,
    parse: impl Fn(Vec<u8>, Option<SchemaRef>) -> PolarsResult<DataFrame>,
) -> PolarsResult<DataFrame> {
    let ends = record_ends(text, block_size);
    let header = &text[..ends[0]];
    let block_text = |i: usize| [header, &text[ends[i]..ends[i + 1]]].concat();
    let mut blocks = Vec::with_capacity(ends.len());
    for i in 0..ends.len().saturating_sub(1).max(1) {
        if spel_stats::cancel::requested() {
            polars_bail!(ComputeError: "interrupted");
        }
        let bytes = if ends.len() == 1 {
            header.to_vec()
        } else {
            block_text(i)
        };
        blocks.push(parse(bytes, None)?);
    }
    let unified = unified_schema(&blocks);
    for (i, block) in blocks.iter_mut().enumerate() {
        let as_text: Vec<(PlSmallStr, DataType)> = block
            .columns()
            .iter()
            .filter(|c| {
                let target = unified.get(c.name()).unwrap_or(c.dtype());
                c.dtype() != target && target == &DataType::String && c.null_count() < c.len()
            })
            .map(|c| (c.name().clone(), DataType::String))
            .collect();
        if !as_text.is_empty() {
            *block = parse(block_text(i), Some(Arc::new(Schema::from_iter(as_text))))?;
        }
        for (name, target) in unified.iter() {
            let column = block.column(name)?;
            if column.dtype() != target {
                let cast = column.cast(target)?;
                block.with_column(cast)?;
            }
        }
    }
    let mut blocks = blocks.into_iter();
    let mut stacked = blocks.next().unwrap_or_default();
    for block in blocks {
        stacked.vstack_mut_owned(block)?;
    }
    Ok(stacked)
}

/// Where the header ends, then where each block of about `size` bytes ends: always at a
/// line's end outside quotes, so no record is cut.
fn record_ends(text: &[u8], size: usize) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut in_quotes = false;
    let mut next = 0;
    for (i, &byte) in text.iter().enumerate() {
        match byte {
            b'"' => in_quotes = !in_quotes,
            b'\n' if !in_quotes && i + 1 >= next => {
                ends.push(i + 1);
                next = i + 1 + size;
            }
            _ => {}
        }
    }
    if ends.last() != Some(&text.len()) {
        ends.push(text.len());
    }
    ends
}

/// The type of each column over all blocks, by polars' rule for one file.
fn unified_schema(blocks: &[DataFrame]) -> Schema {
    let Some(first) = blocks.first() else {
        return Schema::default();
    };
    first
        .columns()
        .iter()
        .map(|column| {
            let seen: PlIndexSet<DataType> = blocks
                .iter()
                .filter_map(|b| b.column(column.name()).ok())
                .filter(|c| c.null_count() < c.len())
                .map(|c| c.dtype().clone())
                .collect();
            (
                column.name().clone(),
                schema_inference::finish_infer_field_schema(&seen),
            )
        })
        .collect()
}

/// How much is read, checked or decoded between looks at the interrupt flag.
const BLOCK: usize = 1 << 26;

/// A file's bytes, read by blocks; an interrupted read ends with `Interrupted`.
fn read_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
    let mut bytes = Vec::with_capacity(size);
    loop {
        if spel_stats::cancel::requested() {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let read = (&mut file).take(BLOCK as u64).read_to_end(&mut bytes)?;
        if read == 0 {
            return Ok(bytes);
        }
    }
}

/// Where the first byte that is not UTF-8 is, checked by blocks.
fn first_invalid_utf8(bytes: &[u8]) -> Option<usize> {
    let mut start = 0;
    while start < bytes.len() && !spel_stats::cancel::requested() {
        let end = (start + BLOCK).min(bytes.len());
        match std::str::from_utf8(&bytes[start..end]) {
            Ok(_) => start = end,
            // A character cut by the block's end is checked with the next block.
            Err(e) if e.error_len().is_none() && end < bytes.len() => {
                start += e.valid_up_to();
            }
            Err(e) => return Some(start + e.valid_up_to()),
        }
    }
    None
}

/// Windows-1252 bytes as UTF-8, decoded by blocks into a text allocated once: a byte
/// below 0x80 is itself, any other at most three bytes.
fn decode_cp1252(bytes: Vec<u8>) -> Vec<u8> {
    let high: usize = bytes
        .chunks(BLOCK)
        .take_while(|_| !spel_stats::cancel::requested())
        .map(|block| block.iter().filter(|b| !b.is_ascii()).count())
        .sum();
    if high == 0 {
        return bytes;
    }
    // As `Encoding::decode`: a UTF-8 byte-order mark still means UTF-8.
    let mut decoder = encoding_rs::WINDOWS_1252.new_decoder();
    let mut text = String::with_capacity(bytes.len() + 2 * high + 16);
    let blocks = bytes.len().div_ceil(BLOCK);
    for (i, block) in bytes.chunks(BLOCK).enumerate() {
        if spel_stats::cancel::requested() {
            break;
        }
        let mut rest = block;
        loop {
            let (result, read, _) = decoder.decode_to_string(rest, &mut text, i + 1 == blocks);
            rest = &rest[read..];
            match result {
                encoding_rs::CoderResult::InputEmpty => break,
                encoding_rs::CoderResult::OutputFull => text.reserve(rest.len() * 3 + 16),
            }
        }
    }
    text.into_bytes()
}

/// A path as the user knows it: relative to the session's base directory.
fn shown(path: &Path, base: Option<&Path>) -> String {
    base.and_then(|b| path.strip_prefix(b).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn open_error(path: &Path, base: Option<&Path>, error: std::io::Error, span: Span) -> Diagnostic {
    let shown = shown(path, base);
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            let mut diagnostic =
                Diagnostic::new("spel::read::not_found", format!("no file `{shown}`"))
                    .at(span)
                    .with_label("not found");
            let folder = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let siblings: Vec<String> = std::fs::read_dir(folder)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(s) = did_you_mean(&name, siblings.iter().map(String::as_str)) {
                diagnostic = diagnostic.with_help(format!(
                    "did you mean `{}`?",
                    self::shown(&folder.join(s), base)
                ));
            } else {
                let cwd = std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default();
                diagnostic = diagnostic.with_note(format!("relative paths start from {cwd}"));
            }
            diagnostic
        }
        std::io::ErrorKind::PermissionDenied => Diagnostic::new(
            "spel::read::permission",
            format!("no permission to read `{shown}`"),
        )
        .at(span),
        _ => Diagnostic::new("spel::read::io", format!("cannot read `{shown}`: {error}")).at(span),
    }
}

fn unreadable(shown: &str, error: PolarsError, span: Span) -> Diagnostic {
    let reason = polars_error(error).message.clone();
    Diagnostic::new(
        "spel::read::unreadable",
        format!("cannot read `{shown}` as a table"),
    )
    .at(span)
    .with_note(reason)
}

/// A temporary file in `folder`, to be renamed into place once written. It is made with
/// the permissions any new file gets (read and write for all, less the umask), not the
/// owner-only ones of a private temporary file, so what spel writes others can read as
/// they could a file from R or Stata.
fn temporary_in(folder: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".spel-write-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(folder)
}

/// Writes text to `target` atomically (for `:save`).
pub fn write_text(target: &Path, text: &str) -> std::io::Result<()> {
    let folder = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = temporary_in(folder)?;
    temp.write_all(text.as_bytes())?;
    temp.as_file_mut().flush()?;
    temp.persist(target).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `df` to `path` (CSV or Parquet by extension) through a temporary file in the
/// same folder, renamed into place only once complete: a failure leaves no half file.
pub fn write(
    df: &mut DataFrame,
    target: &Path,
    base: Option<&Path>,
    span: Span,
) -> Result<(), Diagnostic> {
    let path = shown(target, base);
    let path = path.as_str();
    let format = format_of(path, span)?;
    if format == Format::NdJson {
        return Err(
            Diagnostic::new("spel::write::format", "spel writes .csv and .parquet files").at(span),
        );
    }
    let folder = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !folder.is_dir() {
        return Err(Diagnostic::new(
            "spel::write::folder",
            format!("the folder `{}` does not exist", shown(folder, base)),
        )
        .at(span)
        .with_help("create it first, or write somewhere that exists"));
    }
    let io_error = |e: std::io::Error| {
        Diagnostic::new("spel::write::io", format!("cannot write `{path}`: {e}")).at(span)
    };
    let mut temp = temporary_in(folder).map_err(io_error)?;
    let written = match format {
        Format::Parquet => ParquetWriter::new(temp.as_file_mut())
            .finish(df)
            .map(|_| ()),
        _ => CsvWriter::new(temp.as_file_mut()).finish(df),
    };
    written.map_err(|e| polars_error(e).at(span))?;
    temp.as_file_mut().flush().map_err(io_error)?;
    temp.persist(target).map_err(|e| io_error(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng};
    use rand_pcg::Pcg64;

    use super::*;

    fn parse(bytes: Vec<u8>, overwrite: Option<SchemaRef>) -> PolarsResult<DataFrame> {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(None)
            .with_schema_overwrite(overwrite)
            .map_parse_options(|o| {
                o.with_null_values(Some(NullValues::AllColumns(vec!["NA".into()])))
            })
            .into_reader_with_file_handle(std::io::Cursor::new(bytes))
            .finish()
    }

    /// A field of one of the kinds whose mixing decides a column's type.
    fn field(rng: &mut Pcg64, kinds: &[u8]) -> String {
        match kinds[rng.random_range(0..kinds.len())] {
            0 => String::new(),
            1 => "NA".into(),
            2 => rng.random_range(-500..500i64).to_string(),
            3 => format!("{:.3}", rng.random_range(-5.0..5.0f64)),
            4 => ["true", "false"][rng.random_range(0..2)].into(),
            5 => format!("00{}", rng.random_range(0..9)),
            6 => "\"a, \"\"quoted\"\"\nline\"".into(),
            _ => "text".into(),
        }
    }

    #[test]
    fn parsing_by_blocks_equals_parsing_the_whole_file() {
        let mut rng = Pcg64::seed_from_u64(11);
        for case in 0..300 {
            let columns = rng.random_range(1..5);
            // Most columns keep to a few kinds in long runs, so blocks differ.
            let kinds: Vec<Vec<u8>> = (0..columns)
                .map(|_| {
                    (0..rng.random_range(1..4))
                        .map(|_| rng.random_range(0..8))
                        .collect()
                })
                .collect();
            let rows = rng.random_range(0..60);
            let mut text = (0..columns)
                .map(|c| format!("c{c}"))
                .collect::<Vec<_>>()
                .join(",");
            text.push('\n');
            for row in 0..rows {
                let line: Vec<String> = kinds
                    .iter()
                    .map(|k| {
                        let run = &k[..(1 + row * k.len() / rows.max(1)).min(k.len())];
                        field(&mut rng, run)
                    })
                    .collect();
                text.push_str(&line.join(","));
                if row + 1 < rows || rng.random_bool(0.5) {
                    text.push('\n');
                }
            }
            let whole = parse(text.clone().into_bytes(), None);
            let blocks = parse_by_blocks(text.as_bytes(), rng.random_range(1..40), parse);
            match (whole, blocks) {
                (Ok(whole), Ok(blocks)) => assert!(
                    whole.equals_missing(&blocks),
                    "case {case}:\n{text}\n{whole}\n{blocks}"
                ),
                (whole, blocks) => {
                    assert_eq!(whole.is_err(), blocks.is_err(), "case {case}:\n{text}")
                }
            }
        }
    }
}
