//! Files to upload: real pictures, a decompression bomb, a zip, random bytes; and an upload
//! written by hand on a raw socket, to see when the server answers.

use std::io::Cursor;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, TestUser};

/// A `width`×`height` PNG with some colour in it.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut bytes = Cursor::new(Vec::new());
    picture
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("a PNG");
    bytes.into_inner()
}

/// A small, valid PNG that declares `width`×`height` pixels: decoding it would need
/// gigabytes. Its one IDAT chunk holds a few rows of zeros, compressed.
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    // 8-bit greyscale, deflate, adaptive filtering, no interlace.
    ihdr.extend([8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib_stored_zeros(4096));
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A zip archive holding one small text file (stored, not compressed).
pub fn zip() -> Vec<u8> {
    let name = b"a.txt";
    let data = b"hello";
    let crc = crc32(data);
    let mut zip = Vec::new();
    zip.extend(b"PK\x03\x04");
    zip.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    zip.extend(crc.to_le_bytes());
    zip.extend((data.len() as u32).to_le_bytes());
    zip.extend((data.len() as u32).to_le_bytes());
    zip.extend((name.len() as u16).to_le_bytes());
    zip.extend([0, 0]);
    zip.extend(name);
    zip.extend(data);
    zip
}

/// Bytes no sniffer recognises.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Never a recognisable first byte: the sniffer's signatures all start elsewhere.
            (state >> 24) as u8 | 0x80
        })
        .collect()
}

/// Starts an upload on a raw socket and returns the status the server answers with, before the
/// body is complete: with `declared` a `Content-Length` of that much and no body at all, else a
/// chunked body whose file part has `file_bytes` bytes and which never ends.
pub async fn raw_upload(
    app: &TestApp,
    user: &TestUser,
    declared: Option<u64>,
    file_bytes: usize,
) -> u16 {
    let address = app.address.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address)
        .await
        .expect("the server accepts");
    let length = match declared {
        Some(length) => format!("Content-Length: {length}\r\n"),
        None => "Transfer-Encoding: chunked\r\n".into(),
    };
    let head = format!(
        "POST /api/v1/attachments HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\n{length}\r\n",
        user.access_token
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    if declared.is_none() {
        let mut body =
            b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
                .to_vec();
        body.extend(random_bytes(file_bytes));
        socket
            .write_all(format!("{:x}\r\n", body.len()).as_bytes())
            .await
            .unwrap();
        socket.write_all(&body).await.unwrap();
        socket.write_all(b"\r\n").await.unwrap();
        // No closing boundary, no last chunk: the server must answer without them.
    }
    let mut answer = vec![0; 12];
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        socket.read_exact(&mut answer),
    )
    .await
    .expect("the server answers before the body ends")
    .expect("a status line");
    let line = String::from_utf8_lossy(&answer).to_string();
    line[9..12].parse().expect("a status code")
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend((data.len() as u32).to_be_bytes());
    let mut crc_input = kind.to_vec();
    crc_input.extend(data);
    png.extend(&crc_input);
    png.extend(crc32(&crc_input).to_be_bytes());
}

/// A zlib stream of `len` zero bytes in one stored (uncompressed) block.
fn zlib_stored_zeros(len: u16) -> Vec<u8> {
    let mut out = vec![0x78, 0x01, 1];
    out.extend(len.to_le_bytes());
    out.extend((!len).to_le_bytes());
    out.extend(std::iter::repeat_n(0, len as usize));
    let adler = {
        let (mut a, mut b) = (1u32, 0u32);
        for _ in 0..len {
            b = (b + a) % 65521;
        }
        a %= 65521;
        (b << 16) | a
    };
    out.extend(adler.to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
