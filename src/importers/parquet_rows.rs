//! Parquet exports read row by row (one row group in memory at a time).
//! Each row becomes the text a CSV export would hold, so CSV and Parquet go
//! through the same row parsers; errors name the row number where CSV names
//! the line. Decimal cells are converted exactly, never through a float.

use std::path::{Path, PathBuf};

use chrono::DateTime;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::record::reader::RowIter;

use super::ImportError;

/// Whether a file is Parquet (it starts with `PAR1`).
pub fn is_parquet(path: &Path) -> Result<bool, ImportError> {
    use std::io::Read;
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(io)?;
    let n = file.read(&mut magic).map_err(io)?;
    Ok(n == 4 && &magic == b"PAR1")
}

/// An open Parquet file: its column names and its rows.
pub struct ParquetRows {
    path: PathBuf,
    headers: csv::StringRecord,
    rows: RowIter<'static>,
    read: u64,
}

impl ParquetRows {
    pub fn open(path: &Path) -> Result<Self, ImportError> {
        let file = std::fs::File::open(path).map_err(|source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let reader = SerializedFileReader::new(file).map_err(|e| unreadable(path, 0, e))?;
        let names: Vec<String> = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema()
            .get_fields()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        Ok(ParquetRows {
            path: path.to_path_buf(),
            headers: csv::StringRecord::from(names),
            rows: reader.into_iter(),
            read: 0,
        })
    }

    pub fn headers(&self) -> &csv::StringRecord {
        &self.headers
    }

    /// Reads the next row into `record` as text (`false` at the end); its
    /// position is its row number, counting from 1.
    pub fn read(&mut self, record: &mut csv::StringRecord) -> Result<bool, ImportError> {
        let Some(row) = self.rows.next() else {
            return Ok(false);
        };
        self.read += 1;
        let row = row.map_err(|e| unreadable(&self.path, self.read, e))?;
        record.clear();
        for (_, field) in row.get_column_iter() {
            record.push_field(&cell(field));
        }
        let mut position = csv::Position::new();
        position.set_line(self.read);
        record.set_position(Some(position));
        Ok(true)
    }
}

fn unreadable(path: &Path, row: u64, e: parquet::errors::ParquetError) -> ImportError {
    ImportError::Csv {
        path: path.to_path_buf(),
        line: row,
        message: format!("unreadable Parquet: {e}; is the file complete?"),
    }
}

/// A Parquet value as CSV text: numbers by their shortest exact decimal
/// text, decimals exactly from their unscaled integer, timestamps in RFC
/// 3339 (UTC), maps as JSON objects.
fn cell(field: &Field) -> String {
    match field {
        Field::Null => String::new(),
        Field::Str(s) => s.clone(),
        Field::Float(v) => v.to_string(),
        Field::Double(v) => v.to_string(),
        Field::Decimal(d) => decimal_text(d.data(), d.scale()),
        Field::TimestampMillis(ms) => DateTime::from_timestamp_millis(*ms)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        Field::TimestampMicros(us) => DateTime::from_timestamp_micros(*us)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        Field::MapInternal(map) => {
            let object: serde_json::Map<String, serde_json::Value> = map
                .entries()
                .iter()
                .filter(|(_, v)| !matches!(v, Field::Null))
                .map(|(k, v)| (cell(k), serde_json::Value::String(cell(v))))
                .collect();
            serde_json::Value::Object(object).to_string()
        }
        other => other.to_string(),
    }
}

/// A Parquet DECIMAL (big-endian two's-complement unscaled bytes) as exact
/// text; a value wider than 128 bits becomes text the amount parser refuses.
fn decimal_text(bytes: &[u8], scale: i32) -> String {
    if bytes.is_empty() || bytes.len() > 16 || !(0..=28).contains(&scale) {
        return format!("<decimal of {} bytes, scale {scale}>", bytes.len());
    }
    let negative = bytes[0] & 0x80 != 0;
    let mut buf = [if negative { 0xff } else { 0 }; 16];
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    let unscaled = i128::from_be_bytes(buf);
    match rust_decimal::Decimal::try_from_i128_with_scale(unscaled, scale as u32) {
        Ok(d) => d.to_string(),
        Err(_) => format!("<decimal {unscaled}e-{scale}>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal_text(&[0x30, 0x39], 2), "123.45");
        assert_eq!(decimal_text(&[0xcf, 0xc7], 2), "-123.45");
        assert_eq!(
            decimal_text(&12_345_678_901_234_567i64.to_be_bytes(), 10),
            "1234567.8901234567"
        );
    }
}
