//! Files mapped into memory for scanning (the one `unsafe` of the detector).
//!
//! A large file is scanned where the page cache holds it instead of being copied into a
//! buffer: no copy, no fresh pages to zero, nothing drawn from the memory budget, and the
//! whole file rather than what the budget could hold. yara and clamscan read files the same
//! way. The cost is theirs too: should another process truncate the file during the scan,
//! reading the lost pages raises SIGBUS. The server maps only files it wrote itself and never
//! truncates (uploads and downloads in its detection store); `hashscan scan` maps the user's
//! files, as those tools do (docs/security.md).

use std::fs::File;

use memmap2::{Advice, Mmap};

/// Maps `file` read-only, or `None` when it cannot be mapped (the caller reads it instead).
pub(crate) fn map(file: &File) -> Option<Mmap> {
    // SAFETY: the map is read-only and private to this scan; the file is not modified by
    // this process while mapped. A concurrent truncation by another process is the risk
    // documented above.
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(file) }.ok()?;
    // Read once, front to back: read ahead and drop pages behind.
    let _ = map.advise(Advice::Sequential);
    Some(map)
}
