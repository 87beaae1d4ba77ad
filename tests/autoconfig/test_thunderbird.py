"""Real Thunderbird (Debian's package, headless, a fresh profile) sets up an account from
the autoconfig alone and reads and sends mail (issue 19).

Thunderbird is driven over Marionette (``marionette-driver``) with privileged JS in its
chrome context, calling its own account-setup code, the code the account hub runs:
``FindConfig.parallelAutoDiscovery`` (which fetches
``https://autoconfig.<domain>/mail/config-v1.1.xml`` and
``https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml``), then
``AccountConfig.replaceVariables``, ``ConfigVerifier.verifyConfig`` (a real IMAP login)
and ``CreateInBackend.createAccountInBackend``; then the IMAP folder's
``updateFolderWithListener`` and ``MsgHdrToMimeMessage`` read a message, and
``nsIMsgCompose.sendMsg`` sends one over SMTP submission. Only the e-mail address and password are
given; host, ports, TLS and user name come from our document.

The test domain ``congthu.test`` and its names resolve to 127.0.0.1 through the profile's
``network.dns.localDomains``; port 443 is mapped to our HTTPS listener with
``network.socket.forcePort``. Our certificate is issued by a CA made for the test, which
is imported into the fresh profile's NSS database (``cert9.db``) with ``certutil`` from
libnss3-tools: Thunderbird verifies TLS for the autoconfig fetch, IMAP and SMTP as it
would for any server (no exception, no pref turning verification off).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.message
import email.policy
import imaplib
import ipaddress
import os
import signal
import smtplib
import ssl
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from congthu.config import load
from tests.conftest import ServerThread, free_port, loopback_ports, make_data_dir, need

# marionette-driver's dependencies (mozinfo, mozrunner) use deprecated standard library calls.
pytestmark = [pytest.mark.filterwarnings("ignore:.*linux_distribution.*:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:'telnetlib' is deprecated:DeprecationWarning")]

DOMAIN = "congthu.test"
HOST = f"mail.{DOMAIN}"
PASSWORD = "Mk@12345678"
SUBJECT_IN = "Báo cáo tình hình thực hiện nhiệm vụ quý IV"
BODY_IN = "Kính gửi đồng chí, đề nghị xem xét và cho ý kiến trước ngày 15."
SUBJECT_OUT = "Trả lời: Đã nhận công văn số 123/UBND"
BODY_OUT = "Đã nhận, xin cảm ơn đồng chí."


@dataclass
class IssuedCA:
    cert_pem: bytes


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Công Thư test")])


def issue_certificate(cert_path: Path, key_path: Path, names: list[str]) -> IssuedCA:
    """A CA and a server certificate it signs for ``names`` (NSS refuses a CA certificate
    used as the server's own, so the self-signed development certificate will not do)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(_name("Công Thư test CA")).issuer_name(_name("Công Thư test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return IssuedCA(ca_cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, IssuedCA]]:
    """A server for ``congthu.test`` whose clients are told the ports it really listens
    on, with a certificate from a test CA for the names Thunderbird connects to."""
    ports = loopback_ports()
    clients = {name: ports[name] for name in ("imaps", "imap", "pop3s", "pop3", "submissions", "submission")}
    root = tmp_path_factory.mktemp("thunderbird")
    data = asyncio.run(make_data_dir(
        root / "data", listen=ports, clients={"host": HOST, **clients},
        system={"domain": DOMAIN, "hostname": HOST}))
    tls = load(data).tls
    ca = issue_certificate(data / tls.cert, data / tls.key, [HOST, f"autoconfig.{DOMAIN}", DOMAIN])
    running = ServerThread(data).start()
    try:
        yield running, ca
    finally:
        running.stop()


def deliver(server: ServerThread, to: str, subject: str, body: str) -> None:
    message = email.message.EmailMessage()
    message["From"] = "Văn phòng <van.phong@ubnd.example>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as client:
        client.send_message(message)


# The fresh profile's prefs: our test names resolve to loopback and 443 goes to our HTTPS
# listener; Mozilla's ISP database is not asked (an empty URL), so only our server can
# answer; no start page, update, telemetry or default-client prompt.
PREFS = """\
user_pref("marionette.port", {marionette});
user_pref("network.dns.localDomains", "{local_names}");
user_pref("network.socket.forcePort", "443={https}");
user_pref("network.dns.disableIPv6", true);
user_pref("network.proxy.type", 0);
user_pref("mailnews.auto_config_url", "");
user_pref("mailnews.auto_config.guess.enabled", false);
user_pref("mail.provider.suppress_dialog_on_startup", true);
user_pref("mail.shell.checkDefaultClient", false);
user_pref("mailnews.start_page.enabled", false);
user_pref("app.update.disabledForTesting", true);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("mail.server.default.check_new_mail", false);
user_pref("mail.startup.enabledMailCheckOnce", true);
"""


@dataclass
class Thunderbird:
    process: subprocess.Popen[bytes]
    client: Any
    profile: Path

    def run(self, script: str, *args: Any, timeout: float = 30) -> Any:
        """Run privileged JS (chrome context); ``resolve`` is the last argument."""
        return self.client.execute_async_script(
            "const resolve = arguments[arguments.length - 1];\n"
            "(async () => {\n" + script + "\n})().then(resolve, e => resolve({error: String(e) + '\\n' + e.stack}));",
            script_args=list(args), script_timeout=int(timeout * 1000))


@contextlib.contextmanager
def running_thunderbird(server: ServerThread, ca: IssuedCA, home: Path, local_names: list[str]) -> Iterator[Thunderbird]:
    """Thunderbird headless on a fresh profile where ``local_names`` resolve to
    127.0.0.1 and the test CA is trusted; killed (its process group) on the way out."""
    binary = need("thunderbird", "thunderbird")
    certutil = need("certutil", "libnss3-tools")
    from marionette_driver.marionette import Marionette

    profile = home / "profile"
    profile.mkdir()
    marionette_port = free_port()
    (profile / "user.js").write_text(PREFS.format(
        marionette=marionette_port, local_names=",".join(local_names), https=server.port("https")))
    # The fresh profile's own NSS database, with the test CA trusted for TLS servers.
    (home / "ca.pem").write_bytes(ca.cert_pem)
    subprocess.run([certutil, "-N", "-d", f"sql:{profile}", "--empty-password"], check=True, timeout=30)
    subprocess.run([certutil, "-A", "-d", f"sql:{profile}", "-n", "congthu-test-ca", "-t", "C,,",
                    "-i", str(home / "ca.pem")], check=True, timeout=30)
    env = {**os.environ, "HOME": str(home), "MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1",
           "TMPDIR": str(home)}
    log_path = home / "thunderbird.log"
    with log_path.open("wb") as log:
        # -remote-allow-system-access: Marionette's chrome context (Thunderbird's own modules).
        process = subprocess.Popen(
            [binary, "--headless", "--marionette", "-remote-allow-system-access", "-no-remote",
             "--profile", str(profile)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        client = None
        try:
            client = Marionette(host="127.0.0.1", port=marionette_port, startup_timeout=40, socket_timeout=60)
            client.start_session()
            client.set_context(client.CONTEXT_CHROME)
            yield Thunderbird(process, client, profile)
        finally:
            if client is not None:
                with contextlib.suppress(Exception):  # Thunderbird already gone: nothing to close
                    client.delete_session()
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
    # Shown by pytest only when the test fails.
    print(log_path.read_text(errors="replace")[-4000:])


SET_UP = """
const [email, password] = arguments;
const { FindConfig } = ChromeUtils.importESModule("resource:///modules/accountcreation/FindConfig.sys.mjs");
const { AccountConfig } = ChromeUtils.importESModule("resource:///modules/accountcreation/AccountConfig.sys.mjs");
const { ConfigVerifier } = ChromeUtils.importESModule("resource:///modules/accountcreation/ConfigVerifier.sys.mjs");
const { CreateInBackend } = ChromeUtils.importESModule("resource:///modules/accountcreation/CreateInBackend.sys.mjs");
const domain = email.split("@")[1];
// Every HTTP answer Thunderbird gets during discovery: which of its URLs we answered.
const answered = [];
const observer = { observe(subject) {
  const channel = subject.QueryInterface(Ci.nsIHttpChannel);
  answered.push(`${channel.requestMethod} ${channel.URI.spec} ${channel.responseStatus}`);
} };
Services.obs.addObserver(observer, "http-on-examine-response");
const abort = new AbortController();
const timer = setTimeout(() => abort.abort(), 40000);
// What the account hub does with an address (views/email.mjs): discovery, variables,
// a verified login, then the account.
const { value: found } = await FindConfig.parallelAutoDiscovery(domain, email, abort.signal, password, undefined).next();
Services.obs.removeObserver(observer, "http-on-examine-response");
if (!found) return { error: "no configuration found; answers: " + answered.join(", ") };
const config = found;
AccountConfig.replaceVariables(config, "Nguyễn Văn A", email, password);
const tls = t => ({ [Ci.nsMsgSocketType.SSL]: "SSL", [Ci.nsMsgSocketType.alwaysSTARTTLS]: "STARTTLS",
                    [Ci.nsMsgSocketType.plain]: "plain" })[t] ?? String(t);
const seen = {
  answered,
  source: config.source, subSource: config.subSource,
  incoming: { type: config.incoming.type, hostname: config.incoming.hostname, port: config.incoming.port,
              socketType: tls(config.incoming.socketType), username: config.incoming.username },
  outgoing: { type: config.outgoing.type, hostname: config.outgoing.hostname, port: config.outgoing.port,
              socketType: tls(config.outgoing.socketType), username: config.outgoing.username },
};
const msgWindow = Cc["@mozilla.org/messenger/msgwindow;1"].createInstance(Ci.nsIMsgWindow);
const verified = await new ConfigVerifier(msgWindow, abort.signal).verifyConfig(config, false);
const account = await CreateInBackend.createAccountInBackend(verified);
clearTimeout(timer);
seen.accountKey = account.key;
return seen;
"""

READ_INBOX = """
const [email, subject] = arguments;
const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
const { MsgHdrToMimeMessage } = ChromeUtils.importESModule("resource:///modules/gloda/MimeMessage.sys.mjs");
const server = MailServices.accounts.findServer(email, "mail." + email.split("@")[1], "imap");
const inbox = server.rootFolder.getFolderWithFlags(Ci.nsMsgFolderFlags.Inbox);
const deadline = Date.now() + 30000;
let header = null;
while (!header && Date.now() < deadline) {
  await new Promise(done => inbox.QueryInterface(Ci.nsIMsgImapMailFolder).updateFolderWithListener(null, {
    OnStartRunningUrl() {}, OnStopRunningUrl(url, status) { done(status); } }));
  for (const h of inbox.msgDatabase.enumerateMessages()) {
    if (h.mime2DecodedSubject == subject) header = h;
  }
  if (!header) await new Promise(r => setTimeout(r, 500));
}
if (!header) return { error: "message not in the inbox: " +
  [...inbox.msgDatabase.enumerateMessages()].map(h => h.mime2DecodedSubject).join(" | ") };
const body = await new Promise(done => MsgHdrToMimeMessage(header, null, (hdr, mime) => {
  done(mime ? mime.coerceBodyToPlaintext() : null);
}, true, {}));
return { subject: header.mime2DecodedSubject, author: header.mime2DecodedAuthor, body };
"""

SEND = """
const [email, to, subject, body] = arguments;
const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
const account = MailServices.accounts.accounts.find(a => a.defaultIdentity && a.defaultIdentity.email == email);
const identity = account.defaultIdentity;
identity.doFcc = false;
const fields = Cc["@mozilla.org/messengercompose/composefields;1"].createInstance(Ci.nsIMsgCompFields);
fields.from = MailServices.headerParser.makeMimeAddress(identity.fullName, email);
fields.to = to;
fields.subject = subject;
fields.body = body + "\\r\\n";
fields.forcePlainText = true;
const params = Cc["@mozilla.org/messengercompose/composeparams;1"].createInstance(Ci.nsIMsgComposeParams);
params.composeFields = fields;
params.identity = identity;
params.type = Ci.nsIMsgCompType.New;
params.format = Ci.nsIMsgCompFormat.PlainText;
const compose = MailServices.compose.initCompose(params);
return await new Promise(done => {
  const timer = setTimeout(() => done({ error: "send timed out" }), 30000);
  compose.addMsgSendListener({
    onStartSending() {}, onProgress() {}, onStatus() {}, onGetDraftFolderURI() {},
    onSendNotPerformed(id, status) { clearTimeout(timer); done({ error: "not sent " + status }); },
    onTransportSecurityError(id, status, info, location) { clearTimeout(timer); done({ error: "TLS " + location }); },
    onStopSending(id, status, msg, file) { clearTimeout(timer); done({ status, id }); },
    onStopCopy() {},
  });
  compose.sendMsg(Ci.nsIMsgSend.nsMsgDeliverNow, identity, account.key, null, null);
});
"""


def wait_for_message(server: ServerThread, ca: IssuedCA, address: str, subject: str,
                     timeout: float = 20) -> bytes:
    """The message with ``subject`` in ``address``'s INBOX, read with imaplib over TLS
    (the certificate checked against the test CA, by its 127.0.0.1 name)."""
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    deadline = time.monotonic() + timeout
    while True:
        with imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"), ssl_context=context, timeout=20) as client:
            client.login(address, PASSWORD)
            client.select("INBOX")
            _status, data = client.uid("SEARCH", "ALL")
            for uid in data[0].split():
                _status, fetched = client.uid("FETCH", uid, "(RFC822)")
                raw = fetched[0][1]
                parsed = email.message_from_bytes(raw, policy=email.policy.default)
                if parsed["Subject"] == subject:
                    return raw
        if time.monotonic() > deadline:
            pytest.fail(f"{subject!r} did not arrive in {address}")
        time.sleep(0.5)


AUTOCONFIG_HOST_URL = f"https://autoconfig.{DOMAIN}/mail/config-v1.1.xml"
WELL_KNOWN_URL = f"https://{DOMAIN}/.well-known/autoconfig/mail/config-v1.1.xml"


@pytest.mark.parametrize(("local_names", "user", "peer", "url"), [
    # autoconfig.<domain> resolves: Thunderbird's first URL answers.
    ([DOMAIN, f"autoconfig.{DOMAIN}", HOST], f"nguyen.van.a@{DOMAIN}", f"tran.thi.b@{DOMAIN}",
     AUTOCONFIG_HOST_URL),
    # Only the domain and the mail host resolve: the .well-known URL on the domain answers.
    ([DOMAIN, HOST], f"le.van.c@{DOMAIN}", f"pham.thi.d@{DOMAIN}", WELL_KNOWN_URL),
], ids=["autoconfig-host", "well-known"])
def test_thunderbird_sets_up_from_autoconfig_reads_and_sends(
        tls_server: tuple[ServerThread, IssuedCA], tmp_path: Path,
        local_names: list[str], user: str, peer: str, url: str) -> None:
    server, ca = tls_server
    server.add_user(user, PASSWORD, "Nguyễn Văn A")
    server.add_user(peer, PASSWORD, "Trần Thị B")
    deliver(server, user, SUBJECT_IN, BODY_IN)

    with running_thunderbird(server, ca, tmp_path, local_names) as thunderbird:
        seen = thunderbird.run(SET_UP, user, PASSWORD, timeout=60)
        assert "error" not in seen, seen["error"]
        # Found by the ISP fetch over HTTPS (our document), not guessed, not from Mozilla's DB.
        assert seen["source"] == "xml" and seen["subSource"] == "xml-from-isp-https", seen
        asked = f"GET {url}?emailaddress={urllib.parse.quote(user)} 200"
        assert asked in seen["answered"], seen["answered"]
        if url == WELL_KNOWN_URL:
            assert not any(AUTOCONFIG_HOST_URL in answer for answer in seen["answered"]), seen["answered"]
        assert seen["incoming"] == {"type": "imap", "hostname": HOST, "port": server.port("imaps"),
                                    "socketType": "SSL", "username": user}, seen
        assert seen["outgoing"] == {"type": "smtp", "hostname": HOST, "port": server.port("submissions"),
                                    "socketType": "SSL", "username": user}, seen

        read = thunderbird.run(READ_INBOX, user, SUBJECT_IN, timeout=45)
        assert "error" not in read, read["error"]
        assert read["subject"] == SUBJECT_IN
        assert "van.phong@ubnd.example" in read["author"]
        assert BODY_IN in read["body"]

        sent = thunderbird.run(SEND, user, f"Trần Thị B <{peer}>", SUBJECT_OUT, BODY_OUT, timeout=45)
        assert "error" not in sent, sent["error"]
        assert sent["status"] == 0, sent

    raw = wait_for_message(server, ca, peer, SUBJECT_OUT)
    arrived = email.message_from_bytes(raw, policy=email.policy.default)
    assert arrived["From"].addresses[0].addr_spec == user
    assert BODY_OUT in arrived.get_content().replace("\r\n", "\n")
    assert "thunderbird" in (arrived["User-Agent"] or "").lower()
