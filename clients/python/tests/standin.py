"""A stand-in OpenAI upstream (an LLM provider is the one service these tests cannot run):
realistic chat completions, SSE streams (with the usage chunk only when
``stream_options.include_usage`` asks), embeddings and a model list. A request's ``standin``
field (sent by the tests through the SDK's ``extra_body``) steers it: ``usage`` =
[prompt, completion], ``status`` = an error status to answer, ``sleep_s`` before answering,
``chunk_delay_s`` between stream chunks."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple


class StandIn:
    def __init__(self) -> None:
        self.received: List[Tuple[str, Dict[str, Any]]] = []
        self.lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _json(self, status: int, body: Dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": "gpt-4o", "object": "model", "created": 0, "owned_by": "standin"}]})
                else:
                    self._json(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with standin.lock:
                    standin.received.append((self.headers.get("authorization", ""), body))
                steer = body.get("standin") or {}
                time.sleep(steer.get("sleep_s", 0))
                if "status" in steer:
                    self._json(steer["status"], {"error": {"message": "the stand-in failed on purpose", "type": "server_error", "param": None, "code": None}})
                    return
                prompt, completion = steer.get("usage", [10, 20])
                usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
                if self.path.endswith("/embeddings"):
                    self._json(200, {"object": "list", "model": body["model"], "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
                                     "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}]})
                    return
                if not body.get("stream"):
                    self._json(200, {"id": "chatcmpl-standin", "object": "chat.completion", "created": 1700000000, "model": body["model"],
                                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello world"}, "finish_reason": "stop"}],
                                     "usage": usage})
                    return
                self._stream(body, steer, usage)

            def _stream(self, body: Dict[str, Any], steer: Dict[str, Any], usage: Dict[str, Any]) -> None:
                include_usage = (body.get("stream_options") or {}).get("include_usage") is True
                base = {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 1700000000, "model": body["model"]}
                chunks: List[Dict[str, Any]] = []
                for i, text in enumerate(["", "Hello", " world"]):
                    delta = {"role": "assistant", "content": ""} if i == 0 else {"content": text}
                    chunks.append({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                if include_usage:
                    for c in chunks:
                        c["usage"] = None
                    chunks.append({**base, "choices": [], "usage": usage})
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                try:
                    for data in [json.dumps(c) for c in chunks] + ["[DONE]"]:
                        time.sleep(steer.get("chunk_delay_s", 0))
                        event = f"data: {data}\n\n".encode()
                        self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self) -> List[Tuple[str, Dict[str, Any]]]:
        with self.lock:
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
