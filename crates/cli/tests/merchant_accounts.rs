//! `paydesk merchant-account ...` end to end through the real binary, against the provider
//! sandbox: accounts added from key files (WeChat Pay and Alipay) and by import, listed,
//! tested (a signed query the sandbox answers "not found"), rotated, retired, disabled;
//! `paydesk serve` loads them. Then the database files and every line the commands
//! logged (at `trace`) are searched: no private key body and no APIv3 key appears in clear.

use paydesk_sandbox::{MerchantCredentials, Provider};
use paydesk_store::MerchantAccountStatus;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_paydesk");

struct Env {
    data: PathBuf,
    files: PathBuf,
    /// Everything every command printed or logged.
    log: Arc<Mutex<Vec<u8>>>,
}

impl Env {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--data-dir")
            .arg(&self.data)
            .args(args)
            .env_remove("PAYDESK_MASTER_KEY")
            .env_remove("PAYDESK_DATABASE_URL")
            .env("PAYDESK_LOG_LEVEL", "trace")
            .env("USER", "ops-tester");
        c
    }

    /// Runs the command; returns (success, stdout + stderr).
    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = self.cmd(args).output().expect("paydesk runs");
        let mut all = out.stdout.clone();
        all.extend_from_slice(&out.stderr);
        self.log.lock().unwrap().extend_from_slice(&all);
        (
            out.status.success(),
            String::from_utf8_lossy(&all).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out) = self.run(args);
        assert!(ok, "paydesk {args:?} failed:\n{out}");
        out
    }

    fn file(&self, name: &str, contents: &str) -> String {
        let p = self.files.join(name);
        std::fs::write(&p, contents).unwrap();
        p.display().to_string()
    }
}

