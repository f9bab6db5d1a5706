"""The tests of redis-py's internals that bench/python/compat.sh leaves out of both runs
(issue 14 item 7): each entry is a test file, class or test id with the reason. They test
objects rcm does not have (redis-py's Connection and ConnectionPool, CommandsParser, the
response_callbacks table, Redis.parse_response) or replace them with mocks; none tests a
command's behaviour against the server."""

from __future__ import annotations

_CONN = "asserts on redis-py's Connection object (client.connection, its _sock, next_health_check, send_command)"
_POOL = "asserts on redis-py's ConnectionPool (connection_pool, _available_connections, connection_kwargs)"
_MOCK = "mocked cluster: replaces client.connection with a Mock that answers canned replies"

EXCLUDED: dict = {
    "tests/test_command_parser.py": "redis-py's CommandsParser (its key-position tables)",
    "tests/test_commands.py::TestResponseCallbacks": "redis-py's response_callbacks table and set_response_callback",
    **{f"tests/test_commands.py::TestRedisCommands::test_cluster_{n}": _MOCK for n in (
        "addslots", "count_failure_reports", "countkeysinslot", "delslots", "failover", "forget", "info",
        "keyslot", "meet", "nodes", "replicate", "reset", "saveconfig", "setslot", "slaves")},
    "tests/test_commands.py::TestRedisCommands::test_readonly": _MOCK,
    "tests/test_connection_pool.py::TestMultiConnectionClient::test_multi_connection_command": _CONN,
    "tests/test_connection_pool.py::TestHealthCheck": _CONN + " (health_check_interval's per-connection timer)",
    "tests/test_connection_pool.py::TestConnection::test_busy_loading_disconnects_socket": _CONN,
    "tests/test_connection_pool.py::TestConnection::test_busy_loading_from_pipeline_immediate_command":
        _POOL + " and Pipeline.immediate_execute_command's connection",
    "tests/test_connection_pool.py::TestConnection::test_busy_loading_from_pipeline": _POOL,
    "tests/test_retry.py::TestRedisClientRetry": "patches redis.Redis.parse_response (redis-py's reply reader) with a mock",
    "tests/test_monitor.py::TestMonitor::test_response_values": _POOL,
    "tests/test_commands.py::TestRedisCommands::test_slowlog_get":
        "patches Redis.parse_response and calls response_callbacks when the server gives no complexity "
        "info (Valkey never does)",
    "tests/test_scripting.py::TestScript::test_script_text": "redis.commands.core.Script built on the client: reads its connection_pool's encoder",
    "tests/test_scripting.py::TestScript::test_string_script_sha": "redis.commands.core.Script built on the client: reads its connection_pool's encoder",
    "tests/test_scripting.py::TestScript::test_encoder": "redis.commands.core.Script built on the client: reads its connection_pool's encoder",
    "tests/test_pubsub.py::TestPubSubSubscribeUnsubscribe::test_resubscribe_to_channels_on_reconnection":
        _CONN + ": PubSub.connection.disconnect()",
    "tests/test_pubsub.py::TestPubSubSubscribeUnsubscribe::test_resubscribe_to_patterns_on_reconnection":
        _CONN + ": PubSub.connection.disconnect()",
    "tests/test_pubsub.py::TestPubSubAutoDecoding::test_channel_message_handler": _CONN + ": PubSub.connection.disconnect()",
    "tests/test_pubsub.py::TestPubSubAutoDecoding::test_pattern_message_handler": _CONN + ": PubSub.connection.disconnect()",
    "tests/test_pubsub.py::TestPubSubAutoDecoding::test_context_manager": _CONN + ": PubSub.connection is None after close",
    # tests/test_asyncio (compat.sh --asyncio): the same internals in redis.asyncio.
    **{f"tests/test_asyncio/test_commands.py::TestRedisCommands::test_cluster_{n}": _MOCK for n in (
        "addslots", "count_failure_reports", "countkeysinslot", "delslots", "failover", "forget", "info",
        "keyslot", "meet", "nodes", "replicate", "reset", "saveconfig", "setslot", "slaves")},
    "tests/test_asyncio/test_commands.py::TestRedisCommands::test_readonly": _MOCK,
    "tests/test_asyncio/test_commands.py::TestResponseCallbacks":
        "redis-py's response_callbacks table and set_response_callback",
    "tests/test_asyncio/test_connection_pool.py::TestHealthCheck":
        _CONN + " (health_check_interval's per-connection timer)",
    "tests/test_asyncio/test_connection_pool.py::TestConnection::test_busy_loading_disconnects_socket": _CONN,
    "tests/test_asyncio/test_connection_pool.py::TestConnection::test_busy_loading_from_pipeline_immediate_command":
        _POOL + " and Pipeline.immediate_execute_command's connection",
    "tests/test_asyncio/test_connection_pool.py::TestConnection::test_busy_loading_from_pipeline": _POOL,
    "tests/test_asyncio/test_connection_pool.py::TestRedisAutoReleaseConnectionPool":
        _POOL + ": whether close() disconnects the pool (auto_close_connection_pool, single_connection_client)",
    "tests/test_asyncio/test_encoding.py::TestMemoryviewsAreNotPacked":
        _CONN + ": Connection.pack_command's buffers",
    "tests/test_asyncio/test_monitor.py::TestMonitor::test_response_values": _POOL,
    "tests/test_asyncio/test_pubsub.py::TestPubSubSubscribeUnsubscribe::test_resubscribe_to_channels_on_reconnection":
        _CONN + ": PubSub.connection.disconnect()",
    "tests/test_asyncio/test_pubsub.py::TestPubSubSubscribeUnsubscribe::test_resubscribe_to_patterns_on_reconnection":
        _CONN + ": PubSub.connection.disconnect()",
    "tests/test_asyncio/test_pubsub.py::TestPubSubAutoDecoding::test_channel_message_handler":
        _CONN + ": PubSub.connection.disconnect()",
    "tests/test_asyncio/test_pubsub.py::TestPubSubAutoDecoding::test_pattern_message_handler":
        _CONN + ": PubSub.connection.disconnect()",
    "tests/test_asyncio/test_pubsub.py::TestPubSubReconnect::test_reconnect_listen":
        _CONN + ": PubSub.connection.disconnect(), then PubSub.connect()",
    "tests/test_asyncio/test_pubsub.py::TestPubSubAutoDecoding::test_context_manager":
        _CONN + ": PubSub.connection is None after close",
}


def excluded_reason(nodeid: str) -> str:
    """Why nodeid is left out ("" when it is not)."""
    for prefix, reason in EXCLUDED.items():
        if nodeid == prefix or nodeid.startswith(prefix + "::") or nodeid.startswith(prefix + "["):
            return reason
    return ""


def excluded_count(nodeids) -> int:
    return sum(1 for n in nodeids if excluded_reason(n))
