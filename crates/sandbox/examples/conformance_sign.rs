//! Conformance helper: signs the inputs an official SDK signed, with paydesk's adapters'
//! signing code, and prints both signatures. Exits non-zero when any differs.
//!
//! `cargo run -p paydesk-sandbox --example conformance_sign -- cases.json`, where the file is
//! `{"cases":[{"name", "kind": "wechatpay_request"|"wechatpay_jsapi"|"alipay_request", ...}]}`
//! (see `conformance/`).

use paydesk_providers::alipay::sign::sign_request;
use paydesk_providers::keys::PrivateKey;
use paydesk_providers::wechatpay::sign::{jsapi_pay_sign, Authorization};
use serde_json::Value;

fn s<'a>(c: &'a Value, k: &str) -> &'a str {
    c[k].as_str()
        .unwrap_or_else(|| panic!("case field `{k}` missing"))
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: conformance_sign CASES.json"))?;
    let cases: Value = serde_json::from_slice(&std::fs::read(path)?)?;
    let mut failed = 0;
    let list = cases["cases"].as_array().cloned().unwrap_or_default();
    for c in &list {
        let key = PrivateKey::from_pem(s(c, "key_pem"))?;
        let (sdk, ours) = match s(c, "kind") {
            "wechatpay_request" => {
                let auth = Authorization::sign(
                    &key,
                    s(c, "mchid"),
                    s(c, "serial_no"),
                    s(c, "method"),
                    s(c, "path"),
                    s(c, "body"),
                    c["timestamp"].as_i64().unwrap_or_default(),
                    s(c, "nonce"),
                )?;
                (s(c, "sdk").to_string(), auth.to_header_value())
            }
            "wechatpay_jsapi" => (
                s(c, "sdk").to_string(),
                jsapi_pay_sign(
                    &key,
                    s(c, "appid"),
                    s(c, "timestamp"),
                    s(c, "nonce"),
                    s(c, "package"),
                )?,
            ),
            "alipay_request" => {
                let params: Vec<(String, String)> = c["params"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| {
                                Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string()))
                            })
                            .filter(|(k, _)| k != "sign")
                            .collect()
                    })
                    .unwrap_or_default();
                (s(c, "sdk").to_string(), sign_request(&key, &params)?)
            }
            other => anyhow::bail!("unknown case kind {other}"),
        };
        let same = sdk == ours;
        if !same {
            failed += 1;
        }
        println!(
            "[{}] {}\n  sdk:     {sdk}\n  paydesk: {ours}",
            if same { "SAME" } else { "DIFF" },
            s(c, "name")
        );
    }
    println!(
        "signatures: {} identical, {failed} different",
        list.len() - failed
    );
    if failed > 0 || list.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