/// The base64 body lines of a PEM (what would betray the key if found anywhere).
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_owned)
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn wechat(c: &MerchantCredentials) -> (String, String, String, String, String, String, String) {
    match c {
        MerchantCredentials::Wechatpay {
            mchid,
            appid,
            merchant_serial_no,
            merchant_private_key_pem,
            apiv3_key,
            platform_public_key_id,
            platform_public_key_pem,
            ..
        } => (
            mchid.clone(),
            appid.clone(),
            merchant_serial_no.clone(),
            merchant_private_key_pem.clone(),
            apiv3_key.clone(),
            platform_public_key_id.clone(),
            platform_public_key_pem.clone(),
        ),
        MerchantCredentials::Alipay { .. } => panic!("not wechat"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_from_key_files_work_and_no_secret_is_in_clear() {
    let root = std::env::temp_dir().join(format!(
        "paydesk-ma-{}-{}",
        std::process::id(),
        paydesk_server::time::now_ms()
    ));
    let env = Env {
        data: root.join("data"),
        files: root.join("keys"),
        log: Arc::new(Mutex::new(Vec::new())),
    };
    std::fs::create_dir_all(&env.files).unwrap();
    let sandbox_dir = root.join("sandbox");
    let sandbox = paydesk_sandbox::start(paydesk_sandbox::SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: sandbox_dir.clone(),
        time_scale: 1.0,
        public_url: None,
    })
    .await
    .unwrap();
    let base = sandbox.base_url.clone();

    // Real generated keys, known to the sandbox.
    let wx = paydesk_sandbox::add_merchant(&sandbox_dir, Provider::Wechatpay, &base).unwrap();
    let ali = paydesk_sandbox::add_merchant(&sandbox_dir, Provider::Alipay, &base).unwrap();
    let ali2 = paydesk_sandbox::add_merchant(&sandbox_dir, Provider::Alipay, &base).unwrap();
    let wx_other = paydesk_sandbox::add_merchant(&sandbox_dir, Provider::Wechatpay, &base).unwrap();
    let (mchid, appid, serial, wx_key, apiv3, pk_id, pk_pem) = wechat(&wx);
    let (_, _, _, other_key, other_apiv3, _, _) = wechat(&wx_other);
    let MerchantCredentials::Alipay {
        app_id,
        seller_id,
        app_private_key_pem: ali_key,
        alipay_public_key_pem,
        gateway_url,
        ..
    } = &ali
    else {
        panic!("alipay")
    };
    let MerchantCredentials::Alipay {
        app_private_key_pem: ali2_key,
        ..
    } = &ali2
    else {
        panic!("alipay")
    };

    // WeChat Pay from key files.
    let out = env.ok(&[
        "merchant-account",
        "add",
        "--id",
        "wx-test",
        "--provider",
        "wechatpay",
        "--private-key-file",
        &env.file("wx.pem", &wx_key),
        "--apiv3-key-file",
        &env.file("apiv3.txt", &format!("{apiv3}\n")),
        "--mchid",
        &mchid,
        "--appid",
        &appid,
        "--merchant-serial-no",
        &serial,
        "--platform-public-key-id",
        &pk_id,
        "--platform-public-key-file",
        &env.file("platform.pem", &pk_pem),
        "--base-url",
        &base,
    ]);
    assert!(out.contains("wx-test (wechatpay) added"), "{out}");
    // Alipay from key files.
    env.ok(&[
        "merchant-account",
        "add",
        "--id",
        "ali-test",
        "--provider",
        "alipay",
        "--private-key-file",
        &env.file("ali.pem", ali_key),
        "--app-id",
        app_id,
        "--seller-id",
        seller_id,
        "--alipay-public-key-file",
        &env.file("alipay-public.pem", alipay_public_key_pem),
        "--gateway-url",
        gateway_url,
    ]);
    // Alipay by import (the sandbox's format plus an id).
    let mut import = serde_json::to_value(&ali2).unwrap();
    import["id"] = "ali-imported".into();
    env.ok(&[
        "merchant-account",
        "import",
        "--from-json",
        &env.file("import.json", &import.to_string()),
    ]);

    // Refusals change nothing: a certificate of another key, a taken id, a bad key, a flag
    // of the other provider.
    let MerchantCredentials::Wechatpay {
        merchant_certificate_pem: other_cert,
        ..
    } = &wx_other
    else {
        panic!("wechat")
    };
    let (ok, out) = env.run(&[
        "merchant-account",
        "add",
        "--id",
        "wx-mismatch",
        "--provider",
        "wechatpay",
        "--private-key-file",
        &env.file("wx.pem", &wx_key),
        "--merchant-certificate-file",
        &env.file("other-cert.pem", other_cert),
        "--apiv3-key-file",
        &env.file("apiv3.txt", &apiv3),
        "--mchid",
        &mchid,
        "--appid",
        &appid,
        "--platform-public-key-id",
        &pk_id,
        "--platform-public-key-file",
        &env.file("platform.pem", &pk_pem),
    ]);
    assert!(!ok && out.contains("does not belong"), "{out}");
    let (ok, out) = env.run(&[
        "merchant-account",
        "import",
        "--from-json",
        &env.file("import.json", &import.to_string()),
    ]);
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = env.run(&[
        "merchant-account",
        "add",
        "--id",
        "bad",
        "--provider",
        "alipay",
        "--private-key-file",
        &env.file(
            "bad.pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ),
        "--app-id",
        "x",
        "--seller-id",
        "2088",
        "--alipay-public-key-file",
        &env.file("alipay-public.pem", alipay_public_key_pem),
    ]);
    assert!(!ok && out.contains("app private key"), "{out}");
    let (ok, out) = env.run(&[
        "merchant-account",
        "add",
        "--id",
        "bad",
        "--provider",
        "alipay",
        "--private-key-file",
        &env.file("ali.pem", ali_key),
        "--app-id",
        "x",
        "--seller-id",
        "2088",
        "--alipay-public-key-file",
        &env.file("alipay-public.pem", alipay_public_key_pem),
        "--mchid",
        "1",
    ]);
    assert!(!ok && out.contains("--mchid is not used"), "{out}");

    // List: no secrets, the ids and key versions.
    let listed = env.ok(&["merchant-account", "list", "--json"]);
    let list: serde_json::Value =
        serde_json::from_str(listed.lines().find(|l| l.starts_with('[')).unwrap()).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ali-imported", "ali-test", "wx-test"]);
    assert_eq!(list[2]["public"]["mchid"], mchid.as_str());
    assert_eq!(list[2]["signing_key_version"], 1);

    // Test connection: the sandbox verifies our signature and answers "not found" signed.
    for id in ["wx-test", "ali-test", "ali-imported"] {
        let out = env.ok(&["merchant-account", "test", id]);
        assert!(out.contains(&format!("merchant account {id}: ok")), "{out}");
    }

    // Rotation: new calls sign with the newest key. A key the provider does not know
    // fails the test; rotating to the registered key again passes.
    env.ok(&[
        "merchant-account",
        "rotate-key",
        "wx-test",
        "--private-key-file",
        &env.file("other.pem", &other_key),
        "--apiv3-key-file",
        &env.file("other-apiv3.txt", &other_apiv3),
        "--merchant-serial-no",
        "0123456789ABCDEF",
    ]);
    let (ok, out) = env.run(&["merchant-account", "test", "wx-test"]);
    assert!(!ok && out.contains("test failed"), "{out}");
    let out = env.ok(&[
        "merchant-account",
        "rotate-key",
        "wx-test",
        "--private-key-file",
        &env.file("wx.pem", &wx_key),
        "--apiv3-key-file",
        &env.file("apiv3.txt", &apiv3),
        "--merchant-serial-no",
        &serial,
    ]);
    assert!(out.contains("key version 3 added"), "{out}");
    env.ok(&["merchant-account", "test", "wx-test"]);
    let (ok, out) = env.run(&["merchant-account", "retire-key", "wx-test", "3"]);
    assert!(!ok && out.contains("newest"), "{out}");
    env.ok(&["merchant-account", "retire-key", "wx-test", "1"]);
    env.ok(&["merchant-account", "retire-key", "wx-test", "2"]);
    let (ok, _) = env.run(&["merchant-account", "retire-key", "wx-test", "2"]);
    assert!(!ok, "a retired version cannot be retired again");
    env.ok(&["merchant-account", "test", "wx-test"]);
    let text = env.ok(&["merchant-account", "list"]);
    assert!(
        text.contains("keys: v1 (retired), v2 (retired), v3"),
        "{text}"
    );

    // Disable / enable.
    env.ok(&["merchant-account", "disable", "ali-imported"]);
    assert!(env
        .ok(&["merchant-account", "disable", "ali-imported"])
        .contains("already"));
    let (ok, out) = env.run(&["merchant-account", "disable", "nope"]);
    assert!(!ok && out.contains("no merchant account `nope`"), "{out}");

    // `paydesk serve` uses the active stored accounts (no embedded sandbox here).
    let serve_log = root.join("serve.log");
    let mut child = env
        .cmd(&["serve", "--listen", "127.0.0.1:0"])
        .env("PAYDESK_SANDBOX_EMBEDDED", "false")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&serve_log).unwrap())
        .spawn()
        .unwrap();
    let mut served = String::new();
    for _ in 0..200 {
        served = std::fs::read_to_string(&serve_log).unwrap_or_default();
        if served.contains("paydesk serving") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    env.log.lock().unwrap().extend_from_slice(served.as_bytes());
    let line = served
        .lines()
        .find(|l| l.contains("paydesk serving"))
        .unwrap_or_else(|| panic!("serve did not start:\n{served}"));
    assert!(
        line.contains("ali-test") && line.contains("wx-test") && !line.contains("ali-imported"),
        "{line}"
    );

    // The audit log: every change, by the unix user, without secrets.
    let url = format!("sqlite:{}", env.data.join("paydesk.db").display());
    let store = paydesk_store::connect(&url, 1).await.unwrap();
    let log = store.audit_log(100).await.unwrap();
    let count = |a: &str| log.iter().filter(|e| e.action == a).count();
    assert_eq!(count("merchant_account.add"), 3);
    assert_eq!(count("merchant_account.rotate_key"), 2);
    assert_eq!(count("merchant_account.retire_key"), 2);
    assert_eq!(count("merchant_account.disable"), 1);
    assert!(count("merchant_account.test") >= 5);
    assert!(log.iter().all(|e| e.actor == "cli:ops-tester"), "{log:?}");
    assert_eq!(
        store
            .merchant_account("ali-imported")
            .await
            .unwrap()
            .unwrap()
            .status,
        MerchantAccountStatus::Disabled
    );
    drop(store);

    // No secret in clear: not in the database files (with the WAL), not in any output.
    // The pool closes in the background: a WAL file listed here may be checkpointed and
    // removed before it is read. Then read everything again (its content is in the main
    // file by then).
    let mut db_bytes = Vec::new();
    for _ in 0..20 {
        db_bytes.clear();
        let mut vanished = false;
        for entry in std::fs::read_dir(&env.data).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("paydesk.db") {
                match std::fs::read(&p) {
                    Ok(bytes) => db_bytes.extend(bytes),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => vanished = true,
                    Err(e) => panic!("reading {}: {e}", p.display()),
                }
            }
        }
        if !vanished {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(db_bytes.len() > 10_000, "database files found");
    assert!(
        contains(&db_bytes, "wx-test") && contains(&db_bytes, &mchid),
        "sanity"
    );
    let logged = env.log.lock().unwrap().clone();
    assert!(contains(&logged, "merchant_account") || contains(&logged, "merchant account"));
    let mut secrets: Vec<(String, String)> = Vec::new();
    for (what, pem) in [
        ("wechat key", wx_key.as_str()),
        ("other wechat key", other_key.as_str()),
        ("alipay key", ali_key.as_str()),
        ("imported alipay key", ali2_key.as_str()),
    ] {
        for l in pem_body_lines(pem) {
            secrets.push((what.to_owned(), l));
        }
    }
    secrets.push(("APIv3 key".into(), apiv3.clone()));
    secrets.push(("other APIv3 key".into(), other_apiv3.clone()));
    assert!(secrets.len() > 40);
    for (what, s) in &secrets {
        assert!(
            !contains(&db_bytes, s),
            "{what} in clear in the database: {s}"
        );
        assert!(!contains(&logged, s), "{what} in clear in the output");
    }
    // The check itself finds what it looks for (the key files hold them).
    assert!(contains(
        &std::fs::read(env.files.join("wx.pem")).unwrap(),
        &secrets[0].1
    ));

    sandbox.stop().await;
    let _ = std::fs::remove_dir_all(&root);
}
