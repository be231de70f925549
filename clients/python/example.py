#!/usr/bin/env python3
"""Streams one chat completion through the Colloquy gateway, then reads the turn it left in
the conversation store and checks that the store recorded the usage the stream reported.

Usage: python example.py [PROMPT]

Environment:
  COLLOQUY_GATEWAY_ADDR  gateway address (default 127.0.0.1:50051)
  COLLOQUY_STORE_ADDR    conversation store address (default 127.0.0.1:50052)
  COLLOQUY_PLATFORM      configured platform to call (default openai)
  COLLOQUY_API_KEY       API key the gateway issued through the store (`colloquy keys create`);
                         the call is then accounted to the key's tenant
  COLLOQUY_STORE_TOKEN   bearer token for the store's reads, when it requires one

Exits 0 when the stream completed and the stored turn matches it, 1 otherwise.
"""

import os
import sys
import time

import grpc

from colloquy_client import common_pb2, gateway_pb2, gateway_pb2_grpc, store_pb2, store_pb2_grpc

GATEWAY_ADDR = os.environ.get("COLLOQUY_GATEWAY_ADDR", "127.0.0.1:50051")
STORE_ADDR = os.environ.get("COLLOQUY_STORE_ADDR", "127.0.0.1:50052")
PLATFORM = os.environ.get("COLLOQUY_PLATFORM", "openai")
API_KEY = os.environ.get("COLLOQUY_API_KEY", "")
STORE_TOKEN = os.environ.get("COLLOQUY_STORE_TOKEN", "")
STREAM_DEADLINE_S = 120.0
# The gateway hands the record to the store after the terminal event, through its outbox;
# the turn normally appears within milliseconds, so waiting longer means something is wrong.
STORE_WAIT_S = 15.0
STORE_POLL_INTERVAL_S = 0.1
# Answers that mean "not recorded yet" rather than a failure of the read itself.
NOT_YET = {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE}

USAGE_FIELDS = [f.name for f in common_pb2.Usage.DESCRIPTOR.fields]


def bearer(token: str):
    """The call metadata presenting `token`, none when it is empty."""
    return [("authorization", f"Bearer {token}")] if token else None


class Failure(Exception):
    """A check failed; the message says which."""


def status_name(status: int) -> str:
    return common_pb2.CompletionStatus.Name(status)


def usage_line(usage: common_pb2.Usage) -> str:
    return " ".join(f"{name}={getattr(usage, name)}" for name in USAGE_FIELDS)


def stream_chat(prompt: str):
    """Streams the completion, printing deltas as they arrive; returns (started, summary)."""
    request = gateway_pb2.ChatRequest(
        platform=PLATFORM,
        messages=[common_pb2.Message(role=common_pb2.ROLE_USER, content=prompt)],
        # With a key the tenant is the key's: left empty, the gateway fills it in.
        tenant="" if API_KEY else "clients-example",
        user="python-example",
        labels={"client": "python"},
    )
    started = None
    summary = None
    with grpc.insecure_channel(GATEWAY_ADDR) as channel:
        stub = gateway_pb2_grpc.ChatGatewayStub(channel)
        for event in stub.StreamChat(request, timeout=STREAM_DEADLINE_S, metadata=bearer(API_KEY)):
            kind = event.WhichOneof("event")
            if summary is not None:
                raise Failure(f"event {kind!r} after the terminal event")
            if kind == "started":
                if started is not None:
                    raise Failure("a second started event")
                started = event.started
                print(
                    f"started: platform={started.platform} model={started.model} "
                    f"conversation_id={started.conversation_id} record_id={started.record_id}"
                )
            elif started is None:
                raise Failure(f"event {kind!r} before the started event")
            elif kind == "delta":
                # Flushed per delta so the answer shows up as the provider sends it.
                print(event.delta.text, end="", flush=True)
            elif kind == "terminal":
                summary = event.terminal.summary
            else:
                raise Failure(f"unknown event {kind!r}")
    print()
    if started is None or summary is None:
        raise Failure("the stream ended without a started and a terminal event")
    return started, summary


def print_summary(started: gateway_pb2.Started, summary: common_pb2.CompletionSummary) -> None:
    print(f"status: {status_name(summary.status)} (finish_reason={summary.finish_reason!r})")
    print(f"usage: {usage_line(summary.usage)}")
    print(
        f"ids: request_id={started.request_id} conversation_id={started.conversation_id} "
        f"record_id={started.record_id}"
    )
    identifiers = summary.identifiers
    provider_ids = [
        f"{field.name}={getattr(identifiers, field.name)}"
        for field in identifiers.DESCRIPTOR.fields
        if identifiers.HasField(field.name)
    ]
    print(f"provider ids: {' '.join(provider_ids) or '(none)'}")
    if summary.HasField("error"):
        print(f"error: {summary.error.code}: {summary.error.message}")


def wait_for_turn(conversation_id: str, record_id: str) -> store_pb2.Turn:
    """Polls GetConversation until the turn with `record_id` is stored, for a bounded time."""
    deadline = time.monotonic() + STORE_WAIT_S
    last = "no answer yet"
    with grpc.insecure_channel(STORE_ADDR) as channel:
        stub = store_pb2_grpc.ConversationStoreStub(channel)
        while True:
            try:
                conversation = stub.GetConversation(
                    store_pb2.GetConversationRequest(conversation_id=conversation_id),
                    timeout=5.0,
                    metadata=bearer(STORE_TOKEN),
                )
                for turn in conversation.turns:
                    if turn.record_id == record_id:
                        return turn
                last = f"conversation has {len(conversation.turns)} turns, none is the record"
            except grpc.RpcError as error:
                if error.code() not in NOT_YET:
                    raise
                last = f"{error.code().name}: {error.details()}"
            if time.monotonic() >= deadline:
                raise Failure(
                    f"record {record_id} not in conversation {conversation_id} "
                    f"after {STORE_WAIT_S:.0f}s ({last})"
                )
            time.sleep(STORE_POLL_INTERVAL_S)


def main() -> int:
    prompt = " ".join(sys.argv[1:]) or "What does Colloquy record for each completion?"
    try:
        started, summary = stream_chat(prompt)
        print_summary(started, summary)
        if summary.status != common_pb2.COMPLETION_STATUS_COMPLETED:
            raise Failure(f"completion ended with {status_name(summary.status)}")

        turn = wait_for_turn(started.conversation_id, started.record_id)
        print(
            f"stored turn: sequence={turn.sequence} status={status_name(turn.summary.status)} "
            f"usage: {usage_line(turn.summary.usage)}"
        )
        if turn.summary.usage != summary.usage:
            raise Failure(
                "stored usage differs from the terminal event's: "
                f"stored {usage_line(turn.summary.usage)}; streamed {usage_line(summary.usage)}"
            )
        if turn.summary.status != summary.status:
            raise Failure(
                f"stored status {status_name(turn.summary.status)} differs from the "
                f"terminal event's {status_name(summary.status)}"
            )
        if turn.gateway_request_id != started.request_id:
            raise Failure(
                f"stored gateway_request_id {turn.gateway_request_id} differs from "
                f"started.request_id {started.request_id}"
            )
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        return 1
    except grpc.RpcError as error:
        print(f"FAIL: gRPC {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print("OK: the stored turn matches the streamed completion")
    return 0


if __name__ == "__main__":
    sys.exit(main())
