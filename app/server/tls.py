"""TLS for both ports, as etcd sets it up (pkg/transport's TLSInfo): the ONE place that
builds `ssl.SSLContext`s, for the listeners (`server_context`), for this member's own
calls to other members (`client_context`: the peer stream, lease forwarding), and the
self-signed certificates of --auto-tls / --peer-auto-tls (`self_cert`).

What etcd 3.4 does, and keyraft with it:
- a --trusted-ca-file alone already makes client certificates mandatory (Go's
  RequireAndVerifyClientCert when TrustedCAFile != "" or ClientCertAuth);
- --auto-tls replaces the whole TLS setting of its port by a self-signed certificate in
  <data-dir>/fixtures/{client,peer} (ECDSA P-521, O=etcd, SANs = the listen URLs' hosts,
  reused when already there); --client-cert-auth and --trusted-ca-file are then ignored,
  and a member calling a peer with it does not verify the peer's certificate
  (InsecureSkipVerify): auto TLS encrypts, it authenticates nobody;
- --cipher-suites take Go's names; they restrict TLS 1.2 only (neither Go nor Python's
  ssl lets TLS 1.3's suites be chosen).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from keyraft.app.server.config import ConfigError, ServerConfig

log = logging.getLogger("keyraft.tls")

# Go's cipher suite names (crypto/tls, as etcd's --cipher-suites takes them) -> OpenSSL's.
GO_CIPHER_SUITES: dict[str, str | None] = {
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "ECDHE-ECDSA-RC4-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "ECDHE-RSA-RC4-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    # TLS 1.3's suites: always on, as in Go.
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
}
TLS_VERSIONS = {"TLS1.2": ssl.TLSVersion.TLSv1_2, "TLS1.3": ssl.TLSVersion.TLSv1_3}


@dataclass(frozen=True, slots=True)
class TLSInfo:
    """One port's TLS settings (etcd's TLSInfo)."""

    cert_file: str = ""
    key_file: str = ""
    trusted_ca_file: str = ""
    client_cert_auth: bool = False
    self_signed: bool = False  # made by --auto-tls: peers' certificates go unverified
    cipher_suites: tuple[str, ...] = ()
    min_version: str = "TLS1.2"

    @property
    def empty(self) -> bool:
        return not self.cert_file and not self.key_file


def openssl_ciphers(names: tuple[str, ...]) -> str | None:
    """OpenSSL's cipher string for Go's suite names (None: OpenSSL's defaults); refuses
    a name etcd does not know, with etcd's message."""
    for name in names:
        if name not in GO_CIPHER_SUITES:
            raise ConfigError(f'--cipher-suites: unexpected TLS cipher suite "{name}"')
    chosen = [GO_CIPHER_SUITES[name] for name in names]
    return ":".join(dict.fromkeys(name for name in chosen if name)) or None


def check_tls_flags(config: ServerConfig) -> None:
    """Refuse what etcd refuses: unknown suites or versions, suites with TLS 1.3 only,
    suites this OpenSSL cannot offer."""
    if config.tls_min_version not in TLS_VERSIONS:
        raise ConfigError(
            f'--tls-min-version: unexpected TLS version "{config.tls_min_version}" '
            f"(must be one of: {', '.join(TLS_VERSIONS)})"
        )
    ciphers = openssl_ciphers(config.cipher_suites)
    if config.cipher_suites and config.tls_min_version == "TLS1.3":
        raise ConfigError("--cipher-suites: cannot be configured when only TLS1.3 is enabled")
    if ciphers is not None:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(ciphers)
        except ssl.SSLError:
            raise ConfigError(
                f"--cipher-suites: this OpenSSL ({ssl.OPENSSL_VERSION}) offers none of "
                f"{', '.join(config.cipher_suites)}"
            ) from None
    if config.self_signed_cert_validity < 1:
        raise ConfigError("--self-signed-cert-validity: must be at least 1 (year)")
    for port, urls, info, auto in (
        ("client", config.listen_client_urls, client_info(config), config.auto_tls),
        ("peer", config.listen_peer_urls, peer_info(config), config.peer_auto_tls),
    ):
        for url in urls:
            if urlsplit(url).scheme == "https" and info.empty and not auto:
                raise ConfigError(_missing_cert_message(port, url))


def _missing_cert_message(port: str, url: str) -> str:
    """etcd 3.4's words for an https URL without a certificate."""
    if port == "client":
        return (
            "TLS key/cert (--cert-file, --key-file) must be provided for client url "
            f"{url} with HTTPS scheme"
        )
    return (
        f"cannot listen on TLS for {urlsplit(url).netloc}: KeyFile and CertFile are not "
        "presented (--peer-cert-file, --peer-key-file, or --peer-auto-tls)"
    )


def client_info(config: ServerConfig) -> TLSInfo:
    """The client port's TLS settings as the flags give them."""
    return TLSInfo(
        config.cert_file,
        config.key_file,
        config.trusted_ca_file,
        config.client_cert_auth,
        cipher_suites=config.cipher_suites,
        min_version=config.tls_min_version,
    )


def peer_info(config: ServerConfig) -> TLSInfo:
    """The peer port's TLS settings as the flags give them."""
    return TLSInfo(
        config.peer_cert_file,
        config.peer_key_file,
        config.peer_trusted_ca_file,
        config.peer_client_cert_auth,
        cipher_suites=config.cipher_suites,
        min_version=config.tls_min_version,
    )


def member_tls(config: ServerConfig) -> tuple[TLSInfo, TLSInfo]:
    """The client and peer TLS settings this member runs with: with --auto-tls /
    --peer-auto-tls and no certificate given, a self-signed one from the data dir."""
    client, peer = client_info(config), peer_info(config)
    if config.auto_tls:
        client = _auto(client, "client", config.listen_client_urls, config)
    if config.peer_auto_tls:
        peer = _auto(peer, "peer", config.listen_peer_urls, config)
    return client, peer


def _auto(info: TLSInfo, port: str, urls: list[str], config: ServerConfig) -> TLSInfo:
    if not info.empty:
        log.warning("ignoring %s auto TLS since certs given", port)
        return info
    if info.client_cert_auth or info.trusted_ca_file:
        log.warning(
            "%s auto TLS: a self-signed certificate authenticates nobody; "
            "client certificate checks are off on this port (as in etcd)",
            port,
        )
    cert, key = self_cert(
        os.path.join(config.data_dir, "fixtures", port),
        [urlsplit(url).hostname or "" for url in urls],
        config.self_signed_cert_validity,
    )
    return replace(
        info, cert_file=cert, key_file=key, trusted_ca_file="", client_cert_auth=False,
        self_signed=True,
    )  # fmt: skip


def self_cert(directory: str, hosts: list[str], validity_years: int = 1) -> tuple[str, str]:
    """etcd's SelfCert: cert.pem and key.pem in `directory`, reused when both exist."""
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return cert_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(directory, mode=0o700, exist_ok=True)
    key = ec.generate_private_key(ec.SECP521R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "etcd")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365 * validity_years))
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
    certificate = builder.sign(key, hashes.SHA512())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key_pem)
    with open(cert_path, "wb") as out:
        out.write(certificate.public_bytes(serialization.Encoding.PEM))
    log.info("created self-signed certificate %s", cert_path)
    return cert_path, key_path


