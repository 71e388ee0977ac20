//! QR codes as standalone SVG, for NATIVE (WeChat `code_url`) and precreate (Alipay
//! `qr_code`) payments: the checkout answer carries the image, so neither the page nor an app
//! needs a QR library.
//!
//! (Written for the checkout module: `mod.rs` declares it; pure, no I/O.)
//!
//! The `qrcode` crate encodes (no default features: no `image` dependency); the SVG is drawn
//! here rather than with the crate's `svg` renderer, which writes one sub-path per dark
//! module: merging each row's runs of dark modules keeps the image several times smaller,
//! and it travels inside a JSON answer. The drawing is in module units (`viewBox`), with the
//! standard quiet zone of 4 modules, all dark modules in one `<path>`, no external
//! references, no styles or scripts (it is shown under a strict Content-Security-Policy).

use std::fmt::Write;

use qrcode::{Color, EcLevel, QrCode};

/// The quiet zone around the symbol, in modules (ISO/IEC 18004 asks for 4).
const QUIET_ZONE: usize = 4;
/// Default rendered size of one module in CSS pixels (the page scales it anyway).
const MODULE_PX: usize = 8;

/// Why a QR code could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    /// More data than the largest QR code (version 40) holds at error correction level M.
    #[error("{len} bytes do not fit in a QR code")]
    TooLong {
        /// The content's length in bytes.
        len: usize,
    },
    /// The encoder refused the content for another reason.
    #[error("the content cannot be encoded as a QR code")]
    Unencodable,
}

/// Renders `content` as a QR code (error correction level M: 15 % of the symbol may be
/// damaged, the usual choice for payment codes shown on a screen) in a standalone SVG.
pub fn qr_svg(content: &str) -> Result<String, QrError> {
    let code = QrCode::with_error_correction_level(content.as_bytes(), EcLevel::M).map_err(
        |e| match e {
            qrcode::types::QrError::DataTooLong => QrError::TooLong { len: content.len() },
            _ => QrError::Unencodable,
        },
    )?;
    let modules = code.width();
    let colors = code.to_colors();
    let size = modules + 2 * QUIET_ZONE;
    let px = size * MODULE_PX;

    let mut svg = String::with_capacity(256 + modules * modules);
    // Writing to a String cannot fail.
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{px}" height="{px}" viewBox="0 0 {size} {size}" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/><path fill="#000" d=""##
    );
    for (y, row) in colors.chunks(modules).enumerate() {
        let mut x = 0;
        while x < modules {
            if row[x] == Color::Dark {
                let start = x;
                while x < modules && row[x] == Color::Dark {
                    x += 1;
                }
                let run = x - start;
                let _ = write!(
                    svg,
                    "M{} {}h{run}v1h-{run}z",
                    start + QUIET_ZONE,
                    y + QUIET_ZONE
                );
            } else {
                x += 1;
            }
        }
    }
    svg.push_str(r#""/></svg>"#);
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dark modules the path draws, as (x, y) in symbol coordinates (without the quiet zone).
    fn drawn(svg: &str) -> Vec<(usize, usize)> {
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let mut out = Vec::new();
        for cmd in d.split('M').filter(|s| !s.is_empty()) {
            let (xy, rest) = cmd.split_once('h').unwrap();
            let (x, y) = xy.split_once(' ').unwrap();
            let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
            let run: usize = rest.split_once('v').unwrap().0.parse().unwrap();
            for i in 0..run {
                out.push((x + i - QUIET_ZONE, y - QUIET_ZONE));
            }
        }
        out
    }

    #[test]
    fn a_wechat_code_url_renders_as_svg() {
        let content = "weixin://wxpay/bizpayurl?pr=Xq0n3kZzz";
        let svg = qr_svg(content).unwrap();
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
        assert_eq!(
            svg.matches("<path ").count(),
            1,
            "one path for the dark modules"
        );
        assert!(svg.contains(r#"xmlns="http://www.w3.org/2000/svg""#));
        assert!(!svg.contains("href") && !svg.contains("style") && !svg.contains("<script"));
        // Balanced: every element that opens closes (the rect and path are self-closing).
        assert_eq!(svg.matches("<svg").count(), 1);
        assert_eq!(svg.matches("</svg>").count(), 1);
        assert_eq!(svg.matches("/>").count(), 2);

        // The viewBox is the symbol plus a 4-module quiet zone on each side.
        let code = QrCode::with_error_correction_level(content.as_bytes(), EcLevel::M).unwrap();
        let size = code.width() + 8;
        assert!(
            svg.contains(&format!(r#"viewBox="0 0 {size} {size}""#)),
            "{svg}"
        );

        // The path draws exactly the dark modules of the symbol.
        let mut want = Vec::new();
        for (i, c) in code.to_colors().iter().enumerate() {
            if *c == Color::Dark {
                want.push((i % code.width(), i / code.width()));
            }
        }
        let mut got = drawn(&svg);
        got.sort_by_key(|&(x, y)| (y, x));
        assert_eq!(got, want);
    }

    #[test]
    fn an_alipay_url_and_odd_content_render() {
        for content in [
            "https://qr.alipay.com/bax03431ljhokirwl38f00a7",
            "",
            "支付 ✓ \u{0} \n",
            &"A".repeat(2000),
        ] {
            let svg = qr_svg(content).unwrap();
            assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
            assert!(svg.contains("<path "));
        }
    }

    #[test]
    fn too_long_is_an_error_not_a_panic() {
        let long = "x".repeat(2954);
        assert_eq!(qr_svg(&long), Err(QrError::TooLong { len: 2954 }));
        assert!(qr_svg(&"9".repeat(100_000)).is_err());
        // Level M holds at most 2331 bytes.
        assert!(qr_svg(&"\u{fe}".repeat(1200)).is_err());
    }
}
