//! The MMC packet commands of the ATAPI CD-ROM drive (SPC/MMC semantics, as QEMU's `hw/ide/atapi.c` answers
//! them): what each command returns, or the sense it fails with. The PACKET protocol that carries them is in
//! `cdrom.rs`.
//!
//! The medium is a raw ISO image of 2048-byte sectors, read only and always present: the tray is not modelled, so
//! START STOP UNIT succeeds without ejecting (and fails while removal is prevented, as a locked drive does).

use super::Disk;

/// Bytes per CD-ROM sector.
pub const CD_SECTOR_SIZE: usize = 2048;

/// TEST UNIT READY.
pub const TEST_UNIT_READY: u8 = 0x00;
/// REQUEST SENSE.
pub const REQUEST_SENSE: u8 = 0x03;
/// INQUIRY.
pub const INQUIRY: u8 = 0x12;
/// START STOP UNIT.
pub const START_STOP_UNIT: u8 = 0x1B;
/// PREVENT ALLOW MEDIUM REMOVAL.
pub const PREVENT_ALLOW_MEDIUM_REMOVAL: u8 = 0x1E;
/// READ CAPACITY(10).
pub const READ_CAPACITY_10: u8 = 0x25;
/// READ(10).
pub const READ_10: u8 = 0x28;
/// READ TOC/PMA/ATIP.
pub const READ_TOC: u8 = 0x43;
/// GET CONFIGURATION.
pub const GET_CONFIGURATION: u8 = 0x46;
/// GET EVENT STATUS NOTIFICATION.
pub const GET_EVENT_STATUS_NOTIFICATION: u8 = 0x4A;
/// MODE SENSE(10).
pub const MODE_SENSE_10: u8 = 0x5A;
/// READ(12).
pub const READ_12: u8 = 0xA8;

/// Sense key: unrecoverable medium error.
pub const SENSE_MEDIUM_ERROR: u8 = 0x03;
/// Sense key: bad command or parameter.
pub const SENSE_ILLEGAL_REQUEST: u8 = 0x05;
/// Sense key: unit attention (the medium may have changed).
pub const SENSE_UNIT_ATTENTION: u8 = 0x06;

/// Additional sense: unrecovered read error.
const ASC_READ_ERROR: u8 = 0x11;
/// Additional sense: invalid command operation code.
const ASC_INVALID_OPCODE: u8 = 0x20;
/// Additional sense: logical block address out of range.
const ASC_LBA_OUT_OF_RANGE: u8 = 0x21;
/// Additional sense: invalid field in CDB.
const ASC_INVALID_FIELD: u8 = 0x24;
/// Additional sense: not ready to ready change, medium may have changed.
const ASC_MEDIUM_MAY_HAVE_CHANGED: u8 = 0x28;
/// Additional sense: saving parameters not supported.
const ASC_SAVING_NOT_SUPPORTED: u8 = 0x39;
/// Additional sense: medium removal prevented (with qualifier 2).
const ASC_REMOVAL_PREVENTED: u8 = 0x53;

/// Vendor identification in INQUIRY data (8 characters).
const VENDOR: &[u8; 8] = b"VX86    ";
/// Product identification in INQUIRY data (16 characters).
const PRODUCT: &[u8; 16] = b"VX86 DVD-ROM    ";
/// Product revision in INQUIRY data (4 characters).
const REVISION: &[u8; 4] = b"0.1 ";

/// Mode page: read/write error recovery.
const PAGE_ERROR_RECOVERY: u8 = 0x01;
/// Mode page: CD/DVD capabilities and mechanical status.
const PAGE_CAPABILITIES: u8 = 0x2A;
/// Mode page code: every page.
const PAGE_ALL: u8 = 0x3F;
/// MMC profile: CD-ROM.
const PROFILE_CD_ROM: u16 = 0x0008;

/// Sense data: a sense key with its additional sense code and qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sense {
    /// Sense key (bits 7:4 of the error register after a failed packet).
    pub key: u8,
    /// Additional sense code.
    pub asc: u8,
    /// Additional sense code qualifier.
    pub ascq: u8,
}

impl Sense {
    const fn new(key: u8, asc: u8, ascq: u8) -> Self {
        Self { key, asc, ascq }
    }

