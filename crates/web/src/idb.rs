//! The browser's cache: the core reads a [`MemoryCache`] (its `Cache` trait
//! is synchronous) and every write is also put into IndexedDB, which is
//! read back into memory when the page loads. So the channels, the messages
//! seen and the outbox survive a reload, and the page shows them with the
//! server down.
//!
//! Writes are issued in order, each in its own read-write transaction on
//! one object store; IndexedDB runs such transactions in the order they
//! were created, so the stored state follows the same sequence as memory.
//! A write the browser refuses (quota) is logged; memory keeps going.
//!
//! One object store, `kv`, with string keys and JSON values:
//! `c/<conv>` conversations, `m/<conv>/<seq>` messages, `o/<n>` the outbox
//! in the order written, `s/<key>` settings. Numbers are zero-padded so
//! that keys sort as numbers.

use confab_client::{Cache, CacheError, CachedConv, MemoryCache, Pending};
use confab_proto::{ConvId, Message, Seq};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{IdbDatabase, IdbKeyRange, IdbObjectStore, IdbRequest, IdbTransactionMode};

const DB_NAME: &str = "confab";
const STORE: &str = "kv";

pub struct IdbCache {
    mem: MemoryCache,
    /// `None` when IndexedDB is unavailable (then nothing survives a reload).
    db: Option<IdbDatabase>,
    /// The outbox's keys, by nonce.
    out_keys: Vec<(String, String)>,
    next_out: u64,
}

fn conv_key(conv: ConvId) -> String {
    format!("c/{conv:020}")
}

fn msg_key(conv: ConvId, seq: Seq) -> String {
    format!("m/{conv:020}/{seq:020}")
}

fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Waits for an IndexedDB request to finish; its result.
async fn done(req: &IdbRequest) -> Result<JsValue, String> {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let r = req.clone();
        let ok = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call1(&JsValue::NULL, &r.result().unwrap_or(JsValue::UNDEFINED));
        });
        req.set_onsuccess(Some(ok.unchecked_ref()));
        let r = req.clone();
        let fail = Closure::once_into_js(move |_: web_sys::Event| {
            let why = r
                .error()
                .ok()
                .flatten()
                .map_or_else(|| "unknown error".to_owned(), |e| e.message());
            let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(&why));
        });
        req.set_onerror(Some(fail.unchecked_ref()));
    });
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(js_err)
}

impl IdbCache {
    /// Opens the database and reads it into memory. Without IndexedDB
    /// (some private windows) the cache lives in memory only; the second
    /// value says why.
    pub async fn open() -> (IdbCache, Option<String>) {
        let mut cache = IdbCache {
            mem: MemoryCache::default(),
            db: None,
            out_keys: Vec::new(),
            next_out: 1,
        };
        match cache.load().await {
            Ok(()) => (cache, None),
            Err(e) => {
                cache.mem = MemoryCache::default();
                cache.db = None;
                (
                    cache,
                    Some(format!(
                        "this browser keeps nothing between visits ({e}): messages are cached only while the page is open"
                    )),
                )
            }
        }
    }

    async fn load(&mut self) -> Result<(), String> {
        let window = web_sys::window().ok_or("no window")?;
        let factory = window
            .indexed_db()
            .map_err(js_err)?
            .ok_or("IndexedDB is not available")?;
        let req = factory.open_with_u32(DB_NAME, 1).map_err(js_err)?;
        let upgrade = Closure::once_into_js(move |e: web_sys::Event| {
            if let Some(req) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::IdbOpenDbRequest>().ok())
                && let Ok(db) = req.result()
            {
                let db: IdbDatabase = db.unchecked_into();
                let _ = db.create_object_store(STORE);
            }
        });
        req.set_onupgradeneeded(Some(upgrade.unchecked_ref()));
        let db: IdbDatabase = done(&req).await?.unchecked_into();
        // Errors of writes nobody waits for bubble up to the database.
        let log = Closure::<dyn Fn(web_sys::Event)>::new(|_: web_sys::Event| {
            web_sys::console::error_1(&"confab: a write to the offline cache failed".into());
        });
        db.set_onerror(Some(log.as_ref().unchecked_ref()));
        log.forget();

