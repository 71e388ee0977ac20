//! `notify`: provider notifications verified, decrypted and parsed per second on one
//! core (in memory: no HTTP, no storage), for WeChat Pay (RSA-2048 verify + AES-256-GCM
//! decrypt + JSON) and Alipay (form decode + RSA-2048 verify), next to the bare
//! RSA-2048 PKCS#1 v1.5 SHA-256 verify rate of the same crypto library (aws-lc-rs) in
//! the same run. A notification costs at least one verify, so the ratio says how much
//! the rest of the work adds.

use crate::machine;
use crate::stats::write_json;
use anyhow::{bail, Result};
use paydesk_providers::keys::{KeyRing, PrivateKey};
use paydesk_providers::model::NotificationEvent;
use paydesk_providers::wechatpay::sign::ApiV3Key;
use paydesk_providers::{alipay, wechatpay};
use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Measured seconds per case.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Distinct notifications per provider, cycled through.
    #[arg(long, default_value_t = 256)]
    distinct: usize,
}

const MCHID: &str = "1900000001";
const WX_APPID: &str = "wxd678efh567hg6787";
const ALI_APP_ID: &str = "2021000000000001";
const SELLER: &str = "2088102119685838";

/// Runs `f` on this thread for `secs`; returns calls per second.
fn rate(secs: u64, mut f: impl FnMut(usize) -> bool) -> Result<f64> {
    let end = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut n = 0usize;
    while Instant::now() < end {
        for _ in 0..64 {
            if !f(n) {
                bail!("a benchmark operation failed: the figures would be meaningless");
            }
            n += 1;
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

pub fn run(a: Args) -> Result<()> {
    machine::print_header("paydesk notify benchmark: provider callbacks per second per core");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;

    // WeChat Pay: platform key under a public-key id, APIv3 key, distinct transactions.
    let platform = PrivateKey::generate_rsa2048()?;
    let mut ring = KeyRing::new();
    ring.insert("PUB_KEY_ID_BENCH", platform.public_key()?);
    let (apiv3, _) = ApiV3Key::generate();
    let mut wx = Vec::with_capacity(a.distinct);
    for i in 0..a.distinct {
        let plain = format!(
            r#"{{"mchid":"{MCHID}","appid":"{WX_APPID}","out_trade_no":"pa_bench_{i:08}","transaction_id":"42000{i:020}","trade_type":"NATIVE","trade_state":"SUCCESS","trade_state_desc":"支付成功","bank_type":"OTHERS","attach":"po_bench","success_time":"2026-11-25T18:00:00+08:00","payer":{{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}},"amount":{{"total":{},"payer_total":{},"currency":"CNY","payer_currency":"CNY"}}}}"#,
            1999 + i,
            1999 + i
        );
        wx.push(wechatpay::notify::build_notification(
            &platform,
            "PUB_KEY_ID_BENCH",
            &apiv3,
            &format!("EV-{i}"),
            "2026-11-25T18:00:01+08:00",
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            plain.as_bytes(),
            now,
        )?);
    }
    let wx_ctx = wechatpay::notify::NotifyContext {
        platform_keys: &ring,
        apiv3_key: &apiv3,
        mchid: MCHID,
        appid: WX_APPID,
        now_unix: now,
        window_secs: 3600,
    };

    // Alipay: the Alipay public key, distinct trade notifications.
    let alipay_key = PrivateKey::generate_rsa2048()?;
    let alipay_pub = [alipay_key.public_key()?];
    let mut ali = Vec::with_capacity(a.distinct);
    for i in 0..a.distinct {
        let params: Vec<(String, String)> = [
            ("notify_time", "2026-11-25 18:00:02".to_string()),
            ("notify_type", "trade_status_sync".into()),
            ("notify_id", format!("ntf{i:030}")),
            ("app_id", ALI_APP_ID.into()),
            ("charset", "utf-8".into()),
            ("version", "1.0".into()),
            ("trade_no", format!("2026112522001{i:015}")),
            ("out_trade_no", format!("pa_bench_{i:08}")),
            ("buyer_id", "2088102122524333".into()),
            ("seller_id", SELLER.into()),
            ("trade_status", "TRADE_SUCCESS".into()),
            ("total_amount", format!("{}.{:02}", 19 + i / 100, i % 100)),
            ("receipt_amount", format!("{}.{:02}", 19 + i / 100, i % 100)),
            (
                "buyer_pay_amount",
                format!("{}.{:02}", 19 + i / 100, i % 100),
            ),
            ("subject", "二手自行车".into()),
            ("gmt_create", "2026-11-25 17:59:00".into()),
            ("gmt_payment", "2026-11-25 18:00:00".into()),
            ("passback_params", "po_bench".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        ali.push(alipay::notify::build_notification(&alipay_key, &params)?);
    }
    let ali_ctx = alipay::notify::NotifyContext {
        alipay_public_keys: &alipay_pub,
        app_id: ALI_APP_ID,
        seller_id: Some(SELLER),
    };

    // Sanity: every prepared notification parses into a successful payment.
    let is_payment = |r: Result<paydesk_providers::model::Notification, _>| matches!(r, Ok(n) if matches!(n.event, NotificationEvent::Payment(_)));
    for n in &wx {
        if !is_payment(wechatpay::notify::parse_notification(&wx_ctx, n)) {
            bail!("a prepared WeChat notification did not parse");
        }
    }
    for n in &ali {
        if !is_payment(alipay::notify::parse_notification(&ali_ctx, n)) {
            bail!("a prepared Alipay notification did not parse");
        }
    }

    // The peer: bare RSA-2048 verify in aws-lc-rs over a callback-sized message.
    let msg = wx[0].body.clone();
    let sig = platform.sign(&msg)?;
    let spki = platform.public_key()?.spki_der().to_vec();
    let bare = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        spki,
    );
    let rsa_rate = rate(a.seconds, |_| {
        bare.verify(black_box(&msg), black_box(&sig)).is_ok()
    })?;
    let wx_rate = rate(a.seconds, |i| {
        wechatpay::notify::parse_notification(&wx_ctx, black_box(&wx[i % wx.len()])).is_ok()
    })?;
    let ali_rate = rate(a.seconds, |i| {
        alipay::notify::parse_notification(&ali_ctx, black_box(&ali[i % ali.len()])).is_ok()
    })?;

    println!();
    println!(
        "{:<34} {:>12} {:>8}",
        "case (one core)", "per second", "ratio"
    );
    println!(
        "{:<34} {:>12.0} {:>8}",
        "bare RSA-2048 verify (aws-lc-rs)", rsa_rate, "1.00"
    );
    println!(
        "{:<34} {:>12.0} {:>8.2}",
        "wechatpay notification",
        wx_rate,
        wx_rate / rsa_rate
    );
    println!(
        "{:<34} {:>12.0} {:>8.2}",
        "alipay notification",
        ali_rate,
        ali_rate / rsa_rate
    );
    let path = write_json(
        "notify",
        &json!({
            "benchmark": "notify",
            "machine": machine::describe(),
            "seconds_per_case": a.seconds,
            "threads": 1,
            "bare_rsa2048_verify_per_sec": rsa_rate,
            "wechatpay": {"per_sec": wx_rate, "ratio_to_bare_verify": wx_rate / rsa_rate,
                "work": "header parse, RSA-2048 verify, AES-256-GCM decrypt, JSON parse, merchant/app checks, amount"},
            "alipay": {"per_sec": ali_rate, "ratio_to_bare_verify": ali_rate / rsa_rate,
                "work": "form decode, sort+join, RSA-2048 verify, app/seller checks, yuan->fen"},
        }),
    )?;
    println!("\nwrote {}", path.display());
    Ok(())
}
