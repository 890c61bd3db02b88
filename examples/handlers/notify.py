#!/usr/bin/env python3
"""
Aetherless Function Handler - notification-service (seed 000, Example 4)

POST /notify {"to": "...", "message": "..."} -> 202 {"queued": {...}}
Nothing is sent: the service echoes the notification it would deliver.
"""
import os
import socket
import json
from http.server import HTTPServer, BaseHTTPRequestHandler


class NotifyHandler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        body['function'] = os.environ.get('AETHER_FUNCTION_ID')
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        # read the body first, even for a 404: closing a socket with unread
        # request bytes resets the connection instead of closing it cleanly
        content_length = int(self.headers.get('Content-Length', 0))
        raw = self.rfile.read(content_length)
        if self.path != '/notify':
            return self.reply(404, {'error': 'Not found'})
        try:
            body = json.loads(raw or b'{}')
            to, message = body['to'], body['message']
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {'error': 'expected JSON {"to": ..., "message": ...}'})
        print(f"[{os.environ.get('AETHER_FUNCTION_ID', 'notify')}] would notify {to}: {message}")
        self.reply(202, {'queued': {'to': to, 'message': message}})

    def log_message(self, format, *args):
        func_id = os.environ.get('AETHER_FUNCTION_ID', 'handler')
        print(f"[{func_id}] {format % args}")


if __name__ == '__main__':
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ['AETHER_SOCKET'])
    sock.send(b'READY')

    port = int(os.environ.get('AETHER_TRIGGER_PORT', '9002'))
    HTTPServer(('0.0.0.0', port), NotifyHandler).serve_forever()