def _load(what: str, load: Callable[[], None]) -> None:
    """Load certificate files, a failure named as etcd names it (`open <file>: ...`)."""
    try:
        load()
    except ssl.SSLError as error:
        raise ConfigError(f"cannot load {what}: {error}") from None
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise ConfigError(f"open {error.filename or what}: {reason}") from None


def _chain(context: ssl.SSLContext, info: TLSInfo) -> None:
    for path in (info.cert_file, info.key_file):
        if path and not os.path.exists(path):
            raise ConfigError(f"open {path}: no such file or directory")
    _load(
        f"certificate {info.cert_file} with key {info.key_file}",
        lambda: context.load_cert_chain(info.cert_file, info.key_file or None),
    )


def _trust(context: ssl.SSLContext, ca_file: str) -> None:
    _load(f"CA {ca_file}", lambda: context.load_verify_locations(ca_file))


def _common(context: ssl.SSLContext, info: TLSInfo) -> ssl.SSLContext:
    context.minimum_version = TLS_VERSIONS[info.min_version]
    ciphers = openssl_ciphers(info.cipher_suites)
    if ciphers is not None:
        context.set_ciphers(ciphers)
    return context


def server_context(info: TLSInfo) -> ssl.SSLContext:
    """A listener's context: its certificate, and client certificates required when
    --client-cert-auth or a trusted CA is given (etcd's rule)."""
    context = _common(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), info)
    _chain(context, info)
    if info.trusted_ca_file or info.client_cert_auth:
        context.verify_mode = ssl.CERT_REQUIRED
        if info.trusted_ca_file:
            _trust(context, info.trusted_ca_file)
        else:
            context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    return context


def client_context(info: TLSInfo) -> ssl.SSLContext:
    """This member calling another one: its own certificate as the client certificate,
    the trusted CA (or the system's) to verify the other; none with a self-signed one."""
    context = _common(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), info)
    if not info.empty:
        _chain(context, info)
    if info.self_signed:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif info.trusted_ca_file:
        _trust(context, info.trusted_ca_file)
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    return context


def forwarding_context(client: TLSInfo, peer: TLSInfo) -> ssl.SSLContext | None:
    """A follower calling the leader's client URL (lease keepalives): this member's
    client certificate, the leader's verified against the client CA, else the peer CA
    (members' certificates usually share it); None: no TLS setting at all."""
    if client.empty and not peer.trusted_ca_file:
        return None
    return client_context(
        replace(client, trusted_ca_file=client.trusted_ca_file or peer.trusted_ca_file)
    )


def uses_https(urls: list[str]) -> bool:
    return any(urlsplit(url).scheme == "https" for url in urls)
