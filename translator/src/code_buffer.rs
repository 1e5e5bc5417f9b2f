//! The code cache's memory: one shared-memory object mapped twice, once readable and executable (where code runs)
//! and once readable and writable (where it is written and patched), so W^X holds without a single protection
//! change: translating a block or linking an exit is a plain memory copy, however full the cache is. (Changing
//! page protections per block cost a tenth of a Debian boot in system calls and page-table splits.)

mod committer;

use committer::{Committer, Views};
use std::io;

/// Host code is placed at multiples of this.
const ALIGN: usize = 16;
/// The cache is committed in steps of this much, both views at once, ahead of the code written: one system call
/// each instead of a page fault per page and view (faults on first touches of the cache took about 2% of a Debian
/// boot's host samples). A thread of its own does it ([`committer`]) where one can be started.
const COMMIT_STEP: usize = 2 << 20;

/// A bump-allocated executable region.
pub struct CodeBuffer {
    /// The executable view.
    base: *mut u8,
    /// The writable view of the same memory.
    writable: *mut u8,
    size: usize,
    used: usize,
    /// Bytes from the start committed (populated) in both views, or asked of the committing thread.
    committed: usize,
    /// The committing thread, once the first code is written (dropped, so joined, before the views are unmapped).
    committer: Option<Committer>,
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(4096)
}

/// Maps `size` bytes of `fd` shared with protection `prot`.
fn map(fd: libc::c_int, size: usize, prot: libc::c_int) -> io::Result<*mut u8> {
    // SAFETY: a shared mapping of a file this module owns, at an address of the kernel's choosing; checked.
    let at = unsafe { libc::mmap(std::ptr::null_mut(), size, prot, libc::MAP_SHARED, fd, 0) };
    if at == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(at.cast())
    }
}

impl CodeBuffer {
    /// Reserves `size` bytes (rounded up to whole pages), none of it committed until written.
    pub fn new(size: usize) -> io::Result<CodeBuffer> {
        let page = page_size();
        let size = size.div_ceil(page) * page;
        // SAFETY: memfd_create takes a NUL-terminated name and flags; the result is checked.
        let fd = unsafe { libc::memfd_create(c"vx86-code-cache".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let views = (|| {
            // SAFETY: `fd` is the memory object just created.
            if unsafe { libc::ftruncate(fd, size as libc::off_t) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let base = map(fd, size, libc::PROT_READ | libc::PROT_EXEC)?;
            match map(fd, size, libc::PROT_READ | libc::PROT_WRITE) {
                Ok(writable) => Ok((base, writable)),
                Err(e) => {
                    // SAFETY: `base` was mapped just above with this size.
                    unsafe { libc::munmap(base.cast(), size) };
                    Err(e)
                }
            }
        })();
        // SAFETY: the mappings keep the memory alive; the descriptor is no longer needed.
        unsafe { libc::close(fd) };
        let (base, writable) = views?;
        Ok(CodeBuffer {
            base,
            writable,
            size,
            used: 0,
            committed: 0,
            committer: None,
        })
    }

    /// The host address the next [`CodeBuffer::append`] will place code at.
    pub fn next_address(&self) -> usize {
        self.base as usize + self.used.next_multiple_of(ALIGN)
    }

    /// Bytes still free.
    pub fn free(&self) -> usize {
        self.size.saturating_sub(self.used.next_multiple_of(ALIGN))
    }

    /// Copies `code` (assembled for [`CodeBuffer::next_address`]) into the buffer; returns its address.
    pub fn append(&mut self, code: &[u8]) -> io::Result<usize> {
        let at = self.used.next_multiple_of(ALIGN);
        if at + code.len() > self.size {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "code cache full",
            ));
        }
        self.commit(at + code.len());
        self.write(at, code);
        self.used = at + code.len();
        Ok(self.base as usize + at)
    }

    /// Overwrites bytes of code already placed (a jump being linked) at host address `address`.
    pub fn patch(&mut self, address: usize, bytes: &[u8]) -> io::Result<()> {
        let at = address.wrapping_sub(self.base as usize);
        if at + bytes.len() > self.used {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "patch outside the code",
            ));
        }
        self.write(at, bytes);
        Ok(())
    }

    /// Forgets every block (the cache is flushed): the space is reused from the start.
    pub fn clear(&mut self) {
        self.used = 0;
    }

    /// The code placed so far, from host address `from` to `to` (for listings).
    pub fn bytes(&self, from: usize, to: usize) -> &[u8] {
        let start = from.wrapping_sub(self.base as usize).min(self.used);
        let end = to.wrapping_sub(self.base as usize).clamp(start, self.used);
        // SAFETY: [start, end) lies within the used, readable part of the mapping, which lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.base.add(start), end - start) }
    }

    /// Commits the cache up to at least `end` bytes: asks the committing thread to stay [`committer::LEAD`] bytes
    /// ahead, or (without one) commits a step at a time here.
    fn commit(&mut self, end: usize) {
        if end <= self.committed {
            return;
        }
        let views = Views {
            executable: self.base as usize,
            writable: self.writable as usize,
        };
        if self.committer.is_none() {
            self.committer = Committer::start(views, COMMIT_STEP);
        }
        let to = end.next_multiple_of(COMMIT_STEP).min(self.size);
        match &mut self.committer {
            Some(committer) => {
                // Ask again when the code is halfway into what was asked.
                let ahead = (to + committer::LEAD).min(self.size);
                committer.ask(ahead);
                self.committed = (ahead - committer::LEAD / 2).max(to);
            }
            None => {
                committer::populate(views, self.committed, to - self.committed);
                self.committed = to;
            }
        }
    }

    fn write(&mut self, at: usize, bytes: &[u8]) {
        // SAFETY: callers keep [at, at + len) inside the mapping; the writable view aliases the executable one, and
        // no code runs while the dispatcher writes (x86 keeps instruction fetch coherent with the alias).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.writable.add(at), bytes.len())
        };
    }
}

