"""HTTPS for the API: the certificate (with its chain) and the key from
files, TLS 1.2 or newer only. A file that cannot be used stops start-up
with a one-line ConfigError that names it."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from OpenSSL import SSL
from twisted.internet import ssl

from linkdesk.bridge.app.config import ConfigError

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def tls_options(cert_path: str, key_path: str) -> ssl.CertificateOptions:
    """Server options for the key pair in these files; ConfigError naming the
    file when one is unreadable, not PEM, or the key is not the certificate's."""
    certs = [_certificate(block, cert_path) for block in _PEM_CERT.findall(_read(cert_path, "tls_cert"))]
    if not certs:
        raise ConfigError(f"http.tls_cert: {cert_path} holds no PEM certificate")
    key = _key(_read(key_path, "tls_key"), key_path)
    options = ssl.CertificateOptions(privateKey=key, certificate=certs[0], extraCertChain=certs[1:],
                                     raiseMinimumTo=ssl.TLSVersion.TLSv1_2)
    try:
        options.getContext().check_privatekey()
    except SSL.Error:
        raise ConfigError(f"http.tls_key: {key_path} is not the key of the certificate in {cert_path}") from None
    return options


def _read(path: str, setting: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"http.{setting}: cannot read {path} ({exc.strerror})") from None


def _certificate(pem: bytes, path: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ConfigError(f"http.tls_cert: {path} holds a certificate that cannot be read") from None


def _key(pem: bytes, path: str):
    try:
        return load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"http.tls_key: {path} holds no readable PEM private key") from None


def http_tls(http) -> ssl.CertificateOptions | None:
    """The API's TLS options when http.tls_cert is set (ConfigError if its files
    cannot be used), None for plain HTTP: read before anything starts."""
    return tls_options(http.tls_cert, http.tls_key) if http.tls_cert else None


def listen_http(reactor, http, site, tls: ssl.CertificateOptions | None):
    """The API's listening port: HTTPS with `tls`, else plain HTTP."""
    if tls is not None:
        return reactor.listenSSL(http.port, site, tls, interface=http.host)
    return reactor.listenTCP(http.port, site, interface=http.host)
