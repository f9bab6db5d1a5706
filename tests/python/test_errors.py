"""Each exception class reachable in standalone mode, raised for real, with rcm's message.

Destructive cases (SIGSTOP, SIGKILL) use private servers (RCM_PY_PRIVATE_PORTS).
"""

from __future__ import annotations

import builtins
import signal
import socket
import threading
import time

import pytest

import rcm

from conftest import PASSWORD, PASSWORD_PORT, TLS_DIR, TLS_PORT, URL, unused_port


def test_response_error_carries_the_servers_message(r, key):
    with pytest.raises(rcm.ResponseError) as e:
        r.execute_command("NOSUCHCOMMAND", "x")
    # As redis-py: the "ERR " code is dropped from the text (WRONGTYPE keeps its own).
    assert str(e.value).startswith("unknown command")
    assert e.value.status == 0
    r.set(key(), "text")
    with pytest.raises(rcm.ResponseError, match="^WRONGTYPE"):
        r.lpush(key(), 1)
    with pytest.raises(rcm.ResponseError, match="not an integer"):
        r.incr(key())


def test_connection_refused():
    port = unused_port()
    with pytest.raises(rcm.ConnectionError) as e:
        rcm.Client(f"redis://127.0.0.1:{port}", connect_timeout_ms=500)
    assert isinstance(e.value, builtins.ConnectionError)
    assert f"127.0.0.1:{port}" in str(e.value)
    assert e.value.status_name == "RCM_ERR_CONNECTION"


def test_authentication():
    with pytest.raises(rcm.AuthenticationError, match="NOAUTH"):
        rcm.Client(f"redis://127.0.0.1:{PASSWORD_PORT}")
    with pytest.raises(rcm.AuthenticationError, match="WRONGPASS") as e:
        rcm.Client(f"redis://:wrong@127.0.0.1:{PASSWORD_PORT}")
    assert "wrong" not in str(e.value).replace("WRONGPASS", "")  # never the password
    with rcm.Client(f"redis://127.0.0.1:{PASSWORD_PORT}", password=PASSWORD) as c:
        assert c.ping() is True
    with rcm.Client(f"redis://:{PASSWORD}@127.0.0.1:{PASSWORD_PORT}/3") as c:
        assert c.ping() is True


@pytest.mark.skipif(not (TLS_DIR / "ca.crt").exists(), reason="no harness TLS certificates")
def test_tls():
    with rcm.Client(f"rediss://127.0.0.1:{TLS_PORT}", tls_ca=str(TLS_DIR / "ca.crt")) as c:
        assert c.ping() is True
    with rcm.Client(host="127.0.0.1", port=TLS_PORT, ssl=True, ssl_ca_certs=str(TLS_DIR / "ca.crt"),
                    tls_cert=str(TLS_DIR / "client.crt"), tls_key=str(TLS_DIR / "client.key")) as c:
        assert c.ping() is True
    with pytest.raises(rcm.TLSError, match="certificate") as e:
        rcm.Client(f"rediss://127.0.0.1:{TLS_PORT}", tls_ca=str(TLS_DIR / "other-ca.crt"))
    assert isinstance(e.value, rcm.ConnectionError)


@pytest.mark.parametrize(
    "url, kwargs, words",
    [
        ("redis://127.0.0.1:notaport", {}, "notaport"),
        ("nosuch://127.0.0.1:1", {}, "nosuch"),
        (URL, {"no_such_key": 1}, "no_such_key"),
        (URL, {"pool_size": "x"}, "pool.size"),
        (URL, {"retry_unsafe": "maybe"}, "retry.unsafe"),
        (URL, {"read_from": "anywhere"}, "read_from"),
        (URL, {"seeds": "127.0.0.1:x"}, "seeds"),
    ],
)
def test_config_errors_name_the_culprit(url, kwargs, words):
    with pytest.raises(rcm.ConfigError) as e:
        rcm.Client(url, **kwargs)
    assert words in str(e.value)
    assert isinstance(e.value, ValueError)


def test_command_timeout_on_a_stopped_server(private_server):
    s = private_server()
    with rcm.Client(s.url, command_timeout_ms=200) as c:
        assert c.ping() is True
        s.signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            with pytest.raises(rcm.TimeoutError) as e:
                c.get("k")
            assert 0.15 < time.monotonic() - t0 < 2
            assert isinstance(e.value, builtins.TimeoutError)
            assert "200 ms" in str(e.value)
        finally:
            s.signal(signal.SIGCONT)
        assert c.ping() is True  # and it recovers


