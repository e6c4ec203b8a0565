//! Files over real HTTPS: tus uploads (creation, checksum, termination,
//! expiration), verification, limits, content-addressed storage,
//! thumbnails, downloads authorised by membership, offers, collection.

use confab_testkit::http::{
    base_url, client, https_server, sha256_hex, tus_checksum, tus_metadata, user,
};
use confab_testkit::{Client, TestServer};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

/// A tus client made of plain requests, to say exactly what is sent.
struct Tus {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Tus {
    fn new(server: &TestServer, who: &Client) -> Tus {
        Tus {
            http: client(server),
            base: base_url(server),
            token: who.token.clone().expect("logged in"),
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .header("tus-resumable", "1.0.0")
    }

    async fn create(&self, length: usize, meta: &[(&str, &str)]) -> Response {
        self.req(Method::POST, "/uploads")
            .header("upload-length", length.to_string())
            .header("upload-metadata", tus_metadata(meta))
            .send()
            .await
            .unwrap()
    }

    async fn patch(&self, at: &str, offset: usize, body: &[u8], sum: Option<String>) -> Response {
        let mut r = self
            .req(Method::PATCH, at)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .body(body.to_vec());
        if let Some(s) = sum {
            r = r.header("upload-checksum", s);
        }
        r.send().await.unwrap()
    }

    async fn head(&self, at: &str) -> Response {
        self.req(Method::HEAD, at).send().await.unwrap()
    }

    /// Creates and sends the whole file in one PATCH; returns the
    /// location and the last response.
    async fn upload(&self, bytes: &[u8], meta: &[(&str, &str)]) -> (String, Response) {
        let sha = sha256_hex(bytes);
        let mut all = vec![("sha256", sha.as_str())];
        all.extend_from_slice(meta);
        let r = self.create(bytes.len(), &all).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{}", text(r).await);
        let at = header(&r, "location");
        (at.clone(), self.patch(&at, 0, bytes, None).await)
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut r = self.req(Method::GET, path);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send().await.unwrap()
    }
}

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {:?}", r.headers()))
        .to_str()
        .unwrap()
        .to_owned()
}

async fn text(r: Response) -> String {
    r.text().await.unwrap()
}

/// Pseudo-random bytes (incompressible enough, reproducible).
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut x = (seed as u32).wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn files_on_disk(server: &TestServer, sub: &str) -> usize {
    fn walk(p: &std::path::Path) -> usize {
        std::fs::read_dir(p)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walk(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&server.dir.path().join("files").join(sub))
}

#[tokio::test]
async fn a_file_is_uploaded_in_chunks_verified_posted_and_downloaded_by_members_only() {
    let server = https_server(|_| {}).await;
    let mut alice = user(&server, "alice").await;
    let mut bob = user(&server, "bob").await;
    let carol = user(&server, "carol").await;
    let conv = alice.create("general", false).await;
    bob.join("general").await;
    let secret = alice.create("secret", true).await;

    let tus = Tus::new(&server, &alice);
    // Discovery.
    let r = tus.req(Method::OPTIONS, "/uploads").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "tus-version"), "1.0.0");
    assert_eq!(
        header(&r, "tus-extension"),
        "creation,checksum,termination,expiration"
    );
    assert_eq!(header(&r, "tus-checksum-algorithm"), "sha256");
    assert_eq!(header(&r, "tus-max-size"), "100000000");

