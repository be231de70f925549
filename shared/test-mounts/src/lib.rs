//! A tmpfs of a chosen size for one test, for what happens when a disk fills up and when space
//! comes back. Mounting needs root (CI runs as root); without it the test fails, it does not
//! skip.

use std::path::Path;
use std::process::Command;

/// A mounted tmpfs, unmounted when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount`'s syntax: `2m`, `64m`) on a new temporary directory.
    pub fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("colloquy-tmpfs-")
            .tempdir()
            .expect("a temporary directory");
        run(Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path()));
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Changes the size, keeping the files: smaller fills the disk, larger frees space.
    pub fn resize(&self, size: &str) {
        run(Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path()));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily, so a file a dying process still holds open cannot keep the mount.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed (mounting a tmpfs needs root): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
