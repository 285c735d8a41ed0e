"""The plugin layer: hooks, entry-point loading, per-connection control, the header grammar."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from plugin_servers import echo, fixed, on_sys_path, serving, write_dist

import geventws
from geventws import InvalidHeader, NegotiationError, hookimpl
from geventws.frames import Frame
from geventws.headers import parse_extension_header, serialize_extension_header
from geventws.negotiation import negotiated_extensions
from geventws.plugins import HookRelay, get_plugin_manager, list_plugins

pytestmark = pytest.mark.timeout(60)

# A third-party plugin as a plugin author would write it: an extension with its
# own token that claims RSV2 (it XORs payloads with a key), and a subprotocol
# with a JSON codec and an opening exchange.
TEST_PLUGIN = textwrap.dedent('''
    import json
    from geventws import hookimpl, NegotiationError

    class XorExtension:
        name = "x-xor"
        def __init__(self, key):
            self.key = key
        def _xor(self, data):
            return bytes(b ^ self.key for b in data)
        def encode(self, frame):
            if frame.opcode >= 8:
                return frame
            return frame._replace(data=self._xor(frame.data), rsv2=True)
        def decode(self, frame, *, max_size=None):
            if not frame.rsv2:
                return frame
            return frame._replace(data=self._xor(frame.data), rsv2=False)

    @hookimpl
    def geventws_offer_extensions(ctx):
        return [("x-xor", [("key", str(ctx.options("xor").get("key", 42)))])]

    @hookimpl
    def geventws_accept_extension(name, params):
        if name != "x-xor":
            return None
        if len(params) != 1 or params[0][0] != "key" or not (params[0][1] or "").isdigit():
            raise NegotiationError(f"x-xor: bad parameters {params}")
        return XorExtension(int(params[0][1]))

    @hookimpl
    def geventws_offer_subprotocols(ctx):
        return ["x-json"] if "xor" in ctx.plugin_options else None

    class JsonCodec:
        def encode(self, message):
            return json.dumps(message)
        def decode(self, message):
            return json.loads(message)

    @hookimpl
    def geventws_message_codec(subprotocol):
        return JsonCodec() if subprotocol == "x-json" else None

    @hookimpl
    def geventws_connection_opened(ctx, connection):
        if connection.subprotocol == "x-json":
            connection.send({"hello": ctx.options("xor").get("key", 42)})
            ctx.data["xor"] = connection.recv(timeout=ctx.open_timeout)
''')


@pytest.fixture
def installed(tmp_path):
    """``geventws_xor`` installed the way pip would leave it: module + dist-info entry point."""
    (tmp_path / "geventws_xor.py").write_text(TEST_PLUGIN)
    write_dist(tmp_path, "geventws-xor", {"xor": "geventws_xor"})
    with on_sys_path(tmp_path):
        yield tmp_path
    sys.modules.pop("geventws_xor", None)


def xor_server(key: int = 42):
    """Accept x-xor with the key the client offered, using the plugin's own extension class."""
    import geventws_xor

    def respond(request):
        value = dict(request).get("sec-websocket-extensions", "")
        for name, params in parse_extension_header(value):
            if name == "x-xor":
                return [("Sec-WebSocket-Extensions", f"x-xor; key={params[0][1]}")], \
                    [geventws_xor.XorExtension(int(params[0][1]))]
        return [], []

    return respond


# -- the extension header grammar ---------------------------------------------


@pytest.mark.parametrize(("header", "parsed"), [
    ("", []),
    ("foo", [("foo", [])]),
    ("foo; a; b=1, bar", [("foo", [("a", None), ("b", "1")]), ("bar", [])]),
    ('foo ; a = "12" ;b', [("foo", [("a", "12"), ("b", None)])]),
    ('foo; a="x\\yz"', [("foo", [("a", "xyz")])]),
    (" , foo ,, bar , ", [("foo", []), ("bar", [])]),
    ("permessage-deflate; client_max_window_bits=10, permessage-deflate",
     [("permessage-deflate", [("client_max_window_bits", "10")]), ("permessage-deflate", [])]),
])
def test_parse_extension_header(header, parsed):
    assert [(n, p) for n, p in parse_extension_header(header)] == parsed


@pytest.mark.parametrize("header", [
    "foo bar", "foo;", "foo; =1", "foo; a=", 'foo; a="b c"', 'foo; a="open', "foo; a=1 2",
    "f(o)o", "foo; a=@",
])
def test_parse_extension_header_refuses(header):
    with pytest.raises(InvalidHeader):
        parse_extension_header(header)


