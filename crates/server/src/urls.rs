//! URLs paydesk will call or redirect to. They are normalised by a real URL parser and
//! then compared by prefix, so `https://shop.example/` cannot be satisfied by
//! `https://shop.example.evil.net/` or `https://shop.example@evil.net/`.

/// Longest accepted URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Parses and normalises an absolute http(s) URL without credentials or fragment.
pub fn normalize(text: &str) -> Result<String, String> {
    if text.len() > MAX_URL_LEN {
        return Err(format!("URL is longer than {MAX_URL_LEN} bytes"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}` must use http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("`{text}` must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(format!("`{text}` must not have a fragment"));
    }
    Ok(url.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalises_and_refuses_tricks() {
        assert_eq!(
            normalize("HTTP://Shop.Example").unwrap(),
            "http://shop.example/"
        );
        assert!(normalize("ftp://x/").is_err());
        assert!(normalize("http://user:pw@x/").is_err());
        assert!(normalize("http://x/#frag").is_err());
        assert!(normalize("/relative").is_err());
        assert!(normalize("javascript:alert(1)").is_err());
        let allowed = normalize("https://shop.example").unwrap();
        for evil in [
            "https://shop.example.evil.net/x",
            "https://shop.example@evil.net/",
        ] {
            let n = normalize(evil).map(|u| u.starts_with(&allowed));
            assert_ne!(n, Ok(true), "{evil}");
        }
    }
}
