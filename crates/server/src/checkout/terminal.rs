//! The checkout terminal of a browser, from its `User-Agent`.
//!
//! (Written for the checkout module: `mod.rs` declares it; pure, no I/O.)
//!
//! Only the HTML checkout page (`GET /checkout/{token}`) guesses the terminal. Our native apps
//! and mini programs never load that page: they call `GET /checkout/{token}/options` with
//! `terminal=ANDROID|IOS|WECHAT_MINI_PROGRAM|ALIPAY_MINI_PROGRAM` themselves, and a page URL
//! may also name one with `?terminal=`, which wins over this guess. So the answer here is
//! one of the browser terminals, plus the two mini-program web views that identify
//! themselves in the user agent:
//!
//! | user agent contains | terminal |
//! |---|---|
//! | `MicroMessenger` and `miniProgram` | `WECHAT_MINI_PROGRAM` (a mini program's web-view) |
//! | `MicroMessenger` | `WECHAT_H5` (WeChat's in-app browser: JSAPI pay) |
//! | `AlipayClient` and `MiniProgram` | `ALIPAY_MINI_PROGRAM` |
//! | `AlipayClient` | `H5` |
//! | `Mobile`, `Android`, `iPhone`, `iPad` | `H5` |
//! | anything else, or nothing | `PC` |
//!
//! Alipay's in-app browser is treated as a mobile browser: paydesk has no Alipay-specific web
//! terminal (unlike WeChat, where an in-app page pays through JSAPI with the buyer's openid and
//! an ordinary H5 payment is refused), and Alipay's WAP pay works inside its own browser, which
//! opens the Alipay payment directly. The rules route `H5` to WAP pay, which is what it needs.
//!
//! iPads on iPadOS 13 and later send a desktop Safari user agent and are taken for `PC`; they
//! are desktop-class browsers, and QR payment is what a large screen should show anyway.
//!
//! Matching is ASCII case-insensitive on the markers (WeChat has sent both `miniProgram` and
//! `MiniProgram` over the years) and never panics: the header is whatever the client sent.

use paydesk_rules::Terminal;

/// Markers that make a browser a phone or tablet (for us: an `H5` checkout).
const MOBILE_MARKERS: [&str; 4] = ["mobile", "android", "iphone", "ipad"];

/// The terminal the checkout page is being opened on, from the `User-Agent` header
/// (`""` when there is none).
pub fn terminal_from_user_agent(ua: &str) -> Terminal {
    let has = |needle: &str| contains_ignore_ascii_case(ua, needle);
    if has("micromessenger") {
        if has("miniprogram") {
            return Terminal::WechatMiniProgram;
        }
        return Terminal::WechatH5;
    }
    if has("alipayclient") {
        if has("miniprogram") {
            return Terminal::AlipayMiniProgram;
        }
        return Terminal::H5;
    }
    if MOBILE_MARKERS.iter().any(|m| has(m)) {
        return Terminal::H5;
    }
    Terminal::Pc
}