def test_serialize_round_trips_and_refuses_non_tokens():
    value = serialize_extension_header([("a", [("x", None), ("y", "2")]), ("b", [])])
    assert value == "a; x; y=2, b"
    assert [(n, p) for n, p in parse_extension_header(value)] == \
        [("a", [("x", None), ("y", "2")]), ("b", [])]
    for bad in [("a b", []), ("a", [("x y", None)]), ("a", [("x", "1 2")])]:
        with pytest.raises(ValueError):
            serialize_extension_header([bad])


# -- a plugin found only through its entry point -------------------------------


def test_entry_point_plugin_is_offered_and_negotiated(installed):
    names = [name for name, _ in get_plugin_manager().list_name_plugin()]
    assert "xor" in names
    with serving(xor_server()) as server, \
            geventws.connect(server.url, compression=None) as ws:
        assert ws.extensions == "x-xor; key=42"
        [ext] = negotiated_extensions(ws)
        assert type(ext).__name__ == "XorExtension" and ext.key == 42
        ws.send("secret")
        assert ws.recv(timeout=5) == "secret"  # XORed on the wire, both ways
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=5) == b"\x00\x01"
    assert dict(server.requests[0])["sec-websocket-extensions"] == "x-xor; key=42"


def test_entry_point_plugin_works_beside_permessage_deflate(installed):
    from plugin_servers import deflate_entry_point_installed

    if not deflate_entry_point_installed():
        write_dist(installed, "geventws-checkout",
                   {"permessage-deflate": "geventws.extensions.permessage_deflate"})
        from geventws.plugins import reset_plugin_manager

        reset_plugin_manager()
    with serving(xor_server()) as server, geventws.connect(server.url) as ws:
        ws.send("x")
        assert ws.recv(timeout=5) == "x"
    offer = dict(server.requests[0])["sec-websocket-extensions"]
    assert sorted(o.name for o in parse_extension_header(offer)) == \
        ["permessage-deflate", "x-xor"]


def test_plugin_options_and_subprotocol_codec_and_opening_exchange(installed):
    with serving(xor_server(), subprotocol="x-json") as server:
        ws = geventws.connect(server.url, compression=None, plugin_options={"xor": {"key": 7}})
        with ws:
            assert ws.subprotocol == "x-json"
            assert ws.extensions == "x-xor; key=7"
            # The opening exchange ran before connect() returned: {"hello": 7} was echoed.
            assert ws.codec is not None
            ws.send([1, {"two": 2}])  # a list is a JSON array here, not fragments
            assert ws.recv(timeout=5) == [1, {"two": 2}]
    request = dict(server.requests[0])
    assert request["sec-websocket-protocol"] == "x-json"


def test_disable_plugins_leaves_it_out(installed):
    with serving(xor_server()) as server, \
            geventws.connect(server.url, compression=None, disable_plugins=["xor"]) as ws:
        assert ws.extensions == ""
    assert "sec-websocket-extensions" not in dict(server.requests[0])


def test_server_may_not_select_a_disabled_plugin(installed):
    with serving(fixed("x-xor; key=1")) as server, pytest.raises(NegotiationError,
                                                                   match="did not offer"):
        geventws.connect(server.url, compression=None, disable_plugins=["xor"])


def test_plugin_refusing_parameters_fails_the_handshake(installed):
    with serving(fixed("x-xor; key=abc")) as server, pytest.raises(NegotiationError,
                                                                     match="bad parameters"):
        geventws.connect(server.url, compression=None)


