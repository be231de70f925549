// Streams one chat completion through the Colloquy gateway, then reads the turn it left in
// the conversation store and checks that the store recorded the usage the stream reported.
//
// Usage: node dist/example.js [PROMPT]
//
// Environment:
//   COLLOQUY_GATEWAY_ADDR  gateway address (default 127.0.0.1:50051)
//   COLLOQUY_STORE_ADDR    conversation store address (default 127.0.0.1:50052)
//   COLLOQUY_PLATFORM      configured platform to call (default openai)
//   COLLOQUY_API_KEY       API key the gateway issued through the store (`colloquy keys create`);
//                          the call is then accounted to the key's tenant
//   COLLOQUY_STORE_TOKEN   bearer token for the store's reads, when it requires one
//
// Exits 0 when the stream completed and the stored turn matches it, 1 otherwise.

import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

import type { CompletionSummary__Output } from "./generated/colloquy/common/v1/CompletionSummary";
import type { Usage__Output } from "./generated/colloquy/common/v1/Usage";
import type { ChatEvent__Output } from "./generated/colloquy/gateway/v1/ChatEvent";
import type { ChatGatewayClient } from "./generated/colloquy/gateway/v1/ChatGateway";
import type { Started__Output } from "./generated/colloquy/gateway/v1/Started";
import type { ConversationStoreClient } from "./generated/colloquy/store/v1/ConversationStore";
import type { Conversation__Output } from "./generated/colloquy/store/v1/Conversation";
import type { Turn__Output } from "./generated/colloquy/store/v1/Turn";
import type { ProtoGrpcType as GatewayProto } from "./generated/gateway";
import type { ProtoGrpcType as StoreProto } from "./generated/store";

const GATEWAY_ADDR = process.env.COLLOQUY_GATEWAY_ADDR || "127.0.0.1:50051";
const STORE_ADDR = process.env.COLLOQUY_STORE_ADDR || "127.0.0.1:50052";
const PLATFORM = process.env.COLLOQUY_PLATFORM || "openai";
const API_KEY = process.env.COLLOQUY_API_KEY || "";
const STORE_TOKEN = process.env.COLLOQUY_STORE_TOKEN || "";
const STREAM_DEADLINE_MS = 120_000;
// The gateway hands the record to the store after the terminal event, through its outbox;
// the turn normally appears within milliseconds, so waiting longer means something is wrong.
const STORE_WAIT_MS = 15_000;
const STORE_POLL_INTERVAL_MS = 100;
// Answers that mean "not recorded yet" rather than a failure of the read itself.
const NOT_YET = new Set([grpc.status.NOT_FOUND, grpc.status.UNAVAILABLE]);