    let data = bytes(300_000, 1);
    let sha = sha256_hex(&data);
    let conv_s = conv.to_string();
    // A name with a path in it: only its last part is kept, as a name.
    let r = tus
        .create(
            data.len(),
            &[
                ("filename", "../../../etc/passwd"),
                ("sha256", &sha),
                ("conv", &conv_s),
                ("filetype", "text/plain"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", text(r).await);
    assert!(r.headers().contains_key("upload-expires"));
    let at = header(&r, "location");
    assert!(at.starts_with("/uploads/"), "{at}");

    // First chunk with its checksum; a wrong checksum keeps nothing.
    let (one, two) = data.split_at(100_000);
    let r = tus
        .patch(&at, 0, one, Some(tus_checksum(b"something else")))
        .await;
    assert_eq!(r.status().as_u16(), 460, "{}", text(r).await);
    assert_eq!(header(&tus.head(&at).await, "upload-offset"), "0");
    let r = tus.patch(&at, 0, one, Some(tus_checksum(one))).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", text(r).await);
    assert_eq!(header(&r, "upload-offset"), "100000");
    let h = tus.head(&at).await;
    assert_eq!(header(&h, "upload-offset"), "100000");
    assert_eq!(header(&h, "upload-length"), "300000");
    assert_eq!(header(&h, "cache-control"), "no-store");
    // The wrong offset is a conflict, and changes nothing.
    let r = tus.patch(&at, 5, two, None).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(text(r).await.contains("100000 bytes"));
    // Someone else's upload does not exist for them.
    let r = Tus::new(&server, &bob).head(&at).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The rest finishes it: a message in the channel.
    let r = tus.patch(&at, 100_000, two, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", text(r).await);
    assert_eq!(header(&r, "upload-offset"), "300000");
    assert_eq!(header(&r, "confab-sha256"), sha);
    let id = header(&r, "confab-file");
    let ev = message_of(&mut bob, "file").await;
    let m = &ev["message"];
    assert_eq!(m["kind"], "file", "{m}");
    assert_eq!(m["sender"], "alice");
    assert_eq!(m["file"]["name"], "passwd");
    assert_eq!(m["file"]["size"], 300_000);
    assert_eq!(m["file"]["sha256"], sha);
    assert_eq!(m["file"]["mime"], "application/octet-stream");
    assert_eq!(m["file"]["id"], id);
    assert_eq!(header(&r, "confab-message"), format!("{conv}/{}", m["seq"]));
    // Asking again after the end says it is complete.
    assert_eq!(header(&tus.head(&at).await, "upload-offset"), "300000");

    // Bob downloads it whole, and in part.
    let bob_http = Tus::new(&server, &bob);
    let path = format!("/files/{id}");
    let r = bob_http.get(&path, &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "content-disposition"),
        "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"
    );
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(header(&r, "content-type"), "application/octet-stream");
    assert!(header(&r, "repr-digest").starts_with("sha-256=:"));
    assert_eq!(header(&r, "etag"), format!("\"{sha}\""));
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[..]);
    let r = bob_http.get(&path, &[("range", "bytes=1000-1999")]).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&r, "content-range"), "bytes 1000-1999/300000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[1000..2000]);
    let r = bob_http.get(&path, &[("range", "bytes=299000-")]).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[299_000..]);