    /// ILLEGAL REQUEST, invalid field in CDB.
    pub const INVALID_FIELD: Self = Self::new(SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
    /// MEDIUM ERROR, unrecovered read error.
    pub const READ_ERROR: Self = Self::new(SENSE_MEDIUM_ERROR, ASC_READ_ERROR, 0);
}

/// What a packet command does once accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Nothing to transfer.
    Done,
    /// These bytes go to the host (already cut to the allocation length).
    Data(Vec<u8>),
    /// `count` sectors from `lba` go to the host.
    Sectors {
        /// First sector.
        lba: u32,
        /// Number of sectors (at least one).
        count: u32,
    },
}

/// The drive's command interpreter: the medium and the state packet commands share.
pub struct Atapi {
    /// The inserted medium.
    image: Box<dyn Disk>,
    /// The sense data REQUEST SENSE returns.
    sense: Sense,
    /// A unit attention (medium may have changed) not yet reported.
    unit_attention: bool,
    /// A new-medium event GET EVENT STATUS NOTIFICATION has not yet reported.
    media_event: bool,
    /// PREVENT ALLOW MEDIUM REMOVAL has locked the tray.
    locked: bool,
}

impl std::fmt::Debug for Atapi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Atapi")
            .field("sectors", &self.sectors())
            .field("sense", &self.sense)
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

/// A big-endian u16 at `at` in `cdb`.
fn be16(cdb: &[u8; 12], at: usize) -> usize {
    usize::from(u16::from_be_bytes([cdb[at], cdb[at + 1]]))
}

/// A big-endian u32 at `at` in `cdb`.
fn be32(cdb: &[u8; 12], at: usize) -> u32 {
    u32::from_be_bytes([cdb[at], cdb[at + 1], cdb[at + 2], cdb[at + 3]])
}

/// `data` cut to the host's allocation length.
fn data(mut v: Vec<u8>, alloc: usize) -> Reply {
    v.truncate(alloc);
    Reply::Data(v)
}

impl Atapi {
    /// A drive with `image` just inserted: the first command (other than INQUIRY, REQUEST SENSE, GET
    /// CONFIGURATION and GET EVENT STATUS NOTIFICATION) fails once with UNIT ATTENTION, medium may have changed.
    pub fn new(image: Box<dyn Disk>) -> Self {
        Self {
            image,
            sense: Sense::default(),
            unit_attention: true,
            media_event: true,
            locked: false,
        }
    }

    /// A drive reset: the tray unlocked (a pending unit attention stays pending).
    pub fn reset(&mut self) {
        self.locked = false;
    }

    /// Sectors on the medium (whole 2048-byte sectors of the image).
    pub fn sectors(&self) -> u32 {
        let per = (CD_SECTOR_SIZE / super::SECTOR_SIZE) as u64;
        u32::try_from(self.image.sector_count() / per).unwrap_or(u32::MAX)
    }

    /// Reads sector `lba` into `buf` (2048 bytes); a failure becomes MEDIUM ERROR sense.
    pub fn read_sector(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), Sense> {
        let per = (CD_SECTOR_SIZE / super::SECTOR_SIZE) as u64;
        self.image
            .read_sectors(u64::from(lba) * per, buf)
            .map_err(|_| self.fail(Sense::READ_ERROR))
    }

    /// Records `sense` for REQUEST SENSE and returns it.
    pub fn fail(&mut self, sense: Sense) -> Sense {
        self.sense = sense;
        sense
    }