impl Drop for CodeBuffer {
    fn drop(&mut self) {
        // The committing thread stops before the views go.
        self.committer = None;
        // SAFETY: both mappings were created by `new` with this size and nothing refers to them past `self`.
        unsafe {
            libc::munmap(self.base.cast(), self.size);
            libc::munmap(self.writable.cast(), self.size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_placed_aligned_and_patched_in_place() {
        let mut buffer = CodeBuffer::new(1 << 16).unwrap();
        let first = buffer.append(&[0xC3]).unwrap();
        let second = buffer.append(&[0x90, 0xC3]).unwrap();
        assert_eq!(second - first, ALIGN);
        buffer.patch(second, &[0xCC]).unwrap();
        assert_eq!(buffer.bytes(second, second + 2), &[0xCC, 0xC3]);
        assert!(buffer.patch(second + 4096, &[0]).is_err());
        buffer.clear();
        assert_eq!(buffer.next_address(), first);
    }

    /// Whether the page at `offset` of the writable view is resident.
    fn resident(buffer: &CodeBuffer, offset: usize) -> bool {
        let mut state = 0u8;
        // SAFETY: one page inside the mapping, and a one-byte vector for its state.
        let done = unsafe { libc::mincore(buffer.writable.add(offset).cast(), 4096, &mut state) };
        done == 0 && state & 1 != 0
    }

    #[test]
    fn the_cache_is_committed_ahead_of_the_code() {
        let size = 4 * committer::LEAD;
        let mut buffer = CodeBuffer::new(size).unwrap();
        buffer.append(&[0xC3]).unwrap();
        let ahead = committer::LEAD;
        assert!(!resident(&buffer, size - 4096), "not asked that far");
        // The thread gets there in its own time: wait for it (far longer than it needs).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !resident(&buffer, ahead) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(resident(&buffer, ahead), "committed {ahead} bytes ahead");
    }

    #[test]
    fn a_full_buffer_refuses_more_code() {
        let mut buffer = CodeBuffer::new(4096).unwrap();
        assert!(buffer.append(&[0x90; 4096]).is_ok());
        assert!(buffer.append(&[0x90]).is_err());
    }
}
