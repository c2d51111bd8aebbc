"""What the local HTTPS replay servers share (``asf_server.ReplayServer`` for ASF,
``fetch_server.FetchServer`` for USGS and the tile buckets).

- ``HttpsReplayServer``: a threaded HTTPS server on 127.0.0.1 (any free port) with a
  throw-away self-signed certificate (``self_signed_cert``; the tests trust it
  through REQUESTS_CA_BUNDLE), the files a test registers and every request it got.
- ``ReplayHandler``: the answers both give (JSON, registered files with ``Range`` and
  a connection dropped half-way); a subclass adds the service's own paths.
- ``login_fixtures``: the pytest fixtures of a server and its test login, and
  ``RecordingFeedback``, a feedback that keeps every message.
"""

import datetime
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

MASTER = "waterline-test-master"  # the throw-away auth databases' master password
PROFILE = Path(__file__).resolve().parents[1] / "build" / "qgis-profile"


def self_signed_cert(folder):
    """Write cert.pem/key.pem for 127.0.0.1 into ``folder``; return the paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.utcnow()
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = Path(folder)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(cert_path), str(key_path)


class HttpsReplayServer:
    """Subclasses set ``Handler`` (a ``ReplayHandler``), which reaches them as ``self.owner``."""

    Handler = None

    def __init__(self, folder, username, password):
        self.cert, key = self_signed_cert(folder)
        self.username, self.password = username, password
        self.files = {}  # path -> dict(content=bytes, drop_once=bool, auth=bool)
        self.requests = []  # (method, path, headers dict, body or form)
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def url(self, path):
        return f"https://{self.host}{path}"

    def add_file(self, path, content, drop_once=False, auth=False):
        """Serve ``content`` at ``path``; ``drop_once``: the first full answer breaks off
        half-way; ``auth``: only with a login (as the subclass checks it)."""
        self.files[path] = dict(content=content, drop_once=drop_once, auth=auth)
        return self.url(path)

    def recorded(self, path_prefix, method=None):
        with self.lock:
            return [r for r in self.requests if r[1].startswith(path_prefix)
                    and (method is None or r[0] == method)]


class ReplayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    timeout = 20

    @property
    def owner(self):
        """The HttpsReplayServer (``self.server`` is the http.server underneath)."""
        return self.server.owner

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, data, content_type="application/json"):
        self._send(status, json.dumps(data).encode(), {"Content-Type": content_type})

    def _record(self, body=None):
        with self.owner.lock:
            self.owner.requests.append((self.command, self.path, dict(self.headers), body))

    def _file(self, spec, content_type=None):
        content = spec["content"]
        total = len(content)
        start = 0
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= total:
                return self._send(416, headers={"Content-Range": f"bytes */{total}"})
        body = content[start:]
        if start:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(total - start))
        self.send_header("Accept-Ranges", "bytes")
        if content_type:
            self.send_header("Content-Type", content_type)
        self.end_headers()
        if self.command == "HEAD":
            return
        if spec["drop_once"] and not start:
            spec["drop_once"] = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.close()  # a dropped connection
            return
        self.wfile.write(body)


# ------------------------------------------------------------------ test fixtures

class RecordingFeedback:
    """A QgsProcessingFeedback that keeps every message it is given."""

    def __new__(cls):
        from qgis.core import QgsProcessingFeedback

        class Feedback(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.text = []

            def _keep(self, message, *args):
                self.text.append(str(message))

            pushInfo = pushDebugInfo = pushCommandInfo = pushConsoleInfo = _keep  # noqa: N815
            pushWarning = setProgressText = _keep  # noqa: N815

            def reportError(self, message, fatal=False):  # noqa: N802
                self.text.append(str(message))

        return Feedback()


AUTH_DB_SCRIPT = """
import sys
from qgis.core import QgsApplication, QgsAuthMethodConfig
app = QgsApplication([], False)
app.initQgis()
manager = QgsApplication.authManager()
assert manager.setMasterPassword(sys.argv[1], True), "master password"
for cfg_id, password in zip(sys.argv[4::2], sys.argv[5::2]):
    config = QgsAuthMethodConfig("Basic")
    config.setId(cfg_id)
    config.setName(sys.argv[3] + " " + cfg_id)
    config.setConfig("username", sys.argv[2])
    config.setConfig("password", password)
    assert manager.storeAuthenticationConfig(config)[0], cfg_id
app.exitQgis()
"""


def login_fixtures(server_class, user, password, wrong, cfgs, service, auth_folder):
    """(server, trusted, authcfg, headless_auth, no_secret) for one replay server.

    Fixtures: ``server`` (one per test module), ``trusted`` (requests, and so asf_search
    and pystac-client, trusts its certificate), ``authcfg`` (Basic configurations
    ``cfgs`` = (right id, wrong id) with ``password`` and ``wrong`` in this QGIS's auth
    database) and ``headless_auth`` (the same in an auth database under ``auth_folder``
    of the throw-away profile, with a master password file, for qgis_process).
    ``no_secret(*texts)`` asserts that neither password is in any text. Assign them to
    the same names: pytest names a fixture after the module attribute that holds it.
    """
    good_cfg, bad_cfg = cfgs
    logins = ((good_cfg, password), (bad_cfg, wrong))

    @pytest.fixture(scope="module")
    def server(tmp_path_factory):
        srv = server_class(tmp_path_factory.mktemp("replay"), user, password).start()
        yield srv
        srv.stop()

    @pytest.fixture
    def trusted(server, monkeypatch):
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.cert)
        return server

    @pytest.fixture(scope="module")
    def authcfg(qgis_app):
        from qgis.core import QgsApplication, QgsAuthMethodConfig

        manager = QgsApplication.authManager()
        if not manager.masterPasswordIsSet():  # another test may have unlocked it already
            assert manager.setMasterPassword(MASTER, True), (
                "the test auth database under .qgis-settings has another master password; "
                "delete .qgis-settings (pytest-qgis recreates it)")
        for cfg_id, secret in logins:
            manager.removeAuthenticationConfig(cfg_id)
            config = QgsAuthMethodConfig("Basic")
            config.setId(cfg_id)
            config.setName(f"{service} test {cfg_id}")
            config.setConfig("username", user)
            config.setConfig("password", secret)
            assert manager.storeAuthenticationConfig(config)[0]
        yield good_cfg
        for cfg_id, _ in logins:
            manager.removeAuthenticationConfig(cfg_id)

    @pytest.fixture(scope="module")
    def headless_auth(qgis_process_enabled):
        folder = PROFILE / auth_folder
        if folder.exists():
            for child in folder.iterdir():
                child.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, QGIS_AUTH_DB_DIR_PATH=str(folder))
        env.pop("QGIS_AUTH_PASSWORD_FILE", None)
        proc = subprocess.run(
            [sys.executable, "-c", AUTH_DB_SCRIPT, MASTER, user, service,
             *(item for login in logins for item in login)],
            env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        password_file = folder / "master-password"
        password_file.write_text(MASTER + "\n")
        password_file.chmod(0o600)
        return folder, password_file

    def no_secret(*texts):
        for text in texts:
            assert password not in str(text) and wrong not in str(text)

    return server, trusted, authcfg, headless_auth, no_secret