    /// Runs the 12-byte command packet `cdb`.
    pub fn execute(&mut self, cdb: &[u8; 12]) -> Result<Reply, Sense> {
        let op = cdb[0];
        let allows_attention = matches!(
            op,
            INQUIRY | REQUEST_SENSE | GET_CONFIGURATION | GET_EVENT_STATUS_NOTIFICATION
        );
        if self.unit_attention && !allows_attention {
            self.unit_attention = false;
            return Err(self.fail(Sense::new(
                SENSE_UNIT_ATTENTION,
                ASC_MEDIUM_MAY_HAVE_CHANGED,
                0,
            )));
        }
        let reply = match op {
            TEST_UNIT_READY => Ok(Reply::Done),
            REQUEST_SENSE => return Ok(self.request_sense(cdb)),
            INQUIRY => Ok(self.inquiry(cdb)),
            READ_CAPACITY_10 => {
                let mut v = self.sectors().saturating_sub(1).to_be_bytes().to_vec();
                v.extend_from_slice(&(CD_SECTOR_SIZE as u32).to_be_bytes());
                Ok(Reply::Data(v))
            }
            READ_10 => self.read(be32(cdb, 2), be16(cdb, 7) as u32),
            READ_12 => self.read(be32(cdb, 2), be32(cdb, 6)),
            READ_TOC => self.read_toc(cdb),
            MODE_SENSE_10 => self.mode_sense(cdb),
            START_STOP_UNIT => {
                let load_eject = cdb[4] & 0x02 != 0;
                let start = cdb[4] & 0x01 != 0;
                if load_eject && !start && self.locked {
                    Err(Sense::new(SENSE_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED, 2))
                } else {
                    Ok(Reply::Done)
                }
            }
            PREVENT_ALLOW_MEDIUM_REMOVAL => {
                self.locked = cdb[4] & 0x01 != 0;
                Ok(Reply::Done)
            }
            GET_CONFIGURATION => Ok(self.get_configuration(cdb)),
            GET_EVENT_STATUS_NOTIFICATION => self.event_status(cdb),
            _ => Err(Sense::new(SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0)),
        };
        match reply {
            Ok(r) => {
                self.sense = Sense::default();
                Ok(r)
            }
            Err(s) => Err(self.fail(s)),
        }
    }

    /// REQUEST SENSE: fixed-format sense data, then the sense is cleared. A unit attention not yet reported is
    /// reported (and consumed) here.
    fn request_sense(&mut self, cdb: &[u8; 12]) -> Reply {
        if std::mem::take(&mut self.unit_attention) {
            self.sense = Sense::new(SENSE_UNIT_ATTENTION, ASC_MEDIUM_MAY_HAVE_CHANGED, 0);
        }
        let mut v = vec![0u8; 18];
        v[0] = 0x70; // current error, fixed format
        v[2] = self.sense.key;
        v[7] = 10; // additional sense length
        v[12] = self.sense.asc;
        v[13] = self.sense.ascq;
        self.sense = Sense::default();
        data(v, usize::from(cdb[4]))
    }

    /// INQUIRY: standard data of a removable CD/DVD device.
    fn inquiry(&self, cdb: &[u8; 12]) -> Reply {
        let mut v = vec![0u8; 36];
        v[0] = 0x05; // peripheral device type: CD/DVD
        v[1] = 0x80; // removable medium
        v[3] = 0x21; // ATAPI transport, response data format 1
        v[4] = 31; // additional length
        v[8..16].copy_from_slice(VENDOR);
        v[16..32].copy_from_slice(PRODUCT);
        v[32..36].copy_from_slice(REVISION);
        data(v, be16(cdb, 3))
    }

    /// READ(10)/READ(12): the range must lie on the medium.
    fn read(&self, lba: u32, count: u32) -> Result<Reply, Sense> {
        let end = u64::from(lba) + u64::from(count);
        if end > u64::from(self.sectors()) {
            return Err(Sense::new(SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0));
        }
        Ok(if count == 0 {
            Reply::Done
        } else {
            Reply::Sectors { lba, count }
        })
    }

    /// READ TOC format 0: one data track (track 1 at LBA 0) and the lead-out, addresses as LBA or MSF.
    fn read_toc(&self, cdb: &[u8; 12]) -> Result<Reply, Sense> {
        let msf = cdb[1] & 0x02 != 0;
        let format = match cdb[2] & 0x0F {
            // Older drivers put the format in the control byte's vendor bits.
            0 => cdb[9] >> 6,
            f => f,
        };
        if format != 0 {
            return Err(Sense::INVALID_FIELD);
        }
        let start_track = cdb[6];
        let mut tracks: Vec<(u8, u32)> = Vec::new();
        match start_track {
            0 | 1 => tracks.extend([(1, 0), (0xAA, self.sectors())]),
            0xAA => tracks.push((0xAA, self.sectors())),
            _ => return Err(Sense::INVALID_FIELD),
        }
        let mut v = vec![0, 0, 1, 1]; // length (below), first and last track
        for (track, lba) in tracks {
            let addr = if msf {
                let f = lba + 150; // MSF counts the 2-second pre-gap
                [0, (f / 4500) as u8, (f / 75 % 60) as u8, (f % 75) as u8]
            } else {
                lba.to_be_bytes()
            };
            v.extend_from_slice(&[0, 0x14, track, 0]); // ADR 1 (position), control 4 (data track)
            v.extend_from_slice(&addr);
        }
        let len = (v.len() - 2) as u16;
        v[..2].copy_from_slice(&len.to_be_bytes());
        Ok(data(v, be16(cdb, 7)))
    }