        let tx = db.transaction_with_str(STORE).map_err(js_err)?;
        let store = tx.object_store(STORE).map_err(js_err)?;
        let keys: js_sys::Array = done(&store.get_all_keys().map_err(js_err)?)
            .await?
            .unchecked_into();
        let values: js_sys::Array = done(&store.get_all().map_err(js_err)?)
            .await?
            .unchecked_into();
        let mut messages = Vec::new();
        for (k, v) in keys.iter().zip(values.iter()) {
            let (Some(k), Some(v)) = (k.as_string(), v.as_string()) else {
                continue;
            };
            let bad = |e: serde_json::Error| format!("{k}: {e}");
            if k.starts_with("c/") {
                let c: CachedConv = serde_json::from_str(&v).map_err(bad)?;
                self.mem.put_conv(&c).map_err(|e| e.0)?;
            } else if k.starts_with("m/") {
                messages.push(serde_json::from_str::<Message>(&v).map_err(bad)?);
            } else if let Some(n) = k.strip_prefix("o/") {
                let p: Pending = serde_json::from_str(&v).map_err(bad)?;
                self.next_out = self.next_out.max(n.parse::<u64>().unwrap_or(0) + 1);
                self.out_keys.push((p.nonce.clone(), k.clone()));
                self.mem.push_outbox(&p).map_err(|e| e.0)?;
            } else if let Some(name) = k.strip_prefix("s/") {
                self.mem.set(name, Some(&v)).map_err(|e| e.0)?;
            }
        }
        self.mem.put_messages(&messages).map_err(|e| e.0)?;
        self.db = Some(db);
        Ok(())
    }

    /// Issues writes in one read-write transaction.
    fn write(
        &self,
        f: impl FnOnce(&IdbObjectStore) -> Result<(), JsValue>,
    ) -> Result<(), CacheError> {
        let Some(db) = &self.db else { return Ok(()) };
        let err = |e: JsValue| CacheError(js_err(e));
        let tx = db
            .transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)
            .map_err(err)?;
        let store = tx.object_store(STORE).map_err(err)?;
        f(&store).map_err(err)
    }
}

fn json<T: serde::Serialize>(v: &T) -> JsValue {
    JsValue::from_str(&serde_json::to_string(v).expect("cache records serialize"))
}

impl Cache for IdbCache {
    fn convs(&self) -> Result<Vec<CachedConv>, CacheError> {
        self.mem.convs()
    }

    fn put_conv(&mut self, conv: &CachedConv) -> Result<(), CacheError> {
        self.mem.put_conv(conv)?;
        self.write(|s| {
            s.put_with_key(&json(conv), &conv_key(conv.conv).into())
                .map(drop)
        })
    }

    fn remove_conv(&mut self, conv: ConvId) -> Result<(), CacheError> {
        self.mem.remove_conv(conv)?;
        self.write(|s| {
            s.delete(&conv_key(conv).into())?;
            let range = IdbKeyRange::bound(
                &format!("m/{conv:020}/").into(),
                &format!("m/{conv:020}/~").into(),
            )?;
            s.delete(&range).map(drop)
        })
    }

    fn put_messages(&mut self, messages: &[Message]) -> Result<(), CacheError> {
        self.mem.put_messages(messages)?;
        self.write(|s| {
            for m in messages {
                s.put_with_key(&json(m), &msg_key(m.conv, m.seq).into())?;
            }
            Ok(())
        })
    }

    fn messages(
        &self,
        conv: ConvId,
        before: Option<Seq>,
        limit: usize,
    ) -> Result<Vec<Message>, CacheError> {
        self.mem.messages(conv, before, limit)
    }

    fn oldest(&self, conv: ConvId) -> Result<Option<Seq>, CacheError> {
        self.mem.oldest(conv)
    }

    fn outbox(&self) -> Result<Vec<Pending>, CacheError> {
        self.mem.outbox()
    }

    fn push_outbox(&mut self, pending: &Pending) -> Result<(), CacheError> {
        let key = format!("o/{:020}", self.next_out);
        self.write(|s| {
            s.put_with_key(&json(pending), &key.clone().into())
                .map(drop)
        })?;
        self.next_out += 1;
        self.out_keys.push((pending.nonce.clone(), key));
        self.mem.push_outbox(pending)
    }

    fn remove_outbox(&mut self, nonce: &str) -> Result<(), CacheError> {
        self.mem.remove_outbox(nonce)?;
        if let Some(i) = self.out_keys.iter().position(|(n, _)| n == nonce) {
            let (_, key) = self.out_keys.remove(i);
            self.write(|s| s.delete(&key.into()).map(drop))?;
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        self.mem.get(key)
    }

    fn set(&mut self, key: &str, value: Option<&str>) -> Result<(), CacheError> {
        self.mem.set(key, value)?;
        let k: JsValue = format!("s/{key}").into();
        self.write(|s| match value {
            Some(v) => s.put_with_key(&v.into(), &k).map(drop),
            None => s.delete(&k).map(drop),
        })
    }
}
