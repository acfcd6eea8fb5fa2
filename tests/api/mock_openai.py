"""A small OpenAI-compatible chat completions server for the pi
end-to-end test (tests/api/test_pi.py).  Standard library only.

    m = MockOpenAI(mode="answer", answer="Hello from the mock.")
    m.start()            # 127.0.0.1, ephemeral port
    m.base_url           # "http://127.0.0.1:PORT/v1"
    ...
    m.requests           # every request: {"method","path","headers","body"}
    m.completions()      # the POST /v1/chat/completions bodies
    m.stop()

Modes:
  answer  POST /v1/chat/completions answers with `answer`: streamed as
          SSE chunks (one per word, then finish_reason "stop", then a
          usage chunk and "data: [DONE]") when the body says
          "stream": true, else one JSON chat.completion.  The usage block
          carries prompt_tokens, completion_tokens and
          prompt_tokens_details.cached_tokens (USAGE below).
  fail    every POST /v1/chat/completions gets `fail_status` (default
          500) with an OpenAI-style JSON error, so a client's retries
          run out.

GET /v1/models lists MODEL.  Anything else is 404.  A request whose
Authorization is not "Bearer <api_key>" (when api_key is set) is 401.

Run as a script for manual tries: `python3 mock_openai.py [answer|fail]`
prints the base URL and serves until interrupted.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "mock-model"
USAGE = {"prompt_tokens": 120, "completion_tokens": 7,
         "cached_tokens": 96}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):     # quiet
        pass

    def _record(self, body):
        mock = self.server.mock
        entry = {"method": self.command, "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": body, "time": time.time()}
        with mock.cond:
            mock.requests.append(entry)
            mock.cond.notify_all()

    def _send_json(self, status, doc):
        data = json.dumps(doc).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self):
        key = self.server.mock.api_key
        if key is None:
            return True
        if self.headers.get("Authorization") == "Bearer " + key:
            return True
        self._send_json(401, {"error": {"message": "bad api key",
                                        "type": "invalid_request_error",
                                        "code": "invalid_api_key"}})
        return False

    def do_GET(self):
        self._record(None)
        if self.path.split("?")[0] == "/v1/models":
            if self._authorized():
                self._send_json(200, {"object": "list", "data": [
                    {"id": MODEL, "object": "model", "created": 0,
                     "owned_by": "mock"}]})
            return
        self._send_json(404, {"error": {"message": "no such path"}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self._record(body)
        if self.path.split("?")[0] != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": "no such path"}})
            return
        if not self._authorized():
            return
        mock = self.server.mock
        if mock.mode == "fail":
            self._send_json(mock.fail_status, {"error": {
                "message": "mock server error (mode fail)",
                "type": "server_error", "code": None}})
            return
        if not isinstance(body, dict) or not isinstance(
                body.get("messages"), list):
            self._send_json(400, {"error": {
                "message": "messages is required",
                "type": "invalid_request_error"}})
            return
        if body.get("stream"):
            self._stream(body)
        else:
            self._complete(body)

    def _usage(self):
        return {"prompt_tokens": USAGE["prompt_tokens"],
                "completion_tokens": USAGE["completion_tokens"],
                "total_tokens": USAGE["prompt_tokens"]
                + USAGE["completion_tokens"],
                "prompt_tokens_details": {
                    "cached_tokens": USAGE["cached_tokens"]}}

    def _complete(self, body):
        self._send_json(200, {
            "id": "chatcmpl-mock-1", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", MODEL),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant",
                                     "content": self.server.mock.answer}}],
            "usage": self._usage()})

    def _chunk(self, doc):
        data = b"data: " + json.dumps(doc).encode("utf-8") + b"\n\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _stream(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"id": "chatcmpl-mock-1", "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", MODEL)}

        def chunk(delta, finish=None, usage=None, choices=True):
            doc = dict(base)
            doc["choices"] = [{"index": 0, "delta": delta,
                               "finish_reason": finish}] if choices else []
            if usage is not None:
                doc["usage"] = usage
            self._chunk(doc)

        chunk({"role": "assistant", "content": ""})
        words = self.server.mock.answer.split(" ")
        for i, w in enumerate(words):
            chunk({"content": w if i == 0 else " " + w})
        chunk({}, finish="stop")
        chunk(None, usage=self._usage(), choices=False)
        data = b"data: [DONE]\n\n"
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
        self.wfile.flush()


class MockOpenAI:
    def __init__(self, mode="answer", answer="Hello from the mock.",
                 fail_status=500, api_key="mock-key"):
        if mode not in ("answer", "fail"):
            raise ValueError("mode must be answer or fail")
        self.mode = mode
        self.answer = answer
        self.fail_status = fail_status
        self.api_key = api_key
        self.requests = []
        self.cond = threading.Condition()
        self.server = None
        self.thread = None

    def start(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.mock = self
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()
        return self

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def base_url(self):
        return "http://127.0.0.1:%d/v1" % self.port

    def completions(self):
        """The bodies of every POST /v1/chat/completions so far."""
        with self.cond:
            return [r["body"] for r in self.requests
                    if r["method"] == "POST"
                    and r["path"].split("?")[0] == "/v1/chat/completions"]

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(10)
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


if __name__ == "__main__":
    m = MockOpenAI(mode=sys.argv[1] if len(sys.argv) > 1 else "answer")
    m.start()
    print(m.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        m.stop()
