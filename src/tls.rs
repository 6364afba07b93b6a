//! What a PEM certificate says about itself: validity window and the names it covers.

use x509_parser::extensions::GeneralName;
use x509_parser::pem::parse_x509_pem;

#[derive(Debug, Clone)]
pub struct CertInfo {
    pub subject: String,
    /// Subject alternative DNS names and IP addresses, then the common name.
    pub names: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
}

impl CertInfo {
    /// Whether `host` is covered, with `*.example.com` matching one label as browsers do.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        self.names.iter().any(|n| {
            let n = n.to_ascii_lowercase();
            match n.strip_prefix("*.") {
                Some(rest) => host
                    .split_once('.')
                    .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
                None => n == host,
            }
        })
    }
}

/// The first certificate of a PEM file (the server's own, before any chain).
pub fn inspect(pem_text: &str) -> Result<CertInfo, String> {
    let (_, pem) =
        parse_x509_pem(pem_text.as_bytes()).map_err(|e| format!("not a PEM certificate ({e})"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate ({e})"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => names.push(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        names.push(std::net::Ipv6Addr::from(a).to_string())
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            names.push(s.to_string());
        }
    }
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(names: &[&str]) -> CertInfo {
        CertInfo {
            subject: String::new(),
            names: names.iter().map(|s| s.to_string()).collect(),
            not_before: 0,
            not_after: 0,
        }
    }

    #[test]
    fn wildcards_cover_one_label_only() {
        let c = info(&["*.example.com", "10.2.0.1"]);
        assert!(c.matches("pf.example.com"));
        assert!(c.matches("PF.Example.com."));
        assert!(!c.matches("a.pf.example.com"));
        assert!(!c.matches("example.com"));
        assert!(c.matches("10.2.0.1"));
    }

    #[test]
    fn garbage_is_named_as_not_a_certificate() {
        assert!(inspect("hello")
            .unwrap_err()
            .contains("not a PEM certificate"));
    }
}