def test_plugins_command_lists_the_plugin(installed):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(installed), os.getcwd()]))
    out = subprocess.run([sys.executable, "-m", "geventws", "plugins"], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "xor (geventws-xor 0.1)" in out.stdout
    assert "x-xor; key=42" in out.stdout
    assert "x-json" in out.stdout
    assert "geventws_message_codec" in out.stdout


def test_list_plugins_describes_offers(installed):
    [info] = [i for i in list_plugins() if i.name == "xor"]
    assert info.distribution == "geventws-xor"
    assert info.extensions == ["x-xor; key=42"]
    assert info.subprotocols == ["x-json"]
    assert "geventws_connection_opened" in info.hooks


def test_broken_entry_point_is_skipped_with_a_warning(tmp_path):
    write_dist(tmp_path, "geventws-broken", {"broken": "no_such_module_for_geventws"})
    with on_sys_path(tmp_path), pytest.warns(RuntimeWarning, match="broken"):
        pm = get_plugin_manager()
        assert not pm.has_plugin("broken")


# -- per-connection plugin objects ---------------------------------------------


class Recorder:
    """Observes everything, as a tracing plugin would."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.frames_sent: list[Frame] = []
        self.frames_received: list[Frame] = []
        self.bytes_sent = 0
        self.bytes_received = 0

    @hookimpl
    def geventws_request_headers(self, ctx):
        self.events.append("request")
        return [("Authorization", "Bearer t0ken"), ("Cookie", "a=b")]

    @hookimpl
    def geventws_handshake_response(self, ctx, headers):
        self.events.append(f"response:{dict(headers)['upgrade']}")

    @hookimpl
    def geventws_connection_opened(self, ctx, connection):
        self.events.append("opened")

    @hookimpl
    def geventws_connection_closed(self, connection):
        self.events.append(f"closed:{connection.close_code}")

    @hookimpl
    def geventws_frame_sent(self, frame):
        self.frames_sent.append(frame)

    @hookimpl
    def geventws_frame_received(self, frame):
        self.frames_received.append(frame)

    @hookimpl
    def geventws_bytes_sent(self, data):
        self.bytes_sent += sum(len(chunk) for chunk in data)

    @hookimpl
    def geventws_bytes_received(self, data):
        self.bytes_received += len(data)


def test_per_connection_plugin_sees_handshake_and_traffic():
    recorder = Recorder()
    with serving() as server:
        with geventws.connect(server.url, plugins=[recorder], compression=None,
                              ping_interval=None) as ws:
            ws.send("hello")
            assert ws.recv(timeout=5) == "hello"
            ws.send(b"\x01" * 1000)
            assert ws.recv(timeout=5) == b"\x01" * 1000
        assert ws.wait_closed(5)
        # A second connection without it is not observed: registration was per connection.
        with geventws.connect(server.url, compression=None) as other:
            other.send("unseen")
            other.recv(timeout=5)
    request = dict(server.requests[0])
    assert request["authorization"] == "Bearer t0ken" and request["cookie"] == "a=b"
    assert "authorization" not in dict(server.requests[1])
    assert recorder.events == ["request", "response:websocket", "opened", "closed:1000"]
    assert [(f.opcode, f.data) for f in recorder.frames_sent] == \
        [(1, b"hello"), (2, b"\x01" * 1000), (8, b"\x03\xe8")]
    assert [(f.opcode, f.data) for f in recorder.frames_received] == \
        [(1, b"hello"), (2, b"\x01" * 1000), (8, b"\x03\xe8")]
    # Masked client frames carry 6 header bytes here, the server's unmasked ones 2 (4 for 1000).
    assert recorder.bytes_sent == (6 + 5) + (8 + 1000) + (6 + 2)
    assert recorder.bytes_received == (2 + 5) + (4 + 1000) + (2 + 2)


def test_frame_hooks_see_compressed_wire_frames(tmp_path):
    from plugin_servers import deflate, deflate_registered

    recorder = Recorder()
    with deflate_registered(tmp_path), serving(deflate()) as server, \
            geventws.connect(server.url, plugins=[recorder]) as ws:
        ws.send("a" * 1000)
        assert ws.recv(timeout=5) == "a" * 1000
    assert recorder.frames_sent[0].rsv1 and len(recorder.frames_sent[0].data) < 100
    assert recorder.frames_received[0].rsv1


def test_failing_observer_never_breaks_the_connection():
    class Broken:
        @hookimpl
        def geventws_frame_received(self, frame):
            raise RuntimeError("observer bug")

        @hookimpl
        def geventws_bytes_sent(self, data):
            raise RuntimeError("observer bug")

    with serving() as server, geventws.connect(server.url, plugins=[Broken()],
                                               compression=None) as ws:
        ws.send("still fine")
        assert ws.recv(timeout=5) == "still fine"


def test_failing_opening_exchange_closes_and_raises():
    class Refuses:
        @hookimpl
        def geventws_connection_opened(self, connection):
            self.connection = connection
            raise NegotiationError("server said no")

    plugin = Refuses()
    with serving() as server, pytest.raises(NegotiationError, match="server said no"):
        geventws.connect(server.url, plugins=plugin, compression=None)
    assert plugin.connection.wait_closed(5)
    assert plugin.connection.protocol.close_sent.code == 1002


def test_handshake_response_hook_can_refuse():
    class Picky:
        @hookimpl
        def geventws_handshake_response(self, headers):
            if "x-required" not in dict(headers):
                raise geventws.InvalidHandshake("missing X-Required")

    with serving() as server, pytest.raises(geventws.InvalidHandshake, match="X-Required"):
        geventws.connect(server.url, plugins=[Picky()])


def test_codec_from_a_per_connection_plugin():
    class Codec:
        @hookimpl
        def geventws_offer_subprotocols(self):
            return ["x-json"]

        @hookimpl
        def geventws_message_codec(self, subprotocol):
            class Json:
                encode = staticmethod(json.dumps)
                decode = staticmethod(json.loads)
            return Json() if subprotocol == "x-json" else None

    with serving(subprotocol="x-json") as server, \
            geventws.connect(server.url, plugins=[Codec()], compression=None) as ws:
        ws.send({"a": [1, 2]})
        assert ws.recv(timeout=5) == {"a": [1, 2]}
        assert negotiated_extensions(ws) == []


def test_unknown_hook_or_argument_is_refused():
    class Typo:
        @hookimpl
        def geventws_offer_extension(self, ctx):  # missing "s"
            return []

    class BadArgs:
        @hookimpl
        def geventws_frame_sent(self, frame, nonsense):
            pass

    with pytest.raises(ValueError, match="unknown hook"):
        geventws.connect("ws://127.0.0.1:9/", plugins=[Typo()])
    with pytest.raises(ValueError, match="nonsense"):
        geventws.connect("ws://127.0.0.1:9/", plugins=[BadArgs()])


def test_disable_plugins_takes_a_list():
    with pytest.raises(TypeError):
        geventws.connect("ws://127.0.0.1:9/", disable_plugins="permessage-deflate")


def test_relay_without_frame_hooks_keeps_the_fast_path(monkeypatch):
    from geventws.plugins import reset_plugin_manager

    monkeypatch.setenv("GEVENTWS_DISABLE_PLUGIN_AUTOLOAD", "1")  # e.g. no metrics plugin
    reset_plugin_manager()
    relay = HookRelay(get_plugin_manager())
    assert not relay.implemented("geventws_frame_sent")
    with serving(handler=echo) as server, \
            geventws.connect(server.url, compression=None) as ws:
        assert ws.protocol.extensions == []
        assert ws.protocol.observer is None
    reset_plugin_manager()


def test_permessage_deflate_is_registered_like_a_third_party():
    """The package's own entry point declares it; no core module imports it."""
    import configparser
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    cfg = configparser.ConfigParser()
    cfg.read(root / "setup.cfg")
    assert "permessage-deflate = geventws.extensions.permessage_deflate" in \
        cfg["options.entry_points"]["geventws"]
    core = [p for p in (root / "geventws").rglob("*.py")
            if p.name != "permessage_deflate.py"]
    assert [p.name for p in core if "permessage_deflate" in p.read_text()] == []


class _Recorder:
    def __init__(self):
        self.seen = []

    @hookimpl
    def geventws_request_headers(self, ctx):
        self.seen.append("request_headers")
        return [("X-Recorded", "1")]


def test_relay_skips_unimplemented_hooks_and_sees_later_registrations(monkeypatch):
    """Relays share hook callers per process; a plugin registered afterwards still counts,
    for relays with and without disabled plugins, and a disabled one stays out."""
    from geventws.plugins import reset_plugin_manager

    monkeypatch.setenv("GEVENTWS_DISABLE_PLUGIN_AUTOLOAD", "1")
    reset_plugin_manager()
    try:
        pm = get_plugin_manager()
        ctx = object()
        before = HookRelay(pm)
        before_disabling = HookRelay(pm, disabled=["recorder"])
        assert before.call("geventws_request_headers", ctx=ctx) == []
        assert before.call("geventws_accept_extension", ctx=ctx, name="x", params=[],
                           offers=[]) is None
        recorder = _Recorder()
        pm.register(recorder, name="recorder")
        assert before.call("geventws_request_headers", ctx=ctx) == [[("X-Recorded", "1")]]
        assert HookRelay(pm).implemented("geventws_request_headers")
        assert recorder.seen == ["request_headers"]
        # A relay made before the registration, disabling it by name: it was not
        # registered then, so the relay had nothing to leave out.
        assert before_disabling.call("geventws_request_headers", ctx=ctx) == \
            [[("X-Recorded", "1")]]
        disabling = HookRelay(pm, disabled=["recorder"])
        assert not disabling.implemented("geventws_request_headers")
        assert disabling.call("geventws_request_headers", ctx=ctx) == []
        assert recorder.seen == ["request_headers", "request_headers"]
    finally:
        reset_plugin_manager()


def test_observer_calls_plain_impls_as_pluggy_does_and_falls_back(monkeypatch):
    """Observer hooks skip pluggy's machinery for plain implementations: same order,
    same arguments, (un)registrations seen; wrappers and monitoring go through pluggy."""
    from geventws.plugins import reset_plugin_manager

    monkeypatch.setenv("GEVENTWS_DISABLE_PLUGIN_AUTOLOAD", "1")
    reset_plugin_manager()
    try:
        pm = get_plugin_manager()
        calls = []

        class First:
            @hookimpl
            def geventws_bytes_received(self, data):  # a subset of the spec's arguments
                calls.append(("first", data))

        class Second:
            @hookimpl
            def geventws_bytes_received(self, ctx, data):
                calls.append(("second", ctx, data))

        class Wrapper:
            @hookimpl(wrapper=True)
            def geventws_bytes_received(self, ctx, data):
                calls.append(("wrap-in", data))
                result = yield
                calls.append(("wrap-out", data))
                return result

        observe = HookRelay(pm).observer("geventws_bytes_received")
        observe(ctx="c", data=b"0")  # nobody implements it yet
        first, second = First(), Second()
        pm.register(first)
        pm.register(second)
        observe(ctx="c", data=b"1")
        assert calls == [("second", "c", b"1"), ("first", b"1")]  # last registered first
        calls.clear()
        pm.unregister(second)
        observe(ctx="c", data=b"2")
        assert calls == [("first", b"2")]
        calls.clear()
        pm.register(Wrapper())
        observe(ctx="c", data=b"3")
        assert calls == [("wrap-in", b"3"), ("first", b"3"), ("wrap-out", b"3")]
        calls.clear()
        for plugin in list(pm.get_plugins()):
            if isinstance(plugin, Wrapper):
                pm.unregister(plugin)
        seen = []
        undo = pm.add_hookcall_monitoring(lambda name, impls, kwargs: seen.append(name),
                                          lambda outcome, name, impls, kwargs: None)
        observe(ctx="c", data=b"4")
        undo()
        assert seen == ["geventws_bytes_received"] and calls == [("first", b"4")]
    finally:
        reset_plugin_manager()


def test_relay_calls_return_what_pluggy_returns(monkeypatch):
    """Hook calls skip pluggy's machinery for plain implementations; the results, their
    order and firstresult's first non-None are pluggy's own, before and after the
    registrations change, and with a wrapper registered."""
    from geventws.plugins import reset_plugin_manager

    monkeypatch.setenv("GEVENTWS_DISABLE_PLUGIN_AUTOLOAD", "1")
    reset_plugin_manager()
    try:
        pm = get_plugin_manager()

        def plugin(tag, codec):
            class P:
                @hookimpl
                def geventws_request_headers(self, ctx):
                    return None if tag == "silent" else [("X-From", tag)]

                @hookimpl
                def geventws_message_codec(self, ctx, subprotocol):
                    return codec

            return P()

        relay = HookRelay(pm)
        ctx = object()
        kinds = [("a", None), ("silent", "codec-b"), ("c", "codec-c")]
        registered = []
        for tag, codec in kinds:
            registered.append(plugin(tag, codec))
            pm.register(registered[-1])
            for hook, kwargs in [("geventws_request_headers", {"ctx": ctx}),
                                 ("geventws_message_codec", {"ctx": ctx, "subprotocol": "x"})]:
                assert relay.call(hook, **kwargs) == getattr(pm.hook, hook)(**kwargs)
        assert relay.call("geventws_request_headers", ctx=ctx) == [[("X-From", "c")],
                                                                   [("X-From", "a")]]
        assert relay.call("geventws_message_codec", ctx=ctx, subprotocol="x") == "codec-c"
        pm.unregister(registered[2])
        assert relay.call("geventws_message_codec", ctx=ctx, subprotocol="x") == "codec-b"

        class Wrapper:
            @hookimpl(wrapper=True)
            def geventws_request_headers(self, ctx):
                result = yield
                return [*result, [("X-Wrapped", "1")]]

        pm.register(Wrapper())
        assert relay.call("geventws_request_headers", ctx=ctx) == [[("X-From", "a")],
                                                                   [("X-Wrapped", "1")]]
    finally:
        reset_plugin_manager()
