#!/usr/bin/env python3
"""
Aetherless Function Handler - auth-service (seed 000, Example 4)

POST /login  {"username": "alice"}  -> {"token": "..."}
GET  /verify (Authorization: Bearer <token>) -> {"valid": true, "username": ...}

Tokens are "<username>.<hmac-sha256>" signed with AUTH_SECRET, so any
instance of the service can verify a token another instance issued.
"""
import os
import socket
import json
import hmac
import hashlib
from http.server import HTTPServer, BaseHTTPRequestHandler

SECRET = os.environ.get('AUTH_SECRET', 'aether-example-secret').encode()


def sign(username):
    return hmac.new(SECRET, username.encode(), hashlib.sha256).hexdigest()


class AuthHandler(BaseHTTPRequestHandler):
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
        if self.path != '/login':
            return self.reply(404, {'error': 'Not found'})
        try:
            body = json.loads(raw or b'{}')
            username = body['username']
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {'error': 'expected JSON {"username": ...}'})
        if not isinstance(username, str) or not username:
            return self.reply(400, {'error': 'invalid username'})
        self.reply(200, {'token': f'{username}.{sign(username)}'})

    def do_GET(self):
        if self.path != '/verify':
            return self.reply(404, {'error': 'Not found'})
        auth = self.headers.get('Authorization', '')
        token = auth[len('Bearer '):] if auth.startswith('Bearer ') else ''
        username, _, signature = token.rpartition('.')
        if username and hmac.compare_digest(signature, sign(username)):
            return self.reply(200, {'valid': True, 'username': username})
        self.reply(401, {'valid': False})

    def log_message(self, format, *args):
        func_id = os.environ.get('AETHER_FUNCTION_ID', 'handler')
        print(f"[{func_id}] {format % args}")


if __name__ == '__main__':
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ['AETHER_SOCKET'])
    sock.send(b'READY')

    port = int(os.environ.get('AETHER_TRIGGER_PORT', '9000'))
    HTTPServer(('0.0.0.0', port), AuthHandler).serve_forever()
