//! What an upload is, from its bytes alone: the type from the first bytes (never the client's
//! word), and for images the size and a thumbnail, decoded under limits so that a small file
//! that claims to be enormous (a decompression bomb) is refused instead of filling the memory.

use std::{io::BufReader, path::Path};

use image::{codecs::jpeg::JpegEncoder, ImageFormat, ImageReader, Limits};

use crate::app::models::attachments::AttachmentKind;

/// Bytes looked at to tell the type.
pub const SNIFF_BYTES: usize = 8 * 1024;
/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;
/// The widest or tallest image decoded for a thumbnail.
const MAX_SIDE: u32 = 12_000;
/// The most pixels an image may have to be decoded (a phone's 12-megapixel photo fits with room
/// to spare; 32 MP of RGB is 96 MB).
const MAX_PIXELS: u64 = 32_000_000;
/// The most memory one decode may allocate: the pixels, and what a decoder needs besides.
const MAX_DECODE_BYTES: u64 = 128 * 1024 * 1024;
/// What an unknown type is called.
pub const UNKNOWN_MIME: &str = "application/octet-stream";

/// The sniffed type of a file that starts with `head`.
pub fn mime_of(head: &[u8]) -> &'static str {
    infer::get(head).map_or(UNKNOWN_MIME, |kind| kind.mime_type())
}

/// The image formats thumbnails are made of; other images are kept as they are, without one.
pub fn decodable(mime: &str) -> Option<ImageFormat> {
    match mime {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

/// Whether a sniffed type may be shown inline by a browser (served without
/// `Content-Disposition: attachment`). Media only; nothing a browser would run or render as a
/// page (HTML, XML, SVG, scripts) ever is, whatever its type says.
pub fn shown_inline(mime: &str) -> bool {
    let media = matches!(
        AttachmentKind::of_mime(mime),
        AttachmentKind::Image | AttachmentKind::Audio | AttachmentKind::Video
    );
    let lower = mime.to_ascii_lowercase();
    media
        && !["xml", "html", "script", "svg"]
            .iter()
            .any(|word| lower.contains(word))
}

/// How long a recording lasts, when its first bytes say so cheaply: WAV states its byte rate and
/// the size of its samples up front. Other containers keep it further in (or nowhere, as
/// browsers' WebM recordings): absent then.
pub fn duration_ms(mime: &str, head: &[u8], size: u64) -> Option<i64> {
    if mime != "audio/x-wav" && mime != "audio/wav" {
        return None;
    }
    if head.get(0..4)? != b"RIFF" || head.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut at = 12;
    let mut byte_rate = None;
    while let Some(header) = head.get(at..at + 8) {
        let length = u64::from(u32::from_le_bytes(header[4..8].try_into().ok()?));
        match &header[0..4] {
            b"fmt " => {
                let rate = head.get(at + 16..at + 20)?;
                byte_rate = Some(u64::from(u32::from_le_bytes(rate.try_into().ok()?)));
            }
            b"data" => {
                // A recording cut short (or streamed, with a length of 0 or all ones) has only
                // what is really there.
                let present = size.saturating_sub(at as u64 + 8);
                let samples = if length == 0 || length == u64::from(u32::MAX) {
                    present
                } else {
                    length.min(present)
                };
                let rate = byte_rate.filter(|rate| *rate > 0)?;
                return i64::try_from(samples * 1000 / rate).ok();
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at += 8 + usize::try_from(length + length % 2).ok()?;
    }
    None
}

/// An image's size and its thumbnail (JPEG).
pub struct Probed {
    pub width: u32,
    pub height: u32,
    pub thumbnail: Vec<u8>,
}

/// Why an image got no thumbnail.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Larger than the limits: refused, as a decompression bomb would be.
    #[error("the image is {width}×{height} pixels; at most {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels in all can be taken")]
    TooLarge { width: u32, height: u32 },
    /// Over the limits while decoding.
    #[error("the image needs more memory to decode than is allowed")]
    Limits,
    /// Not a readable image after all (truncated, corrupt): kept as it is, without a thumbnail.
    #[error("the image could not be decoded: {0}")]
    Unreadable(String),
}

/// Reads the image in `path` (blocking: run it off the async threads): its size from the header
/// first, then, within the limits, the pixels for a thumbnail.
pub fn probe(path: &Path, format: ImageFormat) -> Result<Probed, ProbeError> {
    let reader = |path: &Path| -> Result<_, ProbeError> {
        let file =
            std::fs::File::open(path).map_err(|err| ProbeError::Unreadable(err.to_string()))?;
        let mut reader = ImageReader::new(BufReader::new(file));
        reader.set_format(format);
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_DECODE_BYTES);
        reader.limits(limits);
        Ok(reader)
    };
    let (width, height) = reader(path)?
        .into_dimensions()
        .map_err(|err| refusal(err, None))?;
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ProbeError::TooLarge { width, height });
    }
    let image = reader(path)?
        .decode()
        .map_err(|err| refusal(err, Some((width, height))))?;
    let thumbnail = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_rgb8();
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&thumbnail)
        .map_err(|err| ProbeError::Unreadable(err.to_string()))?;
    Ok(Probed {
        width,
        height,
        thumbnail: jpeg,
    })
}

/// A decoding error: over the limits (a refusal) or an unreadable image.
fn refusal(err: image::ImageError, size: Option<(u32, u32)>) -> ProbeError {
    match (err, size) {
        (image::ImageError::Limits(_), Some((width, height)))
            if width > MAX_SIDE || height > MAX_SIDE =>
        {
            ProbeError::TooLarge { width, height }
        }
        (image::ImageError::Limits(_), _) => ProbeError::Limits,
        (err, _) => ProbeError::Unreadable(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(mime_of(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(mime_of(b"just some text, named cat.png"), UNKNOWN_MIME);
        assert_eq!(mime_of(b"PK\x03\x04\x14\0\0\0\x08\0"), "application/zip");
    }

    #[test]
    fn a_wav_recording_states_its_duration() {
        // 8 kHz, mono, 16-bit: 16,000 bytes a second; 24,000 bytes of samples.
        let mut wav = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        wav.extend(16u32.to_le_bytes());
        wav.extend([1, 0, 1, 0]);
        wav.extend(8000u32.to_le_bytes());
        wav.extend(16000u32.to_le_bytes());
        wav.extend([2, 0, 16, 0]);
        wav.extend(b"data");
        wav.extend(24000u32.to_le_bytes());
        let size = wav.len() as u64 + 24000;
        let mime = mime_of(&wav);
        assert!(mime.starts_with("audio/"), "{mime}");
        assert_eq!(duration_ms(mime, &wav, size), Some(1500));
        // Cut short: only what arrived counts.
        assert_eq!(duration_ms(mime, &wav, wav.len() as u64 + 8000), Some(500));
        assert_eq!(duration_ms("audio/ogg", &wav, size), None);
    }

    #[test]
    fn only_media_is_shown_inline() {
        assert!(shown_inline("image/png"));
        assert!(shown_inline("audio/ogg"));
        assert!(!shown_inline("text/html"));
        assert!(!shown_inline("image/svg+xml"));
        assert!(!shown_inline("application/pdf"));
        assert!(!shown_inline(UNKNOWN_MIME));
    }
}
