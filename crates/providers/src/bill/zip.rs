//! A small, strict zip reader: enough for Alipay's bill archives (stored or DEFLATE
//! members, no encryption, no zip64). Every offset and size is bounds-checked, each member
//! is inflated with an output limit and its CRC-32 verified.

/// One member of an archive.
pub(super) struct Member {
    /// The name as stored (UTF-8 when the archive says so; lossy otherwise).
    pub name: String,
    /// The unpacked bytes.
    pub data: Vec<u8>,
}

const EOCD: u32 = 0x0605_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Every member of `archive`, unpacked, at most `max_total` bytes in all.
pub(super) fn members(archive: &[u8], max_total: usize) -> Result<Vec<Member>, String> {
    let bad = |what: &str| format!("not a readable zip archive: {what}");
    // The end record is in the last 22 + 65535 (comment) bytes.
    let lowest = archive.len().saturating_sub(22 + 0xFFFF);
    let eocd = (lowest..=archive.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(archive, i) == Some(EOCD))
        .ok_or_else(|| bad("no end of central directory"))?;
    let count = usize::from(u16_at(archive, eocd + 10).ok_or_else(|| bad("short end record"))?);
    let mut at = u32_at(archive, eocd + 16).ok_or_else(|| bad("short end record"))? as usize;
    let mut out = Vec::with_capacity(count.min(16));
    let mut total = 0usize;
    for _ in 0..count {
        if u32_at(archive, at) != Some(CENTRAL) {
            return Err(bad("broken central directory"));
        }
        let field = |off: usize| u16_at(archive, at + off).ok_or_else(|| bad("short entry"));
        let flags = field(8)?;
        let method = field(10)?;
        let crc = u32_at(archive, at + 16).ok_or_else(|| bad("short entry"))?;
        let packed = u32_at(archive, at + 20).ok_or_else(|| bad("short entry"))? as usize;
        let size = u32_at(archive, at + 24).ok_or_else(|| bad("short entry"))? as usize;
        let (name_len, extra_len, comment_len) = (
            field(28)? as usize,
            field(30)? as usize,
            field(32)? as usize,
        );
        let local = u32_at(archive, at + 42).ok_or_else(|| bad("short entry"))? as usize;
        let name_bytes = archive
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| bad("short name"))?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        at += 46 + name_len + extra_len + comment_len;
        if flags & 1 != 0 {
            return Err(format!("zip member `{name}` is encrypted"));
        }
        total = total
            .checked_add(size)
            .filter(|t| *t <= max_total)
            .ok_or_else(|| format!("zip members unpack to more than {max_total} bytes"))?;
        if u32_at(archive, local) != Some(LOCAL) {
            return Err(bad("broken local header"));
        }
        let lname = u16_at(archive, local + 26).ok_or_else(|| bad("short local header"))?;
        let lextra = u16_at(archive, local + 28).ok_or_else(|| bad("short local header"))?;
        let start = local + 30 + usize::from(lname) + usize::from(lextra);
        let raw = start
            .checked_add(packed)
            .and_then(|end| archive.get(start..end))
            .ok_or_else(|| bad("member data past the end"))?;
        let data = match method {
            0 => raw.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(raw, size)
                .map_err(|e| format!("zip member `{name}` does not inflate: {e:?}"))?,
            m => return Err(format!("zip member `{name}` uses unsupported method {m}")),
        };
        if data.len() != size || crc32(&data) != crc {
            return Err(format!("zip member `{name}` fails its size or CRC check"));
        }
        out.push(Member { name, data });
    }
    Ok(out)
}