/// `haystack` contains `needle` (ASCII lower case), ignoring ASCII case; works on bytes, so
/// any UTF-8 (or a multi-byte character cut anywhere) is fine.
fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const IPHONE_SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) \
        AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    const IPAD_SAFARI: &str = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 \
        (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";
    const ANDROID_CHROME: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/125.0.6422.165 Mobile Safari/537.36";
    const ANDROID_TABLET_CHROME: &str = "Mozilla/5.0 (Linux; Android 13; SM-X700) \
        AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    const WECHAT_ANDROID: &str =
        "Mozilla/5.0 (Linux; Android 13; V2148A Build/TP1A.220624.014; wv) \
        AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 \
        XWEB/1160117 MMWEBSDK/20240301 MMWEBID/9871 MicroMessenger/8.0.48.2580(0x28003036) \
        WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64";
    const WECHAT_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
        AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) \
        NetType/WIFI Language/zh_CN";
    const WECHAT_MINI_PROGRAM_ANDROID: &str = "Mozilla/5.0 (Linux; Android 12; M2102K1C Build/SKQ1.211006.001; wv) \
        AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 \
        XWEB/5061 MMWEBSDK/20230303 MMWEBID/2280 MicroMessenger/8.0.34.2340(0x2800223F) WeChat/arm64 \
        Weixin NetType/WIFI Language/zh_CN ABI/arm64 MiniProgramEnv/android";
    const WECHAT_MINI_PROGRAM_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_3 like Mac OS X) \
        AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.33(0x18002129) \
        NetType/WIFI Language/zh_CN miniProgram/wx1234567890abcdef";
    const WECHAT_DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/81.0.4044.138 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) \
        WindowsWechat(0x6309092b) XWEB/8555 Flue";
    const ALIPAY_ANDROID: &str = "Mozilla/5.0 (Linux; U; Android 13; zh-CN; V2199A Build/TP1A.220624.014) \
        AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/69.0.3497.100 UWS/3.22.2.9999 \
        UCBS/3.22.2.9999_220000000000 Mobile Safari/537.36 NebulaSDK/1.8.100112 Nebula AlipayDefined(nt:WIFI,ws:360|0|3.0) \
        AliApp(AP/10.5.36.8100) AlipayClient/10.5.36.8100 Language/zh-Hans useStatusBar/true isConcaveScreen/true";
    const ALIPAY_MINI_PROGRAM: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) \
        AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Ariver/1.1.0 AliApp(AP/10.3.70.6000) \
        Nebula WK RVKType(0) AlipayDefined(nt:WIFI,ws:390|780|3.0) AlipayClient/10.3.70.6000 \
        Language/zh-Hans Region/CN NebulaX/1.0.0 MiniProgram APXWebView";
    const DESKTOP_CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
    const DESKTOP_CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) \
        AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
    const DESKTOP_FIREFOX: &str =
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0";
    const CURL: &str = "curl/8.5.0";

    #[test]
    fn real_user_agents() {
        let cases = [
            (IPHONE_SAFARI, Terminal::H5),
            (IPAD_SAFARI, Terminal::H5),
            (ANDROID_CHROME, Terminal::H5),
            (ANDROID_TABLET_CHROME, Terminal::H5),
            (WECHAT_ANDROID, Terminal::WechatH5),
            (WECHAT_IPHONE, Terminal::WechatH5),
            (WECHAT_DESKTOP, Terminal::WechatH5),
            (WECHAT_MINI_PROGRAM_ANDROID, Terminal::WechatMiniProgram),
            (WECHAT_MINI_PROGRAM_IOS, Terminal::WechatMiniProgram),
            (ALIPAY_ANDROID, Terminal::H5),
            (ALIPAY_MINI_PROGRAM, Terminal::AlipayMiniProgram),
            (DESKTOP_CHROME, Terminal::Pc),
            (DESKTOP_CHROME_MAC, Terminal::Pc),
            (DESKTOP_FIREFOX, Terminal::Pc),
            (CURL, Terminal::Pc),
        ];
        for (ua, want) in cases {
            assert_eq!(terminal_from_user_agent(ua), want, "{ua}");
        }
    }

    #[test]
    fn empty_and_odd_input() {
        assert_eq!(terminal_from_user_agent(""), Terminal::Pc);
        assert_eq!(terminal_from_user_agent("   "), Terminal::Pc);
        assert_eq!(terminal_from_user_agent("ANDROID"), Terminal::H5);
        assert_eq!(
            terminal_from_user_agent("micromessenger"),
            Terminal::WechatH5
        );
        assert_eq!(terminal_from_user_agent("Mobi"), Terminal::Pc);
        assert_eq!(terminal_from_user_agent("iPhoné 手机 Mobile"), Terminal::H5);
        assert_eq!(terminal_from_user_agent("\u{0}\u{ffff}"), Terminal::Pc);
    }

    #[test]
    fn wechat_wins_over_alipay_and_mobile_markers() {
        // Both markers never occur together in practice; WeChat is checked first.
        assert_eq!(
            terminal_from_user_agent("Mobile MicroMessenger/8 AlipayClient/10"),
            Terminal::WechatH5
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_is_a_browser_terminal(ua in any::<String>()) {
            let t = terminal_from_user_agent(&ua);
            prop_assert!(!matches!(t, Terminal::Android | Terminal::Ios));
        }

        #[test]
        fn case_does_not_matter(ua in "[ -~]{0,80}") {
            prop_assert_eq!(
                terminal_from_user_agent(&ua.to_ascii_uppercase()),
                terminal_from_user_agent(&ua.to_ascii_lowercase())
            );
        }

        #[test]
        fn a_marker_anywhere_is_found(prefix in "[ -~]{0,40}", suffix in "[ -~]{0,40}") {
            let ua = format!("{prefix}MicroMessenger/8.0{suffix}");
            let t = terminal_from_user_agent(&ua);
            prop_assert!(matches!(t, Terminal::WechatH5 | Terminal::WechatMiniProgram));
        }
    }
}
