//! The code cache's memory: one mapping reserved up front and filled front to back, with W^X kept per page: the
//! pages being written are made writable (and not executable) for the copy, then executable again. Only the pages
//! touched change protection, so translating a block or linking an exit costs the same however full the cache is.

use std::io;

/// Host code is placed at multiples of this.
const ALIGN: usize = 16;

/// A bump-allocated executable region.
pub struct CodeBuffer {
    base: *mut u8,
    size: usize,
    used: usize,
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(4096)
}

impl CodeBuffer {
    /// Reserves `size` bytes (rounded up to whole pages), readable and executable, none of it committed yet.
    pub fn new(size: usize) -> io::Result<CodeBuffer> {
        let page = page_size();
        let size = size.div_ceil(page) * page;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing; the result is checked.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(CodeBuffer {
            base: base.cast(),
            size,
            used: 0,
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
        self.write(at, code)?;
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
        self.write(at, bytes)
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

    fn write(&mut self, at: usize, bytes: &[u8]) -> io::Result<()> {
        let page = page_size();
        let first = at / page * page;
        let end = (at + bytes.len()).div_ceil(page) * page;
        let protect = |prot| {
            // SAFETY: [first, end) is a page-aligned range inside the mapping this buffer owns.
            let r = unsafe { libc::mprotect(self.base.add(first).cast(), end - first, prot) };
            if r == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        protect(libc::PROT_READ | libc::PROT_WRITE)?;
        // SAFETY: the destination range is inside the mapping and now writable; the source is a separate slice.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(at), bytes.len()) };
        protect(libc::PROT_READ | libc::PROT_EXEC)
    }
}

impl Drop for CodeBuffer {
    fn drop(&mut self) {
        // SAFETY: the mapping was created by `new` with this size and nothing refers to it past `self`.
        unsafe { libc::munmap(self.base.cast(), self.size) };
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

    #[test]
    fn a_full_buffer_refuses_more_code() {
        let mut buffer = CodeBuffer::new(4096).unwrap();
        assert!(buffer.append(&[0x90; 4096]).is_ok());
        assert!(buffer.append(&[0x90]).is_err());
    }
}
