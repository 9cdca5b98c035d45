"""PyInstaller runtime hook: find CA certificates on whatever Linux the one-file executable runs on.

The executable carries the build machine's OpenSSL, which looks for trusted roots where the build distribution
keeps them (Debian: /usr/lib/ssl/cert.pem). On another family (RHEL/Fedora: /etc/pki/tls, SUSE: /etc/ssl)
that path does not exist and every HTTPS webhook, Slack call and SMTP STARTTLS would fail certificate
verification. So, unless the operator set SSL_CERT_FILE/SSL_CERT_DIR, point OpenSSL at the first system bundle
that exists, and only as a last resort at certifi's bundle shipped inside the executable (the system one is
preferred because it carries local CAs and distribution updates).
"""

import os


def _configure() -> None:
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return
    import ssl

    default = ssl.get_default_verify_paths()
    if default.openssl_cafile and os.path.isfile(default.openssl_cafile):
        return
    for candidate in (
        "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Arch, Gentoo
        "/etc/pki/tls/certs/ca-bundle.crt",  # RHEL, Fedora, CentOS, Amazon Linux
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # RHEL 7+
        "/etc/ssl/ca-bundle.pem",  # openSUSE, SLES
        "/etc/ssl/cert.pem",  # Alpine, some BSD-derived layouts
    ):
        if os.path.isfile(candidate):
            os.environ["SSL_CERT_FILE"] = candidate
            return
    try:
        import certifi
    except ImportError:
        return
    os.environ["SSL_CERT_FILE"] = certifi.where()


_configure()
