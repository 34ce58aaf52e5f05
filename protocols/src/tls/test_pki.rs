//! Certificates made in the test, so no key material lives in the repository and nothing
//! expires: CAs, and leaf certificates for servers and clients signed by them.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A certificate authority that can sign leaves.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub cert_pem: String,
}

/// A leaf certificate and its key.
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The certificate, DER, to compare with what a peer presented.
    pub cert_der: Vec<u8>,
}

impl Ca {
    /// A fresh CA whose subject CN is `name`.
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names to parse");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ring generates a P-256 key");
        let cert_pem = params.self_signed(&key).expect("self-signing a CA").pem();
        Ca {
            issuer: Issuer::new(params, key),
            cert_pem,
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1, with subject CN `name`.
    pub fn server(&self, name: &str) -> Leaf {
        self.leaf(
            Some(name),
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate with subject CN `name`.
    pub fn client(&self, name: &str) -> Leaf {
        self.leaf(Some(name), &[], ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// A leaf with the given subject CN (none: an empty subject) and alternative names.
    pub fn leaf(
        &self,
        common_name: Option<&str>,
        alt_names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> Leaf {
        let alt_names: Vec<String> = alt_names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(alt_names).expect("valid alternative names");
        params.distinguished_name = DistinguishedName::new();
        if let Some(name) = common_name {
            params.distinguished_name.push(DnType::CommonName, name);
        }
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("ring generates a P-256 key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("signing a leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        }
    }
}
