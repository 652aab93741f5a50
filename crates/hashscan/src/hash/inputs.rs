//! What `hashscan hash PATH...` will read: files, standard input, or an error to report in
//! its place.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::describe;

/// One item of work, in the order the user named it.
#[derive(Debug)]
pub enum Input {
    /// Standard input (`-` or no PATH).
    Stdin,
    /// A file to hash, with its size at the time it was listed.
    File { path: PathBuf, size: u64 },
    /// Something that cannot be hashed, reported in its turn.
    Error { name: OsString, message: String },
}

impl Input {
    /// The name printed for this input.
    pub fn name(&self) -> &OsStr {
        match self {
            Input::Stdin => OsStr::new("-"),
            Input::File { path, .. } => path.as_os_str(),
            Input::Error { name, .. } => name,
        }
    }

    /// Bytes this input is expected to yield (0 when unknown).
    pub fn size(&self) -> u64 {
        match self {
            Input::File { size, .. } => *size,
            _ => 0,
        }
    }

    pub fn is_hashable(&self) -> bool {
        !matches!(self, Input::Error { .. })
    }
}

/// Expands the command line into inputs. Directories need `recursive`; inside them, files
/// are listed in name order and symbolic links to files are followed, links to directories
/// are not (no loops). Unreadable entries become errors in their place.
pub fn collect(paths: &[PathBuf], recursive: bool) -> Vec<Input> {
    if paths.is_empty() {
        return vec![Input::Stdin];
    }
    let mut inputs = Vec::new();
    for arg in paths {
        if arg.as_os_str() == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let meta = match fs::metadata(arg) {
            Ok(m) => m,
            Err(e) => {
                inputs.push(error(arg, describe(&e)));
                continue;
            }
        };
        if !meta.is_dir() {
            inputs.push(Input::File {
                path: arg.clone(),
                size: meta.len(),
            });
        } else if !recursive {
            inputs.push(error(arg, "Is a directory (use -r)".to_string()));
        } else {
            walk(arg, &mut inputs);
        }
    }
    inputs
}

fn walk(root: &Path, inputs: &mut Vec<Input>) {
    for entry in WalkDir::new(root).sort_by_file_name() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let name = e.path().unwrap_or(root);
                let message = e.io_error().map_or_else(|| e.to_string(), describe);
                inputs.push(error(name, message));
                continue;
            }
        };
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        let path = entry.into_path();
        if file_type.is_file() {
            match fs::metadata(&path) {
                Ok(m) => inputs.push(Input::File {
                    path,
                    size: m.len(),
                }),
                Err(e) => inputs.push(error(&path, describe(&e))),
            }
        } else if file_type.is_symlink() {
            // Follow links to files; skip links to directories and dangling links, as
            // hashdeep does without -l.
            if let Ok(m) = fs::metadata(&path)
                && m.is_file()
            {
                inputs.push(Input::File {
                    path,
                    size: m.len(),
                });
            }
        }
        // Sockets, FIFOs and devices inside a tree are skipped: reading them could block.
    }
}

fn error(name: &Path, message: String) -> Input {
    Input::Error {
        name: name.as_os_str().to_owned(),
        message,
    }
}
