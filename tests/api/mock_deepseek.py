"""A local mock of DeepSeek's chat completions API, for colibri-probe's
tests (standard library only).

What it implements:

* POST {base}/chat/completions with "Authorization: Bearer KEY"; a wrong
  key gets 401 with DeepSeek's error shape.
* usage with DeepSeek's fields: prompt_tokens, completion_tokens,
  total_tokens, prompt_cache_hit_tokens, prompt_cache_miss_tokens (and
  OpenAI's prompt_tokens_details.cached_tokens with the same hit count).
* The tokenizer: the prompt text is every message as "ROLE:\\nCONTENT\\n"
  in order, UTF-8; one token is 4 bytes (the last one may be shorter), so
  prompt_tokens = ceil(bytes / 4).
* Prefix caching in 64-token units: a request's hit tokens are the
  longest prefix (in whole tokens) it shares with any earlier request,
  rounded DOWN to a multiple of 64; miss = prompt_tokens - hit.  The
  request is then remembered.  Each MockDeepSeek has its own cache.
* completion_tokens = min(max_tokens, 2).

Failure modes, chosen by the base URL's path (so one server serves every
test): {root}/m/MODE[/ARG[/ARG]]/chat/completions

    401                always 401 (as if the key were wrong)
    429/N[/SECS]       the first N requests on this path get 429 with
                       Retry-After: SECS (default 0), then normal answers
    500/N              the first N requests get 500, then normal
    malformed          200 with a body that is not JSON
    nousage            200 with valid JSON but no usage member
    slow/SECS          sleeps SECS seconds, then answers normally

Run alone: python3 mock_deepseek.py [--port N] [--key KEY]
[--cert PEM --keyfile PEM] prints "listening on PORT".
"""

import argparse
import http.server
import json
import ssl
import sys
import threading
import time

TOKEN_BYTES = 4
CACHE_UNIT = 64
COMPLETION_TOKENS = 2


def prompt_text(messages):
    """The bytes the tokenizer counts."""
    out = []
    for m in messages:
        out.append("%s:\n%s\n" % (m.get("role", ""), m.get("content", "")))
    return "".join(out).encode("utf-8")


def token_count(n_bytes):
    return (n_bytes + TOKEN_BYTES - 1) // TOKEN_BYTES


def common_prefix_bytes(a, b):
    n = min(len(a), len(b))
    i = 0
    # Compare in large steps, then byte by byte.
    step = 4096
    while i + step <= n and a[i:i + step] == b[i:i + step]:
        i += step
    while i < n and a[i] == b[i]:
        i += 1
    return i


def cache_hit_tokens(seen, text):
    """Hit tokens for text given the earlier prompts in seen."""
    best = 0
    for old in seen:
        # Only whole tokens match: a token is its 4 bytes.
        best = max(best, common_prefix_bytes(old, text) // TOKEN_BYTES)
    best = min(best, token_count(len(text)))
    return best - best % CACHE_UNIT


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, status, body, headers=None, raw=False):
        data = body if raw else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, message, etype, headers=None):
        self._send(status, {"error": {"message": message, "type": etype,
                                      "param": None, "code": etype}},
                   headers)

    def do_POST(self):
        mock = self.server.mock
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        if not path.endswith("/chat/completions"):
            self._error(404, "not found", "not_found")
            return
        prefix = path[:-len("/chat/completions")]
        parts = [p for p in prefix.split("/") if p]
        mode = []
        if "m" in parts:
            mode = parts[parts.index("m") + 1:]
        with mock.lock:
            count = mock.counts.get(prefix, 0) + 1
            mock.counts[prefix] = count
            mock.log.append({"path": path, "mode": mode,
                             "auth": self.headers.get("Authorization"),
                             "body": raw, "time": time.time()})
        auth = self.headers.get("Authorization") or ""
        if auth != "Bearer " + mock.key or (mode and mode[0] == "401"):
            self._error(401, "Authentication Fails, Your api key: ****"
                        " is invalid", "authentication_error")
            return
        if mode and mode[0] in ("429", "500"):
            n = int(mode[1]) if len(mode) > 1 else 1
            if count <= n:
                if mode[0] == "429":
                    secs = mode[2] if len(mode) > 2 else "0"
                    self._error(429, "Rate Limit Reached", "rate_limit",
                                {"Retry-After": secs})
                else:
                    self._error(500, "Server Error", "server_error")
                return
        if mode and mode[0] == "slow":
            time.sleep(float(mode[1]) if len(mode) > 1 else 5)
        if mode and mode[0] == "malformed":
            self._send(200, b'{"id": "x", "usage": {"prompt_tokens": 1',
                       raw=True)
            return
        try:
            req = json.loads(raw)
            messages = req["messages"]
            model = req["model"]
            if not isinstance(messages, list) or not messages:
                raise ValueError("messages")
        except (ValueError, KeyError, TypeError) as e:
            self._error(400, "bad request: %s" % e, "invalid_request_error")
            return
        if mode and mode[0] == "nousage":
            self._send(200, {"id": "x", "object": "chat.completion",
                             "model": model, "choices": []})
            return
        text = prompt_text(messages)
        with mock.lock:
            prompt = token_count(len(text))
            hit = cache_hit_tokens(mock.seen, text)
            mock.seen.append(text)
        miss = prompt - hit
        out = min(int(req.get("max_tokens") or COMPLETION_TOKENS),
                  COMPLETION_TOKENS)
        usage = {"prompt_tokens": prompt, "completion_tokens": out,
                 "total_tokens": prompt + out,
                 "prompt_tokens_details": {"cached_tokens": hit},
                 "prompt_cache_hit_tokens": hit,
                 "prompt_cache_miss_tokens": miss}
        with mock.lock:
            mock.usages.append(usage)
        self._send(200, {
            "id": "mock-%d" % len(mock.usages),
            "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant",
                                     "content": "OK"}}],
            "usage": usage})


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class MockDeepSeek:
    """A mock provider on 127.0.0.1:port (0 = any free one), in a thread.
    With cert/keyfile it speaks HTTPS."""

    def __init__(self, key="sk-test", port=0, cert=None, keyfile=None):
        self.key = key
        self.lock = threading.Lock()
        self.seen = []
        self.usages = []
        self.counts = {}
        self.log = []
        self.httpd = _Server(("127.0.0.1", port), _Handler)
        self.httpd.mock = self
        self.scheme = "http"
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, keyfile)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                                server_side=True)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, mode=""):
        base = "%s://127.0.0.1:%d" % (self.scheme, self.port)
        return base + ("/m/" + mode if mode else "")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", default="sk-test")
    ap.add_argument("--cert")
    ap.add_argument("--keyfile")
    a = ap.parse_args()
    mock = MockDeepSeek(a.key, a.port, a.cert, a.keyfile)
    print("listening on %d" % mock.port, flush=True)
    try:
        mock.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
