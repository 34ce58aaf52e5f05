//! A test PKI made with rcgen: a CA that signs server and client leaves, and a rustls server
//! configuration for test peers.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// A certificate authority that signs leaves.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: String,
}

/// A leaf certificate and its key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("generate a CA key");
        let cert_pem = params.self_signed(&key).expect("self-sign").pem();
        Ca {
            issuer: Issuer::new(params, key),
            cert_pem,
        }
    }

    pub fn leaf(&self, name: &str, alt_names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let alt_names: Vec<String> = alt_names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(alt_names).expect("valid names");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("generate a leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign a leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        }
    }

    /// A server certificate for localhost and 127.0.0.1.
    pub fn server(&self, name: &str) -> Leaf {
        let names = ["localhost", "127.0.0.1"];
        self.leaf(name, &names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    pub fn client(&self, name: &str) -> Leaf {
        self.leaf(name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A server configuration with a certificate `ca` signed (for localhost and 127.0.0.1);
/// with `client_ca`, clients must present a certificate it signed.
pub fn server_tls(ca: &Ca, client_ca: Option<&Ca>) -> Arc<ServerConfig> {
    let leaf = ca.server("test server");
    let chain = vec![CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).expect("PEM")];
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key PEM");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(client_ca) => {
            let mut roots = RootCertStore::empty();
            let ca_der = CertificateDer::from_pem_slice(client_ca.cert_pem.as_bytes());
            roots.add(ca_der.expect("CA PEM")).expect("CA usable");
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    Arc::new(
        builder
            .with_single_cert(chain, key)
            .expect("server identity"),
    )
}
