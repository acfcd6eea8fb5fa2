/*
 * mcp.h - the Model Context Protocol server core: one JSON-RPC 2.0
 * message in, at most one message out, without any transport.
 *
 * The operations table becomes the tool list (op name with '.' -> '_',
 * streaming and local-only operations left out); skills become resources
 * (skill://<name>/SKILL.md and skill://<name>/<path>).  Every operation
 * runs through a backend the transport supplies: colibri-mcp forwards to
 * the daemon over the socket or HTTP, colibrid's POST /mcp runs
 * ops_invoke() in process.  The core keeps no state between messages, so
 * one instance serves any number of threads.  See docs/internals/mcp.md.
 */
#ifndef COLIBRI_MCP_H
#define COLIBRI_MCP_H

#include <stddef.h>
#include <jansson.h>

#include "ops.h"

/* Protocol versions this server speaks, oldest first; the last one is
 * answered when a client asks for one it does not know. */
#define MCP_VERSION_2025_06_18 "2025-06-18"
#define MCP_VERSION_2025_11_25 "2025-11-25"
#define MCP_VERSION_LATEST MCP_VERSION_2025_11_25
/* The stateless revision: no initialize; server/discover, and the
 * version in each request's params._meta.  Results then carry
 * "resultType": "complete". */
#define MCP_VERSION_2026_07_28 "2026-07-28"
#define MCP_META_VERSION "io.modelcontextprotocol/protocolVersion"

/* JSON-RPC and MCP error codes. */
#define MCP_PARSE_ERROR (-32700)
#define MCP_INVALID_REQUEST (-32600)
#define MCP_METHOD_NOT_FOUND (-32601)
#define MCP_INVALID_PARAMS (-32602)
#define MCP_INTERNAL_ERROR (-32603)
#define MCP_RESOURCE_NOT_FOUND (-32002)

/*
 * Runs op with args (borrowed, not validated: the backend validates).
 * Returns 0 with *result (new; JSON null for an answer without a body),
 * or -1 with *problem (new; a problem document with at least status,
 * code and detail).
 */
typedef int mcp_backend_fn(void *ctx, const struct op *op, json_t *args,
                           json_t **result, json_t **problem);

struct mcp_backend {
    mcp_backend_fn *call;
    void *ctx;
};

/* What mcp_handle() made of a message. */
enum mcp_kind {
    MCP_ANSWER,  /* a response to a request */
    MCP_NOTHING, /* a notification or a response: no
                  * answer is due */
    MCP_REJECTED /* a response with a protocol error for a
                  * message that is not valid JSON-RPC
                  * (-32700, -32600) */
};

/*
 * Handles one message (len bytes of text, one JSON-RPC message).
 * Returns the answer (new, compact JSON without a newline) or NULL when
 * none is due; *kind says which.
 */
char *mcp_handle(const struct mcp_backend *b, const char *text, size_t len,
                 enum mcp_kind *kind);

/* The same for a parsed message (borrowed); the answer is new or NULL. */
json_t *mcp_handle_json(const struct mcp_backend *b, json_t *msg,
                        enum mcp_kind *kind);

/* The tool list, as tools/list answers it: {"tools": [...]} (new). */
json_t *mcp_tools_list(void);

/* The operation a tool name stands for; NULL when it names none (or an
 * operation that is not a tool). */
const struct op *mcp_tool_op(const char *tool);

/* True when op is offered as a tool. */
int mcp_is_tool(const struct op *op);

#endif