    // Carol is not in the channel's log... but #general is public: she may
    // read it, so she may download. A private channel's file she may not.
    let (at2, r) = Tus::new(&server, &alice)
        .upload(
            b"the plan",
            &[("filename", "plan.txt"), ("conv", &secret.to_string())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{at2}");
    let private_id = header(&r, "confab-file");
    let carol_http = Tus::new(&server, &carol);
    let r = carol_http.get(&format!("/files/{private_id}"), &[]).await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "a non-member gets nothing"
    );
    assert!(text(r).await.contains("no file"));
    // Nor may she post to it.
    let r = carol_http
        .create(
            5,
            &[
                ("sha256", &sha256_hex(b"hello")),
                ("conv", &secret.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{}", text(r).await);
    // The file id alone, without a token, gets nothing.
    let r = client(&server)
        .get(format!("{}/files/{private_id}", base_url(&server)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    let r = client(&server)
        .get(format!("{}/files/{private_id}", base_url(&server)))
        .header("authorization", "Bearer not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Alice may: she is a member. Text is served as a download too.
    let r = Tus::new(&server, &alice)
        .get(&format!("/files/{private_id}"), &[])
        .await;
    assert_eq!(
        header(&r, "content-disposition").split(';').next(),
        Some("attachment")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"the plan");

    // The same bytes again: a second file, one blob on disk.
    let blobs = files_on_disk(&server, "blobs");
    let (_, r) = tus
        .upload(&data, &[("filename", "copy.bin"), ("conv", &conv_s)])
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_ne!(header(&r, "confab-file"), id);
    assert_eq!(files_on_disk(&server, "blobs"), blobs, "stored once");
    assert_eq!(files_on_disk(&server, "uploads"), 0);
}

#[tokio::test]
async fn a_wrong_hash_limits_quotas_and_types_are_refused_and_nothing_is_kept() {
    let server = https_server(|c| {
        c.files.max_bytes = 1_000_000;
        c.files.quota_bytes = Some(1_500_000);
        c.files.allowed_types = vec!["image/*".into(), "application/pdf".into()];
    })
    .await;
    let mut alice = user(&server, "alice").await;
    let conv = alice.create("general", false).await.to_string();
    let tus = Tus::new(&server, &alice);

    // Declared a hash the bytes do not have: 460, nothing kept, no message.
    let pdf = [b"%PDF-1.7\n".as_slice(), &bytes(1000, 2)].concat();
    let r = tus
        .create(
            pdf.len(),
            &[
                ("sha256", &sha256_hex(b"other")),
                ("conv", &conv),
                ("filename", "a.pdf"),
            ],
        )
        .await;
    let at = header(&r, "location");
    let r = tus.patch(&at, 0, &pdf, None).await;
    assert_eq!(r.status().as_u16(), 460);
    let why = text(r).await;
    assert!(
        why.contains(&sha256_hex(&pdf)) && why.contains("nothing was kept"),
        "{why}"
    );
    assert_eq!(tus.head(&at).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(files_on_disk(&server, "uploads"), 0);
    assert_eq!(files_on_disk(&server, "blobs"), 0);

    // Over the size limit: refused at creation, before a byte is sent.
    let r = tus
        .create(1_000_001, &[("sha256", &"a".repeat(64)), ("conv", &conv)])
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        text(r).await,
        "the file is 1.0 MB; the largest allowed is 1.0 MB\n"
    );
    // No hash declared, no target, bad metadata: each says what is wrong.
    let r = tus.create(10, &[("conv", &conv)]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(r).await.contains("sha256"));
    let r = tus.create(10, &[("sha256", &"a".repeat(64))]).await;
    assert!(text(r).await.contains("where the file goes"));
    let r = tus
        .req(Method::POST, "/uploads")
        .header("upload-length", "ten")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(r).await.contains("Upload-Length"));
    let r = tus
        .http
        .post(format!("{}/uploads", tus.base))
        .header("authorization", format!("Bearer {}", tus.token))
        .header("upload-length", "10")
        .send()
        .await
        .unwrap();
    assert!(text(r).await.contains("Tus-Resumable"));

    // Within the size limit, but over the quota once the first is held.
    let big = [b"%PDF-1.7\n".as_slice(), &bytes(900_000, 3)].concat();
    let (_, r) = tus
        .upload(&big, &[("conv", &conv), ("filename", "big.pdf")])
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", text(r).await);
    let r = tus
        .create(700_000, &[("sha256", &"a".repeat(64)), ("conv", &conv)])
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(text(r).await.contains("quota"));

    // A type outside the allow-list, whatever its name says: refused
    // when its bytes show what it is.
    let (_, r) = tus
        .upload(
            b"#!/bin/sh\nrm -rf /\n",
            &[("conv", &conv), ("filename", "cat.png")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        text(r)
            .await
            .contains("text/x-shellscript are not accepted")
    );
    assert_eq!(files_on_disk(&server, "uploads"), 0);
    // A PATCH that is not tus's content type.
    let r = tus
        .create(3, &[("sha256", &sha256_hex(b"abc")), ("conv", &conv)])
        .await;
    let at = header(&r, "location");
    let r = tus
        .req(Method::PATCH, &at)
        .header("content-type", "text/plain")
        .header("upload-offset", "0")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // More than the upload's length: refused, nothing kept.
    let r = tus.patch(&at, 0, b"abcdef", None).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(header(&tus.head(&at).await, "upload-offset"), "0");
    // Termination.
    let r = tus.req(Method::DELETE, &at).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(tus.head(&at).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(files_on_disk(&server, "uploads"), 0);
}

#[tokio::test]
async fn paths_in_every_field_reach_no_file() {
    let server = https_server(|_| {}).await;
    let mut alice = user(&server, "alice").await;
    let conv = alice.create("general", false).await.to_string();
    let tus = Tus::new(&server, &alice);
    let secret = server.dir.path().join("confab.db");
    assert!(secret.exists());
    for evil in [
        "..%2F..%2Fconfab.db",
        "%2e%2e%2f%2e%2e%2fconfab.db",
        "..%5C..%5Cconfab.db",
        "%2Fetc%2Fpasswd",
        "0123456789abcdef0123456789abcdeg",
    ] {
        for path in [
            format!("/files/{evil}"),
            format!("/files/{evil}/thumb"),
            format!("/uploads/{evil}"),
        ] {
            let r = tus.get(&path, &[]).await;
            assert!(r.status().is_client_error(), "{path}: {}", r.status());
            let body = r.bytes().await.unwrap();
            assert!(
                !body.starts_with(b"SQLite format"),
                "{path} served the database"
            );
            assert_eq!(tus.head(&path).await.status().as_u16() / 100, 4, "{path}");
            let r = tus.patch(&path, 0, b"x", None).await;
            assert_eq!(r.status().as_u16() / 100, 4, "{path}");
        }
    }
    // In the metadata: names are names; a conv that is a path is refused.
    let (_, r) = tus
        .upload(
            b"hello",
            &[("filename", "/etc/../../confab.db"), ("conv", &conv)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = tus
        .create(5, &[("sha256", &sha256_hex(b"hello")), ("conv", "../1")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The checksum and offset headers are numbers and hashes, or refused.
    let r = tus
        .create(5, &[("sha256", "../../../../confab.db"), ("conv", &conv)])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Nothing outside files/ changed, and the database is whole.
    assert!(alice.say(conv.parse().unwrap(), "still here").await["seq"].is_u64());
}

/// A JPEG of `w`×`h` with an EXIF orientation tag (6: rotate 90° clockwise
/// to show), as phones write them.
fn rotated_jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .unwrap();
    // APP1 "Exif": a big-endian TIFF header and one IFD entry,
    // Orientation (0x0112, SHORT) = 6.
    let mut tiff = b"MM\0*\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let len = (app1.len() + 2) as u16;
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A small PNG file whose header claims `w`×`h` pixels: a decompression
/// bomb's shape (its few bytes would inflate to gigabytes).
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        out.extend_from_slice(&c);
        out.extend_from_slice(&crc32(&c).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    out
}

#[tokio::test]
async fn images_get_oriented_stripped_thumbnails_and_bombs_are_refused() {
    let server = https_server(|_| {}).await;
    let mut alice = user(&server, "alice").await;
    let conv = alice.create("general", false).await.to_string();
    let tus = Tus::new(&server, &alice);

    let photo = rotated_jpeg(640, 480);
    assert_eq!(
        image::load_from_memory(&photo).unwrap().width(),
        640,
        "stored landscape"
    );
    let (_, r) = tus
        .upload(&photo, &[("conv", &conv), ("filename", "IMG_0001.jpg")])
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", text(r).await);
    let id = header(&r, "confab-file");
    let m = message_of(&mut alice, "file").await;
    let f = &m["message"]["file"];
    assert_eq!(f["mime"], "image/jpeg");
    // Shown portrait: the orientation is applied.
    assert_eq!(f["image"], json!({"width": 480, "height": 640}));

    let r = tus.get(&format!("/files/{id}/thumb"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "image/jpeg");
    assert!(header(&r, "content-disposition").starts_with("inline"));
    let thumb = r.bytes().await.unwrap();
    let t = image::load_from_memory(&thumb).unwrap();
    assert_eq!((t.width(), t.height()), (240, 320));
    assert!(
        !thumb.windows(4).any(|w| w == b"Exif"),
        "the thumbnail carries no metadata"
    );
    // The image itself is shown inline, byte for byte as sent.
    let r = tus.get(&format!("/files/{id}"), &[]).await;
    assert_eq!(header(&r, "content-type"), "image/jpeg");
    assert!(header(&r, "content-disposition").starts_with("inline"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), &photo[..]);

    // A bomb: refused before decoding, nothing kept, the server fine.
    let bomb = png_claiming(100_000, 100_000);
    let (_, r) = tus
        .upload(&bomb, &[("conv", &conv), ("filename", "bomb.png")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(r).await.contains("100000×100000"));
    assert_eq!(files_on_disk(&server, "uploads"), 0);
    // Something that says PNG but is not one is kept as a file, no thumbnail.
    let fake = [b"\x89PNG\r\n\x1a\n".as_slice(), b"garbage"].concat();
    let (_, r) = tus
        .upload(&fake, &[("conv", &conv), ("filename", "x.png")])
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let id = header(&r, "confab-file");
    assert_eq!(
        tus.get(&format!("/files/{id}/thumb"), &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = tus.get(&format!("/files/{id}"), &[]).await;
    assert!(header(&r, "content-disposition").starts_with("attachment"));
    alice.say(conv.parse().unwrap(), "still answering").await;
}

#[tokio::test]
async fn abandoned_uploads_deleted_files_and_declined_offers_are_collected() {
    let server = https_server(|c| {
        c.files.upload_expiry = std::time::Duration::from_millis(1);
    })
    .await;
    let mut alice = user(&server, "alice").await;
    let conv = alice.create("general", false).await;
    let tus = Tus::new(&server, &alice);
    let data = bytes(50_000, 4);
    let r = tus
        .create(
            data.len(),
            &[("sha256", &sha256_hex(&data)), ("conv", &conv.to_string())],
        )
        .await;
    let at = header(&r, "location");
    // Expired at once: the server refuses to go on, and collects it.
    let r = tus.patch(&at, 0, &data[..1000], None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(files_on_disk(&server, "uploads"), 1);
    let done = server.handle.collect_files().await.unwrap();
    assert_eq!(done.uploads, 1);
    assert_eq!(files_on_disk(&server, "uploads"), 0);
    drop(server);

    let server = https_server(|_| {}).await;
    let mut alice = user(&server, "alice").await;
    let mut bob2 = user(&server, "bob").await;
    let conv = alice.create("general", false).await;
    let tus = Tus::new(&server, &alice);
    let (_, r) = tus.upload(&data, &[("conv", &conv.to_string())]).await;
    let seq: u64 = header(&r, "confab-message")
        .split('/')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(files_on_disk(&server, "blobs"), 1);
    alice
        .ok(json!({"type": "delete", "conv": conv, "target": seq}))
        .await;
    let done = server.handle.collect_files().await.unwrap();
    assert_eq!(done.blobs, 1);
    assert_eq!(files_on_disk(&server, "blobs"), 0);

    // Offers: bob accepts one (then may download it) and declines another
    // (its bytes go).
    for accept in [true, false] {
        let payload = bytes(2_000, accept as u8 + 7);
        let (_, r) = tus
            .upload(&payload, &[("offer_to", "bob"), ("filename", "notes.bin")])
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", text(r).await);
        let id = header(&r, "confab-file");
        let ev = message_of(&mut bob2, "offer").await;
        let m = &ev["message"];
        assert_eq!(m["kind"], "offer");
        assert!(m["expires"].as_i64().unwrap() > 0);
        let bob_http = Tus::new(&server, &bob2);
        assert_eq!(
            bob_http.get(&format!("/files/{id}"), &[]).await.status(),
            StatusCode::NOT_FOUND,
            "not before accepting"
        );
        let (dm, seq) = (m["conv"].as_u64().unwrap(), m["seq"].as_u64().unwrap());
        let (code, msg) = alice
            .err(json!({"type": "answer", "conv": dm, "target": seq, "accept": true}))
            .await;
        assert_eq!(code, "bad_request", "{msg}");
        bob2.ok(json!({"type": "answer", "conv": dm, "target": seq, "accept": accept}))
            .await;
        let answer = message_of(&mut alice, "answer").await;
        assert_eq!(answer["message"]["kind"], "answer");
        assert_eq!(answer["message"]["accept"], accept);
        let r = bob_http.get(&format!("/files/{id}"), &[]).await;
        if accept {
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.bytes().await.unwrap().as_ref(), &payload[..]);
        } else {
            assert_eq!(r.status(), StatusCode::NOT_FOUND);
            assert_eq!(server.handle.collect_files().await.unwrap().blobs, 1);
        }
        // Answered once.
        let (code, _) = bob2
            .err(json!({"type": "answer", "conv": dm, "target": seq, "accept": true}))
            .await;
        assert_eq!(code, "already_done");
    }
}

/// The next `message` event of this kind.
async fn message_of(c: &mut Client, kind: &str) -> Value {
    c.take(|v| v["type"] == "message" && v["message"]["kind"] == kind)
        .await
        .unwrap()
}

/// Runs a third-party client; returns its standard output. (Async: the
/// server runs on this test's runtime.)
async fn run_client(cmd: &mut tokio::process::Command) -> String {
    let out = tokio::time::timeout(confab_testkit::DEADLINE, cmd.output())
        .await
        .expect("the client finishes in time")
        .expect("the client runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

const TUSPY_SCRIPT: &str = r#"
import hashlib, sys
from tusclient import client
url, token, path, conv = sys.argv[1:5]
data = open(path, "rb").read()
meta = {"filename": "from-python.bin", "sha256": hashlib.sha256(data).hexdigest(), "conv": conv}
c = client.TusClient(url + "/uploads", headers={"Authorization": "Bearer " + token})
first = c.uploader(file_path=path, chunk_size=64 * 1024, metadata=meta)
first.upload_chunk()
first.upload_chunk()
print("cut at", first.offset, first.url)
# A new uploader (as after a restart) resumes from what the server holds.
again = c.uploader(file_path=path, chunk_size=64 * 1024, metadata=meta, url=first.url)
print("resumed at", again.get_offset())
again.upload()
print("done", again.offset, again.url)
"#;

const TUS_JS_SCRIPT: &str = r#"
const tus = require("tus-js-client");
const fs = require("fs");
const crypto = require("crypto");
const [url, token, path, conv] = process.argv.slice(2);
const data = fs.readFileSync(path);
const sha256 = crypto.createHash("sha256").update(data).digest("hex");
let cut = false;
const upload = new tus.Upload(data, {
  endpoint: url + "/uploads",
  headers: { Authorization: "Bearer " + token },
  chunkSize: 64 * 1024,
  retryDelays: [],
  metadata: { filename: "from-js.bin", filetype: "application/x-test", sha256, conv },
  onProgress(sent, total) {
    console.log("progress", sent, total);
    if (!cut && sent >= 128 * 1024) {
      cut = true;
      console.log("cut at", sent, upload.url);
      upload.abort().then(() => upload.start());
    }
  },
  onSuccess() { console.log("done", upload.url); },
  onError(e) { console.error("error", e.message); process.exit(1); },
});
upload.start();
"#;

#[tokio::test]
async fn tuspy_and_tus_js_client_upload_cut_and_resume() {
    let server = https_server(|_| {}).await;
    let mut alice = user(&server, "alice").await;
    let mut bob = user(&server, "bob").await;
    let conv = alice.create("general", false).await;
    bob.join("general").await;
    let token = alice.token.clone().unwrap();
    let work = tempfile::tempdir().unwrap();
    let data = bytes(400_000, 9);
    let file = work.path().join("payload.bin");
    std::fs::write(&file, &data).unwrap();
    let cert = confab_testkit::http::cert_path(&server);

    // tuspy (PyPI), as a script with a fresh process's view.
    let python = confab_testkit::http::tuspy_python();
    let script = work.path().join("up.py");
    std::fs::write(&script, TUSPY_SCRIPT).unwrap();
    let out = run_client(
        tokio::process::Command::new(&python)
            .arg(&script)
            .arg(base_url(&server))
            .arg(&token)
            .arg(&file)
            .arg(conv.to_string())
            .env("REQUESTS_CA_BUNDLE", &cert),
    )
    .await;
    assert!(out.contains("cut at 131072"), "{out}");
    assert!(out.contains("resumed at 131072"), "{out}");
    assert!(out.contains("done 400000"), "{out}");
    let m = message_of(&mut bob, "file").await;
    assert_eq!(m["message"]["file"]["name"], "from-python.bin");
    assert_eq!(m["message"]["file"]["sha256"], sha256_hex(&data));
    let id = m["message"]["file"]["id"].as_str().unwrap().to_owned();
    let got = Tus::new(&server, &bob)
        .get(&format!("/files/{id}"), &[])
        .await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), &data[..]);

    // tus-js-client (npm) under Node.js: aborted mid-way, started again on
    // the same upload.
    let js_dir = confab_testkit::http::tus_js_dir();
    let script = js_dir.join("up.js");
    std::fs::write(&script, TUS_JS_SCRIPT).unwrap();
    let started = server
        .handle
        .stats()
        .uploads_started
        .load(std::sync::atomic::Ordering::Relaxed);
    let out = run_client(
        tokio::process::Command::new("node")
            .arg(&script)
            .arg(base_url(&server))
            .arg(&token)
            .arg(&file)
            .arg(conv.to_string())
            .env("NODE_EXTRA_CA_CERTS", &cert),
    )
    .await;
    let url_at = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("no `{prefix}` in {out}"))
            .to_owned()
    };
    assert_eq!(
        url_at("cut at"),
        url_at("done"),
        "the same upload resumed: {out}"
    );
    assert!(out.contains("progress 400000 400000"), "{out}");
    assert_eq!(
        server
            .handle
            .stats()
            .uploads_started
            .load(std::sync::atomic::Ordering::Relaxed),
        started + 1,
        "one upload made, not two"
    );
    let m = message_of(&mut bob, "file").await;
    assert_eq!(m["message"]["file"]["name"], "from-js.bin");
    assert_eq!(m["message"]["file"]["size"], 400_000);
    assert_eq!(m["message"]["file"]["sha256"], sha256_hex(&data));
}

#[tokio::test]
async fn profile_pictures_are_images_shown_by_name_announced_and_replaced() {
    let server = https_server(|_| {}).await;
    let mut alice = user(&server, "alice").await;
    let mut bob = user(&server, "bob").await;
    let conv = alice.create("general", false).await;
    bob.ok(json!({"type": "channel_join", "name": "general"}))
        .await;
    let tus = Tus::new(&server, &alice);
    let bobs = Tus::new(&server, &bob);

    // None yet; and no token, no picture.
    let r = bobs.get("/avatars/alice", &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(text(r).await.contains("`alice` has no profile picture"));
    let anon = client(&server)
        .get(format!("{}/avatars/alice", base_url(&server)))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);

    // Not an image: refused, nothing kept.
    let (_, r) = tus
        .upload(
            b"#!/bin/sh\necho hi\n",
            &[("avatar", "1"), ("filename", "me.png")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(text(r).await.contains("a profile picture must be an image"));

    // An image: bob is told, and fetches its thumbnail by name.
    let photo = rotated_jpeg(640, 480);
    let (_, r) = tus
        .upload(&photo, &[("avatar", "1"), ("filename", "me.jpg")])
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", text(r).await);
    let first = header(&r, "confab-file");
    let ev = bob.event("avatar").await;
    assert_eq!(ev["user"], "alice");
    let r = bobs.get("/avatars/alice", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "image/jpeg");
    assert_eq!(header(&r, "cache-control"), "private, max-age=60");
    let t = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(
        (t.width(), t.height()),
        (240, 320),
        "the oriented thumbnail"
    );
    // Nothing was posted for it.
    alice.say(conv, "after the picture").await;
    let m = bob.event("message").await;
    assert_eq!(m["message"]["text"], "after the picture");

    // A new one replaces it; the old one is gone.
    let (_, r) = tus.upload(&rotated_jpeg(100, 80), &[("avatar", "1")]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    bob.event("avatar").await;
    let t = image::load_from_memory(&bobs.get("/avatars/alice", &[]).await.bytes().await.unwrap())
        .unwrap();
    assert_eq!((t.width(), t.height()), (80, 100));
    assert_eq!(
        bobs.get(&format!("/files/{first}"), &[]).await.status(),
        StatusCode::NOT_FOUND
    );

    // Names that are not names reach nothing.
    for bad in ["..%2f..%2fetc%2fpasswd", "...", "a%00b", "nobody"] {
        let r = bobs.get(&format!("/avatars/{bad}"), &[]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
    }
}