def test_connect_timeout(private_server):
    s = private_server()
    s.signal(signal.SIGSTOP)  # the kernel still accepts; the handshake never answers
    try:
        t0 = time.monotonic()
        with pytest.raises(rcm.TimeoutError):
            rcm.Client(s.url, connect_timeout_ms=200, command_timeout_ms=200)
        assert time.monotonic() - t0 < 3
    finally:
        s.signal(signal.SIGCONT)


def test_uncertain_when_the_server_dies_after_the_write(private_server):
    s = private_server()
    with rcm.Client(s.url, command_timeout_ms=5000, retry_unsafe=False) as c, rcm.Client(s.url) as blocker:
        lease = blocker.lease()
        sleeper = threading.Thread(target=lambda: _ignore(lambda: lease.execute_command("DEBUG", "SLEEP", 2)))
        sleeper.start()
        time.sleep(0.2)  # the server is asleep: our SET is written but not answered
        outcome = []
        writer = threading.Thread(target=lambda: outcome.append(_result(lambda: c.set("k", "v"))))
        writer.start()
        time.sleep(0.3)
        s.signal(signal.SIGKILL)
        writer.join(10)
        sleeper.join(10)
    assert len(outcome) == 1
    assert isinstance(outcome[0], rcm.UncertainError), outcome
    assert outcome[0].status_name == "RCM_ERR_UNCERTAIN"


def test_protocol_error_from_a_server_that_speaks_nonsense():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]

    def serve():
        try:
            conn, _ = srv.accept()
            conn.recv(4096)
            conn.sendall(b"@not RESP\r\n")
            time.sleep(0.5)
            conn.close()
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with pytest.raises(rcm.ProtocolError) as e:
            rcm.Client(f"redis://127.0.0.1:{port}", connect_timeout_ms=1000)
        assert isinstance(e.value, rcm.ConnectionError)
    finally:
        srv.close()


def test_pool_timeout():
    with rcm.Client(URL, pool_max_leases=1, pool_lease_timeout_ms=50) as c:
        held = c.lease()
        with pytest.raises(rcm.PoolTimeoutError):
            c.lease()
        held.release()