    /// MODE SENSE(10): the error recovery and capabilities pages (current, changeable and default values alike;
    /// none is changeable).
    fn mode_sense(&self, cdb: &[u8; 12]) -> Result<Reply, Sense> {
        let control = cdb[2] >> 6;
        let page = cdb[2] & 0x3F;
        if control == 3 {
            return Err(Sense::new(
                SENSE_ILLEGAL_REQUEST,
                ASC_SAVING_NOT_SUPPORTED,
                0,
            ));
        }
        let changeable = control == 1;
        let error_recovery = |v: &mut Vec<u8>| {
            let mut p = vec![PAGE_ERROR_RECOVERY, 6, 0, 5, 0, 0, 0, 0];
            if changeable {
                p[2..].fill(0);
            }
            v.extend_from_slice(&p);
        };
        let capabilities = |v: &mut Vec<u8>| {
            let mut p = vec![0u8; 22];
            p[0] = PAGE_CAPABILITIES;
            p[1] = 20;
            if !changeable {
                p[2] = 0x03; // reads CD-R and CD-RW
                p[4] = 0x71; // audio play, composite, digital ports, multi-session
                p[5] = 0x7F; // CD-DA commands, accurate stream, sub-channel reads
                p[6] = 0x29 | u8::from(self.locked) << 1; // tray loading, eject, lock supported; lock state
                p[8..10].copy_from_slice(&706u16.to_be_bytes()); // maximum read speed (KB/s, 4x)
                p[10..12].copy_from_slice(&2u16.to_be_bytes()); // volume levels
                p[12..14].copy_from_slice(&512u16.to_be_bytes()); // buffer (KB)
                p[14..16].copy_from_slice(&706u16.to_be_bytes()); // current read speed
            }
            v.extend_from_slice(&p);
        };
        let mut v = vec![0u8; 8];
        v[2] = 0x70; // medium type as QEMU reports it
        match page {
            PAGE_ERROR_RECOVERY => error_recovery(&mut v),
            PAGE_CAPABILITIES => capabilities(&mut v),
            PAGE_ALL => {
                error_recovery(&mut v);
                capabilities(&mut v);
            }
            _ => return Err(Sense::INVALID_FIELD),
        }
        let len = (v.len() - 2) as u16;
        v[..2].copy_from_slice(&len.to_be_bytes());
        Ok(data(v, be16(cdb, 7)))
    }

    /// GET CONFIGURATION: the CD-ROM profile current, and the profile list feature (0000h) unless the host asks
    /// for a single later feature.
    fn get_configuration(&self, cdb: &[u8; 12]) -> Reply {
        let request_type = cdb[1] & 0x03;
        let start = be16(cdb, 2);
        let mut v = vec![0u8; 8];
        v[6..8].copy_from_slice(&PROFILE_CD_ROM.to_be_bytes());
        if start == 0 || request_type != 2 {
            // Feature 0000h, version 0, persistent and current, one profile descriptor (current).
            v.extend_from_slice(&[0, 0, 0x03, 4]);
            v.extend_from_slice(&PROFILE_CD_ROM.to_be_bytes());
            v.extend_from_slice(&[0x01, 0]);
        }
        let len = (v.len() - 4) as u32;
        v[..4].copy_from_slice(&len.to_be_bytes());
        data(v, be16(cdb, 7))
    }

    /// GET EVENT STATUS NOTIFICATION (polled only): the media class, with a new-medium event once after insertion.
    fn event_status(&mut self, cdb: &[u8; 12]) -> Result<Reply, Sense> {
        const MEDIA_CLASS: u8 = 0x10;
        if cdb[1] & 0x01 == 0 {
            return Err(Sense::INVALID_FIELD); // asynchronous notification is not supported
        }
        let v = if cdb[4] & MEDIA_CLASS != 0 {
            let event = if std::mem::take(&mut self.media_event) {
                2 // new media
            } else {
                0
            };
            // Header: 6 bytes follow, notification class 4 (media), media class supported; descriptor: the
            // event, medium present (bit 1).
            vec![0, 6, 0x04, MEDIA_CLASS, event, 0x02, 0, 0]
        } else {
            vec![0, 2, 0x80, MEDIA_CLASS] // no event available for the classes asked
        };
        Ok(data(v, be16(cdb, 7)))
    }
}
