//! Reading files named on the command line with bounds: only a regular file (or `-`, standard input, where
//! a command allows it) is read, and never more than a set number of bytes, so neither `/dev/zero`, a FIFO
//! nor a huge file can hang a command or grow its memory without limit.
use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Default cap on an image read whole before decoding (the server's default upload cap).
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 512 * 1024 * 1024;

/// Open `path` for reading if it is a regular file (symbolic links followed). A FIFO, a device, a socket or
/// a folder is refused with a message that says which it is.
pub fn open_regular(path: &Path) -> Result<File> {
    let shown = display_path(path);
    // Look before opening: opening a device can have effects of its own (a tape rewinds, a terminal becomes
    // the controlling one), and opening a FIFO for reading blocks until a writer comes.
    let before = std::fs::metadata(path).with_context(|| format!("cannot open {shown}"))?;
    if !before.is_file() {
        bail!("{shown} is {}, not a regular file", kind_of(&before.file_type()));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // In case the path was swapped for something else since: never block, never take a terminal.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK | libc::O_NOCTTY);
    let file = options.open(path).with_context(|| format!("cannot open {shown}"))?;
    let meta = file.metadata().with_context(|| format!("cannot read {shown}"))?;
    if !meta.is_file() {
        bail!("{shown} is {}, not a regular file", kind_of(&meta.file_type()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (meta.dev(), meta.ino()) != (before.dev(), before.ino()) {
            bail!("{shown} changed while it was being opened");
        }
    }
    Ok(file)
}

/// What a non-regular file is, for messages.
pub fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Read at most `max` bytes from `reader`; more is an error naming `what` and the limit.
pub fn read_capped(reader: impl Read, max: u64, what: &str, hint: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(max.saturating_add(1)).read_to_end(&mut bytes).with_context(|| format!("cannot read {what}"))?;
    if bytes.len() as u64 > max {
        bail!("{what} is larger than {max} bytes{hint}");
    }
    Ok(bytes)
}

/// A whole input file (or standard input for `-`), at most `max` bytes.
pub fn read_input(path: &Path, max: u64) -> Result<Vec<u8>> {
    let hint = " (--max-input-bytes raises the limit)";
    if path.as_os_str() == "-" {
        return read_capped(std::io::stdin().lock(), max, "standard input", hint);
    }
    let file = open_regular(path)?;
    let shown = display_path(path);
    // Refuse at once what is already too large, without reading it.
    if file.metadata().map(|m| m.len()).unwrap_or(0) > max {
        bail!("{shown} is larger than {max} bytes{hint}");
    }
    read_capped(file, max, &shown, hint)
}

/// SHA-256 of a regular file, read in fixed-size chunks (memory does not grow with the file), and never more
/// than the size the file had when it was opened: a file that keeps growing is an error, not a hang.
pub fn hash_file(path: &Path) -> Result<proofmark_core::ContentHash> {
    let shown = display_path(path);
    let file = open_regular(path).with_context(|| format!("cannot read media {shown}"))?;
    let size = file.metadata().with_context(|| format!("cannot read media {shown}"))?.len();
    let mut reader = file.take(size.saturating_add(1));
    let mut hasher = proofmark_core::ContentHasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read media {shown}")),
        };
        total += n as u64;
        if total > size {
            bail!("media {shown} grew while it was being read; verify it once it is complete");
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish())
}

/// A file name as it is safe to show: bytes that are not UTF-8 as `\xNN`, control and bidirectional-override
/// characters escaped, so a crafted name cannot redraw the terminal.
pub fn display_path(path: &Path) -> String {
    #[cfg(unix)]
    let text = {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        let mut out = String::new();
        for chunk in bytes.utf8_chunks() {
            out.push_str(chunk.valid());
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        out
    };
    #[cfg(not(unix))]
    let text = path.display().to_string();
    printable(&text).into_owned()
}

/// Untrusted text (from a sidecar, a token, a file name) as it is safe to print on a terminal: control and
/// bidirectional-override characters are shown escaped, so a crafted string cannot redraw the screen.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars().map(|c| if unsafe_char(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_and_reads_are_capped() {
        let e = open_regular(Path::new("/dev/zero")).unwrap_err();
        assert!(format!("{e:#}").contains("/dev/zero is a character device, not a regular file"), "{e:#}");
        let e = read_input(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(format!("{e:#}").contains("not a regular file"), "{e:#}");
        let dir = tempfile::tempdir().unwrap();
        let e = open_regular(dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("is a folder"), "{e:#}");
        let f = dir.path().join("f");
        std::fs::write(&f, [7u8; 11]).unwrap();
        assert_eq!(read_input(&f, 11).unwrap().len(), 11);
        let e = read_input(&f, 10).unwrap_err();
        assert!(format!("{e:#}").contains("is larger than 10 bytes"), "{e:#}");
        let e = read_capped(std::io::repeat(0), 1000, "the stream", "").unwrap_err();
        assert!(format!("{e:#}").contains("the stream is larger than 1000 bytes"), "{e:#}");
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_escaped() {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"dir/ph\xffoto\x1b.jpg"));
        assert_eq!(display_path(p), "dir/ph\\xffoto\\u{1b}.jpg");
    }
}