// The .proto files are read at run time from the repository's proto/ (dist/ sits in
// clients/typescript/). The options must match those given to proto-loader-gen-types in
// package.json, or the generated types would not describe the loaded messages.
const PROTO_ROOT = path.resolve(__dirname, "..", "..", "..", "proto");
const LOADER_OPTIONS: protoLoader.Options = {
  includeDirs: [PROTO_ROOT],
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

const USAGE_FIELDS = [
  "inputTokens",
  "outputTokens",
  "cachedInputTokens",
  "cacheCreationInputTokens",
  "reasoningTokens",
  "totalTokens",
] as const satisfies readonly (keyof Usage__Output)[];

const IDENTIFIER_FIELDS = [
  "responseId",
  "requestId",
  "generationId",
  "upstreamProvider",
  "resolvedModel",
  "systemFingerprint",
  "serviceTier",
  "continuationId",
] as const;

class Failure extends Error {}

function loadProto(): GatewayProto & StoreProto {
  const definition = protoLoader.loadSync(
    [
      "colloquy/common/v1/completion.proto",
      "colloquy/gateway/v1/gateway.proto",
      "colloquy/store/v1/store.proto",
    ],
    LOADER_OPTIONS,
  );
  return grpc.loadPackageDefinition(definition) as unknown as GatewayProto & StoreProto;
}

function usageLine(usage: Usage__Output | null): string {
  return USAGE_FIELDS.map((name) => `${name}=${usage?.[name] ?? "(absent)"}`).join(" ");
}

function sameUsage(a: Usage__Output | null, b: Usage__Output | null): boolean {
  // uint64 counts arrive as decimal strings (longs: String), so equal counts are equal strings.
  return a !== null && b !== null && USAGE_FIELDS.every((name) => a[name] === b[name]);
}

/** Call metadata presenting `token`, empty when there is none. */
function bearer(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (token) {
    metadata.set("authorization", `Bearer ${token}`);
  }
  return metadata;
}

function deadline(ms: number): Date {
  return new Date(Date.now() + ms);
}

/** Streams the completion, printing deltas as they arrive; resolves to the started event and
 * the terminal summary. */
async function streamChat(
  gateway: ChatGatewayClient,
  prompt: string,
): Promise<{ started: Started__Output; summary: CompletionSummary__Output }> {
  const call = gateway.StreamChat(
    {
      platform: PLATFORM,
      messages: [{ role: "ROLE_USER", content: prompt }],
      // With a key the tenant is the key's: left empty, the gateway fills it in.
      tenant: API_KEY ? "" : "clients-example",
      user: "typescript-example",
      labels: { client: "typescript" },
    },
    bearer(API_KEY),
    { deadline: deadline(STREAM_DEADLINE_MS) },
  );
  let started: Started__Output | null = null;
  let summary: CompletionSummary__Output | null = null;
  try {
    for await (const event of call as AsyncIterable<ChatEvent__Output>) {
      const kind = event.event;
      if (summary !== null) {
        throw new Failure(`event ${kind} after the terminal event`);
      }
      if (kind === "started" && event.started) {
        if (started !== null) {
          throw new Failure("a second started event");
        }
        started = event.started;
        console.log(
          `started: platform=${started.platform} model=${started.model} ` +
            `conversation_id=${started.conversationId} record_id=${started.recordId}`,
        );
      } else if (started === null) {
        throw new Failure(`event ${kind} before the started event`);
      } else if (kind === "delta" && event.delta) {
        // Written per delta so the answer shows up as the provider sends it.
        process.stdout.write(event.delta.text);
      } else if (kind === "terminal" && event.terminal?.summary) {
        summary = event.terminal.summary;
      } else {
        throw new Failure(`unexpected event ${JSON.stringify(event)}`);
      }
    }
  } finally {
    // Ends the call when a check leaves the loop early; a no-op once the stream has ended.
    // The CANCELLED error that follows is expected, and a stream error with no listener
    // would crash the process instead of letting the failure be reported.
    call.on("error", () => {});
    call.cancel();
  }
  process.stdout.write("\n");
  if (started === null || summary === null) {
    throw new Failure("the stream ended without a started and a terminal event");
  }
  return { started, summary };
}

function printSummary(started: Started__Output, summary: CompletionSummary__Output): void {
  console.log(`status: ${summary.status} (finish_reason=${JSON.stringify(summary.finishReason)})`);
  console.log(`usage: ${usageLine(summary.usage)}`);
  console.log(
    `ids: request_id=${started.requestId} conversation_id=${started.conversationId} ` +
      `record_id=${started.recordId}`,
  );
  const identifiers = summary.identifiers;
  const providerIds = IDENTIFIER_FIELDS.filter((name) => identifiers?.[name] !== undefined).map(
    (name) => `${name}=${identifiers?.[name]}`,
  );
  console.log(`provider ids: ${providerIds.join(" ") || "(none)"}`);
  if (summary.error) {
    console.log(`error: ${summary.error.code}: ${summary.error.message}`);
  }
}

function getConversation(
  store: ConversationStoreClient,
  conversationId: string,
): Promise<Conversation__Output> {
  return new Promise((resolve, reject) => {
    store.GetConversation(
      { conversationId },
      bearer(STORE_TOKEN),
      { deadline: deadline(5_000) },
      (error: grpc.ServiceError | null, conversation?: Conversation__Output) => {
        if (error) {
          reject(error);
        } else if (!conversation) {
          reject(new Failure("GetConversation answered without a conversation"));
        } else {
          resolve(conversation);
        }
      },
    );
  });
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && typeof (error as grpc.ServiceError).code === "number";
}

/** Polls GetConversation until the turn with `recordId` is stored, for a bounded time. */
async function waitForTurn(
  store: ConversationStoreClient,
  conversationId: string,
  recordId: string,
): Promise<Turn__Output> {
  const until = Date.now() + STORE_WAIT_MS;
  let last = "no answer yet";
  for (;;) {
    try {
      const conversation = await getConversation(store, conversationId);
      const turn = conversation.turns.find((t) => t.recordId === recordId);
      if (turn) {
        return turn;
      }
      last = `conversation has ${conversation.turns.length} turns, none is the record`;
    } catch (error) {
      if (!isServiceError(error) || !NOT_YET.has(error.code)) {
        throw error;
      }
      last = `${grpc.status[error.code]}: ${error.details}`;
    }
    if (Date.now() >= until) {
      throw new Failure(
        `record ${recordId} not in conversation ${conversationId} ` +
          `after ${STORE_WAIT_MS / 1000}s (${last})`,
      );
    }
    await sleep(STORE_POLL_INTERVAL_MS);
  }
}

async function main(): Promise<number> {
  const prompt = process.argv.slice(2).join(" ") || "What does Colloquy record for each completion?";
  const proto = loadProto();
  const credentials = grpc.credentials.createInsecure();
  const gateway = new proto.colloquy.gateway.v1.ChatGateway(GATEWAY_ADDR, credentials);
  const store = new proto.colloquy.store.v1.ConversationStore(STORE_ADDR, credentials);
  try {
    const { started, summary } = await streamChat(gateway, prompt);
    printSummary(started, summary);
    if (summary.status !== "COMPLETION_STATUS_COMPLETED") {
      throw new Failure(`completion ended with ${summary.status}`);
    }

    const turn = await waitForTurn(store, started.conversationId, started.recordId);
    const stored = turn.summary;
    console.log(
      `stored turn: sequence=${turn.sequence} status=${stored?.status} ` +
        `usage: ${usageLine(stored?.usage ?? null)}`,
    );
    if (!sameUsage(stored?.usage ?? null, summary.usage)) {
      throw new Failure(
        "stored usage differs from the terminal event's: " +
          `stored ${usageLine(stored?.usage ?? null)}; streamed ${usageLine(summary.usage)}`,
      );
    }
    if (stored?.status !== summary.status) {
      throw new Failure(
        `stored status ${stored?.status} differs from the terminal event's ${summary.status}`,
      );
    }
    if (turn.gatewayRequestId !== started.requestId) {
      throw new Failure(
        `stored gateway_request_id ${turn.gatewayRequestId} differs from ` +
          `started.request_id ${started.requestId}`,
      );
    }
  } catch (error) {
    if (error instanceof Failure) {
      console.error(`FAIL: ${error.message}`);
    } else if (isServiceError(error)) {
      console.error(`FAIL: gRPC ${grpc.status[error.code]}: ${error.details}`);
    } else {
      console.error("FAIL:", error);
    }
    return 1;
  } finally {
    gateway.close();
    store.close();
  }
  console.log("OK: the stored turn matches the streamed completion");
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error("FAIL:", error);
    process.exitCode = 1;
  },
);
