//! ClickHouse's RowBinary format, for the types Larder stores.
//!
//! Both engines take and give RowBinary byte-for-byte alike, so one encoder serves inserts on
//! both backends and one decoder serves typed reads. Measured against JSONEachRow in
//! `benches/` (`insert_formats`), it is the faster insert format on both engines.

use crate::error::StoreError;

/// A row type with a fixed column list, encodable to and decodable from RowBinary.
pub trait Row: Sized {
    /// The table rows are inserted into.
    const TABLE: &'static str;
    /// Column names in encoding order.
    const COLUMNS: &'static [&'static str];

    fn encode(&self, out: &mut Writer);

    /// # Errors
    /// [`StoreError::Decode`] when the bytes end early or hold invalid values.
    fn decode(input: &mut Reader<'_>) -> Result<Self, StoreError>;

    /// `INSERT INTO table (c1, c2, …)`.
    fn insert_statement() -> String {
        format!("INSERT INTO {} ({})", Self::TABLE, Self::COLUMNS.join(", "))
    }
}

/// Encodes rows one after another.
pub fn encode_rows<R: Row>(rows: &[R]) -> Vec<u8> {
    let mut out = Writer(Vec::with_capacity(rows.len() * 256));
    for row in rows {
        row.encode(&mut out);
    }
    out.0
}

/// Decodes rows until the input ends.
///
/// # Errors
/// [`StoreError::Decode`] on truncated or invalid input.
pub fn decode_rows<R: Row>(bytes: &[u8]) -> Result<Vec<R>, StoreError> {
    let mut input = Reader { bytes, pos: 0 };
    let mut rows = Vec::new();
    while input.pos < bytes.len() {
        rows.push(R::decode(&mut input)?);
    }
    Ok(rows)
}

/// An output buffer with RowBinary writers.
#[derive(Debug, Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// LEB128 length prefix of strings and arrays.
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    pub fn str(&mut self, v: &str) {
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v.as_bytes());
    }
    /// `UUID`: the high 64 bits then the low 64 bits, each little-endian.
    pub fn uuid(&mut self, v: uuid::Uuid) {
        let (high, low) = v.as_u64_pair();
        self.u64(high);
        self.u64(low);
    }
    /// `Nullable(T)`: a null flag, then the value when present.
    pub fn nullable<T>(&mut self, v: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match v {
            None => self.u8(1),
            Some(v) => {
                self.u8(0);
                write(self, v);
            }
        }
    }
    pub fn array<T>(&mut self, items: &[T], mut write: impl FnMut(&mut Self, &T)) {
        self.varint(items.len() as u64);
        for item in items {
            write(self, item);
        }
    }
}

/// A cursor over RowBinary input.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next `n` bytes, unread.
    ///
    /// # Errors
    /// [`StoreError::Decode`] when fewer are left.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        self.take(n)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| StoreError::Decode(format!("RowBinary ends early at byte {}", self.pos)))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }
    fn array_of<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, StoreError> {
        self.array_of().map(u16::from_le_bytes)
    }
    pub fn u32(&mut self) -> Result<u32, StoreError> {
        self.array_of().map(u32::from_le_bytes)
    }
    pub fn u64(&mut self) -> Result<u64, StoreError> {
        self.array_of().map(u64::from_le_bytes)
    }
    pub fn i64(&mut self) -> Result<i64, StoreError> {
        self.array_of().map(i64::from_le_bytes)
    }
    pub fn f64(&mut self) -> Result<f64, StoreError> {
        self.array_of().map(f64::from_le_bytes)
    }
    pub fn varint(&mut self) -> Result<u64, StoreError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(StoreError::Decode("varint longer than 10 bytes".into()))
    }
    pub fn string(&mut self) -> Result<String, StoreError> {
        self.str().map(str::to_owned)
    }
    /// A string borrowed from the input.
    pub fn str(&mut self) -> Result<&'a str, StoreError> {
        let len = usize::try_from(self.varint()?).map_err(|_| StoreError::Decode("string length overflows".into()))?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| StoreError::Decode("string is not UTF-8".into()))
    }
    pub fn uuid(&mut self) -> Result<uuid::Uuid, StoreError> {
        let high = self.u64()?;
        let low = self.u64()?;
        Ok(uuid::Uuid::from_u64_pair(high, low))
    }
    pub fn nullable<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        match self.u8()? {
            1 => Ok(None),
            0 => read(self).map(Some),
            flag => Err(StoreError::Decode(format!("bad Nullable flag {flag}"))),
        }
    }
    pub fn array<T>(&mut self, mut read: impl FnMut(&mut Self) -> Result<T, StoreError>) -> Result<Vec<T>, StoreError> {
        let len = self.varint()?;
        // Each element takes at least one byte, so a length beyond the input is corrupt.
        if len > (self.bytes.len() - self.pos) as u64 {
            return Err(StoreError::Decode(format!("array length {len} exceeds the input")));
        }
        (0..len).map(|_| read(self)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_at_the_byte_boundaries() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u64::from(u32::MAX), u64::MAX] {
            let mut w = Writer::default();
            w.varint(v);
            assert_eq!(Reader::new(&w.0).varint().ok(), Some(v), "value {v}");
        }
    }

    #[test]
    fn uuid_is_written_high_half_first() {
        let id = uuid::Uuid::from_u64_pair(0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10);
        let mut w = Writer::default();
        w.uuid(id);
        assert_eq!(w.0[..8], 0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(Reader::new(&w.0).uuid().ok(), Some(id));
    }

    #[test]
    fn truncated_input_is_a_decode_error_not_a_panic() {
        let mut w = Writer::default();
        w.str("hello");
        for cut in 0..w.0.len() {
            let mut r = Reader::new(&w.0[..cut]);
            assert!(matches!(r.string(), Err(StoreError::Decode(_))), "cut at {cut}");
        }
        let mut huge = Writer::default();
        huge.varint(u64::MAX);
        assert!(Reader::new(&huge.0).array(|r| r.u8()).is_err(), "array length beyond input");
    }
}