def test_backpressure_when_the_queue_is_full(private_server):
    s = private_server()
    with rcm.Client(s.url, pool_max_pending=2, pool_size=1, command_timeout_ms=1000) as c:
        c.ping()
        s.signal(signal.SIGSTOP)
        try:
            results = []
            threads = [threading.Thread(target=lambda: results.append(_result(lambda: c.get("k"))))
                       for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
        finally:
            s.signal(signal.SIGCONT)
    kinds = {type(x) for x in results}
    assert rcm.BackpressureError in kinds, results
    assert kinds <= {rcm.BackpressureError, rcm.TimeoutError}, results


def test_argument_errors(r, key):
    with pytest.raises(rcm.ArgumentError, match="lease"):
        r._native.execute("BLPOP", key(), 0)
    with pytest.raises(rcm.ArgumentError, match="argc"):
        r.execute_command()
    with pytest.raises(rcm.ArgumentError, match="empty"):
        r.execute_command("")


def test_state_errors(r):
    with pytest.raises(rcm.StateError, match="MULTI without EXEC"):
        r._native.pipeline([("MULTI",), ("SET", "a", "1")])
    lease = r.lease()
    lease.release()
    with pytest.raises(rcm.StateError, match="released"):
        lease.ping()


def test_exec_abort_and_watch(r, key):
    replies = r._native.pipeline([("MULTI",), ("SET", key()), ("EXEC",)])
    assert isinstance(replies[1], rcm.ResponseError)
    assert isinstance(replies[2], rcm.ExecAbortError)
    k = key("w")
    with r.pipeline() as p:
        p.watch(k)
        r.set(k, 1)
        p.multi()
        p.get(k)
        with pytest.raises(rcm.WatchError):
            p.execute()


def test_closed_error(r):
    c = rcm.Client(URL)
    c.close()
    with pytest.raises(rcm.ClosedError, match="closed"):
        c.ping()
    assert c.closed


def test_errors_inside_pipelines_keep_their_class(private_server):
    s = private_server()
    with rcm.Client(s.url, command_timeout_ms=200) as c:
        s.signal(signal.SIGSTOP)
        try:
            out = c.pipeline().set("a", 1).get("a").execute(raise_on_error=False)
        finally:
            s.signal(signal.SIGCONT)
    assert all(isinstance(x, rcm.TimeoutError) for x in out), out
    assert out[0].status_name == "RCM_ERR_TIMEOUT"


def _result(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the test inspects it
        return e


def _ignore(fn):
    try:
        fn()
    except Exception:  # noqa: BLE001
        pass


# Item 7: a marker password with every character that splits a URL; no exception text or
# repr may quote a piece of it.
MARKER = "Qz7/Kx9?Wv4#Jm2:Hy6@Tb5&Rn8"
MARKER_PIECES = ("Qz7", "Kx9", "Wv4", "Jm2", "Hy6", "Tb5", "Rn8")


def _leaks(exc: BaseException) -> list:
    text = str(exc) + " " + repr(exc)
    return [p for p in MARKER_PIECES if p in text]


@pytest.mark.parametrize(
    "url",
    [
        f"user:{MARKER}@127.0.0.1:6379",
        f"{MARKER}@127.0.0.1",
        f"redis://user:{MARKER}@127.0.0.1:badport",
        f"redis://user:{MARKER}@127.0.0.1:6379/notadb",
        f"redis://user:{MARKER}@127.0.0.1:6379?pool.size=x",
        f"redis://user:{MARKER}@bad host:1",
    ],
)
def test_url_errors_never_show_the_password(url):
    with pytest.raises(rcm.ConfigError) as e:
        rcm.Client(url)
    assert not _leaks(e.value), (str(e.value), repr(e.value))


@pytest.mark.parametrize(
    "args",
    [
        ("CONFIG", "SET", "no-such-parameter", MARKER),
        # port 1 refuses: IOERR, the key stays
        ("MIGRATE", "127.0.0.1", "1", "", "0", "100", "AUTH", MARKER, "KEYS", "{key}"),
        ("MIGRATE", "127.0.0.1", "1", "", "0", "100", "AUTH2", "someone", MARKER, "KEYS", "{key}"),
    ],
)
def test_pipeline_errors_never_show_a_password(r, key, args):
    """A failed command of a pipeline is named in the exception (redis-py's "Command # N
    (...) of pipeline caused error"), without the arguments that may be a password."""
    k = key()
    r.set(k, "v")
    args = tuple(k if a == "{key}" else a for a in args)
    p = r.pipeline()
    p.execute_command(*args)
    with pytest.raises(rcm.RcmError) as e:
        p.execute()
    assert "of pipeline caused error" in str(e.value)
    assert args[0] in str(e.value)
    assert not _leaks(e.value), (str(e.value), repr(e.value))
    out = r.pipeline().execute_command(*args).execute(raise_on_error=False)
    assert isinstance(out[0], rcm.RcmError)
    assert not _leaks(out[0]), (str(out[0]), repr(out[0]))


def test_pipeline_errors_still_show_ordinary_arguments(r, key):
    key = key()
    r.set(key, "text")
    with pytest.raises(rcm.ResponseError) as e:
        r.pipeline().incr(key).execute()
    assert f"INCRBY {key} 1" in str(e.value)


# Item 8: redis-py's ssl_check_hostname=False leaves out the name check only (it turned
# off all verification); ssl_cert_reqs says whether the chain is verified.
def test_ssl_keywords_map_to_tls_keys():
    import ssl

    from rcm._config import config_items

    assert config_items({"ssl_check_hostname": False}) == [("tls.verify_hostname", "false")]
    assert config_items({"ssl_check_hostname": True}) == [("tls.verify_hostname", "true")]
    for value, want in [("none", "false"), ("optional", "true"), ("required", "true"), ("REQUIRED", "true"),
                        (ssl.CERT_NONE, "false"), (ssl.CERT_OPTIONAL, "true"), (ssl.CERT_REQUIRED, "true")]:
        assert config_items({"ssl_cert_reqs": value}) == [("tls.verify", want)], value
    for bad in ("sometimes", 7, True):
        with pytest.raises(rcm.ConfigError, match="ssl_cert_reqs"):
            config_items({"ssl_cert_reqs": bad})


@pytest.mark.skipif(not (TLS_DIR / "ca.crt").exists(), reason="no harness TLS certificates")
def test_ssl_check_hostname_false_still_verifies_the_chain():
    url = f"rediss://127.0.0.1:{TLS_PORT}"
    ca, other = str(TLS_DIR / "ca.crt"), str(TLS_DIR / "other-ca.crt")
    wrong_name = {"tls_server_name": "not-this-server.example", "connect_timeout_ms": 3000}
    with pytest.raises(rcm.TLSError):
        rcm.Client(url, ssl_ca_certs=ca, **wrong_name)
    with rcm.Client(url, ssl_ca_certs=ca, ssl_check_hostname=False, **wrong_name) as c:
        assert c.ping() is True
    with pytest.raises(rcm.TLSError, match="certificate"):
        rcm.Client(url, ssl_ca_certs=other, ssl_check_hostname=False, **wrong_name)
    with pytest.raises(rcm.TLSError, match="certificate"):
        rcm.Client(url, ssl_ca_certs=other, ssl_cert_reqs="required", ssl_check_hostname=False)
    with rcm.Client(url, ssl_ca_certs=other, ssl_cert_reqs="none", **wrong_name) as c:
        assert c.ping() is True
